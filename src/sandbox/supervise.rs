//! The supervisor: the process between az-os and a command, so that nothing a command
//! starts outlives it. It
//!
//! - starts a new session, so the command has no controlling terminal (no `TIOCSTI` into
//!   the user's shell, no writes to `/dev/tty`);
//! - is a child subreaper, so every process the command leaves behind — backgrounded,
//!   double-forked, `setsid`-ed — becomes its child instead of init's;
//! - dies with az-os (parent-death signal, checked once for a parent already gone);
//! - when the command ends, or on SIGTERM/SIGINT/SIGHUP (az-os cancelling, timing out or
//!   exiting), kills every descendant left and only then exits, with the command's status.
//!
//! It runs no command text itself and stays outside the command's Landlock domain, so a
//! confined command cannot signal it (Landlock's signal scope).

use std::process::Command;

use nix::errno::Errno;
use nix::sys::signal::{self, SigSet, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::args::ExecArgs;

/// Exit code when the command could not be started.
const CANNOT_RUN: i32 = 126;

/// Runs `args.command` (through the confining helper when `args.confine`), waits for it,
/// cleans up after it, and returns its exit code (or dies by its signal).
pub fn run(args: &ExecArgs) -> i32 {
    // A group leader cannot start a session; the engine never makes the supervisor one.
    if let Err(e) = nix::unistd::setsid() {
        eprintln!("az-os sandbox: cannot start a session for the command: {e}");
        return CANNOT_RUN;
    }
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGTERM);
    if let Some(parent) = args.parent
        && nix::unistd::getppid().as_raw() != parent.cast_signed()
    {
        // az-os died before the death signal was armed.
        return CANNOT_RUN;
    }
    let mut signals = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        signals.add(s);
    }
    // Blocked before the child exists, so no SIGCHLD or SIGTERM is missed; std resets
    // the mask in the child.
    if let Err(e) = signals.thread_block() {
        eprintln!("az-os sandbox: cannot block signals: {e}");
        return CANNOT_RUN;
    }
    let child = match command(args).spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "az-os sandbox: cannot run {}: {e}",
                args.command
                    .first()
                    .map(|c| c.to_string_lossy())
                    .unwrap_or_default()
            );
            return CANNOT_RUN;
        }
    };
    let main = Pid::from_raw(child.id().cast_signed());
    drop(child);
    loop {
        match signals.wait() {
            Ok(Signal::SIGCHLD) => {
                if let Some(status) = reap(main) {
                    kill_all();
                    return finish(status);
                }
            }
            Ok(sig) => {
                kill_all();
                return 128 + sig as i32;
            }
            Err(_) => {}
        }
    }
}

/// The process the supervisor starts: the confining helper, or the command itself.
fn command(args: &ExecArgs) -> Command {
    if args.confine {
        let mut c = Command::new(super::SELF_EXE);
        c.arg0("az-os").arg(super::SUBCOMMAND).args(
            ExecArgs {
                inner: true,
                parent: None,
                ..args.clone()
            }
            .to_args(),
        );
        c
    } else {
        let mut c = Command::new(&args.command[0]);
        c.args(&args.command[1..]);
        c
    }
}

use std::os::unix::process::CommandExt;

/// Reaps every child that has ended; the command's status once it is among them.
fn reap(main: Pid) -> Option<WaitStatus> {
    let mut found = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return found,
            Ok(s) => {
                if s.pid() == Some(main)
                    && matches!(s, WaitStatus::Exited(..) | WaitStatus::Signaled(..))
                {
                    found = Some(s);
                }
            }
        }
    }
}

/// Kills every descendant: each round kills the current children (orphans of killed
/// processes become children, as this process is their subreaper) and reaps one, until
/// there is no child left.
fn kill_all() {
    loop {
        for pid in children() {
            let _ = signal::kill(pid, Signal::SIGKILL);
        }
        match waitpid(None, None) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

/// This process's children, from `/proc` (the kernel's list where it keeps one, else a
/// scan of every process's parent).
fn children() -> Vec<Pid> {
    let me = std::process::id();
    let listed = std::fs::read_to_string(format!("/proc/{me}/task/{me}/children"));
    if let Ok(text) = listed {
        return text
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .map(Pid::from_raw)
            .collect();
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| parent_of(*pid) == Some(me))
        .map(Pid::from_raw)
        .collect()
}

/// The parent pid in `/proc/PID/stat` (after the command name, which may hold spaces
/// and parentheses).
fn parent_of(pid: i32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// The command's status as this process's own: its exit code, or death by its signal.
fn finish(status: WaitStatus) -> i32 {
    match status {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, sig, _) => {
            let mut only = SigSet::empty();
            only.add(sig);
            let _ = only.thread_unblock();
            let _ = signal::raise(sig);
            // Still here: the signal is ignored in this process (SIGPIPE is); say so the
            // way shells do.
            128 + sig as i32
        }
        _ => CANNOT_RUN,
    }
}
