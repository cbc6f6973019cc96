//! The confining helper: restricts its own process, then becomes the command (Landlock,
//! capabilities and seccomp all carry over `exec` and into every child).
//!
//! - **Landlock, files:** read anywhere but az-os's home, files it protects and `/dev`
//!   (a few harmless devices excepted); write only the workdir (unless read-only), the
//!   task's temp dir and `[sandbox] writable`, never the protected places even when a
//!   writable root holds them (`rules.rs` carves them out); no device ioctls, no device
//!   nodes made.
//! - **Landlock, scopes** (ABI 6, best effort): no signals to processes outside the
//!   command's own tree, no connecting to abstract Unix sockets made outside it.
//! - **Landlock, TCP** (ABI 4) and **seccomp** with `network = false`: no TCP connect or
//!   bind, and no sockets at all but netlink (UDP, pathname Unix sockets), no io_uring.
//! - **Capabilities** (when run as root): the ones that would see through all of this —
//!   tracing other processes (their memory and environment), admin, raw I/O, modules,
//!   device nodes, reboot — leave the bounding and inheritable sets.

use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
};

use super::NET_ABI;
use super::args::ExecArgs;
use super::rules;

/// The Landlock ABI asked for filesystem rules (best effort below it).
const FS_ABI: ABI = ABI::V5;
/// The first ABI with scopes.
const SCOPE_ABI: ABI = ABI::V6;

/// Capabilities a root command loses.
const DROPPED_CAPS: [caps::Capability; 12] = [
    caps::Capability::CAP_SYS_PTRACE,
    caps::Capability::CAP_SYS_ADMIN,
    caps::Capability::CAP_SYS_MODULE,
    caps::Capability::CAP_SYS_RAWIO,
    caps::Capability::CAP_SYS_BOOT,
    caps::Capability::CAP_MKNOD,
    caps::Capability::CAP_SYS_TTY_CONFIG,
    caps::Capability::CAP_BPF,
    caps::Capability::CAP_PERFMON,
    caps::Capability::CAP_MAC_ADMIN,
    caps::Capability::CAP_MAC_OVERRIDE,
    caps::Capability::CAP_NET_ADMIN,
];

/// Restricts this process as `args` say. An error means the command must not run.
pub fn restrict(args: &ExecArgs) -> Result<(), String> {
    drop_caps()?;
    landlock(args)?;
    if args.no_network {
        no_sockets()?;
    }
    Ok(())
}

fn drop_caps() -> Result<(), String> {
    let bounding = caps::read(None, caps::CapSet::Bounding).map_err(|e| e.to_string())?;
    let effective = caps::read(None, caps::CapSet::Effective).map_err(|e| e.to_string())?;
    for cap in DROPPED_CAPS {
        // Dropping from the bounding set needs CAP_SETPCAP; without it the process holds
        // none of these anyway (not root), and the rest below is a no-op.
        if bounding.contains(&cap) && effective.contains(&caps::Capability::CAP_SETPCAP) {
            caps::drop(None, caps::CapSet::Bounding, cap)
                .map_err(|e| format!("cannot drop {cap}: {e}"))?;
        }
        for set in [
            caps::CapSet::Ambient,
            caps::CapSet::Inheritable,
            caps::CapSet::Effective,
            caps::CapSet::Permitted,
        ] {
            if caps::has_cap(None, set, cap).unwrap_or(false) {
                caps::drop(None, set, cap).map_err(|e| format!("cannot drop {cap}: {e}"))?;
            }
        }
    }
    Ok(())
}

/// Rights on a writable root: everything but making device nodes and device ioctls.
fn write_rights() -> BitFlags<AccessFs> {
    AccessFs::from_all(FS_ABI) & !(AccessFs::MakeChar | AccessFs::MakeBlock | AccessFs::IoctlDev)
}

/// Rights on what may be read.
fn read_rights() -> BitFlags<AccessFs> {
    AccessFs::from_read(FS_ABI)
}

