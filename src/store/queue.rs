//! The shared queue on PostgreSQL: tasks submitted from any host wait as
//! `queue = 'shared'` rows; workers (`az-os worker`) claim them with `FOR UPDATE SKIP
//! LOCKED`, so two workers never take the same row, and hold them under a lease they
//! renew with each heartbeat. A worker that dies (kill -9, a lost network, a host gone)
//! stops renewing: once the lease is past, any az-os command that opens the store
//! marks its tasks `interrupted`, and `az-os tasks resume` puts them back on the queue
//! for a worker that serves their workdir, which continues them from their saved state.
//!
//! Events of the tasks a worker runs go to `task_events`; a follower on another host
//! reads each of its tasks' events after a cursor of its own (per task, because two
//! workers' inserts may commit out of id order, and one task's events come from one
//! worker in order).
//!
//! Everything here is PostgreSQL's; SQLite keeps the engine's in-memory queue.

use serde::Serialize;

use super::db::{Db, Dialect, params};
use super::owner::Owner;
use super::{NewTask, StoreError};
use crate::util::ids::TaskId;
use crate::util::time::now_unix;

/// How long a claim holds without a heartbeat, in seconds.
pub const LEASE_S: f64 = 30.0;

/// A worker's heartbeat interval: its lease is renewed several times before it lapses.
pub const HEARTBEAT_S: f64 = 5.0;

/// A worker whose last heartbeat is older than this is gone.
pub const WORKER_GONE_S: f64 = 3.0 * HEARTBEAT_S;

fn shared_only(db: &Db) -> Result<(), StoreError> {
    match db.dialect() {
        Dialect::Postgres => Ok(()),
        Dialect::Sqlite => Err(StoreError::NotShared),
    }
}

/// Queues `t` for any worker that serves its workdir.
pub fn submit(db: &Db, t: &NewTask) -> Result<f64, StoreError> {
    submit_all(db, std::slice::from_ref(t))
}

/// Queues every task of `ts` in one statement (a batch run's lines), in their order:
/// all or none.
pub fn submit_all(db: &Db, ts: &[NewTask]) -> Result<f64, StoreError> {
    shared_only(db)?;
    let now = now_unix();
    let rows: Vec<serde_json::Value> = ts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            serde_json::json!({
                "id": t.id.as_str(),
                "description": t.description,
                // The order of the lines, kept by the claim's ORDER BY created_at.
                "created_at": now + i as f64 * 1e-6,
                "workdir": t.workdir,
                "max_turns": t.max_turns,
                "budget_usd": t.budget_usd,
                "requested_model": t.requested_model,
                "critical": i64::from(t.critical),
            })
        })
        .collect();
    db.execute(
        "INSERT INTO tasks (id, description, status, created_at, cost_usd, workdir, turns, \
         max_turns, budget_usd, requested_model, critical, queue) \
         SELECT x.id, x.description, 'pending', x.created_at, 0, x.workdir, 0, x.max_turns, \
         x.budget_usd, x.requested_model, x.critical, 'shared' \
         FROM json_to_recordset(CAST(?1 AS TEXT)::json) AS x(id TEXT, description TEXT, \
         created_at DOUBLE PRECISION, workdir TEXT, max_turns BIGINT, budget_usd DOUBLE PRECISION, \
         requested_model TEXT, critical BIGINT)",
        params![serde_json::Value::Array(rows).to_string()],
    )?;
    Ok(now)
}

/// Puts an `interrupted` task back on the shared queue (a resume from any host), with
/// a new model and budget for the rest of it if given (`tasks resume --model/--budget`);
/// `false` (and nothing changed) when it is not interrupted (any more).
pub fn requeue_interrupted(
    db: &Db,
    id: &TaskId,
    model: Option<&str>,
    budget_usd: Option<f64>,
) -> Result<bool, StoreError> {
    shared_only(db)?;
    let tx = db.unchecked_transaction()?;
    let n = tx.execute(
        "UPDATE tasks SET status = 'pending', queue = 'shared', completed_at = NULL, \
         error = NULL, result = NULL, runner_pid = NULL, owner_started = NULL, \
         owner_host = NULL, worker = NULL, lease_until = NULL, cancel_requested = 0 \
         WHERE id = ?1 AND status = 'interrupted'",
        params![id.as_str()],
    )?;
    if n != 1 {
        return Ok(false);
    }
    super::tasks::set_overrides(&tx, id, model, budget_usd)?;
    tx.commit()?;
    Ok(true)
}

