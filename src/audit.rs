//! `audit.log` in the home: one JSON object per line for every action a task takes (each
//! tool call), with its redacted arguments, the policy's decision and rule, the sandbox
//! mode, the outcome and the duration. The file is created 0600 and rotated by size
//! (`audit.log` → `audit.log.1` → … → `audit.log.N`, the oldest dropped).
//!
//! A dedicated thread writes it, so the async workers never block on the disk; they send
//! records over a channel. `flush` waits until everything sent so far is written (the
//! engine does this before it reports done). Several az-os processes may append to the
//! same file; rotation is then only approximately by size.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use serde::Serialize;

use crate::config::AuditConfig;

/// The log's file name inside the home.
pub const AUDIT_FILE: &str = "audit.log";

/// Longest string kept in a record's arguments; the rest is cut (head and tail).
pub const MAX_VALUE_BYTES: usize = 1024;

/// The policy's part of a record.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PolicyRecord {
    /// `allow`, `approved`, `deny` (a rule), `denied` (the user, when asked) or `refused`
    /// (an ask nobody could answer).
    pub decision: &'static str,
    /// The rule that decided (`policy.default`, `guard:rm -r`, …).
    pub rule: String,
    /// Who approved it when policy asked: `user`, `user (always)`, `--yes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<&'static str>,
}

/// One action.
#[derive(Clone, Debug, Serialize)]
pub struct Record {
    pub ts: String,
    pub task_id: String,
    pub turn: u32,
    pub tool: String,
    /// The tool's arguments, secrets masked and long strings cut.
    pub arguments: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyRecord>,
    /// `workspace-write`, `read-only`, `off` or `unavailable` (commands only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<&'static str>,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
}

impl Record {
    /// Prepares raw tool arguments for the log: parsed when JSON, secrets masked, every
    /// string cut to [`MAX_VALUE_BYTES`].
    pub fn arguments(raw: &str) -> serde_json::Value {
        let mut v =
            serde_json::from_str(raw).unwrap_or_else(|_| serde_json::Value::String(raw.to_owned()));
        // Masked before cutting, so no half of a secret survives at a cut.
        crate::redact::redact_json(&mut v);
        cut(&mut v);
        v
    }
}

fn cut(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) if s.len() > MAX_VALUE_BYTES => {
            *s = crate::util::text::truncate_middle(s, MAX_VALUE_BYTES);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(cut),
        serde_json::Value::Object(o) => o.values_mut().for_each(cut),
        _ => {}
    }
}

enum Msg {
    Line(String),
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// The writer's handle. Cloning shares the writer thread.
#[derive(Clone, Debug)]
pub struct AuditLog {
    tx: Option<mpsc::Sender<Msg>>,
}

impl AuditLog {
    /// Starts the writer for `home/audit.log`. A log that cannot be opened is reported
    /// once on the diagnostic log and then skipped: the task still runs.
    pub fn start(home: &Path, config: &AuditConfig) -> Self {
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            path: home.join(AUDIT_FILE),
            max_bytes: config.max_bytes,
            keep: config.keep,
            file: None,
            size: 0,
            failed: false,
        };
        let spawned = std::thread::Builder::new()
            .name("az-os-audit".into())
            .spawn(move || writer.run(&rx));
        match spawned {
            Ok(_) => Self { tx: Some(tx) },
            Err(e) => {
                tracing::warn!("cannot start the audit log writer: {e}");
                Self { tx: None }
            }
        }
    }

    /// A log that records nothing (tests, tools that take no action).
    pub fn disabled() -> Self {
        Self { tx: None }
    }

    /// Queues one record; its text is redacted once more as a whole before writing.
    pub fn record(&self, rec: &Record) {
        let Some(tx) = &self.tx else { return };
        if let Ok(line) = serde_json::to_string(rec) {
            let _ = tx.send(Msg::Line(crate::redact::redact_owned(line)));
        }
    }

