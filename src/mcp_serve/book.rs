//! What the MCP server remembers of the tasks its engine runs: each task's events in
//! order (for `task_events`), whether the engine queued or refused it (for
//! `submit_task`), and how it ended (for `wait_task`). One pump feeds it from the engine's
//! event stream; the tool handlers read it. Memory is bounded: per task the oldest events
//! go first past [`MAX_EVENTS_PER_TASK`] or [`MAX_BYTES_PER_TASK`], and past [`MAX_TASKS`]
//! the oldest finished tasks are forgotten (the store still has them). The store, not
//! this book, answers `task_status` and `list_tasks`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use crate::engine::{EngineEvent, Event};
use crate::store::TaskStatus;
use crate::util::ids::TaskId;

/// Events kept per task (a task of 100 turns sends about 800).
pub const MAX_EVENTS_PER_TASK: usize = 5_000;
/// Bytes of event JSON kept per task.
pub const MAX_BYTES_PER_TASK: usize = 8 * 1024 * 1024;
/// Tasks remembered; past this the oldest finished ones are forgotten.
pub const MAX_TASKS: usize = 500;
/// Most events one `task_events` call returns.
pub const PAGE_EVENTS: usize = 100;
/// Most bytes of event JSON one `task_events` call returns (one event always fits).
pub const PAGE_BYTES: usize = 64 * 1024;

/// The engine's answer to a submit.
#[derive(Clone, Debug, PartialEq)]
pub enum Admission {
    /// Sent, not answered yet.
    Waiting,
    /// `task_queued`: stored as pending.
    Queued,
    /// An `error` came before `task_queued`: the engine refused the task.
    Refused(String),
}

/// How a task ended, from its `task_finished` event.
#[derive(Clone, Debug, PartialEq)]
pub struct Ending {
    pub status: TaskStatus,
    pub result: Option<String>,
    pub error: Option<String>,
    pub turns: u32,
    pub cost_usd: f64,
    pub duration_ms: u64,
}

/// One page of a task's events.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    /// The events, as `--batch --json` prints them.
    pub events: Vec<Value>,
    /// The cursor to pass as `after` next time.
    pub next: u64,
    /// Events the book no longer holds between the cursor asked for and the first one
    /// returned (the task sent more than the book keeps).
    pub skipped: u64,
    /// More events are already waiting after `next`.
    pub more: bool,
}

#[derive(Debug)]
struct Entry {
    /// Kept events, oldest first, each with its JSON length; `first` is the sequence
    /// number of the front one.
    events: VecDeque<(Value, usize)>,
    first: u64,
    bytes: usize,
    admission: Admission,
    ending: Option<Ending>,
}

impl Entry {
    fn new() -> Self {
        Self {
            events: VecDeque::new(),
            first: 0,
            bytes: 0,
            admission: Admission::Waiting,
            ending: None,
        }
    }

    fn push(&mut self, value: Value) {
        let len = value.to_string().len();
        self.events.push_back((value, len));
        self.bytes += len;
        while self.events.len() > MAX_EVENTS_PER_TASK
            || (self.bytes > MAX_BYTES_PER_TASK && self.events.len() > 1)
        {
            if let Some((_, n)) = self.events.pop_front() {
                self.bytes -= n;
                self.first += 1;
            }
        }
    }

    fn end(&self) -> u64 {
        self.first + self.events.len() as u64
    }
}

#[derive(Debug, Default)]
struct Inner {
    tasks: HashMap<TaskId, Entry>,
    /// Task ids in the order first seen, for forgetting the oldest.
    order: VecDeque<TaskId>,
    /// The engine's event stream has ended: nothing will change any more.
    closed: bool,
}

/// The shared record; see the module doc.
#[derive(Debug)]
pub struct Book {
    inner: Mutex<Inner>,
    changed: watch::Sender<u64>,
}

impl Default for Book {
    fn default() -> Self {
        Self {
            inner: Mutex::default(),
            changed: watch::Sender::new(0),
        }
    }
}

impl Book {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Registers a task about to be submitted, so its answer is waited for.
    pub fn expect(&self, id: &TaskId) {
        let mut inner = self.lock();
        entry(&mut inner, id);
    }

