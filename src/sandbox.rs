//! The sandbox of `execute_command`. Every command runs under a supervisor process and,
//! unless `[sandbox] mode = "off"` or the kernel lacks Landlock, confined:
//!
//! ```text
//! az-os ──spawn──► az-os __sandbox-exec           supervisor (supervise.rs): own session,
//!                    │                             subreaper, dies with az-os, kills the
//!                    │                             whole tree when the command ends
//!                    └─spawn──► az-os __sandbox-exec --inner
//!                                  restricts itself (confine.rs), then exec ──► sh -c CMD
//! ```
//!
//! Confined commands write only the workdir (`workspace-write`) and a private temp dir,
//! read everything but az-os's home, its config file and `/dev`, cannot signal or trace
//! az-os, and with `network = false` open no sockets. Restricting a process needs code
//! between `fork` and `exec`, which safe Rust cannot run, hence the re-exec of our own
//! binary (`/proc/self/exe`, so a command that replaces the file on disk changes
//! nothing). The hidden subcommand is dispatched before argument parsing and logging.
//!
//! Where the kernel has no Landlock, the engine says so once and follows `[sandbox]
//! unavailable`: run unconfined (still supervised), or refuse every command.

mod args;
mod confine;
pub mod rules;
mod supervise;

pub use args::ExecArgs;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use landlock::{ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr};

use crate::config::{SandboxConfig, SandboxMode, Settings, Unavailable};

/// The hidden subcommand.
pub const SUBCOMMAND: &str = "__sandbox-exec";

/// The running binary, whatever became of its file since it started.
pub(crate) const SELF_EXE: &str = "/proc/self/exe";

