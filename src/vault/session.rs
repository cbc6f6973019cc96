//! The vault as the rest of the process sees it: opened at most once (one key derivation,
//! at most one prompt), the decrypted entries kept for the process lifetime in
//! [`Zeroizing`] strings, failures kept too so a wrong password is reported once rather
//! than asked again for every model. `config::ModelSpec::api_key` resolves
//! `api_key = "vault:NAME"` through [`key`].
//!
//! It also remembers which environment variables held keys, so [`secrets`] can list
//! every secret value this process knows for a redactor to mask. It does not redact.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

use zeroize::Zeroizing;

use super::{MasterPassword, PASSWORD_ENV, VAULT_FILE, Vault, VaultError};
use crate::config::KeyError;

type Entries = BTreeMap<String, Zeroizing<String>>;

/// Values shorter than this are left out of [`secrets`]: no real API key is that short,
/// and masking every `abc` in a transcript would mangle it.
pub const MIN_SECRET_LEN: usize = 8;

struct State {
    /// The home bound by the front end (`--home`), else `Home::resolve`'s default.
    home: Option<PathBuf>,
    /// Whether an unlock may ask on the terminal (false once a full-screen UI owns it).
    prompt: bool,
    opened: HashMap<PathBuf, Result<Arc<Entries>, VaultError>>,
    key_envs: BTreeSet<String>,
    /// Keys given to this process for an environment variable that is not set (a key
    /// added by the setup dialog to "the environment": held until the process ends).
    env_keys: BTreeMap<String, Zeroizing<String>>,
}

static STATE: LazyLock<Mutex<State>> = LazyLock::new(|| {
    Mutex::new(State {
        home: None,
        prompt: true,
        opened: HashMap::new(),
        key_envs: BTreeSet::new(),
        env_keys: BTreeMap::new(),
    })
});

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Uses the vault of this home from now on (the CLI calls it once it knows `--home`).
pub fn bind_home(root: &Path) {
    state().home = Some(root.to_path_buf());
}

/// Whether unlocking may prompt on the terminal. The front end turns this off before it
/// takes the terminal over (raw mode, alternate screen), having unlocked first.
pub fn set_prompt_allowed(allowed: bool) {
    state().prompt = allowed;
}

pub fn prompt_allowed() -> bool {
    state().prompt
}

fn vault_path(st: &State) -> Result<PathBuf, String> {
    match &st.home {
        Some(h) => Ok(h.join(VAULT_FILE)),
        None => crate::config::Home::resolve(None, None)
            .map(|h| h.root().join(VAULT_FILE))
            .map_err(|e| e.to_string()),
    }
}

fn open_cached<'a>(st: &'a mut State, path: &Path) -> &'a Result<Arc<Entries>, VaultError> {
    let prompt = st.prompt;
    st.opened.entry(path.to_path_buf()).or_insert_with(|| {
        if !path.exists() {
            return Err(VaultError::NotFound(path.to_path_buf()));
        }
        let password = MasterPassword::obtain(path, false, prompt)?;
        Vault::open(path, &password).map(|v| Arc::new(v.into_entries()))
    })
}

/// Opens the process's vault now, if it exists and is not open yet: `Ok(true)` when it is
/// open, `Ok(false)` when there is no vault file, else why it cannot be opened.
pub fn unlock() -> Result<bool, String> {
    let mut st = state();
    let path = vault_path(&st)?;
    match open_cached(&mut st, &path) {
        Ok(_) => Ok(true),
        Err(VaultError::NotFound(_)) => Ok(false),
        Err(e) => Err(e.to_string()),
    }
}

/// Before a full-screen UI takes the terminal over: when one of `models` reads its key
/// from the vault, unlock it now (a prompt needs the ordinary terminal), then forbid
/// prompts for the rest of the process. A wrong password or a damaged vault is an error
/// here, as it is in batch mode.
pub fn unlock_before_fullscreen(models: &[crate::config::ModelSpec]) -> Result<(), String> {
    let wanted = models.iter().any(|m| {
        m.api_key
            .as_deref()
            .is_some_and(|k| k.starts_with("vault:"))
    });
    let result = if wanted { unlock().map(drop) } else { Ok(()) };
    set_prompt_allowed(false);
    result
}

