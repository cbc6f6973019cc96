//! The store: every task, log line, model call, tool use and lesson, in the embedded
//! SQLite database or a shared PostgreSQL server ([`Location`]).
//!
//! Functions here are plain synchronous functions over a [`Db`] (the storage
//! boundary, `db`); the engine reaches them through [`StoreHandle`], which runs them
//! on one dedicated thread so the async runtime never blocks on the database.
//! Every statement is parameterized. `state_file` is the one file beside the database
//! that belongs to a table: each task's saved loop state (`checkpoints/{task_id}.json`).

mod actor;
pub mod alerts;
pub mod copy;
pub mod costs;
pub mod db;
pub mod location;
pub mod logs;
pub mod memories;
pub mod owner;
pub mod provider_checks;
pub mod queue;
mod schema;
mod schema_pg;
pub mod state;
pub mod state_file;
pub mod tasks;
pub mod tool_usage;

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

pub use actor::StoreHandle;
pub use db::{Db, Dialect};
pub use location::Location;
pub use schema::{SCHEMA_VERSION, migrate, migrate_to};
pub use schema_pg::PG_SCHEMA_VERSION;
pub use tasks::{NewTask, TaskRow, TaskStatus};

/// A database failure, with a message that says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database {path} is locked by another process; try again or close the other az-os")]
    Locked { path: String },
    #[error(
        "the database {path} is read-only; check its permissions or use --home with a writable directory"
    )]
    ReadOnly { path: String },
    #[error(
        "the database {path} is newer (schema {found}) than this az-os understands ({supported}); upgrade az-os"
    )]
    TooNew {
        path: String,
        found: i64,
        supported: i64,
    },
    #[error(
        "{path} is not an az-os database or is damaged ({detail}); move it aside and az-os starts a new one"
    )]
    Corrupt { path: String, detail: String },
    #[error("no task matches id {0:?}; `az-os tasks list` shows the ids")]
    NoSuchTask(String),
    #[error("id prefix {0:?} matches several tasks; type more characters")]
    Ambiguous(String),
    #[error("the store thread has stopped")]
    Closed,
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("PostgreSQL error: {0}")]
    Postgres(#[from] postgres::Error),
    #[error("the query returned no row")]
    NoRows,
    #[error("column {idx}: {detail}")]
    Column { idx: usize, detail: String },
    #[error(
        "cannot reach PostgreSQL at {server} ({detail}); start the server, or fix [store] url in config.toml (or AZ_OS_DATABASE_URL)"
    )]
    Unreachable { server: String, detail: String },
    #[error(
        "PostgreSQL at {server} refused the credentials ({detail}); fix the user or password in [store] url (the password may be vault:NAME, stored with `az-os keys set NAME`)"
    )]
    Credentials { server: String, detail: String },
    #[error(
        "PostgreSQL at {server} is version {version}; az-os needs 13 or newer: upgrade the server"
    )]
    UnsupportedServer { server: String, version: String },
    #[error(
        "this needs the shared store: set [store] url = \"postgres://…\" in config.toml (or AZ_OS_DATABASE_URL); README \"Many machines\" says how"
    )]
    NotShared,
    #[error("the store URL is not valid: {0}")]
    BadUrl(String),
    #[error("TLS to PostgreSQL at {server}: {detail}")]
    Tls { server: String, detail: String },
    #[error(
        "the store at {server} has schema {found}, older than this az-os's {supported}; run `az-os store migrate` (once, from any host) to upgrade it"
    )]
    Outdated {
        server: String,
        found: i64,
        supported: i64,
    },
}

impl StoreError {
    /// Turns low-level errors on `path` into the specific variants users can act on.
    fn classify(e: rusqlite::Error, path: &Path) -> Self {
        use rusqlite::ffi::ErrorCode;
        let p = path.display().to_string();
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Self::Locked { path: p },
            Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
                Self::ReadOnly { path: p }
            }
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => Self::Corrupt {
                path: p,
                detail: e.to_string(),
            },
            _ => Self::Sql(e),
        }
    }
}

/// Opens (creating if needed) the database at `path`, applies the connection
/// settings and brings the schema up to date.
pub fn open(path: &Path) -> Result<Db, StoreError> {
    open_sqlite(path).map(Db::Sqlite)
}

/// Opens the store at `at`: the SQLite file, or the PostgreSQL server, whose schema
/// must already be current (`az-os store migrate`) unless `migrate` is set.
pub fn open_at(at: &Location) -> Result<Db, StoreError> {
    match at {
        Location::Sqlite(path) => open(path),
        Location::Postgres { url, password } => {
            let pg = db::Pg::connect(url, password.as_deref().map(String::as_str))?;
            let server = pg.server().to_owned();
            let db = Db::Postgres(Box::new(std::cell::RefCell::new(pg)));
            schema_pg::check(&db, &server)?;
            Ok(db)
        }
    }
}

/// Creates or upgrades the schema at `at` (`az-os store migrate`): returns the
/// versions before and after.
pub fn migrate_at(at: &Location) -> Result<(i64, i64), StoreError> {
    match at {
        Location::Sqlite(path) => {
            let before = if path.exists() {
                Connection::open(path)
                    .and_then(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
                    .map_err(|e| StoreError::classify(e, path))?
            } else {
                0
            };
            open(path)?;
            Ok((before, SCHEMA_VERSION))
        }
        Location::Postgres { url, password } => {
            let pg = db::Pg::connect(url, password.as_deref().map(String::as_str))?;
            let server = pg.server().to_owned();
            let db = Db::Postgres(Box::new(std::cell::RefCell::new(pg)));
            let m = schema_pg::migrate(&db, &server)?;
            Ok((m.from, m.to))
        }
    }
}

fn open_sqlite(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(|e| StoreError::classify(e, path))?;
    // Wait on a lock from the first statement on: another process may be creating the
    // database (its migration holds the write lock) right now.
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(|e| StoreError::classify(e, path))?;
    // Refuse a newer schema before changing anything on disk (journal mode included).
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| StoreError::classify(e, path))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.display().to_string(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    // Switching to WAL and migrating can meet a lock the busy handler does not wait on
    // (SQLite answers some of them at once, e.g. while another connection is creating
    // the WAL): when many processes open a new database together, try again briefly.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let done = configure(&conn)
            .map_err(|e| StoreError::classify(e, path))
            .and_then(|()| {
                migrate(&conn, path).map_err(|e| match e {
                    StoreError::Sql(e) => StoreError::classify(e, path),
                    other => other,
                })
            });
        match done {
            Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(25));
            }
            Err(e) => return Err(e),
            Ok(()) => return Ok(conn),
        }
    }
}

/// An in-memory database with the current schema (tests and benchmarks).
pub fn open_in_memory() -> Result<Db, StoreError> {
    let conn = Connection::open_in_memory()?;
    configure(&conn)?;
    migrate(&conn, Path::new(":memory:"))?;
    Ok(Db::Sqlite(conn))
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    // WAL lets readers (the CLI, the TUI) work while a batch run writes.
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         PRAGMA synchronous = NORMAL;
         PRAGMA temp_store = MEMORY;",
    )?;
    Ok(())
}
