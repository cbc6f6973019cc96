//! The sandbox of `execute_command`: Landlock confines each command's writes to the
//! task's workdir and a private temp dir (`workspace-write`), or to the temp dir alone
//! (`read-only`); reading and executing stay allowed everywhere. Optionally TCP connect
//! and bind are forbidden too (`network = false`, Landlock ABI 4).
//!
//! Restricting a process needs code between `fork` and `exec`, which safe Rust cannot
//! run. So the engine starts its own binary with a hidden subcommand,
//! `az-os __sandbox-exec --workdir DIR --tmp DIR [--read-only] [--no-network]
//! [--writable PATH]… -- sh -c CMD`, which restricts itself (Landlock applies to the
//! process and everything it starts) and then `exec`s the shell. That subcommand is
//! dispatched before argument parsing and logging, so it costs one extra `exec`.
//!
//! Where the kernel has no Landlock, the engine says so once and follows `[sandbox]
//! unavailable`: run unconfined, or refuse every command.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, path_beneath_rules,
};

use crate::config::{SandboxConfig, SandboxMode, Unavailable};

/// The hidden subcommand.
pub const SUBCOMMAND: &str = "__sandbox-exec";

/// The Landlock ABI asked for filesystem rules (best effort below it).
const FS_ABI: ABI = ABI::V5;
/// The first ABI with TCP rules.
const NET_ABI: ABI = ABI::V4;

/// Devices any command may write: the bit buckets and terminals.
const DEVICES: [&str; 7] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
    "/dev/ptmx",
    "/dev/pts",
    "/dev/shm",
];

/// What the running kernel supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Support {
    pub filesystem: bool,
    pub network: bool,
}

/// Probes Landlock once per process: creating a ruleset (without applying it) fails
/// where the kernel lacks the feature.
pub fn support() -> Support {
    static SUPPORT: OnceLock<Support> = OnceLock::new();
    *SUPPORT.get_or_init(|| {
        let fs = Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessFs::from_all(ABI::V1))
            .and_then(Ruleset::create)
            .is_ok();
        let net = fs
            && Ruleset::default()
                .set_compatibility(CompatLevel::HardRequirement)
                .handle_access(AccessNet::from_all(NET_ABI))
                .and_then(Ruleset::create)
                .is_ok();
        Support {
            filesystem: fs,
            network: net,
        }
    })
}

/// How commands are started, decided once per engine.
#[derive(Debug)]
pub struct Sandbox {
    config: SandboxConfig,
    /// The az-os binary that runs `__sandbox-exec`; `None` when it cannot be found.
    exe: Option<PathBuf>,
    support: Support,
    warned: AtomicBool,
}

/// What happens to a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Confinement {
    /// Confined as configured.
    Confined,
    /// Runs unconfined: `mode = "off"`, or Landlock missing and `unavailable = "run"`.
    Unconfined,
    /// Refused: Landlock missing and `unavailable = "refuse"`, or `network = false`
    /// without kernel support. The text says why and what to change.
    Refused(String),
}

impl Sandbox {
    pub fn new(config: &SandboxConfig) -> Self {
        let exe = if config.mode == SandboxMode::Off {
            None
        } else {
            own_binary()
        };
        Self {
            config: config.clone(),
            exe,
            support: if config.mode == SandboxMode::Off {
                Support {
                    filesystem: false,
                    network: false,
                }
            } else {
                support()
            },
            warned: AtomicBool::new(false),
        }
    }

    /// With this binary for `__sandbox-exec` (tests and benchmarks run from another
    /// executable).
    #[must_use]
    pub fn with_exe(mut self, exe: PathBuf) -> Self {
        self.exe = Some(exe);
        self
    }

