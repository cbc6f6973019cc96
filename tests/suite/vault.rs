//! The key vault: `az-os keys` through the built binary, the file format and its tamper
//! detection through the library, and `api_key = "vault:NAME"` driving a batch run
//! against the fake provider with the key found nowhere afterwards.
//!
//! Every unlock costs one PBKDF2 at the real 600,000 iterations (no test-only shortcut
//! exists), so these tests keep the number of unlocks small.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use assert_cmd::Command;
use az_os::vault::{MIN_ITERATIONS, MasterPassword, Vault, VaultError};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::common::TestEnv;
use crate::common::fake_provider::{FakeProvider, Reply};

const PASSWORD: &str = "correct horse battery staple";
const KEY_A: &str = "sk-or-v1-vault-test-key-aaaaaaaaaaaaaaaaaaaa";
const KEY_B: &str = "sk-vault-test-key-bbbbbbbbbbbbbbbbbbbbbbbbbb";

/// The binary with the master password in the environment (or none).
fn keys(env: &TestEnv, password: Option<&str>) -> Command {
    let mut c = env.cmd();
    match password {
        Some(p) => c.env("AZ_OS_MASTER_PASSWORD", p),
        None => c.env_remove("AZ_OS_MASTER_PASSWORD"),
    };
    c
}

