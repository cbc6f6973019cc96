//! Store tests on real database files: upgrades from older schemas, hostile text in
//! every column, recovery of interrupted tasks, id resolution, listing, the cost
//! ledger, tool statistics and two processes' worth of concurrent writers.

use std::path::{Path, PathBuf};

use az_os::store::Db;
use az_os::store::costs::{self, CallCost, GroupBy};
use az_os::store::db::params;
use az_os::store::{
    self, Location, NewTask, SCHEMA_VERSION, StoreError, StoreHandle, TaskStatus, logs, memories,
    state, tasks, tool_usage,
};
use az_os::util::ids::TaskId;
use rusqlite::Connection;
use tempfile::TempDir;

/// A store under test: a SQLite file, or a new database on the test PostgreSQL server
/// (`common::pg`). The tests that do not depend on SQLite's own file run on both.
struct Store {
    at: Location,
    _dir: Option<TempDir>,
    _pg: Option<crate::common::pg::PgDb>,
}

impl Store {
    fn sqlite() -> Self {
        let (dir, path) = db();
        Self {
            at: Location::Sqlite(path),
            _dir: Some(dir),
            _pg: None,
        }
    }

    fn postgres() -> Self {
        let pg = crate::common::pg::fresh_db();
        Self {
            at: Location::parse(&pg.url, None).unwrap_or_else(|e| panic!("{e}")),
            _dir: None,
            _pg: Some(pg),
        }
    }

    /// Text as the store gives it back: PostgreSQL text cannot hold NUL, which it keeps
    /// as U+2400.
    fn stored(&self, s: &str) -> String {
        match self.at {
            Location::Sqlite(_) => s.to_owned(),
            Location::Postgres { .. } => s.replace('\0', "\u{2400}"),
        }
    }

    fn open(&self) -> Db {
        store::open_at(&self.at).unwrap_or_else(|e| panic!("open {:?}: {e}", self.at))
    }
}

/// Each named `fn(&Store)` as a test on SQLite and one on PostgreSQL.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[test]
            fn $name() {
                super::$name(&super::Store::sqlite());
            })*
        }
        mod on_postgres {
            $(#[test]
            fn $name() {
                super::$name(&super::Store::postgres());
            })*
        }
    };
}

on_both!(
    hostile_strings_round_trip_through_every_text_column,
    memory_search_finds_lessons_by_their_words,
    tasks_of_dead_runners_are_interrupted_and_live_ones_left_alone,
    running_task_without_a_runner_is_interrupted,
    a_task_cancelled_before_it_starts_stays_cancelled,
    ids_resolve_from_full_ids_and_unique_prefixes,
    list_is_newest_first_with_status_filter_and_paging,
    costs_add_up_on_tasks_and_in_reports,
    tool_usage_accumulates_per_task_and_tool,
    state_is_replaced_and_checkpoint_kept,
    two_handles_write_concurrently_without_loss,
);

/// The async test, on a runtime of its own.
fn two_handles_write_concurrently_without_loss(store: &Store) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(two_handles_on_one_store_write_concurrently_without_loss(
            store,
        ));
}

fn db() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let path = dir.path().join("az-os.db");
    (dir, path)
}

/// A connection that neither creates nor upgrades the schema (old databases).
fn raw(path: &Path) -> Db {
    Db::Sqlite(Connection::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display())))
}

fn open(path: &Path) -> Db {
    store::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

fn new_task(id: &str, description: &str) -> NewTask {
    NewTask {
        id: TaskId::from(id),
        description: description.to_owned(),
        workdir: "/tmp/work".into(),
        max_turns: 5,
        budget_usd: None,
        requested_model: None,
        critical: false,
    }
}

fn insert(conn: &Db, id: &str) -> TaskId {
    tasks::insert(conn, &new_task(id, &format!("task {id}")))
        .unwrap_or_else(|e| panic!("insert {id}: {e}"));
    TaskId::from(id)
}

fn count(conn: &Db, table: &str) -> i64 {
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("count {table}: {e}"))
}

fn user_version(conn: &Db) -> i64 {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("user_version: {e}"))
}

fn close(conn: Db) {
    match conn {
        Db::Sqlite(c) => c.close().unwrap_or_else(|(_, e)| panic!("close: {e}")),
        Db::Postgres(_) => {}
    }
}