fn landlock(args: &ExecArgs) -> Result<(), String> {
    let protected: Vec<PathBuf> = args
        .protect
        .iter()
        .map(|p| p.canonicalize().unwrap_or_else(|_| p.clone()))
        .collect();
    let mut carved = protected.clone();
    carved.push(PathBuf::from("/dev"));

    let mut writable: Vec<PathBuf> = Vec::new();
    if !args.read_only
        && let Some(w) = &args.workdir
    {
        writable.push(w.clone());
    }
    writable.extend(args.tmp.iter().cloned());
    writable.extend(args.writable.iter().cloned());
    let tagged: Vec<(PathBuf, &'static str)> =
        protected.iter().map(|p| (p.clone(), "files")).collect();
    let mut write_roots = Vec::new();
    for w in &writable {
        let w = w.canonicalize().unwrap_or_else(|_| w.clone());
        rules::check_writable(&w, &tagged).map_err(|e| e.to_string())?;
        write_roots.extend(rules::carve(&w, &carved));
    }

    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(FS_ABI))
        .map_err(|e| e.to_string())?;
    if args.no_network {
        ruleset = ruleset
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessNet::from_all(NET_ABI))
            .map_err(|e| format!("network rules: {e}"))?
            .set_compatibility(CompatLevel::BestEffort);
    }
    ruleset = ruleset
        .scope(Scope::from_all(SCOPE_ABI))
        .map_err(|e| format!("scopes: {e}"))?;
    let mut created = ruleset
        .create()
        .map_err(|e| e.to_string())?
        // Listing is allowed everywhere; opening is not.
        .add_rule(beneath(Path::new("/"), AccessFs::ReadDir.into())?)
        .map_err(|e| e.to_string())?;
    for root in rules::carve(Path::new("/"), &carved) {
        // Listed a moment ago; another process may have removed it since (a temp dir, an
        // editor's swap file). Gone, it needs no rule: there is nothing to read.
        let rule = match beneath(&root, read_rights()) {
            Err(_) if vanished(&root) => continue,
            rule => rule?,
        };
        created = created.add_rule(rule).map_err(|e| e.to_string())?;
    }
    for dev in rules::DEVICES {
        if Path::new(dev).exists() {
            created = created
                .add_rule(beneath(
                    Path::new(dev),
                    AccessFs::ReadFile | AccessFs::WriteFile,
                )?)
                .map_err(|e| e.to_string())?;
        }
    }
    for dir in rules::DEVICE_DIRS
        .iter()
        .map(Path::new)
        .filter(|d| d.is_dir())
    {
        created = created
            .add_rule(beneath(dir, write_rights())?)
            .map_err(|e| e.to_string())?;
    }
    for root in &write_roots {
        created = created
            .add_rule(beneath(root, write_rights())?)
            .map_err(|e| e.to_string())?;
    }
    let status = created.restrict_self().map_err(|e| e.to_string())?;
    if status.ruleset == RulesetStatus::NotEnforced {
        return Err("Landlock is not enforced on this kernel".into());
    }
    Ok(())
}

/// Whether `path` no longer exists (not even as a dangling symlink).
fn vanished(path: &Path) -> bool {
    matches!(std::fs::symlink_metadata(path), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
}

/// A rule for `path` with `rights`, narrowed to what a non-directory can have.
fn beneath(path: &Path, rights: BitFlags<AccessFs>) -> Result<PathBeneath<PathFd>, String> {
    let fd = PathFd::new(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let rights = if path.is_dir() {
        rights
    } else {
        rights & AccessFs::from_file(FS_ABI)
    };
    Ok(PathBeneath::new(fd, rights))
}

/// seccomp: `socket()` of any family but netlink, and io_uring (which could open
/// sockets around the filter), fail with EACCES.
fn no_sockets() -> Result<(), String> {
    use seccompiler::{
        BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule, TargetArch,
    };
    let arch: TargetArch = std::env::consts::ARCH
        .try_into()
        .map_err(|_| format!("no seccomp support for {}", std::env::consts::ARCH))?;
    let not_netlink = SeccompRule::new(vec![
        SeccompCondition::new(
            0,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::Ne,
            nix::libc::AF_NETLINK as u64,
        )
        .map_err(|e| e.to_string())?,
    ])
    .map_err(|e| e.to_string())?;
    let mut numbers = vec![
        (nix::libc::SYS_socket, vec![not_netlink]),
        (nix::libc::SYS_io_uring_setup, Vec::new()),
    ];
    if arch == TargetArch::x86_64 {
        // The x32 ABI numbers the same calls with this bit set.
        const X32: i64 = 0x4000_0000;
        numbers.extend(numbers.clone().into_iter().map(|(n, r)| (n | X32, r)));
    }
    let filter = SeccompFilter::new(
        numbers.into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(nix::libc::EACCES as u32),
        arch,
    )
    .map_err(|e| e.to_string())?;
    let program: BpfProgram = filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| e.to_string())?;
    seccompiler::apply_filter(&program).map_err(|e| format!("seccomp: {e}"))
}
