//! The encrypted key vault: `vault.json` in the home holds API keys sealed with a key
//! derived from the user's master password, so `api_key = "vault:NAME"` works over SSH
//! and in batch mode with no OS keyring.
//!
//! The layers, each in its own file:
//! - `sealed.rs`: the file format and the cryptography (PBKDF2-HMAC-SHA256, AES-256-GCM
//!   over the whole map of entries, the header as associated data), nothing else;
//! - `disk.rs`: private (0600), atomic writes and the lock that serialises writers;
//! - `password.rs`: where the master password comes from (`AZ_OS_MASTER_PASSWORD` or a
//!   hidden prompt) and reading a key's value for `az-os keys set`;
//! - `session.rs`: the process-wide cache that `config::ModelSpec::api_key` reads through,
//!   [`secrets`], the values a redactor must mask, and [`secret_env_vars`], the variables a
//!   command runner should keep from child processes.
//!
//! This module owns the vault's contents in memory ([`Vault`]); it does not parse
//! `config.toml`, print anything or decide exit codes (that is `cli::keys_cmd`).
//! Every secret it holds is wrapped in [`Zeroizing`] and wiped when dropped.

mod disk;
mod password;
mod sealed;
mod session;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

pub use disk::WriteLock;
pub use password::{MasterPassword, PASSWORD_ENV, read_value};
pub use sealed::{DEFAULT_ITERATIONS, MAX_ITERATIONS, MIN_ITERATIONS};
pub use session::{
    MIN_SECRET_LEN, bind_home, env_key, is_secret_env, key, note_key_env, prompt_allowed, remember,
    remember_env_key, secret_env_vars, secrets, set_prompt_allowed, unlock,
    unlock_before_fullscreen,
};

/// The vault's file name inside the home.
pub const VAULT_FILE: &str = "vault.json";

/// Longest entry name.
pub const MAX_NAME_LEN: usize = 64;

/// The vault file inside `home`.
pub fn path_in(home: &Path) -> PathBuf {
    home.join(VAULT_FILE)
}

/// Why the vault could not be opened, read or written. Every message names the file
/// and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("there is no key vault at {}; store a key with `az-os keys set NAME`", .0.display())]
    NotFound(PathBuf),
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} is damaged or truncated ({detail}); restore it from a backup, or move it away \
         and store your keys again with `az-os keys set NAME`",
        path.display()
    )]
    Malformed { path: PathBuf, detail: String },
    #[error(
        "{} was written by a newer az-os ({detail}); upgrade az-os to read it",
        path.display()
    )]
    Unsupported { path: PathBuf, detail: String },
    #[error(
        "{} asks for {iterations} PBKDF2 iterations, below the floor of {MIN_ITERATIONS}: \
         the vault file was modified; restore it from a backup",
        path.display()
    )]
    Downgraded { path: PathBuf, iterations: u64 },
    #[error(
        "wrong master password, or the vault file was modified ({}); check \
         {PASSWORD_ENV} or retype the password; if the file was changed, restore it from a backup",
        path.display()
    )]
    Unlock { path: PathBuf },
    #[error(
        "the key vault {} is locked and there is no master password: set {PASSWORD_ENV} \
         (e.g. `read -rs {PASSWORD_ENV}; export {PASSWORD_ENV}`) or run on a terminal to be asked",
        path.display()
    )]
    NoPassword { path: PathBuf },
    #[error(
        "the vault {} is being changed by another az-os (`keys set`, `setup`); finish that one, then try again",
        .0.display()
    )]
    Busy(PathBuf),
    #[error("the master password is empty; choose a non-empty one")]
    EmptyPassword,
    #[error("the two passwords differ; nothing was written")]
    PasswordMismatch,
    #[error(
        "{name:?} is not a valid key name: use 1 to {MAX_NAME_LEN} letters, digits, `_`, `.` or `-`"
    )]
    BadName { name: String },
    #[error("no key was given for {name}: {why}")]
    EmptyValue { name: String, why: &'static str },
    #[error("the system random number generator failed")]
    Random,
}

impl VaultError {
    /// The fix to show next to a config key that names a vault entry.
    pub fn fix(&self, name: &str) -> String {
        match self {
            Self::NotFound(_) => format!("store the key with `az-os keys set {name}`"),
            Self::NoPassword { .. } => {
                format!("export {PASSWORD_ENV}=<master password>, or run az-os on a terminal")
            }
            Self::Unlock { .. } => format!(
                "check {PASSWORD_ENV}; if the file was changed, restore it from a backup \
                 or move it away and run `az-os keys set {name}` again"
            ),
            Self::Io { .. } => "check the home directory's permissions".into(),
            _ => format!(
                "restore vault.json from a backup, or move it away and run `az-os keys set {name}`"
            ),
        }
    }
}