fn approx(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

// ---------------------------------------------------------------- migrations

const OLD_ID: &str = "0123456789ab";

/// The design's columns of a task, after the id.
type V1Task = (String, String, String, f64, f64, String, f64);

/// Rows in all five tables of the design's schema, using only its columns.
fn insert_v1_rows(conn: &Db) {
    let run = |sql: &str, p: &[&dyn az_os::store::db::Param]| {
        conn.execute(sql, p)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    };
    run(
        "INSERT INTO tasks (id, description, model, status, created_at, completed_at, result, \
         cost_usd) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        &params![
            OLD_ID,
            "count the lines in data.csv",
            "gpt-4o-mini",
            "completed",
            1_700_000_000.5,
            1_700_000_100.25,
            "42 lines",
            0.0125
        ],
    );
    // A row as a careless writer might leave it: mostly NULL.
    run(
        "INSERT INTO tasks (id, description, model, status, created_at, completed_at, result, \
         cost_usd) VALUES ('fedcba987654', NULL, NULL, 'pending', 1600000000.0, NULL, NULL, NULL)",
        &[],
    );
    run(
        "INSERT INTO task_logs (id, task_id, timestamp, level, message) \
         VALUES (7, ?1, 1700000001.0, 'INFO', 'Thought: look at the file')",
        &params![OLD_ID],
    );
    run(
        "INSERT INTO cost_tracking (task_id, model, input_tokens, output_tokens, cost_usd, \
         timestamp) VALUES (?1, 'gpt-4o-mini', 1000, 200, 0.0125, 1700000050.0)",
        &params![OLD_ID],
    );
    run(
        "INSERT INTO task_state (task_id, state_json, checkpoint_id, updated_at) \
         VALUES (?1, '{\"messages\":[1,2]}', 'ckpt-1', 1700000060.0)",
        &params![OLD_ID],
    );
    run(
        "INSERT INTO tool_usage (task_id, tool_name, invocation_count, total_duration_ms) \
         VALUES (?1, 'execute_command', 3, 1500.5)",
        &params![OLD_ID],
    );
}

/// Checks that the rows of [`insert_v1_rows`] survived an upgrade, read both with
/// SQL and through the store's own functions.
fn check_v1_rows_after_upgrade(conn: &Db) {
    assert_eq!(user_version(conn), SCHEMA_VERSION);
    assert_eq!(count(conn, "tasks"), 2);
    for table in ["task_logs", "cost_tracking", "task_state", "tool_usage"] {
        assert_eq!(count(conn, table), 1, "{table}");
    }
    assert_eq!(count(conn, "memories"), 0);

    let row: V1Task = conn
        .query_row(
            "SELECT description, model, status, created_at, completed_at, result, cost_usd \
             FROM tasks WHERE id = ?1",
            [OLD_ID],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        row,
        (
            "count the lines in data.csv".to_owned(),
            "gpt-4o-mini".to_owned(),
            "completed".to_owned(),
            1_700_000_000.5,
            1_700_000_100.25,
            "42 lines".to_owned(),
            0.0125
        )
    );
    // New columns take their defaults.
    let (turns, max_turns, workdir, pid, error): (
        i64,
        i64,
        Option<String>,
        Option<i64>,
        Option<String>,
    ) = conn
        .query_row(
            "SELECT turns, max_turns, workdir, runner_pid, error FROM tasks WHERE id = ?1",
            [OLD_ID],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (turns, max_turns, workdir, pid, error),
        (0, 5, None, None, None)
    );
    let errors: i64 = conn
        .query_row("SELECT error_count FROM tool_usage", [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(errors, 0);

    // The store's readers understand the old rows.
    let id = TaskId::from(OLD_ID);
    let t = tasks::get(conn, &id)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("old task missing"));
    assert_eq!(t.description, "count the lines in data.csv");
    assert_eq!(t.model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(t.status, TaskStatus::Completed);
    assert!(approx(t.created_at, 1_700_000_000.5));
    assert_eq!(t.completed_at, Some(1_700_000_100.25));
    assert_eq!(t.result.as_deref(), Some("42 lines"));
    assert!(approx(t.cost_usd, 0.0125));
    assert_eq!((t.turns, t.max_turns), (0, 5));
    assert_eq!(t.started_at, None);

    let all = tasks::list(conn, None, 10, 0).unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<&str> = all.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, [OLD_ID, "fedcba987654"]);
    let sparse = &all[1];
    assert_eq!(sparse.description, "");
    assert_eq!(sparse.status, TaskStatus::Pending);
    assert!(approx(sparse.cost_usd, 0.0));

    let lines = logs::list(conn, &id, 0, 10).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].id, 7);
    assert_eq!(lines[0].level, "INFO");
    assert_eq!(lines[0].message, "Thought: look at the file");
    assert_eq!((lines[0].kind.as_deref(), lines[0].turn), (None, None));

    let st = state::load(conn, &id).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(st.as_deref(), Some("{\"messages\":[1,2]}"));

    let usage = tool_usage::for_task(conn, &id).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0].tool_name, "execute_command");
    assert_eq!(usage[0].invocation_count, 3);
    assert!(approx(usage[0].total_duration_ms, 1500.5));
    assert_eq!(usage[0].error_count, 0);

    let by_task = costs::report(conn, GroupBy::Task, 10).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(by_task.len(), 1);
    assert_eq!(by_task[0].key, OLD_ID);
    assert_eq!(
        (by_task[0].input_tokens, by_task[0].output_tokens),
        (1000, 200)
    );
}