    /// Records one event from the engine.
    pub fn record(&self, ev: &EngineEvent) {
        let Some(id) = &ev.task_id else { return };
        let value = match serde_json::to_value(ev) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("mcp serve: cannot serialize an event of task {id}: {e}");
                return;
            }
        };
        {
            let mut inner = self.lock();
            let e = entry(&mut inner, id);
            e.push(value);
            match &ev.event {
                Event::TaskQueued { .. } => e.admission = Admission::Queued,
                Event::Error { message, .. } if e.admission == Admission::Waiting => {
                    e.admission = Admission::Refused(message.clone());
                }
                Event::TaskFinished {
                    status,
                    result,
                    turns,
                    cost_usd,
                    duration_ms,
                    error,
                } => {
                    e.ending = Some(Ending {
                        status: *status,
                        result: result.clone(),
                        error: error.clone(),
                        turns: *turns,
                        cost_usd: *cost_usd,
                        duration_ms: *duration_ms,
                    });
                }
                // What a client reads from the event list, not from the status.
                Event::Error { .. }
                | Event::TaskStarted { .. }
                | Event::TurnStarted { .. }
                | Event::ThoughtDelta { .. }
                | Event::Thought { .. }
                | Event::Action { .. }
                | Event::Observation { .. }
                | Event::ApprovalRequested { .. }
                | Event::ApprovalAnswered { .. }
                | Event::Reflection { .. }
                | Event::Context { .. }
                | Event::LlmCall { .. }
                | Event::RequestFailed { .. }
                | Event::Retry { .. }
                | Event::Fallback { .. }
                | Event::Checkpoint { .. }
                | Event::Alert { .. }
                | Event::Notice { .. }
                | Event::Health { .. }
                | Event::ComponentHealth { .. }
                | Event::McpStatus { .. }
                | Event::Workers { .. }
                | Event::ModelsReloaded { .. } => {}
            }
        }
        self.bump();
    }

    /// The engine has stopped: waiters give up.
    pub fn close(&self) {
        self.lock().closed = true;
        self.bump();
    }

    /// Whether this server's engine runs (or ran) the task.
    pub fn knows(&self, id: &TaskId) -> bool {
        self.lock().tasks.contains_key(id)
    }

    pub fn ending(&self, id: &TaskId) -> Option<Ending> {
        self.lock().tasks.get(id).and_then(|e| e.ending.clone())
    }

    /// Tasks queued here that have not finished.
    pub fn unfinished(&self) -> Vec<TaskId> {
        let inner = self.lock();
        inner
            .tasks
            .iter()
            .filter(|(_, e)| e.ending.is_none() && e.admission == Admission::Queued)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Events of task `id` from cursor `after` on, at most `max_events` and about
    /// `max_bytes` (the first event always comes, whatever its size). `None` when the
    /// book does not know the task.
    pub fn page(
        &self,
        id: &TaskId,
        after: u64,
        max_events: usize,
        max_bytes: usize,
    ) -> Option<Page> {
        let inner = self.lock();
        let e = inner.tasks.get(id)?;
        let start = after.max(e.first);
        let skipped = start - after.min(start);
        let mut events = Vec::new();
        let mut bytes = 0;
        let skip = usize::try_from(start - e.first).unwrap_or(usize::MAX);
        for (value, len) in e.events.iter().skip(skip) {
            if events.len() >= max_events || (!events.is_empty() && bytes + len > max_bytes) {
                break;
            }
            bytes += len;
            events.push(value.clone());
        }
        let next = start.min(e.end()) + events.len() as u64;
        Some(Page {
            more: next < e.end(),
            events,
            next,
            skipped,
        })
    }

    /// Waits until `check` finds what it looks for, the timeout passes (`None`), or the
    /// engine stops (`check` has a last look, then `None`).
    pub async fn wait_for<T>(
        &self,
        timeout: Duration,
        check: impl Fn(&TaskLook<'_>) -> Option<T>,
    ) -> Option<T> {
        let mut rx = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let closed = {
                let inner = self.lock();
                let look = TaskLook { inner: &inner };
                if let Some(found) = check(&look) {
                    return Some(found);
                }
                inner.closed
            };
            if closed {
                return None;
            }
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                () = tokio::time::sleep_until(deadline) => return None,
            }
        }
    }
}

/// A read-only look into the book while [`Book::wait_for`] holds it.
pub struct TaskLook<'a> {
    inner: &'a Inner,
}

impl TaskLook<'_> {
    pub fn admission(&self, id: &TaskId) -> Option<Admission> {
        self.inner.tasks.get(id).map(|e| e.admission.clone())
    }

    pub fn ending(&self, id: &TaskId) -> Option<Ending> {
        self.inner.tasks.get(id).and_then(|e| e.ending.clone())
    }
}