/// The value of vault entry `name`, opening the vault on first use.
pub fn key(name: &str) -> Result<Zeroizing<String>, KeyError> {
    let mut st = state();
    let fail = |file: PathBuf, reason: String, fix: String| KeyError::Vault {
        name: name.to_owned(),
        file,
        reason,
        fix,
    };
    let path = vault_path(&st).map_err(|e| {
        fail(
            VAULT_FILE.into(),
            e,
            "set AZ_OS_HOME or pass --home DIR".into(),
        )
    })?;
    match open_cached(&mut st, &path) {
        Ok(entries) => entries.get(name).cloned().ok_or_else(|| {
            fail(
                path.clone(),
                format!("the vault has no entry {name}"),
                format!(
                    "store it with `az-os keys set {name}` (`az-os keys list` shows the names)"
                ),
            )
        }),
        Err(e) => Err(fail(path.clone(), e.short(), e.fix(name))),
    }
}

/// Holds `key` for environment variable `var` for the rest of this process (it cannot be
/// set in the process's own environment safely once threads run): a model that reads
/// its key from `var` finds it (`env_key`), a redactor masks it, commands never see it.
pub fn remember_env_key(var: &str, key: Zeroizing<String>) {
    let mut st = state();
    st.key_envs.insert(var.to_owned());
    st.env_keys.insert(var.to_owned(), key);
}

/// The key of environment variable `var`: the environment's, else one given to this
/// process with [`remember_env_key`].
pub fn env_key(var: &str) -> Option<Zeroizing<String>> {
    match std::env::var(var) {
        Ok(k) if !k.trim().is_empty() => Some(Zeroizing::new(k.trim().to_owned())),
        _ => state().env_keys.get(var).cloned(),
    }
}

/// What this process just wrote to the vault at `path` (its whole content, decrypted):
/// later reads use it without opening the file, or asking for the password, again.
pub fn remember(path: &Path, entries: Entries) {
    state()
        .opened
        .insert(path.to_path_buf(), Ok(Arc::new(entries)));
}

/// Records that environment variable `name` holds a key (called whenever a model's key
/// is read from the environment), for [`secrets`].
pub fn note_key_env(name: &str) {
    let mut st = state();
    if !st.key_envs.contains(name) {
        st.key_envs.insert(name.to_owned());
    }
}

/// The environment variables that hold secrets: those models read their keys from (so
/// far in this process), the catalogue's usual key variables, and `AZ_OS_MASTER_PASSWORD`.
/// A command runner should remove them from a child's environment.
pub fn secret_env_vars() -> Vec<String> {
    let mut envs = state().key_envs.clone();
    envs.extend(
        crate::config::builtin_models()
            .into_iter()
            .filter_map(|m| m.api_key_env),
    );
    envs.insert(PASSWORD_ENV.to_owned());
    envs.into_iter().collect()
}

/// Whether an environment variable must be kept from commands: one of
/// [`secret_env_vars`], a name that says it holds a credential (`*KEY*`, `*TOKEN*`,
/// `*SECRET*`, `*PASSWORD*`, `*PASSWD*`, `*CREDENTIAL*`, any case, as Codex's default
/// filter does), or a value that holds a secret this process knows. `pass` lists names
/// the user lets through (`[sandbox] pass_env`); az-os's own keys are never among them.
pub fn is_secret_env(
    name: &str,
    value: &std::ffi::OsStr,
    known_vars: &[String],
    known_values: &[Zeroizing<String>],
    pass: &[String],
) -> bool {
    if known_vars.iter().any(|v| v == name) {
        return true;
    }
    let upper = name.to_ascii_uppercase();
    let looks = ["KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL"]
        .iter()
        .any(|w| upper.contains(w));
    if looks && !pass.iter().any(|p| p == name) {
        return true;
    }
    let value = value.to_string_lossy();
    known_values.iter().any(|s| value.contains(s.as_str()))
}

/// Every secret value this process knows, longest first, for a redactor to mask before
/// anything is written or shown: the vault entries loaded so far, and the values of
/// [`secret_env_vars`] (model keys from the environment, the master password when it
/// came from there). Values shorter than [`MIN_SECRET_LEN`] are left out.
pub fn secrets() -> Vec<Zeroizing<String>> {
    let mut out: Vec<Zeroizing<String>> = state()
        .opened
        .values()
        .filter_map(|r| r.as_ref().ok())
        .flat_map(|entries| entries.values().cloned())
        .collect();
    out.extend(state().env_keys.values().cloned());
    let envs = secret_env_vars();
    for var in envs {
        if let Ok(v) = std::env::var(&var) {
            out.push(Zeroizing::new(v));
        }
    }
    let mut out: Vec<Zeroizing<String>> = out
        .into_iter()
        .map(|v| {
            if v.trim().len() == v.len() {
                v
            } else {
                Zeroizing::new(v.trim().to_owned())
            }
        })
        .filter(|v| v.len() >= MIN_SECRET_LEN)
        .collect();
    out.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    out.dedup();
    out
}

