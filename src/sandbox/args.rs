//! The arguments of `az-os __sandbox-exec`, written by the engine and read by the helper:
//! one definition, so both sides agree.

use std::ffi::OsString;
use std::path::PathBuf;

/// What the helper is asked to do.
// Independent command-line switches, each its own flag on the wire.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExecArgs {
    /// The az-os process that started the supervisor; when it is gone, so is the command.
    pub parent: Option<u32>,
    /// Run inside Landlock (else only supervised).
    pub confine: bool,
    /// This process is the confined one, started by the supervisor: restrict, then exec.
    pub inner: bool,
    pub workdir: Option<PathBuf>,
    pub tmp: Option<PathBuf>,
    pub read_only: bool,
    pub no_network: bool,
    pub writable: Vec<PathBuf>,
    /// Places no command may read or write: az-os's home, a config file outside it.
    pub protect: Vec<PathBuf>,
    pub command: Vec<OsString>,
}

impl ExecArgs {
    /// The words after the subcommand.
    pub fn to_args(&self) -> Vec<OsString> {
        let mut out: Vec<OsString> = Vec::new();
        let mut flag = |f: &str| out.push(f.into());
        if self.inner {
            flag("--inner");
        }
        if self.confine {
            flag("--confine");
        }
        if self.read_only {
            flag("--read-only");
        }
        if self.no_network {
            flag("--no-network");
        }
        if let Some(p) = self.parent {
            out.push("--parent".into());
            out.push(p.to_string().into());
        }
        for (name, path) in [("--workdir", &self.workdir), ("--tmp", &self.tmp)] {
            if let Some(p) = path {
                out.push(name.into());
                out.push(p.into());
            }
        }
        for (name, paths) in [("--writable", &self.writable), ("--protect", &self.protect)] {
            for p in paths {
                out.push(name.into());
                out.push(p.into());
            }
        }
        out.push("--".into());
        out.extend(self.command.iter().cloned());
        out
    }

    pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Self, String> {
        let mut out = Self::default();
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            let mut path = || {
                it.next()
                    .map(PathBuf::from)
                    .ok_or_else(|| format!("{} needs a value", a.to_string_lossy()))
            };
            match a.to_str() {
                Some("--inner") => out.inner = true,
                Some("--confine") => out.confine = true,
                Some("--read-only") => out.read_only = true,
                Some("--no-network") => out.no_network = true,
                Some("--parent") => {
                    let p = path()?;
                    out.parent = Some(
                        p.to_str()
                            .and_then(|s| s.parse().ok())
                            .ok_or("--parent needs a process id")?,
                    );
                }
                Some("--workdir") => out.workdir = Some(path()?),
                Some("--tmp") => out.tmp = Some(path()?),
                Some("--writable") => out.writable.push(path()?),
                Some("--protect") => out.protect.push(path()?),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_round_trip() {
        let a = ExecArgs {
            parent: Some(42),
            confine: true,
            inner: false,
            workdir: Some("/w".into()),
            tmp: Some("/t".into()),
            read_only: true,
            no_network: true,
            writable: vec!["/c".into(), "/d".into()],
            protect: vec!["/h/.az-os".into()],
            command: ["sh", "-c", "ls -- -x"].map(OsString::from).to_vec(),
        };
        assert_eq!(ExecArgs::parse(a.to_args()).unwrap(), a);
        let inner = ExecArgs { inner: true, ..a };
        assert_eq!(ExecArgs::parse(inner.to_args()).unwrap(), inner);
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(ExecArgs::parse(["--workdir", "/w"].map(OsString::from)).is_err());
        assert!(ExecArgs::parse(["--bogus", "--", "ls"].map(OsString::from)).is_err());
        assert!(ExecArgs::parse(["--parent", "x", "--", "ls"].map(OsString::from)).is_err());
        assert!(ExecArgs::parse(["--tmp"].map(OsString::from)).is_err());
    }
}
