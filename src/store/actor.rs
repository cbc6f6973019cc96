//! [`StoreHandle`]: one thread owns the connection; async callers send it closures
//! and await the answer. rusqlite blocks, and SQLite serialises writers anyway, so
//! one writer thread costs nothing and keeps the runtime's threads free.
//!
//! PostgreSQL is a server across a network: each statement is a round trip, and one
//! connection would queue every task's writes behind the others'. There a store may
//! have several lanes, each a connection on a thread of its own ([`StoreHandle::lanes`]);
//! a task's writes go down one lane ([`StoreHandle::lane`]), so they keep their order
//! while other tasks' writes go down others.
//!
//! Log lines ([`StoreHandle::log`]) of every task go down the last lane, and a lane
//! writes the lines waiting on it with one statement: under load a lane's queue holds
//! several, and each statement saved is a round trip. [`StoreHandle::logs_written`] waits
//! for the lines said so far (a task's end is recorded after its lines).

use std::path::Path;
use std::sync::{Arc, mpsc};

use crate::store::Db;
use tokio::sync::oneshot;

use super::StoreError;

/// What a lane does next: run a closure, or write a log line (consecutive lines are
/// written together).
enum Job {
    Run(Box<dyn FnOnce(&mut Db) + Send>),
    Log(super::logs::NewLine),
}

/// A cheap, clonable handle to the store thread (one lane of the store).
#[derive(Clone)]
pub struct StoreHandle {
    tx: mpsc::Sender<Job>,
    /// Every lane of this store, the first being the default one (`tx` of a handle
    /// made by `open`, `open_at` or `from_connection`).
    lanes: Arc<[mpsc::Sender<Job>]>,
}

impl StoreHandle {
    /// Opens the database at `path` on a new thread.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = super::open(path)?;
        Ok(Self::from_connection(conn))
    }

    /// Opens the store at `at` (SQLite or PostgreSQL) on a new thread.
    /// The connection is made on the store thread: PostgreSQL's client may not be
    /// made or used on an async runtime's thread.
    pub fn open_at(at: &super::Location) -> Result<Self, StoreError> {
        let at = at.clone();
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("az-os-store-open".into())
            .spawn(move || {
                let _ = tx.send(super::open_at(&at));
            })
            .map_err(|_| StoreError::Closed)?;
        let db = rx.recv().map_err(|_| StoreError::Closed)??;
        Ok(Self::from_connection(db))
    }

    /// Moves an open connection onto a new store thread.
    pub fn from_connection(conn: Db) -> Self {
        Self::from_connections(vec![conn])
    }

    /// A store of several lanes: each connection on a thread of its own, the first the
    /// default lane. `conns` must not be empty (an empty list makes one closed lane,
    /// whose calls fail with `Closed`).
    pub fn from_connections(conns: Vec<Db>) -> Self {
        let mut lanes = Vec::with_capacity(conns.len().max(1));
        for (i, mut conn) in conns.into_iter().enumerate() {
            let (tx, rx) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name(format!("az-os-store-{i}"))
                .spawn(move || serve(&rx, &mut conn))
                .map_or_else(
                    |e| tracing::error!("cannot start the store thread: {e}"),
                    |_| (),
                );
            lanes.push(tx);
        }
        if lanes.is_empty() {
            lanes.push(mpsc::channel::<Job>().0);
        }
        Self {
            tx: lanes[0].clone(),
            lanes: lanes.into(),
        }
    }

    /// How many lanes the store has.
    pub fn lanes(&self) -> usize {
        self.lanes.len()
    }

    /// The lane for `key` (a task's id): every handle for the same key is the same
    /// lane, so what is posted for one task runs in order. With one lane, this handle.
    #[must_use]
    pub fn lane(&self, key: &str) -> Self {
        if self.lanes.len() == 1 {
            return self.clone();
        }
        // FNV-1a: stable across processes and runs, which nothing relies on, but
        // cheap and well spread over ids that share a prefix.
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let i = usize::try_from(hash % self.lanes.len() as u64).unwrap_or(0);
        self.on(&self.lanes[i])
    }

    /// The lane log lines take: the last (the first is the default lane, which the
    /// engine's own reads take).
    fn log_lane(&self) -> &mpsc::Sender<Job> {
        &self.lanes[self.lanes.len() - 1]
    }

    /// Queues a log line without waiting; lines are written in the order they are said
    /// (on the last lane, whichever lane their task's other writes take).
    pub fn log(&self, line: super::logs::NewLine) {
        if self.log_lane().send(Job::Log(line)).is_err() {
            tracing::error!("store: log line dropped, the store thread has stopped");
        }
    }

    /// This store's handle on lane `tx`.
    fn on(&self, tx: &mpsc::Sender<Job>) -> Self {
        Self {
            tx: tx.clone(),
            lanes: self.lanes.clone(),
        }
    }

    /// Waits until every log line queued before this call is written.
    pub async fn logs_written(&self) {
        let _ = self.on(self.log_lane()).call(|_| Ok(())).await;
    }

    /// Waits until every lane has run what was queued on it before this call.
    pub async fn settled(&self) {
        for tx in self.lanes.iter() {
            let _ = self.on(tx).call(|_| Ok(())).await;
        }
    }

    /// Queues `f` on the store thread without waiting. Jobs run in the order they
    /// are posted, so log lines keep their order; failures are logged.
    pub fn post<F>(&self, what: &'static str, f: F)
    where
        F: FnOnce(&mut Db) -> Result<(), StoreError> + Send + 'static,
    {
        let sent = self.tx.send(Job::Run(Box::new(move |c| {
            if let Err(e) = f(c) {
                tracing::error!("store: {what} failed: {e}");
            }
        })));
        if sent.is_err() {
            tracing::error!("store: {what} dropped, the store thread has stopped");
        }
    }

    /// Runs `f` on the store thread and returns its result.
    pub async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut Db) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Job::Run(Box::new(move |c| {
                let _ = tx.send(f(c));
            })))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