/// Puts a finished task (completed, failed or cancelled) back on the shared queue to
/// start over (a retry from any host); `false` when it is not finished (any more).
/// Its spend so far stays on the row, as a retry here keeps it.
pub fn requeue_finished(db: &Db, id: &TaskId) -> Result<bool, StoreError> {
    shared_only(db)?;
    let n = db.execute(
        "UPDATE tasks SET status = 'pending', queue = 'shared', completed_at = NULL, \
         error = NULL, result = NULL, turns = 0, runner_pid = NULL, owner_started = NULL, \
         owner_host = NULL, worker = NULL, lease_until = NULL, cancel_requested = 0 \
         WHERE id = ?1 AND status IN ('completed', 'failed', 'cancelled')",
        params![id.as_str()],
    )?;
    Ok(n == 1)
}

/// The oldest queued task whose workdir is one of `serves` (or below one), claimed by
/// this process for worker `worker` under a lease; `None` when there is none.
pub fn claim(db: &Db, worker: &str, serves: &[String]) -> Result<Option<TaskId>, StoreError> {
    Ok(claim_many(db, worker, serves, 1)?.into_iter().next())
}

/// Up to `most` of the oldest queued tasks whose workdir is one of `serves`, claimed as
/// [`claim`] does, in one statement; oldest first.
pub fn claim_many(
    db: &Db,
    worker: &str,
    serves: &[String],
    most: usize,
) -> Result<Vec<TaskId>, StoreError> {
    shared_only(db)?;
    if most == 0 {
        return Ok(Vec::new());
    }
    let me = Owner::me();
    let serves = serde_json::to_string(serves).unwrap_or_else(|_| "[]".into());
    let mut claimed: Vec<(f64, String)> = db
        .prepare_cached(
            "UPDATE tasks SET queue = NULL, worker = ?1, lease_until = ?2, runner_pid = ?4, \
             owner_started = ?5, owner_host = ?6 \
             WHERE id IN (SELECT t.id FROM tasks t WHERE t.queue = 'shared' \
               AND t.status = 'pending' AND EXISTS (\
                 SELECT 1 FROM json_array_elements_text(CAST(?3 AS TEXT)::json) AS d(dir) \
                 WHERE d.dir = '/' OR t.workdir = d.dir OR starts_with(t.workdir, d.dir || '/')) \
               ORDER BY t.created_at LIMIT ?7 FOR UPDATE SKIP LOCKED) \
             RETURNING created_at, id",
        )?
        .query_map(
            params![
                worker,
                now_unix() + LEASE_S,
                serves,
                me.pid,
                me.started,
                me.host,
                i64::try_from(most).unwrap_or(i64::MAX)
            ],
            |r| Ok((r.get::<Option<f64>>(0)?.unwrap_or(0.0), r.get(1)?)),
        )?
        .collect::<Result<_, _>>()?;
    claimed.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(claimed.into_iter().map(|(_, id)| TaskId(id)).collect())
}

/// A worker, as `az-os workers` lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Worker {
    pub id: String,
    pub name: String,
    pub host: String,
    pub pid: u32,
    pub jobs: u32,
    pub serves: Vec<String>,
    pub started_at: f64,
    pub heartbeat_at: f64,
    pub stopped_at: Option<f64>,
    /// Its tasks `pending` or `running` now.
    pub running: u32,
}

impl Worker {
    /// Whether it heartbeat recently and has not said it stopped.
    pub fn alive(&self, now: f64) -> bool {
        self.stopped_at.is_none() && now - self.heartbeat_at < WORKER_GONE_S
    }