/// The task's entry, created (and the oldest finished tasks forgotten) when new.
fn entry<'a>(inner: &'a mut Inner, id: &TaskId) -> &'a mut Entry {
    if !inner.tasks.contains_key(id) {
        inner.order.push_back(id.clone());
        while inner.order.len() > MAX_TASKS {
            // The oldest finished task goes; unfinished ones are never forgotten.
            let Some(pos) = inner.order.iter().position(|t| {
                inner.tasks.get(t).is_some_and(|e| {
                    e.ending.is_some() || matches!(e.admission, Admission::Refused(_))
                })
            }) else {
                break;
            };
            if let Some(old) = inner.order.remove(pos) {
                inner.tasks.remove(&old);
            }
        }
    }
    inner.tasks.entry(id.clone()).or_insert_with(Entry::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &TaskId, event: Event) -> EngineEvent {
        EngineEvent::task(id, event)
    }

    fn finished(status: TaskStatus) -> Event {
        Event::TaskFinished {
            status,
            result: Some("done".into()),
            turns: 2,
            cost_usd: 0.25,
            duration_ms: 10,
            error: None,
        }
    }

    #[test]
    fn pages_follow_the_cursor_and_say_when_more_wait() {
        let book = Book::default();
        let id = TaskId::from("t1");
        book.expect(&id);
        for turn in 1..=5 {
            book.record(&ev(&id, Event::TurnStarted { turn }));
        }
        let p = book.page(&id, 0, 2, PAGE_BYTES).unwrap();
        assert_eq!(p.events.len(), 2);
        assert_eq!(p.events[0]["type"], "turn_started");
        assert_eq!(p.events[0]["task_id"], "t1");
        assert_eq!(p.events[1]["turn"], 2);
        assert_eq!((p.next, p.more, p.skipped), (2, true, 0));
        let p = book.page(&id, p.next, 10, PAGE_BYTES).unwrap();
        assert_eq!(p.events.len(), 3);
        assert_eq!(p.events[0]["turn"], 3);
        assert_eq!((p.next, p.more), (5, false));
        // Past the end: nothing, and the cursor stays.
        let p = book.page(&id, 9, 10, PAGE_BYTES).unwrap();
        assert!(p.events.is_empty());
        assert_eq!(p.next, 5);
        assert!(
            book.page(&TaskId::from("other"), 0, 10, PAGE_BYTES)
                .is_none()
        );
    }

    #[test]
    fn a_page_is_bounded_by_bytes_but_always_has_one_event() {
        let book = Book::default();
        let id = TaskId::from("t");
        let big = "x".repeat(3000);
        for turn in 1..=3 {
            book.record(&ev(
                &id,
                Event::Thought {
                    turn,
                    text: big.clone(),
                },
            ));
        }
        let p = book.page(&id, 0, 100, 1000).unwrap();
        assert_eq!(p.events.len(), 1);
        assert!(p.more);
        let p = book.page(&id, 0, 100, 7000).unwrap();
        assert_eq!(p.events.len(), 2);
    }

    #[test]
    fn old_events_go_first_and_the_cursor_says_how_many_were_skipped() {
        let book = Book::default();
        let id = TaskId::from("t");
        for turn in 0..(MAX_EVENTS_PER_TASK as u32 + 10) {
            book.record(&ev(&id, Event::TurnStarted { turn }));
        }
        let p = book.page(&id, 0, 5, PAGE_BYTES).unwrap();
        assert_eq!(p.skipped, 10);
        assert_eq!(p.events[0]["turn"], 10);
        assert_eq!(p.next, 15);
    }

    #[test]
    fn admission_and_ending_come_from_the_events() {
        let book = Book::default();
        let (a, b) = (TaskId::from("a"), TaskId::from("b"));
        book.expect(&a);
        book.expect(&b);
        book.record(&ev(
            &a,
            Event::TaskQueued {
                description: "x".into(),
            },
        ));
        let refused = Event::Error {
            message: "no such model".into(),
            category: "config".into(),
            retryable: false,
        };
        book.record(&ev(&b, refused));
        book.record(&ev(&a, finished(TaskStatus::Completed)));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let got = rt.block_on(book.wait_for(Duration::from_secs(5), |l| {
            Some((l.admission(&a)?, l.admission(&b)?, l.ending(&a)?))
        }));
        let (qa, qb, end) = got.unwrap();
        assert_eq!(qa, Admission::Queued);
        assert_eq!(qb, Admission::Refused("no such model".into()));
        assert_eq!(end.status, TaskStatus::Completed);
        assert_eq!(end.result.as_deref(), Some("done"));
        assert!(book.unfinished().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_ends_on_the_event_on_timeout_or_when_the_engine_stops() {
        let book = std::sync::Arc::new(Book::default());
        let id = TaskId::from("w");
        book.expect(&id);
        book.record(&ev(
            &id,
            Event::TaskQueued {
                description: "x".into(),
            },
        ));
        assert_eq!(book.unfinished(), vec![id.clone()]);
        // Nothing comes: the timeout answers.
        let none = book
            .wait_for(Duration::from_secs(3), |l| l.ending(&id))
            .await;
        assert!(none.is_none());
        // The ending comes while waiting.
        let (b2, id2) = (book.clone(), id.clone());
        let waiter = tokio::spawn(async move {
            b2.wait_for(Duration::from_secs(60), |l| l.ending(&id2))
                .await
        });
        tokio::task::yield_now().await;
        book.record(&ev(&id, finished(TaskStatus::Cancelled)));
        assert_eq!(waiter.await.unwrap().unwrap().status, TaskStatus::Cancelled);
        // A closed book answers at once.
        let other = TaskId::from("never");
        book.close();
        assert!(
            book.wait_for(Duration::from_secs(600), |l| l.ending(&other))
                .await
                .is_none()
        );
    }

    #[test]
    fn past_the_task_limit_the_oldest_finished_task_is_forgotten() {
        let book = Book::default();
        let first = TaskId::from("first");
        let running = TaskId::from("running");
        book.record(&ev(
            &running,
            Event::TaskQueued {
                description: "x".into(),
            },
        ));
        book.record(&ev(&first, finished(TaskStatus::Completed)));
        for i in 0..MAX_TASKS {
            book.record(&ev(
                &TaskId::from(format!("t{i}").as_str()),
                finished(TaskStatus::Failed),
            ));
        }
        assert!(!book.knows(&first));
        assert!(book.knows(&running));
    }
}
