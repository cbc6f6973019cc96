//! The `task_logs` table: the ReAct transcript of each task, one row per event.

use crate::store::db::{Db, params};
use serde::Serialize;

use super::StoreError;
use crate::util::ids::TaskId;
use crate::util::time::now_unix;

/// One stored log line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogRow {
    pub id: i64,
    pub task_id: TaskId,
    pub timestamp: f64,
    pub level: String,
    pub kind: Option<String>,
    pub turn: Option<u32>,
    pub message: String,
}

/// Appends a line to a task's log.
pub fn append(
    conn: &Db,
    task_id: &TaskId,
    level: &str,
    kind: &str,
    turn: Option<u32>,
    message: &str,
) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO task_logs (task_id, timestamp, level, message, turn, kind) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
    )?
    .query_row(
        params![task_id.as_str(), now_unix(), level, message, turn, kind],
        |r| r.get(0),
    )
}

/// A log line waiting to be written (stamped when it was said, not when written).
#[derive(Clone, Debug, PartialEq)]
pub struct NewLine {
    pub task_id: TaskId,
    pub timestamp: f64,
    pub level: String,
    pub kind: &'static str,
    pub turn: Option<u32>,
    pub message: String,
}

impl NewLine {
    pub fn now(
        task_id: TaskId,
        level: &str,
        kind: &'static str,
        turn: Option<u32>,
        message: String,
    ) -> Self {
        Self {
            task_id,
            timestamp: now_unix(),
            level: level.to_owned(),
            kind,
            turn,
            message,
        }
    }
}

/// Most lines written by one statement.
pub const MAX_BATCH: usize = 64;

/// Appends `lines` (any tasks'), in order, with one statement per [`MAX_BATCH`]: on
/// PostgreSQL each statement is a round trip. When a statement fails (a line of a task
/// deleted meanwhile), its lines are written one by one so the others are kept; the
/// first error is returned.
pub fn append_many(conn: &Db, lines: &[NewLine]) -> Result<(), StoreError> {
    let mut first_error = None;
    for chunk in lines.chunks(MAX_BATCH) {
        if let Err(e) = insert(conn, chunk) {
            if chunk.len() == 1 {
                first_error.get_or_insert(e);
                continue;
            }
            for line in chunk {
                if let Err(e) = insert(conn, std::slice::from_ref(line)) {
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

fn insert(conn: &Db, lines: &[NewLine]) -> Result<(), StoreError> {
    use crate::store::db::Param;
    let mut sql = String::from(
        "INSERT INTO task_logs (task_id, timestamp, level, message, turn, kind) VALUES ",
    );
    for i in 0..lines.len() {
        let p = i * 6;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!(
            "(?{}, ?{}, ?{}, ?{}, ?{}, ?{})",
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5,
            p + 6
        ));
    }
    let mut values: Vec<&dyn Param> = Vec::with_capacity(lines.len() * 6);
    for l in lines {
        values.extend([
            &l.task_id.0 as &dyn Param,
            &l.timestamp,
            &l.level,
            &l.message,
            &l.turn,
            &l.kind,
        ]);
    }
    conn.prepare_cached(&sql)?.execute(values)?;
    Ok(())
}

/// A task's log lines in order, starting after row `after_id`.
pub fn list(
    conn: &Db,
    task_id: &TaskId,
    after_id: i64,
    limit: usize,
) -> Result<Vec<LogRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, task_id, timestamp, level, kind, turn, message FROM task_logs \
         WHERE task_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    )?;
    let rows = stmt
        .query_map(
            params![
                task_id.as_str(),
                after_id,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| {
                Ok(LogRow {
                    id: r.get(0)?,
                    task_id: TaskId(r.get(1)?),
                    timestamp: r.get::<Option<f64>>(2)?.unwrap_or(0.0),
                    level: r.get::<Option<String>>(3)?.unwrap_or_default(),
                    kind: r.get(4)?,
                    turn: r.get(5)?,
                    message: r.get::<Option<String>>(6)?.unwrap_or_default(),
                })
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewTask, StoreHandle, open_in_memory, tasks};

    fn task(conn: &Db, n: usize) -> TaskId {
        let t = NewTask {
            id: TaskId::new(),
            description: format!("task {n}"),
            workdir: "/tmp".into(),
            max_turns: 5,
            budget_usd: None,
            requested_model: None,
            critical: false,
        };
        tasks::insert(conn, &t).unwrap();
        t.id
    }

    fn line(id: &TaskId, n: usize) -> NewLine {
        NewLine::now(
            id.clone(),
            "info",
            "turn",
            Some(1),
            format!("line {n} ✓ ünïcödé"),
        )
    }

    #[test]
    fn many_lines_in_one_go_keep_their_order_and_a_bad_line_loses_no_other() {
        const N: usize = MAX_BATCH + 7;
        let conn = open_in_memory().unwrap();
        let (a, b) = (task(&conn, 1), task(&conn, 2));
        // More than one statement's worth, two tasks interleaved.
        let lines: Vec<NewLine> = (0..N)
            .map(|n| line(if n % 2 == 0 { &a } else { &b }, n))
            .collect();
        append_many(&conn, &lines).unwrap();
        let got: Vec<String> = list(&conn, &a, 0, 1000)
            .unwrap()
            .into_iter()
            .map(|r| r.message)
            .collect();
        let want: Vec<String> = (0..N)
            .filter(|n| n % 2 == 0)
            .map(|n| format!("line {n} ✓ ünïcödé"))
            .collect();
        assert_eq!(got, want);
        assert_eq!(list(&conn, &b, 0, 1000).unwrap().len(), N / 2);
        // A line of a task that is not there (deleted meanwhile) fails alone.
        let gone = TaskId::new();
        let err = append_many(&conn, &[line(&a, 1000), line(&gone, 1001), line(&b, 1002)]);
        assert!(err.is_err(), "the bad line is reported");
        assert_eq!(list(&conn, &a, 0, 1000).unwrap().len(), want.len() + 1);
        assert_eq!(list(&conn, &b, 0, 1000).unwrap().len(), N / 2 + 1);
    }

    #[tokio::test]
    async fn lines_said_through_the_store_are_written_before_logs_written_returns() {
        let conn = open_in_memory().unwrap();
        let id = task(&conn, 1);
        let store = StoreHandle::from_connection(conn);
        for n in 0..200 {
            store.log(line(&id, n));
        }
        store.logs_written().await;
        let lookup = id.clone();
        let rows = store
            .call(move |c| list(c, &lookup, 0, 1000))
            .await
            .unwrap();
        let got: Vec<String> = rows.into_iter().map(|r| r.message).collect();
        let want: Vec<String> = (0..200).map(|n| format!("line {n} ✓ ünïcödé")).collect();
        assert_eq!(got, want);
    }
}