/// A lane's thread: runs its jobs in order until every handle is dropped, writing
/// consecutive log lines together.
fn serve(rx: &mpsc::Receiver<Job>, conn: &mut Db) {
    let mut next: Option<Job> = None;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        match job {
            Job::Run(f) => f(conn),
            Job::Log(line) => {
                let mut lines = vec![line];
                while lines.len() < super::logs::MAX_BATCH {
                    match rx.try_recv() {
                        Ok(Job::Log(line)) => lines.push(line),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                if let Err(e) = super::logs::append_many(conn, &lines) {
                    tracing::error!("store: log failed: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store of `n` lanes, each an in-memory database that knows its number.
    fn lanes(n: i64) -> StoreHandle {
        StoreHandle::from_connections(
            (0..n)
                .map(|i| {
                    let c = crate::store::open_in_memory().unwrap();
                    c.execute("CREATE TABLE who (lane INTEGER, posts INTEGER)", [])
                        .unwrap();
                    c.execute("INSERT INTO who VALUES (?1, 0)", [i]).unwrap();
                    c
                })
                .collect(),
        )
    }

    /// The lane a handle reaches, and how many posts it has run.
    async fn which(h: &StoreHandle) -> (i64, i64) {
        h.call(|c| {
            c.query_row("SELECT lane, posts FROM who", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_key_always_takes_the_same_lane_and_keys_spread() {
        let store = lanes(4);
        assert_eq!(store.lanes(), 4);
        assert_eq!(which(&store).await.0, 0, "the default lane is the first");
        let mut used = std::collections::HashSet::new();
        for i in 0..64 {
            let key = format!("task-{i}");
            let lane = which(&store.lane(&key)).await.0;
            assert_eq!(which(&store.lane(&key)).await.0, lane, "{key}");
            used.insert(lane);
        }
        assert_eq!(used.len(), 4, "64 keys over 4 lanes use them all");
        // Posts on one lane run in order, before a later call on it.
        let lane = store.lane("task-1");
        for n in 1..=10 {
            lane.post("count", move |c| {
                let before: i64 = c.query_row("SELECT posts FROM who", [], |r| r.get(0))?;
                assert_eq!(before + 1, n);
                c.execute("UPDATE who SET posts = posts + 1", [])?;
                Ok(())
            });
        }
        assert_eq!(which(&lane).await.1, 10);
    }

    #[tokio::test]
    async fn with_one_lane_every_key_takes_it() {
        let store = lanes(1);
        assert_eq!(store.lanes(), 1);
        for key in ["a", "b", "task-1"] {
            assert_eq!(which(&store.lane(key)).await.0, 0);
        }
    }
}
