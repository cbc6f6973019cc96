//! Actions on the selected task: cancel, retry, resume, delete, copy, details, its
//! changes and rollback (and submit, for the input line).

use super::{Action, Command, Confirm, Effect, Model, Popup, Scope, Tone, approval, short, submit};

/// Actions on the selected task (or the input, for submit).
pub(super) fn act_on_task(m: &mut Model, a: Action, fx: &mut Vec<Effect>) {
    match a {
        Action::Submit => submit(m, fx),
        Action::Cancel => {
            if let Some(t) = m.queue.selected_task() {
                if t.status.is_final() {
                    m.status.set(
                        Tone::Info,
                        format!(
                            "Task {} already ended ({})",
                            short(&t.id),
                            t.status.as_str()
                        ),
                    );
                } else {
                    let id = t.id.clone();
                    m.status
                        .set(Tone::Info, format!("Cancelling {}…", short(&id)));
                    fx.push(Effect::Engine(Command::Cancel { id }));
                }
            }
        }
        Action::Retry => {
            if let Some(t) = m.queue.selected_task() {
                if t.status.is_final() {
                    let id = t.id.clone();
                    m.turns.transcripts.remove(&id);
                    m.status.set_about(
                        Tone::Info,
                        format!("Retrying {}…", short(&id)),
                        Scope::Task(id.clone()),
                    );
                    fx.push(Effect::Engine(Command::Retry { id }));
                } else {
                    m.status
                        .set(Tone::Info, "The task is still queued or running");
                }
            }
        }
        Action::Resume => {
            if let Some(t) = m.queue.selected_task() {
                if t.status == crate::store::TaskStatus::Interrupted {
                    let id = t.id.clone();
                    m.status.set_about(
                        Tone::Info,
                        format!("Resuming {} from its last completed turn…", short(&id)),
                        Scope::Task(id.clone()),
                    );
                    fx.push(Effect::Engine(Command::Resume {
                        id,
                        overrides: crate::engine::Overrides::default(),
                    }));
                } else {
                    m.status.set(
                        Tone::Info,
                        format!(
                            "Only interrupted tasks resume; this one is {} (r retries it)",
                            t.status.as_str()
                        ),
                    );
                }
            }
        }
        Action::Delete => {
            if let Some(t) = m.queue.selected_task() {
                if t.status.is_final() {
                    let question = format!(
                        "Delete task {}? Its spend stays in the ledger.",
                        short(&t.id)
                    );
                    let p = Popup::Confirm {
                        what: Confirm::DeleteTask(t.id.clone()),
                        question,
                    };
                    approval::open_popup(m, p);
                } else {
                    m.status
                        .set(Tone::Warn, "Cancel the task before deleting it");
                }
            }
        }
        Action::Detail => {
            if let Some(id) = m.queue.selected_id() {
                approval::open_popup(
                    m,
                    Popup::Detail {
                        task: id,
                        scroll: 0,
                    },
                );
            }
        }
        Action::Copy => {
            let id = match &m.popup {
                Some(Popup::Detail { task, .. }) => Some(task.clone()),
                _ => m.queue.selected_id(),
            };
            match id
                .and_then(|id| m.queue.get(&id))
                .and_then(|t| t.result.clone())
            {
                // The loop says whether it worked (`Msg::Done`).
                Some(r) => fx.push(Effect::Copy(r)),
                None => m.status.set(Tone::Info, "The task has no result to copy"),
            }
        }
        _ => {}
    }
}