/// After an upgrade the new features work on old rows too.
fn check_writes_after_upgrade(conn: &Db) -> Result<(), StoreError> {
    let id = TaskId::from(OLD_ID);
    tool_usage::record(conn, &id, "execute_command", 0.5, false)?;
    let usage = tool_usage::for_task(conn, &id)?;
    assert_eq!((usage[0].invocation_count, usage[0].error_count), (4, 1));
    assert!(approx(usage[0].total_duration_ms, 1501.0));

    // A NULL cost on an old row is treated as zero.
    let sparse = TaskId::from("fedcba987654");
    let call = CallCost {
        task_id: &sparse,
        model: "m",
        input_tokens: 1,
        output_tokens: 1,
        cost_usd: 0.5,
        latency_ms: 10,
        attempt: 1,
        error: None,
        requests_remaining: None,
        tokens_remaining: None,
    };
    costs::record(conn, &call)?;
    let t = tasks::get(conn, &sparse)?.ok_or_else(|| StoreError::NoSuchTask(sparse.0.clone()))?;
    assert!(approx(t.cost_usd, 0.5), "{}", t.cost_usd);

    memories::add(
        conn,
        Some(OLD_ID),
        "count lines with wc -l",
        "tools",
        true,
        1.0,
    )?;
    let hits = memories::search(conn, "how to count lines", 5)?;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].task_id.as_deref(), Some(OLD_ID));
    Ok(())
}

#[test]
fn upgrade_from_schema_1_keeps_every_row() {
    let (_dir, path) = db();
    let conn = raw(&path);
    store::migrate_to(conn.sqlite().unwrap(), 1).unwrap();
    assert_eq!(user_version(&conn), 1);
    insert_v1_rows(&conn);
    close(conn);

    let conn = open(&path);
    check_v1_rows_after_upgrade(&conn);
    check_writes_after_upgrade(&conn).unwrap();
    close(conn);

    // Opening again migrates nothing and loses nothing.
    let conn = open(&path);
    assert_eq!(user_version(&conn), SCHEMA_VERSION);
    assert_eq!(count(&conn, "tasks"), 2);
    assert_eq!(count(&conn, "tool_usage"), 1);
    assert_eq!(count(&conn, "memories"), 1);
}

/// The design's schema as the Python version created it, without `user_version`.
const PYTHON_SCHEMA: &str = "
CREATE TABLE tasks (
    id TEXT PRIMARY KEY, description TEXT, model TEXT, status TEXT,
    created_at REAL, completed_at REAL, result TEXT, cost_usd REAL
);
CREATE TABLE task_logs (
    id INTEGER PRIMARY KEY, task_id TEXT, timestamp REAL, level TEXT, message TEXT,
    FOREIGN KEY (task_id) REFERENCES tasks(id)
);
CREATE TABLE cost_tracking (
    id INTEGER PRIMARY KEY, task_id TEXT, model TEXT, input_tokens INTEGER,
    output_tokens INTEGER, cost_usd REAL, timestamp REAL,
    FOREIGN KEY (task_id) REFERENCES tasks(id)
);
CREATE TABLE task_state (
    id INTEGER PRIMARY KEY, task_id TEXT UNIQUE, state_json TEXT, checkpoint_id TEXT,
    updated_at REAL, FOREIGN KEY (task_id) REFERENCES tasks(id)
);
CREATE TABLE tool_usage (
    id INTEGER PRIMARY KEY, task_id TEXT, tool_name TEXT, invocation_count INTEGER,
    total_duration_ms REAL, FOREIGN KEY (task_id) REFERENCES tasks(id)
);
";

#[test]
fn python_era_database_without_version_is_upgraded() {
    let (_dir, path) = db();
    let conn = raw(&path);
    conn.execute_batch(PYTHON_SCHEMA).unwrap();
    insert_v1_rows(&conn);
    assert_eq!(user_version(&conn), 0);
    close(conn);

    let conn = open(&path);
    check_v1_rows_after_upgrade(&conn);
    check_writes_after_upgrade(&conn).unwrap();
}

#[test]
fn database_from_a_newer_az_os_is_refused_untouched() {
    let (_dir, path) = db();
    let conn = open(&path);
    insert(&conn, "aaaaaaaaaaaa");
    conn.execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))
        .unwrap();
    close(conn);

    match store::open(&path) {
        Err(StoreError::TooNew {
            found, supported, ..
        }) => {
            assert_eq!(found, SCHEMA_VERSION + 1);
            assert_eq!(supported, SCHEMA_VERSION);
        }
        Err(e) => panic!("expected TooNew, got {e}"),
        Ok(_) => panic!("expected TooNew, the database opened"),
    }
    assert!(matches!(
        StoreHandle::open(&path),
        Err(StoreError::TooNew { .. })
    ));
    let raw = raw(&path);
    assert_eq!(user_version(&raw), SCHEMA_VERSION + 1);
    assert_eq!(count(&raw, "tasks"), 1);
}

#[test]
fn database_from_a_newer_az_os_keeps_its_journal_mode() {
    let (_dir, path) = db();
    let conn = raw(&path);
    store::migrate_to(conn.sqlite().unwrap(), 2).unwrap();
    conn.execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))
        .unwrap();
    close(conn);
    assert!(matches!(store::open(&path), Err(StoreError::TooNew { .. })));
    let raw = raw(&path);
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
}