    /// Waits until every record sent so far is on disk.
    pub async fn flush(&self) {
        let Some(tx) = &self.tx else { return };
        let (done, wait) = tokio::sync::oneshot::channel();
        if tx.send(Msg::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

struct Writer {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    file: Option<File>,
    size: u64,
    failed: bool,
}

impl Writer {
    fn run(mut self, rx: &mpsc::Receiver<Msg>) {
        while let Ok(msg) = rx.recv() {
            match msg {
                Msg::Line(line) => self.write(&line),
                Msg::Flush(done) => {
                    if let Some(f) = &mut self.file {
                        let _ = f.flush();
                    }
                    let _ = done.send(());
                }
            }
        }
    }

    fn open(&mut self) -> std::io::Result<&mut File> {
        if self.file.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&self.path)?;
            // A file made by someone else keeps its mode; make it private.
            let meta = file.metadata()?;
            if meta.permissions().mode() & 0o077 != 0 {
                file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            }
            self.size = meta.len();
            self.file = Some(file);
        }
        self.file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("audit log not open"))
    }

    fn write(&mut self, line: &str) {
        let result = self.open().and_then(|f| {
            f.write_all(line.as_bytes())?;
            f.write_all(b"\n")
        });
        match result {
            Ok(()) => {
                self.size += line.len() as u64 + 1;
                if self.size >= self.max_bytes {
                    self.rotate();
                }
            }
            Err(e) => {
                if !self.failed {
                    tracing::warn!("cannot write the audit log {}: {e}", self.path.display());
                    self.failed = true;
                }
                self.file = None;
            }
        }
    }

    /// `audit.log.{keep-1}` → `.{keep}`, …, `audit.log` → `.1`; the next write starts a
    /// new file.
    fn rotate(&mut self) {
        self.file = None;
        let numbered = |n: u32| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        let _ = std::fs::remove_file(numbered(self.keep));
        for n in (1..self.keep).rev() {
            let _ = std::fs::rename(numbered(n), numbered(n + 1));
        }
        let _ = std::fs::rename(&self.path, numbered(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: u32) -> Record {
        Record {
            ts: "2026-01-01T00:00:00.000Z".into(),
            task_id: "abc".into(),
            turn: i,
            tool: "execute_command".into(),
            arguments: Record::arguments(&format!(
                "{{\"command\":\"echo sk-abcdefghijklmnop1234 {}\"}}",
                "x".repeat(3000)
            )),
            policy: Some(PolicyRecord {
                decision: "allow",
                rule: "policy.default".into(),
                approved_by: None,
            }),
            sandbox: Some("workspace-write"),
            ok: true,
            exit_code: Some(0),
            duration_ms: 3,
        }
    }

    #[tokio::test]
    async fn lines_are_json_private_and_rotated() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::start(
            dir.path(),
            &AuditConfig {
                max_bytes: 4096,
                keep: 2,
            },
        );
        for i in 0..12 {
            log.record(&record(i));
        }
        log.flush().await;
        let path = dir.path().join(AUDIT_FILE);
        let mut files = vec![path.clone()];
        files.push(dir.path().join("audit.log.1"));
        files.push(dir.path().join("audit.log.2"));
        assert!(!dir.path().join("audit.log.3").exists(), "keep = 2");
        let mut lines = 0;
        for f in files
            .iter()
            .filter(|f| f.exists() || !f.ends_with(AUDIT_FILE))
        {
            let meta = std::fs::metadata(f).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{}", f.display());
            let text = std::fs::read_to_string(f).unwrap();
            for line in text.lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                assert_eq!(v["tool"], "execute_command");
                assert_eq!(v["policy"]["rule"], "policy.default");
                let cmd = v["arguments"]["command"].as_str().unwrap();
                assert!(cmd.len() < 1200, "cut: {}", cmd.len());
                assert!(cmd.contains("[REDACTED]") && !cmd.contains("sk-abc"));
                lines += 1;
            }
        }
        assert!((2..12).contains(&lines), "older files dropped: {lines}");
    }
}
