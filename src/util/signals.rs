//! The signals that mean "stop": SIGINT (Ctrl-C), SIGTERM (a service manager, `kill`)
//! and SIGHUP (the terminal or SSH session closed). Front ends wait on all three the same
//! way, so each of them cancels running tasks, records them and lets the sandbox kill
//! their commands, instead of the default of dying on the spot and orphaning them.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Listens for the stop signals from creation on (their default action is replaced).
pub struct StopSignals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl StopSignals {
    /// Must be called inside a Tokio runtime.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The next stop signal's number.
    pub async fn recv(&mut self) -> i32 {
        tokio::select! {
            _ = self.int.recv() => nix::libc::SIGINT,
            _ = self.term.recv() => nix::libc::SIGTERM,
            _ = self.hup.recv() => nix::libc::SIGHUP,
        }
    }
}

/// The exit code after stopping for `signal`: 130 for Ctrl-C (the documented code),
/// 128 + the number for the others, as shells report them.
pub fn exit_code(signal: i32) -> i32 {
    128 + signal
}