#[test]
fn legacy_tool_usage_with_null_counts_is_readable() {
    let (_dir, path) = db();
    let conn = raw(&path);
    conn.execute_batch(PYTHON_SCHEMA).unwrap();
    conn.execute("INSERT INTO tasks (id) VALUES (?1)", [OLD_ID])
        .unwrap();
    conn.execute(
        "INSERT INTO tool_usage (task_id, tool_name) VALUES (?1, 'read_file')",
        [OLD_ID],
    )
    .unwrap();
    close(conn);
    let conn = open(&path);
    let id = TaskId::from(OLD_ID);
    tool_usage::record(&conn, &id, "read_file", 1.0, true).unwrap();
    let usage = tool_usage::for_task(&conn, &id).unwrap();
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0].invocation_count, 1);
}

#[test]
fn fresh_database_gets_the_current_schema() {
    let (_dir, path) = db();
    let conn = open(&path);
    assert_eq!(user_version(&conn), SCHEMA_VERSION);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
    let fk: i64 = conn
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 1);
    for table in [
        "tasks",
        "task_logs",
        "cost_tracking",
        "task_state",
        "tool_usage",
        "memories",
    ] {
        assert_eq!(count(&conn, table), 0, "{table}");
    }
}

// ---------------------------------------------------------------- hostile text

fn hostile_strings() -> Vec<String> {
    let mut big = String::with_capacity(100 * 1024);
    while big.len() < 100 * 1024 {
        big.push_str("'; DROP TABLE tasks; -- \"x\" %_\\ 👍 ");
    }
    vec![
        "'; DROP TABLE tasks; --".into(),
        "Robert'); DELETE FROM tasks;--".into(),
        "' OR '1'='1".into(),
        "%_\\".into(),
        "%".into(),
        "\"quoted\"".into(),
        "NEAR(\"a\" b) AND c* OR ^d - {e}:f".into(),
        "emoji 👩‍💻🏳️‍🌈 rtl \u{202e}olleh עברית العربية combining e\u{301}\u{0308}".into(),
        "a\0b".into(),
        "\x1b[31mred\x1b[0m\x07\x08".into(),
        "line1\nline2\r\n\ttabbed".into(),
        "NULL".into(),
        String::new(),
        " ".into(),
        "\u{feff}\u{fffd}\u{10ffff}".into(),
        big,
    ]
}

/// Reads one task's rows back through the store and compares every text column
/// written from `s`.
fn check_hostile_row(conn: &Db, id: &TaskId, s: &str) -> Result<(), StoreError> {
    let short: String = s.chars().take(40).collect();
    let t = tasks::get(conn, id)?.ok_or_else(|| StoreError::NoSuchTask(id.0.clone()))?;
    assert_eq!(t.description, s, "description {short:?}");
    assert_eq!(t.workdir.as_deref(), Some(s), "workdir {short:?}");
    assert_eq!(
        t.requested_model.as_deref(),
        Some(s),
        "requested_model {short:?}"
    );
    assert_eq!(t.status, TaskStatus::Pending);
    assert!(approx(t.cost_usd, 0.001));

    let lines = logs::list(conn, id, 0, 10)?;
    assert_eq!(lines.len(), 1, "{short:?}");
    assert_eq!(lines[0].level, s, "level {short:?}");
    assert_eq!(lines[0].kind.as_deref(), Some(s), "kind {short:?}");
    assert_eq!(lines[0].message, s, "message {short:?}");

    let usage = tool_usage::for_task(conn, id)?;
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0].tool_name, s, "tool {short:?}");
    assert_eq!(usage[0].error_count, 1);

    assert_eq!(
        state::load(conn, id)?.as_deref(),
        Some(s),
        "state {short:?}"
    );
    let checkpoint: Option<String> = conn.query_row(
        "SELECT checkpoint_id FROM task_state WHERE task_id = ?1",
        [id.as_str()],
        |r| r.get(0),
    )?;
    assert_eq!(checkpoint.as_deref(), Some(s), "checkpoint {short:?}");
    Ok(())
}

