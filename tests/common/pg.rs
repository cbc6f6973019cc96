//! PostgreSQL for the store tests (issue 16): a real server, a fresh empty database per
//! test, and private servers for tests that stop or crash PostgreSQL. Servers come from
//! `scripts/pg-server.sh`; this module only starts, reuses and stops them.
//!
//! Which server: `AZ_OS_TEST_PG_URL` when set (CI starts one for the whole run). Otherwise
//! the first test that asks starts a shared one in `/tmp/az-os-test-pg-<uid>` and leaves it
//! running, so the next run (and a concurrent test process: the script serialises calls
//! on the directory) reuses it instead of piling up servers; `scripts/pg-server.sh stop
//! /tmp/az-os-test-pg-<uid>` removes it. Databases of test processes that no longer
//! exist are dropped from that server when a process first uses it.
//!
//! The `postgres` client runs its own tokio runtime and panics inside another one, so
//! the work done here on behalf of a test (create, drop) runs on a thread of its own: a
//! `PgDb` may be made and dropped inside `#[tokio::test]`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use postgres::{Client, NoTls};

/// What to do when no server can be had.
const FIX: &str = "install postgresql (apt-get install postgresql) or set AZ_OS_TEST_PG_URL \
                   to a postgres:// URL of a server where that user may create databases";

/// Prefix of every test database; `az_os_t_<pid>_<n>`.
const DB_PREFIX: &str = "az_os_t_";

/// Prefix of the private servers' directories; `<prefix><pid>-<n>`.
const OWN_PREFIX: &str = "az-os-test-pg-own-";

/// The URL of the server the tests share (its `postgres` database); starts one if
/// `AZ_OS_TEST_PG_URL` is not set. Panics with the fix when there is none.
pub fn server_url() -> String {
    static URL: OnceLock<Result<String, String>> = OnceLock::new();
    URL.get_or_init(|| match std::env::var("AZ_OS_TEST_PG_URL") {
        Ok(url) if !url.trim().is_empty() => check_url(url.trim()).map(|()| url.trim().to_owned()),
        _ => start_shared(),
    })
    .clone()
    .unwrap_or_else(|e| panic!("no PostgreSQL server for the tests: {e}\nfix: {FIX}"))
}

/// A database of its own for one test, dropped (connections and all) when this is.
pub struct PgDb {
    /// Connection URL of this database.
    pub url: String,
    name: String,
    admin: String,
}

