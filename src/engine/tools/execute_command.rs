//! `execute_command`: `sh -c COMMAND` in the workdir, in its own process group,
//! with a timeout and capped output. On timeout or cancel the whole group is
//! killed, so no child outlives the task; stragglers left in the background by a
//! command that exited are reaped the same way.

use std::os::unix::fs::DirBuilderExt;
use std::process::Stdio;
use std::time::Duration;

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
    if let Err(e) = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(ctx.tmp)
    {
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
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return ToolOutput::err(format!("cannot start sh: {e}")),
    };
    let pgid = child.id().and_then(|p| i32::try_from(p).ok());
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
    kill_group(pgid);
    let _ = child.wait().await;
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
    ToolOutput { ok, output: text }
}

fn kill_group(pgid: Option<i32>) {
    if let Some(pgid) = pgid {
        // The group may already be gone; that is the normal case.
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pgid),
            nix::sys::signal::Signal::SIGKILL,
        );
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
