//! The home directory (`$AZ_OS_HOME`, `--home`, default `~/.az-os`) and the paths
//! inside it. Created on first use with mode 0700 since it holds keys and logs.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Paths of everything az-os keeps on disk.
#[derive(Clone, Debug)]
pub struct Home {
    root: PathBuf,
    config_file: PathBuf,
}

impl Home {
    /// Resolves the home from `--home`, then `AZ_OS_HOME`, then `~/.az-os`; the
    /// config file from `--config`, else `config.toml` inside the home.
    pub fn resolve(home_flag: Option<&Path>, config_flag: Option<&Path>) -> io::Result<Self> {
        let env_home = std::env::var_os("AZ_OS_HOME").filter(|v| !v.is_empty());
        let root = if let Some(p) = home_flag {
            p.to_path_buf()
        } else if let Some(p) = env_home {
            PathBuf::from(p)
        } else {
            let user_home = std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        "HOME is not set; set AZ_OS_HOME or pass --home DIR",
                    )
                })?;
            PathBuf::from(user_home).join(".az-os")
        };
        let root = absolute(&root)?;
        let config_file = match config_flag {
            Some(p) => absolute(p)?,
            None => root.join("config.toml"),
        };
        Ok(Self { root, config_file })
    }

    /// Creates the home (0700) and its `logs/` and `checkpoints/` folders if missing.
    pub fn ensure(&self) -> io::Result<()> {
        if !self.root.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.root)?;
            fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700))?;
        }
        for sub in ["logs", "checkpoints"] {
            let p = self.root.join(sub);
            if !p.exists() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(p)?;
            }
        }
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config_file(&self) -> &Path {
        &self.config_file
    }

    pub fn database(&self) -> PathBuf {
        self.root.join("az-os.db")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    pub fn checkpoints_dir(&self) -> PathBuf {
        self.root.join("checkpoints")
    }
}

fn absolute(p: &Path) -> io::Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_wins_and_home_is_created_private() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let root = dir.path().join("h");
        let home = Home::resolve(Some(&root), None)?;
        home.ensure()?;
        assert_eq!(home.config_file(), root.join("config.toml"));
        let mode = fs::metadata(&root)?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert!(root.join("logs").is_dir());
        Ok(())
    }
}