/// The first ABI with TCP rules.
pub(crate) const NET_ABI: ABI = ABI::V4;

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
    /// What no command may read or write, with what it is: az-os's home, a config file
    /// outside it (canonical paths).
    protected: Vec<(PathBuf, &'static str)>,
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
    /// The sandbox of an engine with these settings: `[sandbox]`, and the home and config
    /// file commands must never touch.
    pub fn new(settings: &Settings) -> Self {
        let mut protected = vec![(canonical(settings.home.root()), "home")];
        let config = canonical(settings.home.config_file());
        if !protected.iter().any(|(p, _)| config.starts_with(p)) {
            protected.push((config, "config file"));
        }
        Self::with_protected(&settings.sandbox, protected)
    }

    /// A sandbox guarding `protected` (tests, benchmarks).
    pub fn with_protected(config: &SandboxConfig, protected: Vec<(PathBuf, &'static str)>) -> Self {
        let off = config.mode == SandboxMode::Off;
        Self {
            config: config.clone(),
            exe: own_binary(),
            support: if off {
                Support {
                    filesystem: false,
                    network: false,
                }
            } else {
                support()
            },
            protected,
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

    /// The places no command may touch, canonical.
    pub fn protected(&self) -> impl Iterator<Item = &Path> {
        self.protected.iter().map(|(p, _)| p.as_path())
    }

    /// Refuses a workdir that lies inside az-os's own files: commands there would write
    /// them whatever the rules say. Checked when a task starts.
    pub fn check_workdir(&self, workdir: &Path) -> Result<(), rules::LayoutError> {
        rules::check_writable(&canonical(workdir), &self.protected)
    }

    /// A protected place inside `workdir`: commands then cannot create entries directly
    /// in the workdir (or the folders leading to that place), as Landlock can only grant
    /// the workdir's other entries.
    pub fn carved_from(&self, workdir: &Path) -> Option<&Path> {
        let w = canonical(workdir);
        self.protected()
            .find(|p| p.starts_with(&w) && *p != w.as_path())
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

    /// Whether commands run under the supervisor (`__sandbox-exec`): always, unless
    /// the az-os binary cannot be found. Its process is then the leader of the
    /// command's session; without it `sh` leads a process group of its own.
    pub fn supervised(&self) -> bool {
        self.exe.is_some()
    }

    /// The process that runs `sh -c command` in `workdir`, confined when `confined`.
    /// The private `tmp` dir is `TMPDIR`. No key reaches its environment.
    pub fn command(
        &self,
        command: &str,
        workdir: &Path,
        tmp: &Path,
        confined: bool,
    ) -> tokio::process::Command {
        let shell: Vec<OsString> = ["sh", "-c", command].map(OsString::from).to_vec();
        let mut cmd = if let Some(exe) = &self.exe {
            let args = ExecArgs {
                parent: Some(std::process::id()),
                confine: confined,
                inner: false,
                workdir: Some(workdir.to_path_buf()),
                tmp: Some(tmp.to_path_buf()),
                read_only: self.config.mode == SandboxMode::ReadOnly,
                no_network: !self.config.network,
                writable: self
                    .config
                    .writable
                    .iter()
                    .map(|w| expand_home(w))
                    .collect(),
                protect: self.protected.iter().map(|(p, _)| p.clone()).collect(),
                command: shell,
            };
            let mut c = tokio::process::Command::new(exe);
            c.arg0("az-os").arg(SUBCOMMAND).args(args.to_args());
            c
        } else {
            let mut c = tokio::process::Command::new("sh");
            c.args(&shell[1..]).process_group(0);
            c
        };
        cmd.current_dir(workdir).env("TMPDIR", tmp);
        let (vars, values) = (crate::vault::secret_env_vars(), crate::vault::secrets());
        for (name, value) in std::env::vars_os() {
            let Some(name) = name.to_str() else { continue };
            if crate::vault::is_secret_env(name, &value, &vars, &values, &self.config.pass_env) {
                cmd.env_remove(name);
            }
        }
        cmd
    }
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// This process's az-os binary (when `main` said this is it), or the one beside a test
/// or benchmark executable
/// (`target/debug/deps/x` → `target/debug/az-os`).
fn own_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("AZ_OS_SANDBOX_EXE") {
        return Some(PathBuf::from(p));
    }
    if IS_AZ_OS.load(Ordering::Relaxed) {
        return Some(PathBuf::from(SELF_EXE));
    }
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    [dir.join("az-os"), dir.parent()?.join("az-os")]
        .into_iter()
        .find(|p| p.is_file())
}

/// Keeps other processes of the same user out of this one: not dumpable, so its memory,
/// environment (keys, `AZ_OS_MASTER_PASSWORD`) and open files under `/proc/PID` are
/// root's alone. Root commands lose `CAP_SYS_PTRACE` in the sandbox (`confine.rs`), and
/// Landlock forbids tracing az-os from inside it either way. Called first thing in `main`.
///
/// It also records that this process is the az-os binary, so commands are confined by
/// re-running it (`/proc/self/exe`) whatever its file is called.
pub fn protect_this_process() {
    let _ = nix::sys::prctl::set_dumpable(false);
    IS_AZ_OS.store(true, Ordering::Relaxed);
}

/// Set by `main`: this process runs the az-os binary (not a test or benchmark).
static IS_AZ_OS: AtomicBool = AtomicBool::new(false);

/// `az-os __sandbox-exec …`: as the supervisor, runs the command and returns its exit
/// code; as the inner helper (`--inner`), restricts this process and becomes the command,
/// returning only on failure (126: the command did not run).
pub fn exec_main(args: impl IntoIterator<Item = OsString>) -> i32 {
    use std::os::unix::process::CommandExt;
    let args = match ExecArgs::parse(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("az-os {SUBCOMMAND}: {e}");
            return 2;
        }
    };
    if !args.inner {
        return supervise::run(&args);
    }
    if let Err(e) = confine::restrict(&args) {
        eprintln!("az-os sandbox: cannot confine the command, so it did not run: {e}");
        return 126;
    }
    let err = std::process::Command::new(&args.command[0])
        .args(&args.command[1..])
        .exec();
    eprintln!(
        "az-os sandbox: cannot run {}: {err}",
        args.command[0].to_string_lossy()
    );
    127
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox(config: &SandboxConfig) -> Sandbox {
        Sandbox::with_protected(config, vec![(PathBuf::from("/h/.az-os"), "home")])
    }

    #[test]
    fn off_is_unconfined_without_warning() {
        let s = sandbox(&SandboxConfig {
            mode: SandboxMode::Off,
            ..SandboxConfig::default()
        });
        assert_eq!(s.confinement(), (Confinement::Unconfined, None));
        assert_eq!(s.label(), "off");
    }

    #[test]
    fn a_missing_sandbox_warns_once_and_follows_the_config() {
        let mut s = sandbox(&SandboxConfig {
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

    #[test]
    fn a_workdir_inside_the_home_is_refused() {
        let s = sandbox(&SandboxConfig::default());
        assert!(s.check_workdir(Path::new("/h/proj")).is_ok());
        assert!(
            s.check_workdir(Path::new("/h")).is_ok(),
            "the home inside the workdir is carved out"
        );
        assert!(s.check_workdir(Path::new("/h/.az-os/sub")).is_err());
    }
}
