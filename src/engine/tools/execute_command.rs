//! `execute_command`: `sh -c COMMAND` in the workdir, under the sandbox's supervisor
//! (`sandbox.rs`), with a timeout and capped output. On timeout or cancel the supervisor
//! is told to stop, and it kills every process the command started before it exits, so
//! no child outlives the task, however it detached itself. If az-os itself is stopped
//! mid-command, the supervisor is told the same way (or learns it from its parent's death).

use std::os::unix::fs::DirBuilderExt;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::{ToolCtx, ToolOutput, parse_args};

/// Output kept per stream; the rest is counted and discarded.
const CAPTURE_BYTES: usize = 256 * 1024;
/// Longest timeout a model may ask for.
const MAX_TIMEOUT_S: u64 = 600;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    command: String,
    timeout_s: Option<u64>,
}

enum Outcome {
    Exited(std::process::ExitStatus),
    TimedOut,
    Cancelled,
}

pub async fn run(raw: &str, ctx: &ToolCtx<'_>) -> ToolOutput {
    let args: Args = match parse_args("execute_command", raw) {
        Ok(a) => a,
        Err(e) => return e,
    };
    if args.command.trim().is_empty() {
        return ToolOutput::err("command is empty");
    }
    let timeout = args.timeout_s.map_or(ctx.command_timeout, |s| {
        Duration::from_secs(s.clamp(1, MAX_TIMEOUT_S))
    });
    if let Err(e) = private_dir(ctx.tmp) {
        return ToolOutput::err(format!(
            "cannot create the task's temp dir {}: {e}",
            ctx.tmp.display()
        ));
    }
    let mut child = match ctx
        .sandbox
        .command(&args.command, ctx.workdir, ctx.tmp, ctx.confined)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return ToolOutput::err(format!("cannot start sh: {e}")),
    };
    let mut running = Running {
        pid: child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .map(Pid::from_raw),
        supervised: ctx.sandbox.supervised(),
    };
    let out = child.stdout.take().map(|s| tokio::spawn(capture(s)));
    let err = child.stderr.take().map(|s| tokio::spawn(capture(s)));

    let outcome = tokio::select! {
        status = child.wait() => match status {
            Ok(s) => Outcome::Exited(s),
            Err(e) => return ToolOutput::err(format!("waiting for the command failed: {e}")),
        },
        () = tokio::time::sleep(timeout) => Outcome::TimedOut,
        () = ctx.cancel.cancelled() => Outcome::Cancelled,
    };
    if matches!(outcome, Outcome::Exited(_)) {
        // The supervisor cleaned up before it exited; its pid may be reused now.
        running.pid = None;
    } else {
        running.stop();
        if tokio::time::timeout(STOP_GRACE, child.wait())
            .await
            .is_err()
        {
            running.kill();
            let _ = child.wait().await;
        }
        running.pid = None;
    }
    let stdout = collect(out).await;
    let stderr = collect(err).await;

    let mut text = match &outcome {
        Outcome::Exited(s) => match s.code() {
            Some(code) => format!("exit code: {code}\n"),
            None => "exit code: none (killed by a signal)\n".to_owned(),
        },
        Outcome::TimedOut => format!(
            "timed out after {}s; the command and its children were killed\n",
            timeout.as_secs()
        ),
        Outcome::Cancelled => "cancelled; the command and its children were killed\n".to_owned(),
    };
    text.push_str(&stdout);
    if !stderr.is_empty() {
        if !stdout.is_empty() && !stdout.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("[stderr]\n");
        text.push_str(&stderr);
    }
    let ok = matches!(&outcome, Outcome::Exited(s) if s.success());
    if !ok
        && ctx.confined
        && text.contains("Permission denied")
        && let Some(home) = ctx.sandbox.carved_from(ctx.workdir)
    {
        text.push_str(&format!(
            "\n[note: az-os's own files ({}) are inside this workdir, so the sandbox lets commands create or delete entries only inside its subfolders, not directly in the folders that lead to them; use a subfolder, or write_file]",
            home.display()
        ));
    }
    ToolOutput { ok, output: text }
}

/// How long the supervisor gets to clean up after a stop before its session is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A started command until it has been waited for. Dropped early (the task's future
/// dropped, the runtime shutting down), it still stops the command.
struct Running {
    /// The supervisor (or, unsupervised, `sh`), until reaped.
    pid: Option<Pid>,
    supervised: bool,
}

impl Running {
    /// Asks the command to end: the supervisor kills the whole tree and exits. (It is
    /// resumed first, in case something stopped it.) Unsupervised, kills the group.
    fn stop(&self) {
        let Some(pid) = self.pid else { return };
        if self.supervised {
            let _ = signal::kill(pid, Signal::SIGTERM);
            let _ = signal::kill(pid, Signal::SIGCONT);
        } else {
            self.kill();
        }
    }

    /// The last resort: kills the session's process group (the supervisor leads it).
    fn kill(&self) {
        if let Some(pid) = self.pid {
            let _ = signal::killpg(pid, Signal::SIGKILL);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The task's temp dir, created owner-only by this process: its name is unpredictable,
/// and an existing entry is accepted only as a real directory (not a link planted there).
fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let meta = std::fs::symlink_metadata(dir)?;
            if meta.is_dir() && !meta.file_type().is_symlink() {
                Ok(())
            } else {
                Err(std::io::Error::other("it exists and is not a directory"))
            }
        }
        Err(e) => Err(e),
    }
}

/// Reads a stream to its end, keeping the first and the last `CAPTURE_BYTES`.
async fn capture(mut r: impl AsyncRead + Unpin) -> String {
    let mut head: Vec<u8> = Vec::new();
    let mut tail: std::collections::VecDeque<u8> = std::collections::VecDeque::new();
    let mut total: usize = 0;
    let mut buf = [0u8; 16 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                total += n;
                let mut chunk = &buf[..n];
                if head.len() < CAPTURE_BYTES {
                    let take = chunk.len().min(CAPTURE_BYTES - head.len());
                    head.extend_from_slice(&chunk[..take]);
                    chunk = &chunk[take..];
                }
                tail.extend(chunk);
                let excess = tail.len().saturating_sub(CAPTURE_BYTES);
                tail.drain(..excess);
            }
        }
    }
    let dropped = total - head.len() - tail.len();
    let mut text = String::from_utf8_lossy(&head).into_owned();
    if dropped > 0 {
        text.push_str(&format!("\n[... {dropped} bytes cut ...]\n"));
    }
    text.push_str(&String::from_utf8_lossy(tail.make_contiguous()));
    text
}

async fn collect(h: Option<tokio::task::JoinHandle<String>>) -> String {
    let Some(h) = h else { return String::new() };
    // Pipes are closed once the group is dead; the grace only matters if a
    // process escaped the group and still holds them.
    match tokio::time::timeout(Duration::from_secs(2), h).await {
        Ok(Ok(s)) => s,
        _ => String::new(),
    }
}
