//! The PostgreSQL test support itself (tests/common/pg.rs), on a real server: fresh
//! databases are distinct, start empty, and are gone after drop (even with a connection
//! still open, even dropped inside a tokio runtime); a private server keeps its URL and
//! its committed data across a stop, a crash and a start, and leaves nothing behind.

use postgres::{Client, NoTls};

use crate::common::pg;

fn connect(url: &str) -> Client {
    Client::connect(url, NoTls).unwrap_or_else(|e| panic!("connect: {e}"))
}

/// Whether the shared server has a database of this name.
fn db_exists(name: &str) -> bool {
    let mut admin = connect(&pg::server_url());
    let row = admin
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .unwrap_or_else(|e| panic!("pg_database: {e}"));
    row.get::<_, i64>(0) == 1
}

fn table_count(client: &mut Client, table: &str) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = $1",
            &[&table],
        )
        .unwrap_or_else(|e| panic!("information_schema: {e}"))
        .get(0)
}

#[test]
fn fresh_databases_are_distinct_empty_and_dropped() {
    let a = pg::fresh_db();
    let b = pg::fresh_db();
    assert_ne!(a.name(), b.name());
    assert_ne!(a.url, b.url);

    let mut in_a = a.client();
    let mut in_b = b.client();
    let current: String = in_a
        .query_one("SELECT current_database()", &[])
        .unwrap_or_else(|e| panic!("current_database: {e}"))
        .get(0);
    assert_eq!(current, a.name(), "the URL names the fresh database");
    let public: i64 = in_b
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .unwrap_or_else(|e| panic!("information_schema: {e}"))
        .get(0);
    assert_eq!(public, 0, "a fresh database has no tables");

    in_a.batch_execute("CREATE TABLE only_in_a (x int); INSERT INTO only_in_a VALUES (1)")
        .unwrap_or_else(|e| panic!("create: {e}"));
    assert_eq!(table_count(&mut in_a, "only_in_a"), 1);
    assert_eq!(table_count(&mut in_b, "only_in_a"), 0);

    // Dropped with a connection still open on it (WITH (FORCE)).
    let name = a.name().to_owned();
    assert!(db_exists(&name));
    drop(a);
    assert!(!db_exists(&name), "{name} outlived its PgDb");
    assert!(
        in_a.simple_query("SELECT 1").is_err(),
        "the connection to a dropped database"
    );
    assert!(db_exists(b.name()), "dropping one database took another");
}

#[tokio::test]
async fn fresh_db_is_made_and_dropped_inside_a_runtime() {
    let db = pg::fresh_db();
    let name = db.name().to_owned();
    drop(db);
    let exists = tokio::task::spawn_blocking(move || db_exists(&name))
        .await
        .unwrap_or_else(|e| panic!("join: {e}"));
    assert!(!exists);
}

#[test]
fn own_server_keeps_its_url_and_data_across_stop_crash_and_start() {
    let server = pg::with_own_server();
    let url = server.url().to_owned();
    assert_ne!(
        url,
        pg::server_url(),
        "a private server is not the shared one"
    );
    let mut client = connect(&url);
    client
        .batch_execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (1)")
        .unwrap_or_else(|e| panic!("create: {e}"));

    server.stop();
    assert!(
        client.simple_query("SELECT 1").is_err(),
        "a stopped server answered"
    );
    assert!(
        Client::connect(&url, NoTls).is_err(),
        "a stopped server took a connection"
    );

    server.start();
    let mut client = connect(&url);
    client
        .execute("INSERT INTO kept VALUES ($1)", &[&2_i32])
        .unwrap_or_else(|e| panic!("insert: {e}"));

    // Committed before the crash, so still there after recovery.
    server.crash();
    server.start();
    let mut client = connect(&url);
    let rows: Vec<i32> = client
        .query("SELECT x FROM kept ORDER BY x", &[])
        .unwrap_or_else(|e| panic!("select: {e}"))
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(rows, vec![1, 2]);

    let other = server.url_of("postgres");
    assert_eq!(other, url);
    let dir = server.dir().to_path_buf();
    drop(client);
    drop(server);
    assert!(!dir.exists(), "{} outlived its server", dir.display());
    assert!(
        Client::connect(&url, NoTls).is_err(),
        "the server outlived its drop"
    );
}
