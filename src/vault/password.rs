//! Where secrets come from: the master password from `AZ_OS_MASTER_PASSWORD` or a hidden
//! prompt on the terminal (twice when it creates a vault), and a key's value for
//! `az-os keys set` from a hidden prompt or, for scripts, the first line of stdin.
//!
//! Nothing here is echoed or logged. A prompt needs stdin to be a terminal: a piped or
//! detached process never waits on `/dev/tty`; it fails with a message naming
//! `AZ_OS_MASTER_PASSWORD` instead.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use zeroize::Zeroizing;

use super::VaultError;

/// The environment variable that holds the master password for unattended runs.
pub const PASSWORD_ENV: &str = "AZ_OS_MASTER_PASSWORD";

/// The master password; wiped from memory when dropped and never shown by `Debug`.
pub struct MasterPassword(Zeroizing<String>);

impl std::fmt::Debug for MasterPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterPassword(<hidden>)")
    }
}

impl MasterPassword {
    /// Refuses an empty password.
    pub fn new(password: Zeroizing<String>) -> Result<Self, VaultError> {
        if password.is_empty() {
            return Err(VaultError::EmptyPassword);
        }
        Ok(Self(password))
    }

    pub(super) fn expose(&self) -> &str {
        &self.0
    }

    /// From `AZ_OS_MASTER_PASSWORD`, when it is set and not empty.
    pub fn from_env() -> Option<Self> {
        let v = Zeroizing::new(std::env::var(PASSWORD_ENV).ok()?);
        Self::new(v).ok()
    }

    /// The password for the vault at `path`: the environment first, else a prompt when
    /// `may_prompt` and stdin is a terminal (asked twice when `creating`), else
    /// [`VaultError::NoPassword`].
    pub fn obtain(path: &Path, creating: bool, may_prompt: bool) -> Result<Self, VaultError> {
        if let Some(p) = Self::from_env() {
            return Ok(p);
        }
        if !(may_prompt && std::io::stdin().is_terminal()) {
            return Err(VaultError::NoPassword {
                path: path.to_path_buf(),
            });
        }
        let io = |source| VaultError::Io {
            what: "read the master password for",
            path: path.to_path_buf(),
            source,
        };
        if creating {
            let first = Self::new(Zeroizing::new(
                rpassword::prompt_password(format!(
                    "az-os: new master password for {} (input hidden): ",
                    path.display()
                ))
                .map_err(io)?,
            ))?;
            let again = Zeroizing::new(
                rpassword::prompt_password("az-os: the same password again: ").map_err(io)?,
            );
            if *first.0 != *again {
                return Err(VaultError::PasswordMismatch);
            }
            Ok(first)
        } else {
            Self::new(Zeroizing::new(
                rpassword::prompt_password(format!(
                    "az-os: master password for {} (input hidden): ",
                    path.display()
                ))
                .map_err(io)?,
            ))
        }
    }
}

/// The value to store under `name`: a hidden prompt on a terminal, else the first line
/// of stdin (so `pass show openrouter | az-os keys set openrouter` works). Surrounding
/// whitespace is dropped; an empty value is refused.
pub fn read_value(name: &str) -> Result<Zeroizing<String>, VaultError> {
    let stdin = std::io::stdin();
    let value = if stdin.is_terminal() {
        Zeroizing::new(
            rpassword::prompt_password(format!("az-os: key for {name} (input hidden): ")).map_err(
                |source| VaultError::Io {
                    what: "read the key from",
                    path: "the terminal".into(),
                    source,
                },
            )?,
        )
    } else {
        first_line(&mut stdin.lock()).map_err(|source| VaultError::Io {
            what: "read the key from",
            path: "standard input".into(),
            source,
        })?
    };
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(VaultError::EmptyValue {
            name: name.to_owned(),
            why: if stdin.is_terminal() {
                "nothing was typed"
            } else {
                "standard input is empty; pipe the key in, e.g. `printf %s \"$KEY\" | az-os keys set NAME`"
            },
        });
    }
    Ok(if trimmed.len() == value.len() {
        value
    } else {
        Zeroizing::new(trimmed.to_owned())
    })
}

/// The first line of `r`, without its line ending, read into a buffer big enough that it
/// never reallocates (which would leave unwiped copies) for any real key.
fn first_line(r: &mut impl BufRead) -> std::io::Result<Zeroizing<String>> {
    let mut line = Zeroizing::new(String::with_capacity(8192));
    r.read_line(&mut line)?;
    let end = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(end);
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_stops_at_the_line_end() -> std::io::Result<()> {
        let mut r = std::io::Cursor::new(b"sk-abc\r\nsecond line\n".to_vec());
        assert_eq!(first_line(&mut r)?.as_str(), "sk-abc");
        let mut empty = std::io::Cursor::new(Vec::new());
        assert_eq!(first_line(&mut empty)?.as_str(), "");
        Ok(())
    }

    #[test]
    fn empty_passwords_are_refused_and_debug_hides_the_value() {
        assert!(matches!(
            MasterPassword::new(Zeroizing::new(String::new())),
            Err(VaultError::EmptyPassword)
        ));
        let p = MasterPassword::new(Zeroizing::new("hunter2".into()));
        assert!(p.is_ok_and(|p| !format!("{p:?}").contains("hunter2")));
    }
}