/// Creates an empty database `az_os_t_<pid>_<n>` on the shared server.
pub fn fresh_db() -> PgDb {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let admin = server_url();
    let name = format!(
        "{DB_PREFIX}{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    // An identifier cannot be a bind parameter; the name is ASCII digits, letters and `_`.
    let sql = format!("CREATE DATABASE \"{name}\"");
    let admin_for_thread = admin.clone();
    on_own_thread(move || {
        let mut client = connect(&admin_for_thread)?;
        client
            .batch_execute(&sql)
            .map_err(|e| format!("{sql}: {e}"))
    })
    .unwrap_or_else(|e| {
        panic!(
            "a fresh test database on {}: {e}\nfix: is that server running? Unset \
             AZ_OS_TEST_PG_URL to let the tests start their own, or {FIX}",
            redact(&admin)
        )
    });
    PgDb {
        url: with_dbname(&admin, &name),
        name,
        admin,
    }
}

impl PgDb {
    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A connection to this database. The sync client panics inside a tokio runtime:
    /// call it from a plain thread or `spawn_blocking`.
    pub fn client(&self) -> Client {
        connect(&self.url).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let admin = self.admin.clone();
        let done = on_own_thread(move || {
            let mut client = connect(&admin)?;
            client
                .batch_execute(&sql)
                .map_err(|e| format!("{sql}: {e}"))
        });
        if let Err(e) = done {
            // A leftover database is dropped by the next process that uses the server.
            eprintln!("test database {} left behind: {e}", self.name);
        }
    }
}

/// A PostgreSQL server of one test's own (own directory, own port), for tests that
/// stop, crash or restart it. Dropping it stops the server and removes its directory.
pub struct OwnServer {
    dir: PathBuf,
    port: String,
    url: String,
}

/// Starts a private server in `/tmp/az-os-test-pg-own-<pid>-<n>`. Servers left by test
/// processes that were killed are stopped and removed first.
pub fn with_own_server() -> OwnServer {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    static SWEPT: OnceLock<()> = OnceLock::new();
    SWEPT.get_or_init(sweep_own_servers);
    let dir = Path::new("/tmp").join(format!(
        "{OWN_PREFIX}{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let dir_arg = dir.to_string_lossy().into_owned();
    // The same name from an earlier process with this pid would be reused as it is.
    if let Err(e) = script(&["stop", &dir_arg]) {
        panic!("clearing {dir_arg}: {e}");
    }
    let url = script(&["start", &dir_arg]).unwrap_or_else(|e| {
        // Nothing owns the half-made directory yet: remove it before failing.
        if let Err(stop) = script(&["stop", &dir_arg]) {
            eprintln!("{stop}");
        }
        panic!("a private PostgreSQL server: {e}\nfix: {FIX}")
    });
    let port = port_of(&url).unwrap_or_else(|| panic!("no port in {url}"));
    OwnServer { dir, port, url }
}

impl OwnServer {
    /// URL of the server's `postgres` database; the same across `stop` and `start`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's directory (`scripts/pg-server.sh` layout); gone after drop.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The URL of database `name` on this server.
    pub fn url_of(&self, name: &str) -> String {
        with_dbname(&self.url, name)
    }

    /// Stops the server the polite way (`pg_ctl -m fast`: connections are closed,
    /// the data kept); `start` brings it back.
    pub fn stop(&self) {
        self.halt("fast");
    }

    /// Stops the server as a crash would (`pg_ctl -m immediate`: no checkpoint; the
    /// next `start` recovers from the WAL). Nothing committed is lost.
    pub fn crash(&self) {
        self.halt("immediate");
    }

    /// Starts the stopped server again on the same port with the same data. Panics if
    /// the port has been taken meanwhile.
    pub fn start(&self) {
        let dir = self.dir.to_string_lossy();
        let url = script(&["start", &dir, &self.port])
            .unwrap_or_else(|e| panic!("restarting the server in {dir}: {e}"));
        assert_eq!(url, self.url, "the restarted server has another URL");
    }

    fn halt(&self, mode: &str) {
        let dir = self.dir.to_string_lossy();
        if let Err(e) = script(&["halt", &dir, mode]) {
            panic!("stopping the server in {dir} ({mode}): {e}");
        }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        if let Err(e) = script(&["stop", &self.dir.to_string_lossy()]) {
            eprintln!("{e}");
        }
    }
}

/// Starts (or finds running) the shared server, and drops databases that test processes
/// now gone left on it. A cluster that cannot start (a PostgreSQL upgrade, a broken
/// directory) is thrown away and made again: it holds nothing worth keeping.
fn start_shared() -> Result<String, String> {
    let uid = std::fs::metadata("/proc/self").map_or(0, |m| m.uid());
    let dir = format!("/tmp/az-os-test-pg-{uid}");
    let url = match script(&["start", &dir]) {
        Ok(url) => url,
        Err(first) => {
            script(&["stop", &dir]).map_err(|e| format!("{first}\nthen: {e}"))?;
            script(&["start", &dir])?
        }
    };
    let admin = url.clone();
    on_own_thread(move || drop_orphan_dbs(&admin))?;
    Ok(url)
}

/// Drops `az_os_t_<pid>_<n>` databases whose process no longer exists.
fn drop_orphan_dbs(url: &str) -> Result<(), String> {
    let mut client = connect(url)?;
    let rows = client
        .query(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
            &[&DB_PREFIX],
        )
        .map_err(|e| format!("listing test databases: {e}"))?;
    for row in rows {
        let name: String = row.get(0);
        let pid = name
            .strip_prefix(DB_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .filter(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        let Some(pid) = pid else { continue };
        if Path::new("/proc").join(pid).exists() {
            continue;
        }
        // The name matched the prefix and digits above; quoted as an identifier.
        let sql = format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            name.replace('"', "")
        );
        if let Err(e) = client.batch_execute(&sql) {
            eprintln!("{sql}: {e}");
        }
    }
    Ok(())
}

/// Stops and removes private servers whose test process no longer exists.
fn sweep_own_servers() {
    let Ok(entries) = std::fs::read_dir("/tmp") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(OWN_PREFIX)
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if !Path::new("/proc").join(pid).exists()
            && let Err(e) = script(&["stop", &entry.path().to_string_lossy()])
        {
            eprintln!("{e}");
        }
    }
}

/// Runs `scripts/pg-server.sh` and returns the last line of its stdout.
fn script(args: &[&str]) -> Result<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-server.sh");
    let out = Command::new("bash")
        .arg(&path)
        .args(args)
        .output()
        .map_err(|e| format!("running {}: {e}", path.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} {} failed ({}): {}",
            path.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .to_owned())
}

/// Runs `work` on a thread of its own (no tokio runtime there, whatever the caller's).
fn on_own_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    std::thread::Builder::new()
        .name("test-pg-admin".into())
        .spawn(work)
        .map_err(|e| format!("a thread for PostgreSQL: {e}"))?
        .join()
        .map_err(|_| "the PostgreSQL admin thread panicked".to_owned())?
}

fn connect(url: &str) -> Result<Client, String> {
    Client::connect(url, NoTls).map_err(|e| {
        // The client's own message ("error connecting to server") keeps the cause in
        // its source, e.g. "Connection refused".
        let mut text = format!("connecting to {}: {e}", redact(url));
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        text
    })
}

fn check_url(url: &str) -> Result<(), String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(())
    } else {
        Err(format!(
            "AZ_OS_TEST_PG_URL is not a postgres:// URL: {}",
            redact(url)
        ))
    }
}

/// Where the authority (`user:password@host:port`) of a URL starts and ends.
fn authority(url: &str) -> (usize, usize) {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| start + i);
    (start, end)
}

/// `url` with its database (the path) replaced by `name`, its query kept.
fn with_dbname(url: &str, name: &str) -> String {
    let (_, end) = authority(url);
    let query = url[end..].find('?').map_or("", |i| &url[end + i..]);
    format!("{}/{name}{query}", &url[..end])
}

/// The port of a `scheme://user@host:port/...` URL.
fn port_of(url: &str) -> Option<String> {
    let (start, end) = authority(url);
    let host_port = url[start..end].rsplit('@').next()?;
    let (_, port) = host_port.rsplit_once(':')?;
    (!port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())).then(|| port.to_owned())
}

/// The URL with any password replaced by `***`, for messages.
fn redact(url: &str) -> String {
    let (start, end) = authority(url);
    let auth = &url[start..end];
    let Some(at) = auth.rfind('@') else {
        return url.to_owned();
    };
    let Some(colon) = auth[..at].find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:***{}",
        &url[..start],
        &auth[..colon],
        &url[start + at..]
    )
}
