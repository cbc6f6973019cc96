//! The storage boundary: one connection type, [`Db`], over the embedded SQLite
//! database or a shared PostgreSQL server. Every query in `store` (and in the modules
//! that keep lesson data) goes through it, written once in the SQL both understand:
//! `?N` placeholders (turned into `$N` for PostgreSQL), `ON CONFLICT`, `RETURNING`.
//! Where the two differ (full-text search, date functions, pragmas) the caller asks
//! [`Db::dialect`] and says it both ways.
//!
//! Values cross the boundary as five kinds (null, integer, real, text, bytes) in both
//! directions, so a column reads the same from either server: PostgreSQL's `BIGINT`,
//! `DOUBLE PRECISION`, `NUMERIC` (an aggregate), `TEXT` and `BYTEA` become what SQLite
//! would have returned.

mod pg;
mod value;

use std::cell::RefCell;

pub use pg::{Pg, tls_options};
pub use value::{FromColumn, Param, Params, Value, ValueRef};

use super::StoreError;

/// Which SQL a [`Db`] speaks, for the few statements that differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// An open store connection.
pub enum Db {
    Sqlite(rusqlite::Connection),
    /// A `RefCell` because the client needs `&mut` for every statement while the store
    /// API, like rusqlite's, takes `&self` (one thread owns a connection).
    Postgres(Box<RefCell<Pg>>),
}

/// `params![a, b]`: the values of a statement's `?1, ?2` placeholders.
#[macro_export]
macro_rules! db_params {
    () => { [] as [&dyn $crate::store::db::Param; 0] };
    ($($x:expr),+ $(,)?) => { [$(&$x as &dyn $crate::store::db::Param),+] };
}
pub use db_params as params;

impl Db {
    pub fn dialect(&self) -> Dialect {
        match self {
            Self::Sqlite(_) => Dialect::Sqlite,
            Self::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The SQLite connection, for what only SQLite has (pragmas, its own backups).
    pub fn sqlite(&self) -> Option<&rusqlite::Connection> {
        match self {
            Self::Sqlite(c) => Some(c),
            Self::Postgres(_) => None,
        }
    }

    /// Names the database for caches of what it holds: the SQLite file (`None` for an
    /// in-memory one), or the PostgreSQL server and database.
    pub fn cache_key(&self) -> Option<String> {
        match self {
            Self::Sqlite(c) => c.path().filter(|p| !p.is_empty()).map(str::to_owned),
            Self::Postgres(p) => Some(format!("postgres:{}", p.borrow().server())),
        }
    }

    /// A statement, prepared once per connection and kept.
    pub fn prepare_cached<'a>(&'a self, sql: &str) -> Result<Stmt<'a>, StoreError> {
        match self {
            Self::Sqlite(c) => Ok(Stmt::Sqlite(c.prepare_cached(sql)?)),
            Self::Postgres(_) => Ok(Stmt::Postgres {
                db: self,
                sql: sql.to_owned(),
            }),
        }
    }

    /// The same as [`Self::prepare_cached`] (rusqlite's name for a one-off statement).
    pub fn prepare<'a>(&'a self, sql: &str) -> Result<Stmt<'a>, StoreError> {
        self.prepare_cached(sql)
    }

    /// Runs one statement; returns how many rows it changed.
    pub fn execute(&self, sql: &str, params: impl Params) -> Result<usize, StoreError> {
        self.prepare_cached(sql)?.execute(params)
    }

    /// The first row of a query; [`StoreError::NoRows`] when there is none.
    pub fn query_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    /// Runs statements separated by `;`, without parameters (schema changes).
    pub fn execute_batch(&self, sql: &str) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Self::Postgres(p) => p.borrow_mut().batch(sql),
        }
    }

    /// Begins a transaction that takes the write lock at once (SQLite's `BEGIN
    /// IMMEDIATE`), so two writers never both read and then collide; it rolls back
    /// unless [`Tx::commit`] is called.
    pub fn unchecked_transaction(&self) -> Result<Tx<'_>, StoreError> {
        match self {
            Self::Sqlite(c) => c.execute_batch("BEGIN IMMEDIATE")?,
            Self::Postgres(p) => p.borrow_mut().batch("BEGIN")?,
        }
        Ok(Tx {
            db: self,
            done: false,
        })
    }
}