impl VaultError {
    /// What went wrong, in a few words, for a message that names the file elsewhere.
    pub fn short(&self) -> String {
        match self {
            Self::NotFound(_) => "there is no key vault yet".into(),
            Self::Unlock { .. } => "wrong master password, or the vault file was modified".into(),
            Self::NoPassword { .. } => format!(
                "the vault is locked: {PASSWORD_ENV} is not set and there is no terminal to ask on"
            ),
            Self::Downgraded { iterations, .. } => format!(
                "the file asks for {iterations} PBKDF2 iterations, below the floor of {}: \
                 it was modified",
                super::MIN_ITERATIONS
            ),
            Self::Malformed { detail, .. } => {
                format!("the file is damaged or truncated ({detail})")
            }
            Self::Unsupported { detail, .. } => format!("written by a newer az-os ({detail})"),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_lists_loaded_vault_values_longest_first_without_short_ones() {
        let entries: Entries = [
            ("a", "sk-short-but-long-enough"),
            ("b", "sk-the-longest-value-of-them-all"),
            ("c", "abc"),
            ("d", "sk-short-but-long-enough"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Zeroizing::new(v.to_owned())))
        .collect();
        state().opened.insert(
            PathBuf::from("/test/secrets/vault.json"),
            Ok(Arc::new(entries)),
        );
        let got = secrets();
        let pos = |s: &str| got.iter().position(|v| v.as_str() == s);
        let (long, short) = (
            pos("sk-the-longest-value-of-them-all"),
            pos("sk-short-but-long-enough"),
        );
        assert!(long.is_some() && short.is_some() && long < short, "order");
        assert_eq!(pos("abc"), None, "values under MIN_SECRET_LEN are left out");
        let dupes = got
            .iter()
            .filter(|v| v.as_str() == "sk-short-but-long-enough")
            .count();
        assert_eq!(dupes, 1);
        assert!(got.windows(2).all(|w| w[0].len() >= w[1].len()));
    }

    #[test]
    fn secret_env_vars_cover_the_master_password_and_keys_in_use() {
        note_key_env("AZ_OS_SESSION_TEST_KEY");
        let vars = secret_env_vars();
        for want in [PASSWORD_ENV, "AZ_OS_SESSION_TEST_KEY", "OPENROUTER_API_KEY"] {
            assert!(
                vars.iter().any(|v| v == want),
                "{want} missing from {vars:?}"
            );
        }
    }

    #[test]
    fn secret_variables_are_known_by_name_shape_and_value() {
        let known = vec!["MY_MODEL_VAR".to_owned()];
        let values = vec![Zeroizing::new("zq9PlainSecretValue7781".to_owned())];
        let secret = |name: &str, value: &str, pass: &[String]| {
            is_secret_env(name, value.as_ref(), &known, &values, pass)
        };
        assert!(secret("MY_MODEL_VAR", "x", &[]));
        for name in [
            "GITHUB_TOKEN",
            "aws_secret_access_key",
            "OTHER_SECRET_KEY",
            "DB_PASSWORD",
            "GOOGLE_APPLICATION_CREDENTIALS",
        ] {
            assert!(secret(name, "x", &[]), "{name}");
        }
        assert!(secret("INNOCENT", "prefix-zq9PlainSecretValue7781", &[]));
        assert!(!secret("PATH", "/usr/bin", &[]));
        assert!(
            !secret("GITHUB_TOKEN", "x", &["GITHUB_TOKEN".to_owned()]),
            "passed by the user"
        );
        assert!(
            secret("MY_MODEL_VAR", "x", &["MY_MODEL_VAR".to_owned()]),
            "az-os's own keys are never passed"
        );
    }

    #[test]
    fn a_missing_entry_names_the_file_and_the_fix() {
        let dir = std::env::temp_dir().join("az-os-session-test-missing");
        let path = dir.join(VAULT_FILE);
        let mut st = state();
        st.opened.insert(path.clone(), Ok(Arc::new(Entries::new())));
        let prior = st.home.replace(dir);
        drop(st);
        let err = key("nope");
        state().home = prior;
        let Err(KeyError::Vault {
            file, reason, fix, ..
        }) = err
        else {
            panic!("expected a vault error, got {err:?}");
        };
        assert_eq!(file, path);
        assert!(reason.contains("no entry nope"), "{reason}");
        assert!(fix.contains("az-os keys set nope"), "{fix}");
    }
}
