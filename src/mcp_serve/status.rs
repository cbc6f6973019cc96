//! How the MCP server's tools describe tasks: one task's status (`task_status`,
//! `wait_task`, `cancel_task`) and the lines of `list_tasks`, as JSON objects built from
//! the stored row. Times are RFC 3339 (UTC), as in events.

use serde_json::{Value, json};

use super::book::Ending;
use crate::store::TaskRow;
use crate::util::text::ellipsize;
use crate::util::time::rfc3339;

/// Characters of a description shown per line of `list_tasks`.
const LIST_DESCRIPTION_CHARS: usize = 200;

/// One task's status. `ending`, when this server saw the task finish, is what its
/// `task_finished` said; it wins over a row read just before the store caught up.
pub fn status(row: &TaskRow, ending: Option<&Ending>) -> Value {
    let (status, result, error, turns, cost) = match ending {
        Some(e) => (
            e.status,
            e.result.clone(),
            e.error.clone(),
            e.turns,
            e.cost_usd,
        ),
        None => (
            row.status,
            row.result.clone(),
            row.error.clone(),
            row.turns,
            row.cost_usd,
        ),
    };
    json!({
        "task_id": row.id,
        "status": status.as_str(),
        "finished": status.is_final(),
        "description": row.description,
        "workdir": row.workdir,
        "model": row.model,
        "critical": row.critical,
        "turns": turns,
        "max_turns": row.max_turns,
        "cost_usd": cost,
        "budget_usd": row.budget_usd,
        "created_at": rfc3339(row.created_at),
        "started_at": row.started_at.map(rfc3339),
        "completed_at": row.completed_at.map(rfc3339),
        "duration_ms": ending.map(|e| e.duration_ms),
        "result": result,
        "error": error,
    })
}

/// One line of `list_tasks`: enough to pick a task, not its result.
pub fn line(row: &TaskRow) -> Value {
    json!({
        "task_id": row.id,
        "status": row.status.as_str(),
        "description": ellipsize(&row.description, LIST_DESCRIPTION_CHARS),
        "model": row.model,
        "turns": row.turns,
        "cost_usd": row.cost_usd,
        "created_at": rfc3339(row.created_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TaskStatus;
    use crate::util::ids::TaskId;

    fn row() -> TaskRow {
        TaskRow {
            id: TaskId::from("abc123"),
            description: "d".repeat(300),
            model: Some("fake".into()),
            status: TaskStatus::Running,
            created_at: 0.0,
            started_at: Some(1.0),
            completed_at: None,
            result: None,
            error: None,
            cost_usd: 0.01,
            workdir: Some("/w".into()),
            turns: 1,
            max_turns: 5,
            budget_usd: None,
            requested_model: None,
            route_json: None,
            critical: false,
        }
    }

    #[test]
    fn status_reads_the_row_until_the_task_ends_here() {
        let r = row();
        let v = status(&r, None);
        assert_eq!(v["status"], "running");
        assert_eq!(v["finished"], false);
        assert_eq!(v["created_at"], "1970-01-01T00:00:00Z");
        assert_eq!(v["completed_at"], Value::Null);
        let end = Ending {
            status: TaskStatus::Completed,
            result: Some("42".into()),
            error: None,
            turns: 3,
            cost_usd: 0.03,
            duration_ms: 1500,
        };
        let v = status(&r, Some(&end));
        assert_eq!(v["status"], "completed");
        assert_eq!(v["finished"], true);
        assert_eq!(v["result"], "42");
        assert_eq!(v["turns"], 3);
        assert_eq!(v["duration_ms"], 1500);
    }

    #[test]
    fn list_lines_shorten_the_description() {
        let v = line(&row());
        assert_eq!(v["task_id"], "abc123");
        assert!(v["description"].as_str().unwrap().chars().count() <= LIST_DESCRIPTION_CHARS);
        assert!(v.get("result").is_none());
    }
}