/// An open transaction on a [`Db`]; dereferences to it.
pub struct Tx<'a> {
    db: &'a Db,
    done: bool,
}

impl Tx<'_> {
    pub fn commit(mut self) -> Result<(), StoreError> {
        self.done = true;
        self.db.execute_batch("COMMIT")
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = Db;
    fn deref(&self) -> &Db {
        self.db
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if !self.done
            && let Err(e) = self.db.execute_batch("ROLLBACK")
        {
            tracing::debug!("rollback: {e}");
        }
    }
}

/// A prepared statement.
pub enum Stmt<'a> {
    Sqlite(rusqlite::CachedStatement<'a>),
    Postgres { db: &'a Db, sql: String },
}

impl Stmt<'_> {
    #[expect(
        clippy::needless_pass_by_value,
        reason = "`params![…]` is passed by value"
    )]
    pub fn execute(&mut self, params: impl Params) -> Result<usize, StoreError> {
        params.with(|params| match self {
            Self::Sqlite(s) => {
                Ok(s.execute(rusqlite::params_from_iter(value::sqlite_params(params)))?)
            }
            Self::Postgres { db, sql } => pg_of(db).borrow_mut().execute(sql, params),
        })
    }

    /// Every row, each made into a `T` by `f`.
    #[expect(
        clippy::needless_pass_by_value,
        reason = "`params![…]` is passed by value"
    )]
    pub fn query_map<T>(
        &mut self,
        params: impl Params,
        mut f: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<std::vec::IntoIter<Result<T, StoreError>>, StoreError> {
        let out: Vec<Result<T, StoreError>> = params.with(|params| match self {
            Self::Sqlite(s) => {
                let mut rows = s.query(rusqlite::params_from_iter(value::sqlite_params(params)))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(f(&Row::Sqlite(r)));
                }
                Ok(out)
            }
            Self::Postgres { db, sql } => {
                // The rows are read before `f` runs, so `f` may query the same connection.
                let rows = pg_of(db).borrow_mut().query(sql, params)?;
                Ok::<_, StoreError>(rows.iter().map(|r| f(&Row::Postgres(r))).collect())
            }
        })?;
        Ok(out.into_iter())
    }

    /// The first row; [`StoreError::NoRows`] when there is none.
    #[expect(
        clippy::needless_pass_by_value,
        reason = "`params![…]` is passed by value"
    )]
    pub fn query_row<T>(
        &mut self,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        params.with(|params| match self {
            Self::Sqlite(s) => {
                let mut rows = s.query(rusqlite::params_from_iter(value::sqlite_params(params)))?;
                match rows.next()? {
                    Some(r) => f(&Row::Sqlite(r)),
                    None => Err(StoreError::NoRows),
                }
            }
            Self::Postgres { db, sql } => {
                let rows = pg_of(db).borrow_mut().query(sql, params)?;
                rows.first()
                    .map_or(Err(StoreError::NoRows), |r| f(&Row::Postgres(r)))
            }
        })
    }
}

fn pg_of(db: &Db) -> &RefCell<Pg> {
    match db {
        Db::Postgres(p) => p,
        Db::Sqlite(_) => unreachable!("a PostgreSQL statement on a SQLite connection"),
    }
}

/// One result row.
pub enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a pg::PgRow),
}

impl Row<'_> {
    /// Column `idx` (from 0) as a `T`.
    pub fn get<T: FromColumn>(&self, idx: usize) -> Result<T, StoreError> {
        let v = match self {
            Self::Sqlite(r) => ValueRef::from(r.get_ref(idx)?),
            Self::Postgres(r) => r.get(idx)?,
        };
        T::from_column(v).map_err(|e| StoreError::Column { idx, detail: e })
    }
}

/// `.optional()` on a single-row result: no row is `None`, as with rusqlite.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>, StoreError>;
}

impl<T> OptionalExtension<T> for Result<T, StoreError> {
    fn optional(self) -> Result<Option<T>, StoreError> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(StoreError::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
