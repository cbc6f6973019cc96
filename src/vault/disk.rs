//! Putting the vault on disk safely: a private temp file in the same directory, fsync,
//! rename over the old file, fsync the directory. A crash leaves the old vault or the
//! new one, never half of one, and the file is never readable by others, not even for
//! an instant. [`WriteLock`] serialises writers across processes.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use ring::rand::{SecureRandom, SystemRandom};

use super::VaultError;

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> VaultError {
    let path = path.to_path_buf();
    move |source| VaultError::Io { what, path, source }
}

/// Replaces `path` with `bytes`, mode 0600, atomically.
pub(super) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tag = [0u8; 8];
    SystemRandom::new()
        .fill(&mut tag)
        .map_err(|_| VaultError::Random)?;
    let name = path
        .file_name()
        .map_or_else(|| "vault.json".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(
        ".{name}.{}.{:016x}.tmp",
        std::process::id(),
        u64::from_ne_bytes(tag)
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("create", &tmp))?;
        // The umask can only remove bits, but be explicit: private, whatever it is.
        f.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io("set permissions of", &tmp))?;
        f.write_all(bytes).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("sync", &tmp))?;
        fs::rename(&tmp, path).map_err(io("replace", path))?;
        // The rename itself is durable only once the directory is synced.
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io("sync", &dir))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// An exclusive lock on `<vault>.lock`, held while a command reads, changes and writes
/// the vault; released on drop.
#[derive(Debug)]
pub struct WriteLock {
    _lock: Flock<File>,
}

impl WriteLock {
    pub(super) fn acquire(vault: &Path, wait: bool) -> Result<Self, VaultError> {
        let mut name = vault.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io("create", &path))?;
        let how = if wait {
            FlockArg::LockExclusive
        } else {
            FlockArg::LockExclusiveNonblock
        };
        let lock = Flock::lock(file, how).map_err(|(_, errno)| {
            if errno == nix::errno::Errno::EWOULDBLOCK {
                VaultError::Busy(vault.to_path_buf())
            } else {
                VaultError::Io {
                    what: "lock",
                    path: path.clone(),
                    source: errno.into(),
                }
            }
        })?;
        Ok(Self { _lock: lock })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_private_and_replace_the_file_leaving_no_temp_behind() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("vault.json");
        fs::write(&p, "old")?;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644))?;
        write_private(&p, b"new").map_err(std::io::Error::other)?;
        assert_eq!(fs::read_to_string(&p)?, "new");
        assert_eq!(fs::metadata(&p)?.permissions().mode() & 0o777, 0o600);
        let names: Vec<_> = fs::read_dir(dir.path())?
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("vault.json")]);
        Ok(())
    }

    #[test]
    fn a_failed_write_leaves_the_old_file() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        // Renaming a file over a non-empty directory fails after the temp file is written.
        let p = dir.path().join("vault.json");
        fs::create_dir(&p)?;
        fs::write(p.join("keep"), "x")?;
        assert!(write_private(&p, b"new").is_err());
        assert!(p.join("keep").exists());
        assert_eq!(
            fs::read_dir(dir.path())?.count(),
            1,
            "temp file left behind"
        );
        Ok(())
    }
}