    /// What the next command gets, and whether this is the first time the sandbox is
    /// missing (the caller tells the user once).
    pub fn confinement(&self) -> (Confinement, Option<String>) {
        if self.config.mode == SandboxMode::Off {
            return (Confinement::Unconfined, None);
        }
        let missing = if !self.support.filesystem {
            Some(
                "Landlock is not available on this kernel (Linux 5.13+ with Landlock enabled)"
                    .to_owned(),
            )
        } else if self.exe.is_none() {
            Some("the az-os binary that confines commands cannot be found".to_owned())
        } else if !self.config.network && !self.support.network {
            return (
                Confinement::Refused(
                    "[sandbox] network = false needs Landlock ABI 4 (Linux 6.7+), which this kernel lacks; set network = true in config.toml to run commands with network access".into(),
                ),
                None,
            );
        } else {
            None
        };
        let Some(why) = missing else {
            return (Confinement::Confined, None);
        };
        let first = !self.warned.swap(true, Ordering::Relaxed);
        match self.config.unavailable {
            Unavailable::Run => (
                Confinement::Unconfined,
                first.then(|| {
                    format!("sandbox unavailable: {why}; commands run unconfined ([sandbox] unavailable = \"run\"; set it to \"refuse\" to refuse them instead)")
                }),
            ),
            Unavailable::Refuse => (
                Confinement::Refused(format!(
                    "sandbox unavailable: {why}, and [sandbox] unavailable = \"refuse\"; set it to \"run\" (or mode = \"off\") in config.toml to run commands unconfined"
                )),
                first.then(|| format!("sandbox unavailable: {why}; commands are refused")),
            ),
        }
    }

    /// The label the audit log gives commands: the mode, or `unconfined` when the
    /// sandbox is missing.
    pub fn label(&self) -> &'static str {
        match self.config.mode {
            SandboxMode::Off => "off",
            _ if !self.support.filesystem || self.exe.is_none() => "unconfined",
            m => m.as_str(),
        }
    }

    /// The process that runs `sh -c command` in `workdir`, confined when `confined`.
    /// The private `tmp` dir is `TMPDIR`.
    pub fn command(
        &self,
        command: &str,
        workdir: &Path,
        tmp: &Path,
        confined: bool,
    ) -> tokio::process::Command {
        let mut cmd = if let (Some(exe), true) = (&self.exe, confined) {
            {
                let mut c = tokio::process::Command::new(exe);
                c.arg(SUBCOMMAND)
                    .arg("--workdir")
                    .arg(workdir)
                    .arg("--tmp")
                    .arg(tmp);
                if self.config.mode == SandboxMode::ReadOnly {
                    c.arg("--read-only");
                }
                if !self.config.network {
                    c.arg("--no-network");
                }
                for w in &self.config.writable {
                    c.arg("--writable").arg(expand_home(w));
                }
                c.arg("--").arg("sh").arg("-c").arg(command);
                c
            }
        } else {
            let mut c = tokio::process::Command::new("sh");
            c.arg("-c").arg(command);
            c
        };
        cmd.current_dir(workdir).env("TMPDIR", tmp);
        // Keys stay with az-os: a command never sees them in its environment.
        for var in crate::vault::secret_env_vars() {
            cmd.env_remove(var);
        }
        cmd
    }
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// This process's az-os binary, or the one beside a test or benchmark executable
/// (`target/debug/deps/x` → `target/debug/az-os`).
fn own_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("AZ_OS_SANDBOX_EXE") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    if exe.file_name().is_some_and(|n| n == "az-os") {
        return Some(exe);
    }
    let dir = exe.parent()?;
    [dir.join("az-os"), dir.parent()?.join("az-os")]
        .into_iter()
        .find(|p| p.is_file())
}

/// Arguments of `__sandbox-exec`.
#[derive(Debug, Default)]
struct ExecArgs {
    workdir: Option<PathBuf>,
    tmp: Option<PathBuf>,
    read_only: bool,
    no_network: bool,
    writable: Vec<PathBuf>,
    command: Vec<OsString>,
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<ExecArgs, String> {
    let mut out = ExecArgs::default();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("--workdir") => out.workdir = it.next().map(PathBuf::from),
            Some("--tmp") => out.tmp = it.next().map(PathBuf::from),
            Some("--writable") => out.writable.extend(it.next().map(PathBuf::from)),
            Some("--read-only") => out.read_only = true,
            Some("--no-network") => out.no_network = true,
            Some("--") => {
                out.command = it.collect();
                break;
            }
            _ => return Err(format!("unknown argument {}", a.to_string_lossy())),
        }
    }
    if out.command.is_empty() {
        return Err("no command after --".into());
    }
    Ok(out)
}

