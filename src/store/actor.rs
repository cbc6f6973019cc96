//! [`StoreHandle`]: one thread owns the connection; async callers send it closures
//! and await the answer. rusqlite blocks, and SQLite serialises writers anyway, so
//! one writer thread costs nothing and keeps the runtime's threads free.

use std::path::Path;
use std::sync::mpsc;

use crate::store::Db;
use tokio::sync::oneshot;

use super::StoreError;

type Job = Box<dyn FnOnce(&mut Db) + Send>;

/// A cheap, clonable handle to the store thread.
#[derive(Clone)]
pub struct StoreHandle {
    tx: mpsc::Sender<Job>,
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
    pub fn from_connection(mut conn: Db) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("az-os-store".into())
            .spawn(move || {
                // Ends when every handle is dropped.
                while let Ok(job) = rx.recv() {
                    job(&mut conn);
                }
            })
            .map_or_else(
                |e| tracing::error!("cannot start the store thread: {e}"),
                |_| (),
            );
        Self { tx }
    }

    /// Queues `f` on the store thread without waiting. Jobs run in the order they
    /// are posted, so log lines keep their order; failures are logged.
    pub fn post<F>(&self, what: &'static str, f: F)
    where
        F: FnOnce(&mut Db) -> Result<(), StoreError> + Send + 'static,
    {
        let sent = self.tx.send(Box::new(move |c| {
            if let Err(e) = f(c) {
                tracing::error!("store: {what} failed: {e}");
            }
        }));
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
            .send(Box::new(move |c| {
                let _ = tx.send(f(c));
            }))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}