/// Whether `name` may name an entry: `[A-Za-z0-9_.-]{1,64}`.
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Checks an entry name, for clap and for [`Vault::set`].
pub fn check_name(name: &str) -> Result<String, VaultError> {
    if valid_name(name) {
        Ok(name.to_owned())
    } else {
        Err(VaultError::BadName {
            name: name.to_owned(),
        })
    }
}

/// The decrypted entries of one vault file.
pub struct Vault {
    path: PathBuf,
    iterations: u32,
    entries: BTreeMap<String, Zeroizing<String>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("path", &self.path)
            .field("iterations", &self.iterations)
            .field("names", &self.entries.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Vault {
    /// An empty vault that [`Vault::save`] will create at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            iterations: DEFAULT_ITERATIONS,
            entries: BTreeMap::new(),
        }
    }

    /// Reads and decrypts the vault at `path`. Costs one key derivation (about half a
    /// second at 600,000 iterations: that is the point of it).
    pub fn open(path: impl Into<PathBuf>, password: &MasterPassword) -> Result<Self, VaultError> {
        let path = path.into();
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(VaultError::NotFound(path));
            }
            Err(source) => {
                return Err(VaultError::Io {
                    what: "read",
                    path,
                    source,
                });
            }
        };
        let (iterations, entries) = sealed::open(&path, &text, password)?;
        Ok(Self {
            path,
            iterations,
            entries,
        })
    }

    /// Encrypts every entry under a fresh salt and nonce and replaces the file
    /// atomically (0600). Costs one key derivation.
    pub fn save(&self, password: &MasterPassword) -> Result<(), VaultError> {
        let bytes = sealed::seal(&self.entries, self.iterations.max(MIN_ITERATIONS), password)?;
        disk::write_private(&self.path, &bytes)
    }

    /// Takes the lock that serialises read-modify-write cycles on this vault (held until
    /// the guard drops), so two `az-os keys set` at once cannot lose an entry.
    pub fn lock(path: &Path) -> Result<WriteLock, VaultError> {
        disk::WriteLock::acquire(path, true)
    }

    /// [`Vault::lock`] without waiting: [`VaultError::Busy`] when another process holds it.
    pub fn try_lock(path: &Path) -> Result<WriteLock, VaultError> {
        disk::WriteLock::acquire(path, false)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The PBKDF2 iteration count the file was (or will be) written with.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    pub fn get(&self, name: &str) -> Option<&Zeroizing<String>> {
        self.entries.get(name)
    }

    /// Entry names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds or replaces an entry; `Ok(true)` when it replaced one.
    pub fn set(&mut self, name: &str, value: Zeroizing<String>) -> Result<bool, VaultError> {
        let name = check_name(name)?;
        if value.trim().is_empty() {
            return Err(VaultError::EmptyValue {
                name,
                why: "the value is empty",
            });
        }
        Ok(self.entries.insert(name, value).is_some())
    }

    /// Removes an entry; `false` when there was none.
    pub fn remove(&mut self, name: &str) -> bool {
        self.entries.remove(name).is_some()
    }

    /// The decrypted entries, for the process cache.
    pub(crate) fn into_entries(self) -> BTreeMap<String, Zeroizing<String>> {
        self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_pattern() {
        for ok in ["openrouter", "OPENAI_KEY", "a", "x.y-z_1", &"k".repeat(64)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "a b", "a/b", "ключ", "a:b", "$X", &"k".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn empty_values_and_bad_names_are_refused() {
        let mut v = Vault::new("/nonexistent/vault.json");
        assert!(matches!(
            v.set("a b", Zeroizing::new("k".into())),
            Err(VaultError::BadName { .. })
        ));
        assert!(matches!(
            v.set("a", Zeroizing::new("  ".into())),
            Err(VaultError::EmptyValue { .. })
        ));
        assert_eq!(v.set("a", Zeroizing::new("k1".into())).ok(), Some(false));
        assert_eq!(v.set("a", Zeroizing::new("k2".into())).ok(), Some(true));
        assert_eq!(v.get("a").map(|s| s.as_str()), Some("k2"));
        assert!(v.remove("a"));
        assert!(!v.remove("a"));
        assert!(v.is_empty());
    }

    #[test]
    fn debug_never_shows_values() {
        let mut v = Vault::new("/x/vault.json");
        v.set("n", Zeroizing::new("sk-very-secret".into())).ok();
        let shown = format!("{v:?}");
        assert!(
            shown.contains("\"n\"") && !shown.contains("sk-very-secret"),
            "{shown}"
        );
    }
}
