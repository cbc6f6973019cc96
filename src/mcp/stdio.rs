//! Starting a stdio MCP server: the child process with a minimal environment (never
//! az-os's provider keys), in a process group of its own so stopping it stops whatever
//! it started (`npx` → `node`), killed when dropped; its stderr read into az-os's log
//! and kept as a short tail for failure messages; its stdout watched on the way to rmcp
//! for lines that are not JSON (a program that is not an MCP server) and for a message
//! longer than rmcp's line cap (which rmcp drops, bounded, without telling the caller).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};

use crate::config::McpServerConfig;

/// Environment variables a server inherits from az-os; everything else comes from its
/// `env` in config.toml.
pub const PASS_ENV: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TERM", "TMPDIR", "TZ", "SHELL",
];

/// Longest JSON-RPC message read from a server's stdout. rmcp buffers a whole line
/// before parsing it, so up to this much is held in memory; a longer line is dropped.
pub const MAX_LINE: usize = 8 * 1024 * 1024;

/// Lines of a server's stderr kept for failure messages.
const TAIL_LINES: usize = 3;
/// Longest stderr line logged or kept.
const MAX_STDERR_LINE: usize = 2000;

/// What the stdout watcher saw.
#[derive(Default)]
pub struct StdoutWatch {
    /// The first line that was not JSON, cut short.
    pub garbage: Mutex<Option<String>>,
    /// Bumped for each message longer than [`MAX_LINE`].
    pub oversized: tokio::sync::watch::Sender<u64>,
}

/// A running server process and what is watched of it.
pub struct Process {
    pub child: Child,
    pub group: GroupGuard,
    pub watch: Arc<StdoutWatch>,
    pub tail: Arc<Mutex<VecDeque<String>>>,
}

/// Kills a process group when dropped (the child's own `kill_on_drop` reaches only it).
pub struct GroupGuard(Option<nix::unistd::Pid>);

impl GroupGuard {
    /// Sends `signal` to the whole group.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        if let Some(pgid) = self.0 {
            let _ = nix::sys::signal::killpg(pgid, signal);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.signal(nix::sys::signal::Signal::SIGKILL);
    }
}

pub type Pipes = (Watched<ChildStdout>, ChildStdin);

/// Starts `cfg`'s command. `env` is the configured environment with `vault:` values
/// resolved. An error is the message for `mcp list`, naming the fix.
pub fn spawn(
    cfg: &McpServerConfig,
    index: usize,
    env: &[(String, zeroize::Zeroizing<String>)],
) -> Result<(Process, Pipes), String> {
    let program = cfg.command.as_deref().unwrap_or_default();
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(&cfg.args).env_clear();
    for var in PASS_ENV {
        if let Some(v) = std::env::var_os(var) {
            cmd.env(var, v);
        }
    }
    for (k, v) in env {
        cmd.env(k, v.as_str());
    }
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "command `{program}` not found: install it or fix mcp_servers[{index}].command in config.toml"
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "command `{program}` cannot be run (permission denied): make it executable or fix mcp_servers[{index}].command in config.toml"
        ),
        _ => format!(
            "cannot start `{program}`: {e}; check mcp_servers[{index}].command in config.toml"
        ),
    })?;
    let group = GroupGuard(
        child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(nix::unistd::Pid::from_raw),
    );
    let (Some(stdout), Some(stdin), Some(stderr)) =
        (child.stdout.take(), child.stdin.take(), child.stderr.take())
    else {
        return Err(format!("`{program}` started without its pipes"));
    };
    let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
    tokio::spawn(log_stderr(cfg.name.clone(), stderr, tail.clone()));
    let watch = Arc::new(StdoutWatch::default());
    let stdout = Watched {
        inner: stdout,
        line_len: 0,
        sample: Vec::new(),
        watch: watch.clone(),
    };
    Ok((
        Process {
            child,
            group,
            watch,
            tail,
        },
        (stdout, stdin),
    ))
}

impl Process {
    /// The last lines the server wrote on stderr, joined, for a failure message.
    pub fn stderr_tail(&self) -> Option<String> {
        let tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
        (!tail.is_empty()).then(|| tail.iter().cloned().collect::<Vec<_>>().join(" | "))
    }

