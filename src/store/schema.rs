//! Schema versions and forward migrations, tracked in `PRAGMA user_version`.
//!
//! Version 1 is the design's five tables exactly as named there. Later versions
//! only add: columns, indexes and tables, so older data always survives.

use std::path::Path;

use rusqlite::Connection;

use super::StoreError;

/// The schema this build writes.
pub const SCHEMA_VERSION: i64 = 7;

const V1: &str = "
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    description TEXT,
    model TEXT,
    status TEXT,
    created_at REAL,
    completed_at REAL,
    result TEXT,
    cost_usd REAL
);
CREATE TABLE IF NOT EXISTS task_logs (
    id INTEGER PRIMARY KEY,
    task_id TEXT,
    timestamp REAL,
    level TEXT,
    message TEXT,
    FOREIGN KEY (task_id) REFERENCES tasks(id)
);
CREATE TABLE IF NOT EXISTS cost_tracking (
    id INTEGER PRIMARY KEY,
    task_id TEXT,
    model TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cost_usd REAL,
    timestamp REAL,
    FOREIGN KEY (task_id) REFERENCES tasks(id)
);
CREATE TABLE IF NOT EXISTS task_state (
    id INTEGER PRIMARY KEY,
    task_id TEXT UNIQUE,
    state_json TEXT,
    checkpoint_id TEXT,
    updated_at REAL,
    FOREIGN KEY (task_id) REFERENCES tasks(id)
);
CREATE TABLE IF NOT EXISTS tool_usage (
    id INTEGER PRIMARY KEY,
    task_id TEXT,
    tool_name TEXT,
    invocation_count INTEGER,
    total_duration_ms REAL,
    FOREIGN KEY (task_id) REFERENCES tasks(id)
);
";

/// What the engine needs beyond the design: run details on tasks, structured
/// log lines, call metrics, error counts, lessons with full-text search, and the
/// indexes behind every query the app makes.
const V2: &str = "
ALTER TABLE tasks ADD COLUMN workdir TEXT;
ALTER TABLE tasks ADD COLUMN started_at REAL;
ALTER TABLE tasks ADD COLUMN turns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN max_turns INTEGER NOT NULL DEFAULT 5;
ALTER TABLE tasks ADD COLUMN error TEXT;
ALTER TABLE tasks ADD COLUMN route_json TEXT;
ALTER TABLE tasks ADD COLUMN budget_usd REAL;
ALTER TABLE tasks ADD COLUMN requested_model TEXT;
ALTER TABLE tasks ADD COLUMN runner_pid INTEGER;
CREATE INDEX IF NOT EXISTS idx_tasks_created ON tasks(created_at DESC);
CREATE INDEX IF NOT EXISTS idx_tasks_status ON tasks(status, created_at DESC);

ALTER TABLE task_logs ADD COLUMN turn INTEGER;
ALTER TABLE task_logs ADD COLUMN kind TEXT;
CREATE INDEX IF NOT EXISTS idx_task_logs_task ON task_logs(task_id, id);

ALTER TABLE cost_tracking ADD COLUMN latency_ms INTEGER;
ALTER TABLE cost_tracking ADD COLUMN attempt INTEGER;
CREATE INDEX IF NOT EXISTS idx_cost_task ON cost_tracking(task_id);
CREATE INDEX IF NOT EXISTS idx_cost_time ON cost_tracking(timestamp);

ALTER TABLE tool_usage ADD COLUMN error_count INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS idx_tool_usage_task ON tool_usage(task_id, tool_name);

CREATE TABLE IF NOT EXISTS memories (
    id TEXT PRIMARY KEY,
    task_id TEXT REFERENCES tasks(id) ON DELETE SET NULL,
    lesson TEXT NOT NULL,
    category TEXT NOT NULL DEFAULT 'general',
    success INTEGER NOT NULL DEFAULT 1,
    score REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    access_count INTEGER NOT NULL DEFAULT 0
);
CREATE VIRTUAL TABLE IF NOT EXISTS memories_fts USING fts5(
    lesson, category, content='memories', content_rowid='rowid'
);
CREATE TRIGGER IF NOT EXISTS memories_ai AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts(rowid, lesson, category) VALUES (new.rowid, new.lesson, new.category);
END;
CREATE TRIGGER IF NOT EXISTS memories_ad AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts(memories_fts, rowid, lesson, category)
    VALUES ('delete', old.rowid, old.lesson, old.category);
END;
CREATE TRIGGER IF NOT EXISTS memories_au AFTER UPDATE OF lesson, category ON memories BEGIN
    INSERT INTO memories_fts(memories_fts, rowid, lesson, category)
    VALUES ('delete', old.rowid, old.lesson, old.category);
    INSERT INTO memories_fts(rowid, lesson, category) VALUES (new.rowid, new.lesson, new.category);
