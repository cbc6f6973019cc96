//! Shared test support: a fake provider server, a fault-injection soak run, real
//! PostgreSQL servers and databases, and a sandboxed az-os environment (temporary home
//! and workdir, provider keys removed from the environment).

pub mod dashboard;
pub mod fake_provider;
pub mod mcp;
pub mod pg;
pub mod replay;
pub mod soak;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

/// Provider key variables a developer's shell might hold; tests never see them.
const KEY_VARS: [&str; 8] = [
    "OPENROUTER_API_KEY",
    "GEMINI_API_KEY",
    "MISTRAL_API_KEY",
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "AZ_OS_HOME",
    "OLLAMA_HOST",
    "AZ_OS_LOG",
];

/// A private home and workdir for one test.
pub struct TestEnv {
    pub home: TempDir,
    pub work: TempDir,
}

impl TestEnv {
    pub fn new() -> Self {
        Self {
            home: tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}")),
            work: tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}")),
        }
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    pub fn work(&self) -> &Path {
        self.work.path()
    }

    pub fn db(&self) -> PathBuf {
        self.home().join("az-os.db")
    }

    /// Writes a config with one model named `fake` served by `base_url`.
    pub fn config(&self, provider: &str, base_url: &str, extra: &str) {
        let text = format!(
            "{extra}\n[[models]]\nname = \"fake\"\nprovider = \"{provider}\"\nmodel = \"fake-model\"\n\
             base_url = \"{base_url}\"\napi_key_env = \"AZ_OS_TEST_KEY\"\ntier = \"complex\"\n\
             input_usd_per_mtok = 1.0\noutput_usd_per_mtok = 2.0\n"
        );
        std::fs::write(self.home().join("config.toml"), text)
            .unwrap_or_else(|e| panic!("write config: {e}"));
    }

    /// The built binary with this home, run in the workdir, keys cleared.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(bin());
        for k in KEY_VARS {
            c.env_remove(k);
        }
        c.env("AZ_OS_HOME", self.home())
            .env("AZ_OS_TEST_KEY", "sk-test-secret-0123456789")
            .env("NO_COLOR", "1")
            .current_dir(self.work());
        c
    }

    /// Opens the database the binary wrote.
    /// The home's database as it is on disk (no schema change).
    pub fn conn(&self) -> az_os::store::Db {
        az_os::store::Db::Sqlite(
            rusqlite::Connection::open(self.db()).unwrap_or_else(|e| panic!("open db: {e}")),
        )
    }
}

/// Every file under `dir`, recursively (directories left out; an unreadable one is
/// skipped).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Path of the built `az-os` binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_az-os"))
}

/// Parses JSON Lines output; fails the test on any line that is not JSON.
pub fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Events of one type.
pub fn of_type<'a>(events: &'a [serde_json::Value], ty: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["type"] == ty).collect()
}