fn hostile_strings_round_trip_through_every_text_column(store: &Store) {
    let conn = store.open();
    let strings = hostile_strings();
    let mut task_ids = Vec::new();
    let mut memory_ids = Vec::new();
    for (i, s) in strings.iter().enumerate() {
        let id = TaskId::new();
        let turn = u32::try_from(i).unwrap();
        let t = NewTask {
            id: id.clone(),
            description: s.clone(),
            workdir: s.clone(),
            max_turns: 7,
            budget_usd: Some(0.25),
            requested_model: Some(s.clone()),
            critical: false,
        };
        tasks::insert(&conn, &t).unwrap();
        logs::append(&conn, &id, s, s, Some(turn), s).unwrap();
        tool_usage::record(&conn, &id, s, 2.5, false).unwrap();
        let call = CallCost {
            task_id: &id,
            model: s,
            input_tokens: 10,
            output_tokens: 1,
            cost_usd: 0.001,
            latency_ms: 5,
            attempt: 1,
            error: None,
            requests_remaining: None,
            tokens_remaining: None,
        };
        costs::record(&conn, &call).unwrap();
        state::save(&conn, &id, s, Some(s)).unwrap();
        memory_ids.push(memories::add(&conn, Some(id.as_str()), s, s, true, 1.0).unwrap());
        task_ids.push(id);
    }

    let n = i64::try_from(strings.len()).unwrap();
    for table in [
        "tasks",
        "task_logs",
        "cost_tracking",
        "task_state",
        "tool_usage",
        "memories",
    ] {
        assert_eq!(count(&conn, table), n, "{table}");
    }

    let all_memories = memories::list(&conn, 1000).unwrap();
    let model_lines = costs::report(&conn, GroupBy::Model, 1000).unwrap();
    for ((s, id), mem_id) in strings.iter().zip(&task_ids).zip(&memory_ids) {
        let s = &store.stored(s);
        let short: String = s.chars().take(40).collect();
        check_hostile_row(&conn, id, s).unwrap();

        let m = all_memories.iter().find(|m| &m.id == mem_id).unwrap();
        assert_eq!(&m.lesson, s, "lesson {short:?}");
        assert_eq!(&m.category, s, "category {short:?}");
        assert_eq!(m.task_id.as_deref(), Some(id.as_str()));

        let line = model_lines.iter().find(|l| &l.key == s);
        assert_eq!(line.map(|l| l.calls), Some(1), "cost model {short:?}");

        assert!(
            memories::search(&conn, s, 5).is_ok(),
            "memory search failed on {short:?}"
        );
        assert!(
            matches!(tasks::resolve(&conn, s), Err(StoreError::NoSuchTask(_))),
            "resolve {short:?}"
        );
    }
    // Still all there after every search and resolve.
    assert_eq!(count(&conn, "tasks"), n);
    assert_eq!(count(&conn, "memories"), n);
    if conn.dialect() == store::Dialect::Sqlite {
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
    }
}

fn memory_search_finds_lessons_by_their_words(store: &Store) {
    let conn = store.open();
    let csv = memories::add(
        &conn,
        None,
        "Use the csv module to parse CSV files",
        "python",
        true,
        9.0,
    )
    .unwrap();
    memories::add(
        &conn,
        None,
        "Run git status before committing",
        "git",
        true,
        5.0,
    )
    .unwrap();
    memories::add(
        &conn,
        None,
        "Robert'); DELETE FROM memories;-- is a bad name",
        "x",
        false,
        0.0,
    )
    .unwrap();
    let hits = memories::search(&conn, "how do I parse CSV?", 5).unwrap();
    assert_eq!(
        hits.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        [csv.as_str()]
    );
    let again = memories::search(&conn, "csv", 5).unwrap();
    assert_eq!(
        again[0].access_count, 1,
        "the first search counted as an access"
    );
    let robert = memories::search(&conn, "Robert'); DELETE FROM memories;--", 5).unwrap();
    assert_eq!(robert.len(), 1);
    assert!(memories::search(&conn, "*** ((( \"", 5).unwrap().is_empty());
    assert_eq!(count(&conn, "memories"), 3);
}

// ---------------------------------------------------------------- recovery

/// A pid that belonged to a process which has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true")
        .spawn()
        .unwrap_or_else(|e| panic!("spawn true: {e}"));
    let pid = child.id();
    child.wait().unwrap_or_else(|e| panic!("wait: {e}"));
    pid
}

/// Gives the row owner `pid` with no start time on record (as an older az-os wrote it),
/// so the pid alone decides.
fn set_runner_pid(conn: &Db, id: &TaskId, pid: u32) {
    conn.execute(
        "UPDATE tasks SET runner_pid = ?1, owner_started = NULL WHERE id = ?2",
        params![pid, id.as_str()],
    )
    .unwrap_or_else(|e| panic!("set runner_pid: {e}"));
}