END;
";

/// Health: failed calls and rate-limit headroom in the ledger, alerts, and the
/// cache of provider checks.
const V3: &str = "
ALTER TABLE cost_tracking ADD COLUMN error TEXT;
ALTER TABLE cost_tracking ADD COLUMN ratelimit_requests_remaining INTEGER;
ALTER TABLE cost_tracking ADD COLUMN ratelimit_tokens_remaining INTEGER;
CREATE INDEX IF NOT EXISTS idx_cost_model_time ON cost_tracking(model, timestamp);

CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    level TEXT NOT NULL,
    value REAL,
    message TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_alerts_key_time ON alerts(key, created_at DESC);

CREATE TABLE IF NOT EXISTS provider_checks (
    provider TEXT PRIMARY KEY,
    level TEXT NOT NULL,
    latency_ms REAL,
    detail TEXT NOT NULL,
    checked_at REAL NOT NULL
);
";

/// Routing: whether a task was marked critical (`--critical`), so a retry routes it the
/// same way.
const V4: &str = "
ALTER TABLE tasks ADD COLUMN critical INTEGER NOT NULL DEFAULT 0;
";

/// Lessons: where each applies (`scope`: a workdir, or NULL for everywhere), where it came
/// from (`provenance`: JSON `{"lessons": [...], "tasks": [...]}` of what was merged into
/// it), and when it was last recalled (cleanup's "never used").
const V5: &str = "
ALTER TABLE memories ADD COLUMN scope TEXT;
ALTER TABLE memories ADD COLUMN provenance TEXT NOT NULL DEFAULT '{}';
ALTER TABLE memories ADD COLUMN last_access REAL;
CREATE INDEX IF NOT EXISTS idx_memories_scope ON memories(scope);
";

/// Ownership: who owns a `pending` or `running` row, in a way that survives pid reuse
/// (`runner_pid` plus that process's start time and host), and the partial index that
/// makes reconciliation (`store::owner`) cost the active rows only.
const V6: &str = "
ALTER TABLE tasks ADD COLUMN owner_started INTEGER;
ALTER TABLE tasks ADD COLUMN owner_host TEXT;
CREATE INDEX IF NOT EXISTS idx_tasks_owner ON tasks(runner_pid, owner_started, owner_host)
    WHERE status IN ('pending', 'running');
";

/// Lesson vectors for search by meaning (`crate::memory::vectors`): the lesson's MiniLM
/// embedding (384 little-endian f32, unit length) and the order vectors were stored in
/// (`embedded_seq`, from a counter that never goes back, so the count and the newest of
/// them tell a cache whether it is stale). Editing a lesson's text drops its
/// vector, so it is made again from the new text. `memories_vocab` says in how many
/// lessons a word occurs (a recall leaves out words most lessons hold).
const V7: &str = "
ALTER TABLE memories ADD COLUMN embedding BLOB;
ALTER TABLE memories ADD COLUMN embedded_seq INTEGER;
CREATE INDEX IF NOT EXISTS idx_memories_embedded ON memories(embedded_seq);
CREATE TABLE IF NOT EXISTS memory_vector_seq (n INTEGER NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS memories_vocab USING fts5vocab(memories_fts, 'row');
INSERT INTO memory_vector_seq SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM memory_vector_seq);
CREATE TRIGGER IF NOT EXISTS memories_text_changed AFTER UPDATE OF lesson ON memories
WHEN old.lesson IS NOT new.lesson BEGIN
    UPDATE memories SET embedding = NULL, embedded_seq = NULL WHERE rowid = new.rowid;
END;
";

const MIGRATIONS: [&str; 7] = [V1, V2, V3, V4, V5, V6, V7];

/// Applies every migration newer than the database's version. Several
/// processes (or connections) may open a new database at once, so the version
/// is read again under a write lock (`BEGIN IMMEDIATE`) and all pending
/// migrations commit together: a crash leaves the previous complete version.
pub fn migrate(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let version = |c: &Connection| -> rusqlite::Result<i64> {
        c.query_row("PRAGMA user_version", [], |r| r.get(0))
    };
    if version(conn)? == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let found = version(&tx)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.display().to_string(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for sql in MIGRATIONS.iter().skip(usize::try_from(found).unwrap_or(0)) {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// Applies migrations up to `version` only (tests of upgrades from old schemas).
#[doc(hidden)]
pub fn migrate_to(conn: &Connection, version: usize) -> rusqlite::Result<()> {
    for (i, sql) in MIGRATIONS.iter().enumerate().take(version) {
        conn.execute_batch(sql)?;
        conn.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    Ok(())
}
