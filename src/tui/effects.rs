//! Carries out what `update` asks for: engine commands, and reads and edits through
//! the engine's queries (`EngineHandle::tasks`, …), each answered by a message back
//! into the loop.
//! Copying to the clipboard and quitting touch the terminal, so the loop does those.

mod checkpoints;
mod setup;

use tokio::sync::mpsc;

use super::msg::{Effect, Msg};
use crate::engine::EngineHandle;
use crate::memory::edit::Change;
use crate::memory::search::Mode;

/// Most log lines loaded for one task.
const LOG_LIMIT: usize = 200_000;
/// Most lessons listed.
const MEMORY_LIMIT: usize = 500;

pub struct Effects {
    pub engine: EngineHandle,
    pub tx: mpsc::UnboundedSender<Msg>,
    /// The home's checkpoints: what tasks changed, rollback, and the saved states a
    /// deleted task leaves (`None` without a home, in tests).
    pub checkpoints: Option<crate::checkpoint::Checkpoints>,
}

impl Effects {
    /// Starts `effect`; results arrive later as messages.
    pub fn run(&self, effect: Effect) {
        let tx = self.tx.clone();
        match effect {
            Effect::Engine(cmd) => {
                if self.engine.send(cmd).is_err() {
                    let _ = tx.send(Msg::Done(Err("the engine has stopped".into())));
                }
            }
            Effect::LoadLogs(id) => {
                let engine = self.engine.clone();
                tokio::spawn(async move {
                    if let Ok(rows) = engine.logs(&id, LOG_LIMIT).await {
                        let _ = tx.send(Msg::LogsLoaded(id, rows));
                    }
                });
            }
            Effect::LoadTask(id) => {
                let engine = self.engine.clone();
                tokio::spawn(async move {
                    if let Ok(Some(row)) = engine.task(&id).await {
                        let _ = tx.send(Msg::TaskLoaded(row));
                    }
                });
            }
            Effect::LoadMemories { query, home } => {
                let engine = self.engine.clone();
                tokio::spawn(async move {
                    let r = match query {
                        Some(q) => {
                            // Without a home (tests) there is no model: words alone.
                            let mode = if home.is_some() {
                                Mode::Hybrid
                            } else {
                                Mode::Keyword
                            };
                            engine
                                .search_lessons(&q, MEMORY_LIMIT, mode)
                                .await
                                .map(|a| {
                                    if let Some(n) = a.notice {
                                        let _ = tx.send(Msg::Done(Ok(n)));
                                    }
                                    a.found
                                })
                        }
                        None => engine.lessons(MEMORY_LIMIT).await,
                    };
                    let _ = tx.send(match r {
                        Ok(items) => Msg::MemoriesLoaded(items),
                        Err(e) => Msg::Done(Err(format!("memory: {e}"))),
                    });
                });
            }
            Effect::SearchDocs {
                home,
                workdir,
                query,
            } => {
                tokio::spawn(async move {
                    let found = tokio::task::spawn_blocking(move || {
                        crate::knowledge::search::search(
                            &home,
                            &workdir,
                            &query,
                            MEMORY_LIMIT,
                            crate::knowledge::Mode::Hybrid,
                        )
                    })
                    .await;
                    let _ = tx.send(Msg::DocsLoaded(match found {
                        Ok(Ok(r)) => Ok(r),
                        Ok(Err(crate::knowledge::IndexError::NotIndexed(_))) => Ok((
                            Vec::new(),
                            Some(
                                "this workdir has no index yet: run az-os index, or a task".into(),
                            ),
                        )),
                        Ok(Err(e)) => Err(format!("docs: {e}")),
                        Err(e) => Err(format!("docs: the search stopped: {e}")),
                    }));
                });
            }
            Effect::ChangeLesson(change) => {
                let engine = self.engine.clone();
                tokio::spawn(async move {
                    let verb = match &change {
                        Change::Add { .. } => "added",
                        Change::Edit { .. } => "saved",
                        Change::Delete { .. } => "deleted",
                    };
                    let r = engine
                        .change_lesson(change)
                        .await
                        .map_err(|e| e.to_string())
                        .map(|m| {
                            format!(
                                "Lesson {verb}: {}",
                                crate::util::text::ellipsize(&m.lesson, 50)
                            )
                        });
                    let _ = tx.send(Msg::LessonChanged(r));
                });
            }
            Effect::DeleteTask(id) => {
                let engine = self.engine.clone();
                tokio::spawn(async move {
                    let _ = tx.send(match engine.delete_task(&id).await {
                        Ok(()) => Msg::TaskDeleted(id),
                        Err(e) => Msg::Done(Err(e.to_string())),
                    });
                });
            }
            Effect::LoadChanges(task) => {
                checkpoints::load_changes(self.checkpoints.clone(), tx, task);
            }
            Effect::LoadFileDiff(task, path) => {
                checkpoints::load_file_diff(self.checkpoints.clone(), tx, task, path);
            }
            Effect::Rollback { task, force } => {
                checkpoints::rollback(self.checkpoints.clone(), tx, task, force);
            }
            Effect::SetupProbe => setup::probe(self.engine.home().clone(), tx),
            Effect::SetupCheck(job) => setup::check(tx, *job),
            Effect::SetupSave(job) => setup::save(self.engine.home().clone(), tx, *job),
            Effect::LoadCost => {
                let engine = self.engine.clone();
                tokio::spawn(async move {
                    if let Ok(spend) = engine.spend_today().await {
                        let _ = tx.send(Msg::CostLoaded {
                            today_usd: spend.today_usd,
                            by_model: spend.by_model,
                        });
                    }
                });
            }
            Effect::LoadMetrics => {
                let engine = self.engine.clone();
                tokio::spawn(async move {
                    if let Ok(m) = engine.metrics().await {
                        let _ = tx.send(Msg::MetricsLoaded(Box::new(m)));
                    }
                });
            }
            // Handled by the loop, which owns the terminal.
            Effect::Copy(_) | Effect::Suspend | Effect::Quit => {}
        }
    }
}

/// The OSC 52 sequence that puts `text` on the clipboard of the terminal the
/// user sits at, local or over SSH.
pub fn osc52(text: &str) -> String {
    format!("\u{1b}]52;c;{}\u{7}", base64(text.as_bytes()))
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_encodes_base64() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"Hello, world"), "SGVsbG8sIHdvcmxk");
        assert_eq!(osc52("hi"), "\u{1b}]52;c;aGk=\u{7}");
    }
}
