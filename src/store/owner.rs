//! Which process owns a `pending` or `running` task, and reconciliation: rows whose
//! owner is gone (killed, crashed, a closed SSH session) become `interrupted`.
//!
//! An owner is a pid plus that process's start time (field 22 of `/proc/PID/stat`, in
//! clock ticks since boot) plus the host name: a pid reused by another process has
//! another start time, so it does not keep a dead owner's rows alive. Reconciliation
//! reads the distinct owners of the active rows through a partial index (only
//! `pending`/`running` rows are in it, so it costs the active rows, not the history),
//! checks each owner once, and updates the rows of the gone ones. A live owner's rows
//! are never touched; rows owned on another host are left to that host.
//!
//! What it does not do: decide anything about finished rows, or resume anything
//! (`az-os tasks resume` does, with the saved state).

use std::sync::OnceLock;

use crate::store::db::{Db, Dialect, params};

use super::StoreError;
use crate::util::time::now_unix;

/// The process that owns a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    /// Start time in clock ticks since boot; `None` where `/proc` cannot tell (and in
    /// rows written before owners had one).
    pub started: Option<i64>,
    pub host: Option<String>,
}

impl Owner {
    /// This process.
    pub fn me() -> &'static Owner {
        static ME: OnceLock<Owner> = OnceLock::new();
        ME.get_or_init(|| {
            let pid = std::process::id();
            Owner {
                pid,
                started: start_time(pid),
                host: host_name(),
            }
        })
    }

    /// Whether the owner is still running. Unknown hosts count as alive: only
    /// their own host can tell.
    pub fn alive(&self) -> bool {
        let me = Self::me();
        if self.host.is_some() && me.host.is_some() && self.host != me.host {
            return true;
        }
        if self.pid == me.pid {
            // This process, or an earlier one that had the same pid.
            return self.started.is_some() && self.started == me.started;
        }
        if !process_exists(self.pid) {
            return false;
        }
        match (self.started, start_time(self.pid)) {
            (Some(recorded), Some(now)) => recorded == now,
            // No start time on record (an older row) or none readable: the pid decides.
            _ => true,
        }
    }
}

/// Start time of process `pid` (clock ticks after boot), from `/proc/PID/stat`.
pub fn start_time(pid: u32) -> Option<i64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&stat)
}

/// Field 22 of a `/proc/PID/stat` line. The command name (field 2) is in parentheses
/// and may hold spaces and parentheses itself, so fields are counted after the last `)`.
fn parse_start_time(stat: &str) -> Option<i64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // `rest` starts at field 3 (state); field 22 is the 20th from there.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The kernel's host name (`None` where `/proc` does not say, and rows then match on
/// the pid and start time alone).
fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

fn process_exists(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // Signal 0 checks existence; EPERM means it exists but belongs to someone else.
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(e) => e == nix::errno::Errno::EPERM,
    }
}

/// The active rows' owners, one row each, read from `idx_tasks_owner` alone (a partial,
/// covering index: no table rows are read). Named, because the planner would otherwise
/// take the status index and sort for DISTINCT.
const OWNERS: &str = "SELECT DISTINCT runner_pid, owner_started, owner_host \
     FROM tasks INDEXED BY idx_tasks_owner WHERE status IN ('pending', 'running')";

/// The same for PostgreSQL, whose planner takes the partial index unasked; rows waiting
/// on the shared queue belong to no process (`store::queue`).
const OWNERS_PG: &str = "SELECT DISTINCT runner_pid, owner_started, owner_host \
     FROM tasks WHERE status IN ('pending', 'running') AND queue IS NULL";

