//! Transcripts of tasks from earlier sessions, read back from `task_logs` into the
//! events they recorded, so that the live and the stored transcript are drawn by one
//! renderer.

use super::{Entry, Kind, Transcript};
use crate::engine::Event;
use crate::store::logs::LogRow;

impl Transcript {
    /// Builds a transcript from stored log rows, through the same [`Transcript::apply`]
    /// as live events: each row is read back into the event it recorded, so a task
    /// looks the same after a restart (readable arguments, one result line). The
    /// queued line, which the engine does not log, comes from the task's
    /// `description`. Rows no event can be rebuilt from (retries, approvals) are
    /// shown as recorded.
    pub fn from_logs(rows: &[LogRow], width: u16, description: Option<&str>) -> Self {
        let mut t = Self {
            loaded: true,
            ..Self::default()
        };
        if let Some(d) = description {
            t.apply(
                &Event::TaskQueued {
                    description: d.to_owned(),
                },
                width,
            );
        }
        for r in rows {
            // A snapshot taken is the `checkpoint` event's to show, live and stored
            // alike; only a snapshot's warning (not taken, files left out) is a line.
            if r.kind.as_deref() == Some("llm_call")
                || (r.kind.as_deref() == Some("snapshot") && r.level == "info")
            {
                continue;
            }
            if let Some(ev) = event_of(r) {
                t.apply(&ev, width);
            } else {
                let kind = match r.kind.as_deref() {
                    Some("retry" | "approval") => Kind::Retry,
                    Some("error") => Kind::Error,
                    _ => Kind::Status,
                };
                let ok = r.level != "warn" && r.level != "error";
                t.push(Entry::new(r.turn, kind, &r.message, ok), width);
            }
        }
        t
    }
}

/// The event a stored log row recorded, when the row holds enough to rebuild it
/// (see `engine::agent::recorder` for what each kind's message is).
fn event_of(r: &LogRow) -> Option<Event> {
    let turn = r.turn.unwrap_or(0);
    let text = r.message.clone();
    Some(match r.kind.as_deref()? {
        "turn" => Event::TurnStarted { turn },
        "thought" => Event::Thought { turn, text },
        "action" => {
            // `{tool} {arguments as JSON}` (the JSON may be cut in the middle).
            let (tool, args) = r.message.split_once(' ').unwrap_or((&r.message, ""));
            let input = serde_json::from_str(args)
                .unwrap_or_else(|_| serde_json::Value::String(args.to_owned()));
            Event::Action {
                turn,
                tool: tool.to_owned(),
                input,
            }
        }
        "observation" => Event::Observation {
            turn,
            tool: String::new(),
            ok: r.level != "warn" && r.level != "error",
            output: text,
        },
        "reflection" => Event::Reflection { turn, text },
        // `checkpoint {id}`.
        "checkpoint" => Event::Checkpoint {
            turn,
            checkpoint_id: text.strip_prefix("checkpoint ").unwrap_or(&text).to_owned(),
        },
        "error" => Event::Error {
            message: text,
            category: String::new(),
            retryable: false,
        },
        "status" => {
            // `{status}` or `{status}: {result or error}` at the end; anything else
            // (`started on …`) is a plain status line.
            let (head, rest) = match r.message.split_once(": ") {
                Some((h, rest)) => (h, Some(rest.to_owned())),
                None => (r.message.as_str(), None),
            };
            let status = crate::store::TaskStatus::parse(head)?;
            let completed = status == crate::store::TaskStatus::Completed;
            Event::TaskFinished {
                status,
                result: rest.clone().filter(|_| completed),
                turns: 0,
                cost_usd: 0.0,
                duration_ms: 0,
                error: rest.filter(|_| !completed),
            }
        }
        _ => return None,
    })
}