fn set(env: &TestEnv, name: &str, value: &str) {
    let out = keys(env, Some(PASSWORD))
        .args(["keys", "set", name])
        .write_stdin(format!("{value}\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_written_safely(&env.home().join("vault.json"), &[value]);
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn password(p: &str) -> MasterPassword {
    MasterPassword::new(Zeroizing::new(p.to_owned())).unwrap()
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Mode 0600, valid JSON with the documented fields, and no value in it in clear.
fn assert_written_safely(path: &Path, values: &[&str]) {
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode of {}", path.display());
    let bytes = std::fs::read(path).unwrap();
    for v in values {
        assert!(!contains(&bytes, v), "{v} in clear in vault.json");
    }
    let file: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(file["version"], 1);
    assert_eq!(file["kdf"], "pbkdf2-sha256");
    assert!(file["iterations"].as_u64().unwrap() >= 600_000);
    for k in ["salt", "nonce", "ciphertext"] {
        assert!(file[k].is_string(), "{k}");
    }
}

#[test]
fn keys_round_trip_set_list_get_remove() {
    let env = TestEnv::new();
    // Nothing stored yet: list is empty, not an error, and asks for no password.
    let out = keys(&env, None)
        .args(["--json", "keys", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["names"], serde_json::json!([]));

    set(&env, "openrouter", KEY_A);
    set(&env, "backup.key-2", KEY_B);
    // `keys` alone lists the names, values never.
    let out = keys(&env, Some(PASSWORD)).arg("keys").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "backup.key-2\nopenrouter\n"
    );
    assert!(!contains(&out.stdout, KEY_A) && !contains(&out.stderr, KEY_A));

    let path = env.home().join("vault.json");
    let vault = Vault::open(&path, &password(PASSWORD)).unwrap();
    assert_eq!(vault.get("openrouter").map(|v| v.as_str()), Some(KEY_A));
    assert_eq!(vault.get("backup.key-2").map(|v| v.as_str()), Some(KEY_B));
    assert_eq!(vault.iterations(), MIN_ITERATIONS);

    let out = keys(&env, Some(PASSWORD))
        .args(["keys", "remove", "backup.key-2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_written_safely(&path, &[KEY_A, KEY_B]);
    let out = keys(&env, Some(PASSWORD))
        .args(["--json", "keys", "list"])
        .output()
        .unwrap();
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["names"], serde_json::json!(["openrouter"]));

    // Removing what is not there, and bad names, are usage errors.
    let out = keys(&env, Some(PASSWORD))
        .args(["keys", "remove", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no key nope"), "{}", stderr(&out));
    let out = keys(&env, Some(PASSWORD))
        .args(["keys", "set", "has space"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a valid key name"));
}

#[test]
fn wrong_master_password_is_exit_2_with_a_clear_message() {
    let env = TestEnv::new();
    set(&env, "openrouter", KEY_A);
    let before = std::fs::read(env.home().join("vault.json")).unwrap();
    for args in [&["keys", "list"][..], &["keys", "set", "other"][..]] {
        let out = keys(&env, Some("not the password"))
            .args(args)
            .write_stdin("sk-other-key-value\n")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains("wrong master password, or the vault file was modified")
                && err.contains("AZ_OS_MASTER_PASSWORD"),
            "{err}"
        );
    }
    // A failed unlock never rewrites the file.
    assert_eq!(
        std::fs::read(env.home().join("vault.json")).unwrap(),
        before
    );
}

#[test]
fn without_a_terminal_or_the_variable_the_error_names_az_os_master_password() {
    let env = TestEnv::new();
    let out = keys(&env, None)
        .args(["keys", "set", "openrouter"])
        .write_stdin(format!("{KEY_A}\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("set AZ_OS_MASTER_PASSWORD"),
        "{}",
        stderr(&out)
    );
    assert!(!env.home().join("vault.json").exists());
    // An empty key on stdin is refused before anything is written.
    let out = keys(&env, Some(PASSWORD))
        .args(["keys", "set", "openrouter"])
        .write_stdin("\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("standard input is empty"),
        "{}",
        stderr(&out)
    );
    assert!(!env.home().join("vault.json").exists());
}

/// A saved vault with one entry, its path and its JSON.
fn saved_vault(dir: &Path) -> (std::path::PathBuf, Value) {
    let path = dir.join("vault.json");
    let mut v = Vault::new(&path);
    v.set("openrouter", Zeroizing::new(KEY_A.into())).unwrap();
    v.save(&password(PASSWORD)).unwrap();
    assert_written_safely(&path, &[KEY_A]);
    let json = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    (path, json)
}

fn flip_b64(s: &str, at: usize) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut bytes = b64.decode(s).unwrap();
    bytes[at] ^= 0x01;
    b64.encode(bytes)
}

#[test]
fn any_edit_of_the_file_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let (path, good) = saved_vault(dir.path());
    let pw = password(PASSWORD);
    let mut cases: Vec<(&str, Value)> = Vec::new();
    let mut edit = |what: &'static str, f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        cases.push((what, v));
    };
    edit("ciphertext byte", &|v| {
        v["ciphertext"] = flip_b64(v["ciphertext"].as_str().unwrap(), 3).into();
    });
    edit("tag byte", &|v| {
        let len = v["ciphertext"].as_str().unwrap().len() * 3 / 4 - 3;
        v["ciphertext"] = flip_b64(v["ciphertext"].as_str().unwrap(), len).into();
    });
    edit("salt", &|v| {
        v["salt"] = flip_b64(v["salt"].as_str().unwrap(), 0).into();
    });
    edit("nonce", &|v| {
        v["nonce"] = flip_b64(v["nonce"].as_str().unwrap(), 11).into();
    });
    edit("iterations raised", &|v| {
        v["iterations"] = 600_001.into();
    });
    for (what, edited) in cases {
        std::fs::write(&path, serde_json::to_vec(&edited).unwrap()).unwrap();
        let err = Vault::open(&path, &pw).unwrap_err();
        assert!(matches!(err, VaultError::Unlock { .. }), "{what}: {err:?}");
        assert!(
            err.to_string()
                .contains("wrong master password, or the vault file was modified"),
            "{what}: {err}"
        );
    }
    // Truncation and a foreign version are reported as what they are.
    let text = serde_json::to_string(&good).unwrap();
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    assert!(matches!(
        Vault::open(&path, &pw),
        Err(VaultError::Malformed { .. })
    ));
    let mut newer = good.clone();
    newer["version"] = 2.into();
    std::fs::write(&path, serde_json::to_vec(&newer).unwrap()).unwrap();
    assert!(matches!(
        Vault::open(&path, &pw),
        Err(VaultError::Unsupported { .. })
    ));
    // The untouched file still opens: the failures above were the edits.
    std::fs::write(&path, serde_json::to_vec(&good).unwrap()).unwrap();
    let v = Vault::open(&path, &pw).unwrap();
    assert_eq!(v.get("openrouter").map(|s| s.as_str()), Some(KEY_A));
}

#[test]
fn iteration_floor_is_enforced_and_a_tampered_file_is_exit_2() {
    let env = TestEnv::new();
    let (path, good) = saved_vault(env.home());
    let mut weak = good.clone();
    weak["iterations"] = (u64::from(MIN_ITERATIONS) - 1).into();
    std::fs::write(&path, serde_json::to_vec(&weak).unwrap()).unwrap();
    let err = Vault::open(&path, &password(PASSWORD)).unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::Downgraded {
                iterations: 599_999,
                ..
            }
        ),
        "{err:?}"
    );
    let out = keys(&env, Some(PASSWORD))
        .args(["keys", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("below the floor of 600000"),
        "{}",
        stderr(&out)
    );
    // A flipped ciphertext byte through the binary: same exit code, the AEAD message.
    let mut flipped = good;
    flipped["ciphertext"] = flip_b64(flipped["ciphertext"].as_str().unwrap(), 0).into();
    std::fs::write(&path, serde_json::to_vec(&flipped).unwrap()).unwrap();
    let out = keys(&env, Some(PASSWORD))
        .args(["keys", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("the vault file was modified"));
}

#[test]
fn every_write_uses_a_fresh_salt_and_nonce() {
    let dir = tempfile::tempdir().unwrap();
    let (path, first) = saved_vault(dir.path());
    let v = Vault::open(&path, &password(PASSWORD)).unwrap();
    v.save(&password(PASSWORD)).unwrap();
    assert_written_safely(&path, &[KEY_A]);
    let second: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for k in ["salt", "nonce", "ciphertext"] {
        assert_ne!(first[k], second[k], "{k} reused");
    }
}

fn vault_config(env: &TestEnv, base_url: &str, entry: &str) {
    let text = format!(
        "[[models]]\nname = \"fake\"\nprovider = \"openai\"\nmodel = \"fake-model\"\n\
         base_url = \"{base_url}\"\napi_key = \"vault:{entry}\"\ntier = \"complex\"\n"
    );
    std::fs::write(env.home().join("config.toml"), text).unwrap();
}

#[test]
fn vault_key_drives_a_batch_run_and_leaks_nowhere() {
    let env = TestEnv::new();
    let env_key = "sk-test-secret-0123456789"; // TestEnv puts it in AZ_OS_TEST_KEY
    set(&env, "openrouter", KEY_A);
    let fake = FakeProvider::start(vec![
        Reply::Text("the answer is 42".into()),
        Reply::Text("the answer is still 42".into()),
    ]);
    vault_config(&env, &fake.base_url(), "openrouter");
    // A second model reads its key from the environment, so both kinds of secret are sent.
    let mut config = std::fs::read_to_string(env.home().join("config.toml")).unwrap();
    config.push_str(&format!(
        "\n[[models]]\nname = \"fake-env\"\nprovider = \"openai\"\nmodel = \"fake-model\"\n\
         base_url = \"{}\"\napi_key_env = \"AZ_OS_TEST_KEY\"\ntier = \"complex\"\n",
        fake.base_url()
    ));
    std::fs::write(env.home().join("config.toml"), config).unwrap();
    let mut outputs = Vec::new();
    for model in ["fake", "fake-env"] {
        let out = keys(&env, Some(PASSWORD))
            .args([
                "--batch",
                "--json",
                "run",
                "--model",
                model,
                "what is six times seven?",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{model}: {}", stderr(&out));
        outputs.push(out);
    }
    let auth: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| {
            r.headers
                .iter()
                .find(|(k, _)| k == "authorization")
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        auth,
        vec![format!("Bearer {KEY_A}"), format!("Bearer {env_key}")]
    );
    // The vault key, the key in the environment and the master password appear in no
    // file of the home (database, WAL, logs, checkpoints, vault) and in no output.
    let scanned = crate::common::files_under(env.home());
    assert!(
        scanned.iter().any(|p| p.ends_with("az-os.db")),
        "{scanned:?}"
    );
    for secret in [KEY_A, env_key, PASSWORD] {
        for p in &scanned {
            let bytes = std::fs::read(p).unwrap();
            assert!(
                !contains(&bytes, secret),
                "{secret} found in {}",
                p.display()
            );
        }
        for out in &outputs {
            assert!(!contains(&out.stdout, secret), "{secret} on stdout");
            assert!(!contains(&out.stderr, secret), "{secret} on stderr");
        }
    }
}

#[test]
fn a_missing_vault_entry_names_the_file_the_key_and_the_fix() {
    let env = TestEnv::new();
    vault_config(&env, "http://127.0.0.1:9/v1", "openrouter");
    // No vault at all.
    let out = keys(&env, Some(PASSWORD))
        .args(["--batch", "run", "hello"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for want in [
        "config.toml",
        "models[0].api_key",
        "there is no key vault yet",
        "az-os keys set openrouter",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
    // A vault without that entry.
    set(&env, "other", KEY_B);
    let out = keys(&env, Some(PASSWORD))
        .args(["--batch", "run", "hello"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for want in [
        "models[0].api_key",
        "the vault has no entry openrouter",
        "vault.json",
        "az-os keys set openrouter",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
    // A wrong password in batch mode: exit 2, the AEAD message, no request sent.
    let out = keys(&env, Some("wrong"))
        .args(["--batch", "run", "hello"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("wrong master password"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_bad_vault_name_in_config_is_a_config_error() {
    let env = TestEnv::new();
    vault_config(&env, "http://127.0.0.1:9/v1", "has space");
    let out = env
        .cmd()
        .args(["--batch", "run", "hello"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("models[0].api_key") && err.contains("not a vault entry name"),
        "{err}"
    );
}

#[test]
fn the_health_check_finds_a_written_vault_healthy() {
    let dir = tempfile::tempdir().unwrap();
    saved_vault(dir.path());
    let check = az_os::health::checks::vault(dir.path()).unwrap();
    assert_eq!(
        check.level,
        az_os::health::Level::Healthy,
        "{}",
        check.detail
    );
}

#[test]
fn keys_help_says_what_each_action_does_with_an_example() {
    for (args, want) in [
        (&["keys", "--help"][..], "az-os keys set openrouter"),
        (&["keys", "set", "--help"][..], "hidden prompt"),
        (&["keys", "list", "--help"][..], "az-os keys list"),
        (
            &["keys", "remove", "--help"][..],
            "az-os keys remove openrouter",
        ),
    ] {
        let out = Command::new(crate::common::bin())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(want) && text.contains("Examples"),
            "{args:?}: {text}"
        );
    }
}

#[test]
fn concurrent_sets_lose_no_entry() {
    let env = TestEnv::new();
    set(&env, "first", KEY_A);
    let children: Vec<_> = (0..4)
        .map(|i| {
            let mut c = std::process::Command::new(crate::common::bin());
            c.env("AZ_OS_HOME", env.home())
                .env("AZ_OS_MASTER_PASSWORD", PASSWORD)
                .args(["keys", "set", &format!("k{i}")])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped());
            let mut child = c.spawn().unwrap();
            let mut stdin = child.stdin.take().unwrap();
            std::io::Write::write_all(
                &mut stdin,
                format!("sk-concurrent-{i}-0123456789\n").as_bytes(),
            )
            .unwrap();
            drop(stdin);
            child
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let vault = Vault::open(env.home().join("vault.json"), &password(PASSWORD)).unwrap();
    assert_eq!(
        vault.names().collect::<Vec<_>>(),
        ["first", "k0", "k1", "k2", "k3"]
    );
}