fn tasks_of_dead_runners_are_interrupted_and_live_ones_left_alone(store: &Store) {
    let conn = store.open();
    let dead = insert(&conn, "dead00000000");
    let live = insert(&conn, "11fe00000000");
    let pending = insert(&conn, "be0d00000000");
    tasks::mark_started(&conn, &dead, "fake-model", "{}").unwrap();
    set_runner_pid(&conn, &dead, dead_pid());
    tasks::mark_started(&conn, &live, "fake-model", "{}").unwrap();
    set_runner_pid(&conn, &live, 1);

    assert_eq!(tasks::recover_interrupted(&conn).unwrap(), 1);

    let d = tasks::get(&conn, &dead).unwrap().unwrap();
    assert_eq!(d.status, TaskStatus::Interrupted);
    assert!(d.error.as_deref().is_some_and(|e| !e.is_empty()), "{d:?}");
    assert!(d.completed_at.is_some());
    assert_eq!(d.model.as_deref(), Some("fake-model"));
    let pid: Option<i64> = conn
        .query_row(
            "SELECT runner_pid FROM tasks WHERE id = ?1",
            [dead.as_str()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(pid, None);

    let l = tasks::get(&conn, &live).unwrap().unwrap();
    assert_eq!(l.status, TaskStatus::Running);
    assert_eq!((l.completed_at, l.error), (None, None));
    let pid: Option<i64> = conn
        .query_row(
            "SELECT runner_pid FROM tasks WHERE id = ?1",
            [live.as_str()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(pid, Some(1));

    let p = tasks::get(&conn, &pending).unwrap().unwrap();
    assert_eq!(p.status, TaskStatus::Pending);
    assert_eq!(p.completed_at, None);

    // Nothing more to recover the second time.
    assert_eq!(tasks::recover_interrupted(&conn).unwrap(), 0);
}

/// `tasks cancel` from another process between a runner's read of the row and its start:
/// the start changes nothing and says so (the runner then ends the task cancelled).
fn a_task_cancelled_before_it_starts_stays_cancelled(store: &Store) {
    let conn = store.open();
    let id = insert(&conn, "cace00000000");
    tasks::finish(
        &conn,
        &id,
        TaskStatus::Cancelled,
        None,
        Some("cancelled by the user"),
    )
    .unwrap();
    assert!(!tasks::mark_started(&conn, &id, "fake-model", "{}").unwrap());
    let t = tasks::get(&conn, &id).unwrap().unwrap();
    assert_eq!(t.status, TaskStatus::Cancelled);
    assert_eq!(t.model, None);
    let other = insert(&conn, "0the00000000");
    assert!(tasks::mark_started(&conn, &other, "fake-model", "{}").unwrap());
}

fn running_task_without_a_runner_is_interrupted(store: &Store) {
    let conn = store.open();
    let id = insert(&conn, "aaaa00000000");
    // As left by a version that did not record the runner.
    conn.execute(
        "UPDATE tasks SET status = 'running', runner_pid = NULL, owner_started = NULL, \
         owner_host = NULL WHERE id = ?1",
        [id.as_str()],
    )
    .unwrap();
    assert_eq!(tasks::recover_interrupted(&conn).unwrap(), 1);
    assert_eq!(
        tasks::get(&conn, &id).unwrap().unwrap().status,
        TaskStatus::Interrupted
    );
}

// ---------------------------------------------------------------- ids and lists

fn ids_resolve_from_full_ids_and_unique_prefixes(store: &Store) {
    let conn = store.open();
    for id in [
        "abc123000001",
        "abc123000002",
        "def456000000",
        "feed",
        "feed01",
    ] {
        insert(&conn, id);
    }
    let ok = |p: &str| tasks::resolve(&conn, p).map(|id| id.0);
    assert_eq!(ok("abc123000001").unwrap(), "abc123000001");
    assert_eq!(ok("abc123000002").unwrap(), "abc123000002");
    assert_eq!(ok("def").unwrap(), "def456000000");
    assert_eq!(ok("d").unwrap(), "def456000000");
    assert_eq!(ok("  def4  ").unwrap(), "def456000000");
    // A full id wins even though it is also a prefix of another.
    assert_eq!(ok("feed").unwrap(), "feed");
    assert_eq!(ok("feed0").unwrap(), "feed01");
    for ambiguous in ["abc", "abc12300000", "a", "f"] {
        match tasks::resolve(&conn, ambiguous) {
            Err(StoreError::Ambiguous(p)) => assert_eq!(p, ambiguous),
            other => panic!("{ambiguous}: expected Ambiguous, got {other:?}"),
        }
    }
    for unknown in ["zzz", "abc1230000010", "ABC", "", "   ", "%", "abc%"] {
        assert!(
            matches!(
                tasks::resolve(&conn, unknown),
                Err(StoreError::NoSuchTask(_))
            ),
            "{unknown:?}"
        );
    }
}

fn list_is_newest_first_with_status_filter_and_paging(store: &Store) {
    let conn = store.open();
    let ids: Vec<TaskId> = (0..6)
        .map(|i| insert(&conn, &format!("task{i:08}")))
        .collect();
    // Distinct, known creation times (inserts in one instant may share one).
    for (i, id) in ids.iter().enumerate() {
        conn.execute(
            "UPDATE tasks SET created_at = ?1 WHERE id = ?2",
            params![1_000.0 + i as f64, id.as_str()],
        )
        .unwrap();
    }
    for i in [1, 3, 4] {
        tasks::finish(&conn, &ids[i], TaskStatus::Completed, Some("done"), None).unwrap();
    }
    tasks::finish(&conn, &ids[2], TaskStatus::Failed, None, Some("boom")).unwrap();

    let names = |rows: Vec<az_os::store::TaskRow>| -> Vec<String> {
        rows.into_iter().map(|r| r.id.0).collect()
    };
    let newest_first: Vec<String> = ids.iter().rev().map(|i| i.0.clone()).collect();
    assert_eq!(
        names(tasks::list(&conn, None, 100, 0).unwrap()),
        newest_first
    );
    assert_eq!(
        names(tasks::list(&conn, None, 2, 0).unwrap()),
        newest_first[..2]
    );
    assert_eq!(
        names(tasks::list(&conn, None, 2, 2).unwrap()),
        newest_first[2..4]
    );
    assert_eq!(
        names(tasks::list(&conn, None, 10, 5).unwrap()),
        newest_first[5..]
    );
    assert!(tasks::list(&conn, None, 10, 6).unwrap().is_empty());
    assert!(tasks::list(&conn, None, 0, 0).unwrap().is_empty());

    let completed = tasks::list(&conn, Some(TaskStatus::Completed), 100, 0).unwrap();
    assert!(
        completed
            .iter()
            .all(|t| t.result.as_deref() == Some("done"))
    );
    assert_eq!(
        names(completed),
        ["task00000004", "task00000003", "task00000001"]
    );
    assert_eq!(
        names(tasks::list(&conn, Some(TaskStatus::Completed), 1, 1).unwrap()),
        ["task00000003"]
    );
    let failed = tasks::list(&conn, Some(TaskStatus::Failed), 100, 0).unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].error.as_deref(), Some("boom"));
    assert!(failed[0].completed_at.is_some());
    assert_eq!(
        names(tasks::list(&conn, Some(TaskStatus::Pending), 100, 0).unwrap()),
        ["task00000005", "task00000000"]
    );
    assert!(
        tasks::list(&conn, Some(TaskStatus::Running), 100, 0)
            .unwrap()
            .is_empty()
    );

    let mut counts = tasks::count_by_status(&conn).unwrap();
    counts.sort_by_key(|(s, _)| s.as_str());
    assert_eq!(
        counts,
        [
            (TaskStatus::Completed, 3),
            (TaskStatus::Failed, 1),
            (TaskStatus::Pending, 2)
        ]
    );
}

// ---------------------------------------------------------------- costs and tools

fn costs_add_up_on_tasks_and_in_reports(store: &Store) {
    let conn = store.open();
    let a = insert(&conn, "aaaa00000000");
    let b = insert(&conn, "bbbb00000000");
    let day_before = az_os::util::time::utc_date(az_os::util::time::now_unix());
    let calls = [
        (&a, "m1", 100, 10, 0.01),
        (&a, "m2", 200, 20, 0.02),
        (&a, "m1", 300, 30, 0.03),
        (&b, "m1", 400, 40, 0.04),
    ];
    for (task, model, input, output, usd) in calls {
        let c = CallCost {
            task_id: task,
            model,
            input_tokens: input,
            output_tokens: output,
            cost_usd: usd,
            latency_ms: 100,
            attempt: 1,
            error: None,
            requests_remaining: None,
            tokens_remaining: None,
        };
        costs::record(&conn, &c).unwrap();
    }
    let day_after = az_os::util::time::utc_date(az_os::util::time::now_unix());

    let ta = tasks::get(&conn, &a).unwrap().unwrap();
    let tb = tasks::get(&conn, &b).unwrap().unwrap();
    assert!(approx(ta.cost_usd, 0.06), "{}", ta.cost_usd);
    assert!(approx(tb.cost_usd, 0.04), "{}", tb.cost_usd);

    let by_model = costs::report(&conn, GroupBy::Model, 10).unwrap();
    assert_eq!(by_model.len(), 2);
    assert_eq!(by_model[0].key, "m1");
    assert_eq!(
        (
            by_model[0].calls,
            by_model[0].input_tokens,
            by_model[0].output_tokens
        ),
        (3, 800, 80)
    );
    assert!(approx(by_model[0].cost_usd, 0.08));
    assert_eq!(by_model[1].key, "m2");
    assert_eq!((by_model[1].calls, by_model[1].input_tokens), (1, 200));
    assert!(approx(by_model[1].cost_usd, 0.02));
    assert_eq!(costs::report(&conn, GroupBy::Model, 1).unwrap().len(), 1);

    let by_task = costs::report(&conn, GroupBy::Task, 10).unwrap();
    let keys: Vec<&str> = by_task.iter().map(|l| l.key.as_str()).collect();
    assert_eq!(keys, [a.as_str(), b.as_str()]);
    assert_eq!(by_task[0].calls, 3);
    assert!(approx(by_task[0].cost_usd, 0.06));
    assert_eq!(by_task[1].output_tokens, 40);

    let by_day = costs::report(&conn, GroupBy::Day, 10).unwrap();
    assert_eq!(by_day.iter().map(|l| l.calls).sum::<u64>(), 4);
    assert!(approx(by_day.iter().map(|l| l.cost_usd).sum(), 0.10));
    if day_before == day_after {
        assert_eq!(by_day.len(), 1);
        assert_eq!(by_day[0].key, day_before);
    }

    let (_, all) = costs::totals(&conn).unwrap();
    assert!(approx(all, 0.10), "{all}");
    assert!(approx(costs::spent_since(&conn, f64::MAX).unwrap(), 0.0));
}

fn tool_usage_accumulates_per_task_and_tool(store: &Store) {
    let conn = store.open();
    let a = insert(&conn, "aaaa00000000");
    let b = insert(&conn, "bbbb00000000");
    tool_usage::record(&conn, &a, "execute_command", 10.0, true).unwrap();
    tool_usage::record(&conn, &a, "execute_command", 20.5, false).unwrap();
    for _ in 0..3 {
        tool_usage::record(&conn, &a, "read_file", 1.25, true).unwrap();
    }
    tool_usage::record(&conn, &b, "read_file", 99.0, false).unwrap();

    let usage = tool_usage::for_task(&conn, &a).unwrap();
    assert_eq!(usage.len(), 2);
    assert_eq!(usage[0].tool_name, "read_file");
    assert_eq!((usage[0].invocation_count, usage[0].error_count), (3, 0));
    assert!(approx(usage[0].total_duration_ms, 3.75));
    assert_eq!(usage[1].tool_name, "execute_command");
    assert_eq!((usage[1].invocation_count, usage[1].error_count), (2, 1));
    assert!(approx(usage[1].total_duration_ms, 30.5));

    let other = tool_usage::for_task(&conn, &b).unwrap();
    assert_eq!(other.len(), 1);
    assert_eq!((other[0].invocation_count, other[0].error_count), (1, 1));
    // One row per task and tool, not one per call.
    assert_eq!(count(&conn, "tool_usage"), 3);
}

fn state_is_replaced_and_checkpoint_kept(store: &Store) {
    let conn = store.open();
    let id = insert(&conn, "aaaa00000000");
    assert_eq!(state::load(&conn, &id).unwrap(), None);
    state::save(&conn, &id, "{\"turn\":1}", Some("ck1")).unwrap();
    state::save(&conn, &id, "{\"turn\":2}", None).unwrap();
    assert_eq!(
        state::load(&conn, &id).unwrap().as_deref(),
        Some("{\"turn\":2}")
    );
    let ck: Option<String> = conn
        .query_row("SELECT checkpoint_id FROM task_state", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ck.as_deref(), Some("ck1"));
    assert_eq!(count(&conn, "task_state"), 1);
}

// ---------------------------------------------------------------- concurrency

const LINES_PER_WRITER: u32 = 200;

async fn two_handles_on_one_store_write_concurrently_without_loss(store: &Store) {
    let first = StoreHandle::open_at(&store.at).unwrap();
    let second = StoreHandle::open_at(&store.at).unwrap();
    let id = TaskId::from("c0c0c0c0c0c0");
    let t = new_task(id.as_str(), "shared");
    first
        .call(move |c| tasks::insert(c, &t).map(|_| ()))
        .await
        .unwrap();

    // One writer awaits every line; the other posts them and awaits only a last
    // call, which runs after every earlier post on that handle.
    let awaited = {
        let (h, id) = (first.clone(), id.clone());
        tokio::spawn(async move {
            for i in 0..LINES_PER_WRITER {
                let id = id.clone();
                h.call(move |c| {
                    logs::append(c, &id, "info", "step", Some(i), &format!("first {i}")).map(|_| ())
                })
                .await?;
            }
            Ok::<(), StoreError>(())
        })
    };
    let posted = {
        let (h, id) = (second.clone(), id.clone());
        tokio::spawn(async move {
            for i in 0..LINES_PER_WRITER {
                let id = id.clone();
                h.post("append log", move |c| {
                    logs::append(c, &id, "info", "step", Some(i), &format!("second {i}"))
                        .map(|_| ())
                });
            }
            h.call(|_| Ok(())).await
        })
    };
    awaited.await.unwrap().unwrap();
    posted.await.unwrap().unwrap();

    let lines = {
        let id = id.clone();
        second
            .call(move |c| logs::list(c, &id, 0, 10_000))
            .await
            .unwrap()
    };
    assert_eq!(lines.len(), 2 * LINES_PER_WRITER as usize);
    for writer in ["first", "second"] {
        let mine: Vec<&str> = lines
            .iter()
            .map(|l| l.message.as_str())
            .filter(|m| m.starts_with(writer))
            .collect();
        let expected: Vec<String> = (0..LINES_PER_WRITER)
            .map(|i| format!("{writer} {i}"))
            .collect();
        assert_eq!(mine, expected, "{writer}'s lines lost or out of order");
    }
    let stored = first.call(|c| Ok(count(c, "task_logs"))).await.unwrap();
    assert_eq!(stored, 2 * i64::from(LINES_PER_WRITER));
}

#[test]
fn many_connections_opening_a_new_database_at_once_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.db");
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || {
                az_os::store::open(&path)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    let conn = az_os::store::open(&path).unwrap();
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, az_os::store::SCHEMA_VERSION);
}

/// Schema 6 adds lesson vectors: lessons stored under schema 5 stay as they were, with
/// no vector yet (the next search by meaning or `memory consolidate` makes them).
#[test]
fn upgrade_from_schema_5_keeps_lessons_without_vectors() {
    let (_dir, path) = db();
    let conn = raw(&path);
    store::migrate_to(conn.sqlite().unwrap(), 5).unwrap();
    conn.execute(
        "INSERT INTO memories (id, lesson, category, created_at, scope, access_count) \
         VALUES ('mem-old', 'count lines with wc -l', 'tooling', 1.0, '/w', 4)",
        [],
    )
    .unwrap();
    close(conn);
    let conn = open(&path);
    assert_eq!(user_version(&conn), SCHEMA_VERSION);
    let m = memories::get(&conn, "mem-old").unwrap().unwrap();
    assert_eq!(m.lesson, "count lines with wc -l");
    assert_eq!(m.access_count, 4);
    assert_eq!(m.scope.as_deref(), Some("/w"));
    let pending = memories::vectors::pending(&conn, 10).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, "mem-old");
}