/// Marks `interrupted` every `pending` or `running` row whose owner is gone; returns
/// how many rows changed.
pub fn reconcile(conn: &Db) -> Result<usize, StoreError> {
    // On the shared store, a worker on another host that stopped renewing its lease.
    let mut changed = match conn.dialect() {
        Dialect::Sqlite => 0,
        Dialect::Postgres => super::queue::expire_leases(conn)?,
    };
    let owners: Vec<(Option<i64>, Option<i64>, Option<String>)> = conn
        .prepare_cached(match conn.dialect() {
            Dialect::Sqlite => OWNERS,
            Dialect::Postgres => OWNERS_PG,
        })?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (pid, started, host) in owners {
        let gone = match pid.and_then(|p| u32::try_from(p).ok()) {
            // A row nobody owns (written before owners were recorded) has no one to
            // finish it.
            None => true,
            Some(pid) => !Owner {
                pid,
                started,
                host: host.clone(),
            }
            .alive(),
        };
        if gone {
            changed += interrupt(conn, pid, started, host.as_deref())?;
        }
    }
    Ok(changed)
}

const INTERRUPT: &str = "UPDATE tasks SET status = 'interrupted', completed_at = ?4, \
     runner_pid = NULL, owner_started = NULL, owner_host = NULL, \
     error = ?5 || '; `az-os tasks resume ' || id || '` continues it' \
     WHERE status IN ('pending', 'running') \
     AND runner_pid IS NOT DISTINCT FROM ?1 AND owner_started IS NOT DISTINCT FROM ?2 \
     AND owner_host IS NOT DISTINCT FROM ?3";

/// The same on the shared store: never a row waiting on the queue; a worker's lease
/// goes with its owner.
const INTERRUPT_PG: &str = "UPDATE tasks SET status = 'interrupted', completed_at = ?4, \
     runner_pid = NULL, owner_started = NULL, owner_host = NULL, worker = NULL, \
     lease_until = NULL, error = ?5 || '; `az-os tasks resume ' || id || '` continues it' \
     WHERE status IN ('pending', 'running') AND queue IS NULL \
     AND runner_pid IS NOT DISTINCT FROM ?1 AND owner_started IS NOT DISTINCT FROM ?2 \
     AND owner_host IS NOT DISTINCT FROM ?3";

/// The rows of one gone owner become `interrupted`, with a message that says how to
/// continue them.
fn interrupt(
    conn: &Db,
    pid: Option<i64>,
    started: Option<i64>,
    host: Option<&str>,
) -> Result<usize, StoreError> {
    let why = match pid {
        Some(p) => format!(
            "the az-os process that ran or queued this task (pid {p}) stopped before it finished"
        ),
        None => {
            "the az-os process that ran or queued this task stopped before it finished".to_owned()
        }
    };
    let sql = match conn.dialect() {
        Dialect::Sqlite => INTERRUPT,
        Dialect::Postgres => INTERRUPT_PG,
    };
    let n = conn
        .prepare_cached(sql)?
        .execute(params![pid, started, host, now_unix(), why])?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_is_field_22_even_with_parens_in_the_name() {
        let stat = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_start_time(stat), Some(987_654));
        assert_eq!(parse_start_time("garbage"), None);
    }

    #[test]
    fn this_process_is_alive_and_an_earlier_one_with_its_pid_is_not() {
        let me = Owner::me().clone();
        assert!(me.started.is_some(), "/proc/self/stat should be readable");
        assert!(me.alive());
        let reused = Owner {
            started: me.started.map(|s| s + 1),
            ..me.clone()
        };
        assert!(!reused.alive());
        let elsewhere = Owner {
            pid: u32::MAX - 1,
            started: None,
            host: Some(format!("{}-other", me.host.clone().unwrap_or_default())),
        };
        assert!(elsewhere.alive(), "another host's rows are left to it");
    }

    #[test]
    fn the_owners_query_reads_the_partial_index() {
        let conn = crate::store::open_in_memory().unwrap();
        let plan: Vec<String> = conn
            .prepare_cached(&format!("EXPLAIN QUERY PLAN {OWNERS}"))
            .unwrap()
            .query_map([], |r| r.get::<String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            plan.iter().any(|p| p.contains("idx_tasks_owner")),
            "{plan:?}"
        );
    }
}