    /// `alive`, `stopped` (it said so) or `gone` (no heartbeat for a while).
    pub fn state(&self, now: f64) -> &'static str {
        if self.stopped_at.is_some() {
            "stopped"
        } else if self.alive(now) {
            "alive"
        } else {
            "gone"
        }
    }

    /// Whether it runs tasks in `workdir`.
    pub fn serves(&self, workdir: &str) -> bool {
        self.serves.iter().any(|d| {
            d == "/"
                || workdir == d
                || workdir
                    .strip_prefix(d.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    }
}

/// Announces worker `w` (a row of its own, replaced if its id is reused).
pub fn register(db: &Db, w: &Worker) -> Result<(), StoreError> {
    shared_only(db)?;
    let serves = serde_json::to_string(&w.serves).unwrap_or_else(|_| "[]".into());
    db.execute(
        "INSERT INTO workers (id, name, host, pid, jobs, serves, started_at, heartbeat_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT (id) DO UPDATE SET \
         name = excluded.name, host = excluded.host, pid = excluded.pid, jobs = excluded.jobs, \
         serves = excluded.serves, started_at = excluded.started_at, \
         heartbeat_at = excluded.heartbeat_at, stopped_at = NULL",
        params![w.id, w.name, w.host, w.pid, w.jobs, serves, w.started_at],
    )?;
    Ok(())
}

/// A worker's heartbeat: it is alive, and its claims hold for another lease.
pub fn heartbeat(db: &Db, worker: &str) -> Result<(), StoreError> {
    shared_only(db)?;
    let now = now_unix();
    let tx = db.unchecked_transaction()?;
    tx.execute(
        "UPDATE workers SET heartbeat_at = ?2, stopped_at = NULL WHERE id = ?1",
        params![worker, now],
    )?;
    tx.execute(
        "UPDATE tasks SET lease_until = ?2 WHERE worker = ?1 AND status IN ('pending', 'running')",
        params![worker, now + LEASE_S],
    )?;
    tx.commit()
}

/// A worker says it stopped.
pub fn stopped(db: &Db, worker: &str) -> Result<(), StoreError> {
    shared_only(db)?;
    db.execute(
        "UPDATE workers SET stopped_at = ?2 WHERE id = ?1",
        params![worker, now_unix()],
    )?;
    Ok(())
}

/// Every worker seen in the last day, the live ones first.
pub fn workers(db: &Db) -> Result<Vec<Worker>, StoreError> {
    shared_only(db)?;
    db.prepare_cached(
        "SELECT w.id, w.name, w.host, w.pid, w.jobs, w.serves, w.started_at, w.heartbeat_at, \
         w.stopped_at, (SELECT COUNT(*) FROM tasks t WHERE t.worker = w.id \
           AND t.status IN ('pending', 'running')) \
         FROM workers w WHERE w.heartbeat_at > ?1 \
         ORDER BY (w.stopped_at IS NULL) DESC, w.heartbeat_at DESC",
    )?
    .query_map(params![now_unix() - 86_400.0], |r| {
        let serves: String = r.get(5)?;
        Ok(Worker {
            id: r.get(0)?,
            name: r.get(1)?,
            host: r.get(2)?,
            pid: r.get(3)?,
            jobs: r.get(4)?,
            serves: serde_json::from_str(&serves).unwrap_or_default(),
            started_at: r.get(6)?,
            heartbeat_at: r.get(7)?,
            stopped_at: r.get(8)?,
            running: r.get(9)?,
        })
    })?
    .collect()
}

/// Tasks whose worker's lease ran out become `interrupted` (reconciliation on the
/// shared store: the partial index holds only leased active rows).
pub fn expire_leases(db: &Db) -> Result<usize, StoreError> {
    shared_only(db)?;
    let now = now_unix();
    db.execute(
        "UPDATE tasks SET status = 'interrupted', completed_at = ?1, runner_pid = NULL, \
         owner_started = NULL, owner_host = NULL, lease_until = NULL, \
         error = 'the worker running it (' || COALESCE(worker, '?') || \
         ') stopped renewing its lease; `az-os tasks resume ' || id || '` continues it', \
         worker = NULL \
         WHERE status IN ('pending', 'running') AND lease_until IS NOT NULL AND lease_until < ?1",
        params![now],
    )
}

/// Appends events (`(task, JSON)`) in one statement.
pub fn append_events(db: &Db, events: &[(Option<String>, String)]) -> Result<(), StoreError> {
    shared_only(db)?;
    if events.is_empty() {
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = events
        .iter()
        .map(|(t, e)| serde_json::json!({"task_id": t, "event": e}))
        .collect();
    let json = serde_json::Value::Array(rows).to_string();
    db.execute(
        "INSERT INTO task_events (task_id, event) \
         SELECT x.task_id, x.event FROM json_to_recordset(CAST(?1 AS TEXT)::json) \
         AS x(task_id TEXT, event TEXT)",
        params![json],
    )?;
    Ok(())
}

/// Events of each task after that task's cursor, oldest first: `(id, task, JSON)`.
pub fn events_after(
    db: &Db,
    cursors: &[(TaskId, i64)],
    limit: usize,
) -> Result<Vec<(i64, TaskId, String)>, StoreError> {
    shared_only(db)?;
    if cursors.is_empty() {
        return Ok(Vec::new());
    }
    let json = serde_json::Value::Array(
        cursors
            .iter()
            .map(|(t, after)| serde_json::json!({"task_id": t.as_str(), "after": after}))
            .collect(),
    )
    .to_string();
    db.prepare_cached(
        "SELECT e.id, e.task_id, e.event FROM json_to_recordset(CAST(?1 AS TEXT)::json) \
         AS c(task_id TEXT, after BIGINT) \
         JOIN task_events e ON e.task_id = c.task_id AND e.id > c.after \
         ORDER BY e.id LIMIT ?2",
    )?
    .query_map(params![json, limit], |r| {
        Ok((r.get(0)?, TaskId(r.get(1)?), r.get(2)?))
    })?
    .collect()
}

/// The id of the newest event (0 with none).
pub fn last_event_id(db: &Db) -> Result<i64, StoreError> {
    shared_only(db)?;
    db.query_row("SELECT COALESCE(MAX(id), 0) FROM task_events", [], |r| {
        r.get(0)
    })
}

/// Events with an id above `after` or in `missing` (ids a reader skipped because they
/// were not committed yet), oldest first, at most `limit`: `(id, task, JSON)`. An event
/// of no task comes with its id only (a reader needs it to tell a gap from a row).
pub fn events_since(
    db: &Db,
    after: i64,
    missing: &[i64],
    limit: usize,
) -> Result<Vec<(i64, Option<TaskId>, String)>, StoreError> {
    shared_only(db)?;
    // An array literal, `{1,2,3}`: `= ANY` of it is an index lookup.
    let missing = format!(
        "{{{}}}",
        missing
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    db.prepare_cached(
        // Two parts, each on the primary key: an OR of them would scan the table.
        "SELECT id, task_id, CASE WHEN task_id IS NULL THEN '' ELSE event END FROM (\
           (SELECT id, task_id, event FROM task_events WHERE id > ?1 ORDER BY id LIMIT ?3) \
           UNION ALL \
           (SELECT id, task_id, event FROM task_events \
             WHERE id <= ?1 AND id = ANY(CAST(CAST(?2 AS TEXT) AS BIGINT[])))\
         ) e ORDER BY id LIMIT ?3",
    )?
    .query_map(params![after, missing, limit], |r| {
        Ok((
            r.get(0)?,
            r.get::<Option<String>>(1)?.map(TaskId),
            r.get(2)?,
        ))
    })?
    .collect()
}

/// Asks for a task to stop, from any host: still queued, it is cancelled at once
/// (returns true); running, its worker cancels it at its next look.
pub fn request_cancel(db: &Db, id: &TaskId) -> Result<bool, StoreError> {
    shared_only(db)?;
    let queued = db.execute(
        "UPDATE tasks SET status = 'cancelled', queue = NULL, completed_at = ?2, \
         error = 'cancelled before a worker took it' WHERE id = ?1 AND queue = 'shared'",
        params![id.as_str(), now_unix()],
    )?;
    if queued == 1 {
        return Ok(true);
    }
    db.execute(
        "UPDATE tasks SET cancel_requested = 1 WHERE id = ?1 AND status IN ('pending', 'running')",
        params![id.as_str()],
    )?;
    Ok(false)
}

/// The tasks of worker `worker` someone asked to stop.
pub fn cancels_for(db: &Db, worker: &str) -> Result<Vec<TaskId>, StoreError> {
    shared_only(db)?;
    db.prepare_cached(
        "SELECT id FROM tasks WHERE worker = ?1 AND cancel_requested = 1 \
         AND status IN ('pending', 'running')",
    )?
    .query_map(params![worker], |r| Ok(TaskId(r.get(0)?)))?
    .collect()
}

/// Any 64-bit number of our own, for the daily budget's `pg_advisory_xact_lock`.
const BUDGET_LOCK: i64 = 0x617a_2d6f_7300_0002;

/// The daily cap across every host: under one lock, what the ledger says was spent
/// since `since` plus what requests in flight anywhere hold, plus `usd`, must stay
/// within `cap`; then `usd` is held (until `hold_s` from now at most, should its holder
/// die) and its id returned. `Err((spent, held))` when the cap would be passed.
pub fn hold_budget(
    db: &Db,
    since: f64,
    usd: f64,
    cap: f64,
    hold_s: f64,
) -> Result<Result<i64, (f64, f64)>, StoreError> {
    shared_only(db)?;
    let now = now_unix();
    let tx = db.unchecked_transaction()?;
    tx.query_row(
        "SELECT pg_advisory_xact_lock(?1)::text",
        params![BUDGET_LOCK],
        |_| Ok(()),
    )?;
    let spent = super::costs::spent_since(&tx, since)?;
    let held: f64 = tx.query_row(
        "SELECT COALESCE(SUM(usd), 0) FROM budget_holds WHERE until > ?1",
        params![now],
        |r| r.get(0),
    )?;
    if spent + held + usd > cap {
        return Ok(Err((spent, held)));
    }
    let id: i64 = tx.query_row(
        "INSERT INTO budget_holds (usd, until) VALUES (?1, ?2) RETURNING id",
        params![usd, now + hold_s],
        |r| r.get(0),
    )?;
    tx.execute("DELETE FROM budget_holds WHERE until < ?1", params![now])?;
    tx.commit()?;
    Ok(Ok(id))
}

/// Lets go of a hold once its request's ledger row is written.
pub fn release_budget(db: &Db, id: i64) -> Result<(), StoreError> {
    shared_only(db)?;
    db.execute("DELETE FROM budget_holds WHERE id = ?1", params![id])?;
    Ok(())
}

/// The tasks queued or running anywhere, oldest first (at most `limit`).
pub fn open_tasks(db: &Db, limit: usize) -> Result<Vec<super::TaskRow>, StoreError> {
    shared_only(db)?;
    db.prepare_cached(&format!(
        "SELECT {} FROM tasks WHERE status IN ('pending', 'running') \
         ORDER BY created_at LIMIT ?1",
        super::tasks::COLUMNS
    ))?
    .query_map(
        params![i64::try_from(limit).unwrap_or(i64::MAX)],
        super::tasks::from_row,
    )?
    .collect()
}

/// The rows of tasks `ids` (those that exist), in one query.
pub fn tasks_of(db: &Db, ids: &[TaskId]) -> Result<Vec<super::TaskRow>, StoreError> {
    shared_only(db)?;
    let json = serde_json::to_string(&ids.iter().map(TaskId::as_str).collect::<Vec<_>>())
        .unwrap_or_else(|_| "[]".into());
    db.prepare_cached(&format!(
        "SELECT {} FROM tasks WHERE id IN \
         (SELECT json_array_elements_text(CAST(?1 AS TEXT)::json))",
        super::tasks::COLUMNS
    ))?
    .query_map(params![json], super::tasks::from_row)?
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_serves_its_folders_and_what_is_below_them() {
        let w = Worker {
            id: "w".into(),
            name: "w".into(),
            host: "h".into(),
            pid: 1,
            jobs: 1,
            serves: vec!["/srv/a".into()],
            started_at: 0.0,
            heartbeat_at: 100.0,
            stopped_at: None,
            running: 0,
        };
        assert!(w.serves("/srv/a"));
        assert!(w.serves("/srv/a/b"));
        assert!(!w.serves("/srv/ab"));
        assert!(!w.serves("/srv"));
        assert!(w.alive(100.0 + WORKER_GONE_S - 1.0));
        assert!(!w.alive(100.0 + WORKER_GONE_S + 1.0));
    }

    #[test]
    fn sqlite_has_no_shared_queue() {
        let db = crate::store::open_in_memory().unwrap();
        assert!(matches!(claim(&db, "w", &[]), Err(StoreError::NotShared)));
    }
}