/// `az-os __sandbox-exec …`: restricts this process, then becomes the command. Returns
/// only on failure (exit code 126: the command did not run).
pub fn exec_main(args: impl IntoIterator<Item = OsString>) -> i32 {
    use std::os::unix::process::CommandExt;
    let args = match parse_args(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("az-os {SUBCOMMAND}: {e}");
            return 2;
        }
    };
    if let Err(e) = restrict(&args) {
        eprintln!("az-os sandbox: cannot confine the command, so it did not run: {e}");
        return 126;
    }
    let mut cmd = std::process::Command::new(&args.command[0]);
    cmd.args(&args.command[1..]);
    if let Some(t) = &args.tmp {
        cmd.env("TMPDIR", t);
    }
    let err = cmd.exec();
    eprintln!(
        "az-os sandbox: cannot run {}: {err}",
        args.command[0].to_string_lossy()
    );
    127
}

fn restrict(args: &ExecArgs) -> Result<(), String> {
    let mut writable: Vec<&Path> = Vec::new();
    if !args.read_only
        && let Some(w) = &args.workdir
    {
        writable.push(w);
    }
    if let Some(t) = &args.tmp {
        writable.push(t);
    }
    writable.extend(args.writable.iter().map(PathBuf::as_path));
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(FS_ABI))
        .map_err(|e| e.to_string())?;
    if args.no_network {
        ruleset = ruleset
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessNet::from_all(NET_ABI))
            .map_err(|e| format!("network rules: {e}"))?;
    }
    let status = ruleset
        .create()
        .and_then(|r| r.add_rules(path_beneath_rules(["/"], AccessFs::from_read(FS_ABI))))
        .and_then(|r| r.add_rules(path_beneath_rules(writable, AccessFs::from_all(FS_ABI))))
        .and_then(|r| r.add_rules(path_beneath_rules(DEVICES, AccessFs::from_all(FS_ABI))))
        .and_then(landlock::RulesetCreated::restrict_self)
        .map_err(|e| e.to_string())?;
    if status.ruleset == RulesetStatus::NotEnforced {
        return Err("Landlock is not enforced on this kernel".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_parse() {
        let a = parse_args(
            [
                "--workdir",
                "/w",
                "--tmp",
                "/t",
                "--read-only",
                "--no-network",
                "--writable",
                "/c",
                "--",
                "sh",
                "-c",
                "ls",
            ]
            .map(OsString::from),
        )
        .unwrap();
        assert_eq!(a.workdir.as_deref(), Some(Path::new("/w")));
        assert_eq!(a.tmp.as_deref(), Some(Path::new("/t")));
        assert!(a.read_only && a.no_network);
        assert_eq!(a.writable, vec![PathBuf::from("/c")]);
        assert_eq!(a.command, ["sh", "-c", "ls"].map(OsString::from));
        assert!(parse_args(["--workdir", "/w"].map(OsString::from)).is_err());
        assert!(parse_args(["--bogus", "--", "ls"].map(OsString::from)).is_err());
    }

    #[test]
    fn off_is_unconfined_without_warning() {
        let s = Sandbox::new(&SandboxConfig {
            mode: SandboxMode::Off,
            ..SandboxConfig::default()
        });
        assert_eq!(s.confinement(), (Confinement::Unconfined, None));
        assert_eq!(s.label(), "off");
    }

    #[test]
    fn a_missing_sandbox_warns_once_and_follows_the_config() {
        let mut s = Sandbox::new(&SandboxConfig {
            unavailable: Unavailable::Refuse,
            ..SandboxConfig::default()
        });
        s.exe = None;
        let (c, warn) = s.confinement();
        assert!(matches!(c, Confinement::Refused(ref m) if m.contains("unavailable = \"refuse\"")));
        assert!(warn.is_some());
        assert!(s.confinement().1.is_none(), "warned once");
        assert_eq!(s.label(), "unconfined");
    }
}