    /// The first non-JSON line seen on stdout.
    pub fn garbage(&self) -> Option<String> {
        self.watch
            .garbage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Asks the group to stop (SIGTERM), waits up to `grace`, then kills it.
    pub async fn stop(mut self, grace: std::time::Duration) {
        self.group.signal(nix::sys::signal::Signal::SIGTERM);
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            self.group.signal(nix::sys::signal::Signal::SIGKILL);
            let _ = self.child.wait().await;
        }
        // Whatever the leader left behind in its group goes too (the guard's drop).
    }
}

/// Reads the server's stderr into the log, line by line, keeping the last few lines.
async fn log_stderr(server: String, mut stderr: ChildStderr, tail: Arc<Mutex<VecDeque<String>>>) {
    let mut buf = vec![0u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    let flush = |line: &mut Vec<u8>| {
        let text = String::from_utf8_lossy(line).trim_end().to_owned();
        line.clear();
        if text.is_empty() {
            return;
        }
        tracing::info!(target: "az_os::mcp", server = %server, "stderr: {text}");
        let mut t = tail.lock().unwrap_or_else(PoisonError::into_inner);
        if t.len() == TAIL_LINES {
            t.pop_front();
        }
        t.push_back(text);
    };
    loop {
        let n = match stderr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for chunk in buf[..n].split_inclusive(|&b| b == b'\n') {
            let room = MAX_STDERR_LINE.saturating_sub(line.len());
            line.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if chunk.ends_with(b"\n") {
                flush(&mut line);
            }
        }
    }
    flush(&mut line);
}

/// The server's stdout on its way to rmcp, watched (see the module header).
pub struct Watched<R> {
    inner: R,
    /// Bytes of the current line so far.
    line_len: usize,
    /// The current line's first bytes, while it may be garbage.
    sample: Vec<u8>,
    watch: Arc<StdoutWatch>,
}

const SAMPLE: usize = 120;

impl<R> Watched<R> {
    fn observe(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let (part, ended) = match memchr::memchr(b'\n', bytes) {
                Some(at) => (&bytes[..at], Some(at + 1)),
                None => (bytes, None),
            };
            let before = self.line_len;
            self.line_len = self.line_len.saturating_add(part.len());
            if before <= MAX_LINE && self.line_len > MAX_LINE {
                self.watch.oversized.send_modify(|n| *n += 1);
            }
            if self.sample.len() < SAMPLE {
                let take = part.len().min(SAMPLE - self.sample.len());
                self.sample.extend_from_slice(&part[..take]);
            }
            match ended {
                Some(at) => {
                    self.end_line();
                    bytes = &bytes[at..];
                }
                None => bytes = &[],
            }
        }
    }

    fn end_line(&mut self) {
        let first = self.sample.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|&b| b != b'{' && b != b'[') {
            let mut g = self
                .watch
                .garbage
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if g.is_none() {
                *g = Some(String::from_utf8_lossy(&self.sample).trim().to_owned());
            }
        }
        self.sample.clear();
        self.line_len = 0;
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Watched<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.observe(&buf.filled()[before..]);
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watched() -> Watched<tokio::io::Empty> {
        Watched {
            inner: tokio::io::empty(),
            line_len: 0,
            sample: Vec::new(),
            watch: Arc::new(StdoutWatch::default()),
        }
    }

    #[test]
    fn json_lines_pass_and_the_first_garbage_line_is_kept() {
        let mut w = watched();
        w.observe(b"{\"jsonrpc\":\"2.0\"}\n  [1]\n");
        assert_eq!(*w.watch.garbage.lock().unwrap(), None);
        w.observe(b"Hello, I am not ");
        w.observe(b"an MCP server\nsecond\n");
        assert_eq!(
            w.watch.garbage.lock().unwrap().as_deref(),
            Some("Hello, I am not an MCP server")
        );
    }

    #[test]
    fn an_oversized_line_is_counted_once() {
        let mut w = watched();
        let chunk = vec![b'{'; 1024 * 1024];
        for _ in 0..9 {
            w.observe(&chunk);
        }
        w.observe(b"}\n{}\n");
        assert_eq!(*w.watch.oversized.borrow(), 1);
    }
}
