//! The vault file format and its cryptography; no IO beyond the bytes handed in.
//!
//! ```json
//! {"version":1,"kdf":"pbkdf2-sha256","iterations":600000,
//!  "salt":"<16 bytes, base64>","nonce":"<12 bytes, base64>","ciphertext":"<base64>"}
//! ```
//!
//! The key is PBKDF2-HMAC-SHA256(master password, salt, iterations), 32 bytes; the
//! ciphertext is AES-256-GCM over the JSON map `{name: value}` of every entry, with the
//! header (version, kdf, iterations, salt) as associated data. So any edit of the file —
//! a flipped byte, a lowered iteration count, another salt — fails authentication. A
//! wrong password fails the same way: AEAD cannot tell the two apart, and neither do we.
//! Salt and nonce are fresh from the system RNG on every write.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::pbkdf2;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::VaultError;
use super::password::MasterPassword;

/// OWASP's current figure for PBKDF2-HMAC-SHA256; files asking for fewer are refused.
pub const MIN_ITERATIONS: u32 = 600_000;
/// What new vaults are written with.
pub const DEFAULT_ITERATIONS: u32 = MIN_ITERATIONS;
/// Files asking for more are refused too: an edited count must not hang az-os for minutes.
pub const MAX_ITERATIONS: u32 = 20_000_000;

const VERSION: u32 = 1;
const KDF: &str = "pbkdf2-sha256";
const SALT_LEN: usize = 16;
const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// `vault.json` as stored.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileV1 {
    version: u32,
    kdf: String,
    /// Wider than u32 so a tampered huge value is reported as such, not as bad JSON.
    iterations: u64,
    salt: String,
    nonce: String,
    ciphertext: String,
}

/// The associated data: every header field, so none can change unnoticed.
fn aad(version: u32, kdf: &str, iterations: u32, salt: &[u8]) -> Vec<u8> {
    let mut a =
        format!("az-os vault\0version={version}\0kdf={kdf}\0iterations={iterations}\0salt=")
            .into_bytes();
    a.extend_from_slice(salt);
    a
}

fn derive_key(
    password: &MasterPassword,
    salt: &[u8],
    iterations: u32,
) -> Result<LessSafeKey, VaultError> {
    let rounds = NonZeroU32::new(iterations).ok_or(VaultError::Random)?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        salt,
        password.expose().as_bytes(),
        &mut key[..],
    );
    // `key` is wiped on drop; ring keeps its own expanded copy inside the LessSafeKey.
    let unbound = UnboundKey::new(&AES_256_GCM, &key[..]).map_err(|_| VaultError::Random)?;
    Ok(LessSafeKey::new(unbound))
}

/// Encrypts `entries` into the bytes of a vault file.
pub(super) fn seal(
    entries: &BTreeMap<String, Zeroizing<String>>,
    iterations: u32,
    password: &MasterPassword,
) -> Result<Vec<u8>, VaultError> {
    let rng = SystemRandom::new();
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut salt).map_err(|_| VaultError::Random)?;
    rng.fill(&mut nonce).map_err(|_| VaultError::Random)?;

    // Sized up front so the buffer never reallocates and leaves unwiped copies behind:
    // JSON escaping at most sextuples a character (`\u00XX`).
    let room: usize = entries
        .iter()
        .map(|(k, v)| 6 * (k.len() + v.len()) + 8)
        .sum::<usize>()
        + 2
        + TAG_LEN;
    let mut buf = Zeroizing::new(Vec::with_capacity(room));
    let plain: BTreeMap<&str, &str> = entries
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    serde_json::to_writer(&mut *buf, &plain).map_err(|e| VaultError::Malformed {
        path: "(memory)".into(),
        detail: e.to_string(),
    })?;

    let key = derive_key(password, &salt, iterations)?;
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad(VERSION, KDF, iterations, &salt)),
        &mut *buf,
    )
    .map_err(|_| VaultError::Random)?;

    let file = FileV1 {
        version: VERSION,
        kdf: KDF.to_owned(),
        iterations: u64::from(iterations),
        salt: B64.encode(salt),
        nonce: B64.encode(nonce),
        ciphertext: B64.encode(&*buf),
    };
    let mut out = serde_json::to_vec_pretty(&file).map_err(|e| VaultError::Malformed {
        path: "(memory)".into(),
        detail: e.to_string(),
    })?;
    out.push(b'\n');
    Ok(out)
}

/// Checks the header, derives the key and decrypts: the iteration count the file was
/// written with, and its entries.
pub(super) fn open(
    path: &Path,
    bytes: &[u8],
    password: &MasterPassword,
) -> Result<(u32, BTreeMap<String, Zeroizing<String>>), VaultError> {
    let malformed = |detail: String| VaultError::Malformed {
        path: path.to_path_buf(),
        detail,
    };
    let file: FileV1 = serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
    if file.version != VERSION {
        return Err(VaultError::Unsupported {
            path: path.to_path_buf(),
            detail: format!("format version {}", file.version),
        });
    }
    if file.kdf != KDF {
        return Err(VaultError::Unsupported {
            path: path.to_path_buf(),
            detail: format!("key derivation {:?}", file.kdf),
        });
    }
    // The floor is checked before any work: a lowered count is a downgrade attack.
    if file.iterations < u64::from(MIN_ITERATIONS) {
        return Err(VaultError::Downgraded {
            path: path.to_path_buf(),
            iterations: file.iterations,
        });
    }
    let iterations = u32::try_from(file.iterations)
        .ok()
        .filter(|n| *n <= MAX_ITERATIONS)
        .ok_or_else(|| {
            malformed(format!(
                "{} PBKDF2 iterations is more than the {MAX_ITERATIONS} az-os accepts",
                file.iterations
            ))
        })?;
    let decode = |field: &str, text: &str| {
        B64.decode(text)
            .map_err(|e| malformed(format!("{field} is not base64: {e}")))
    };
    let salt = decode("salt", &file.salt)?;
    if salt.len() != SALT_LEN {
        return Err(malformed(format!(
            "salt is {} bytes, not {SALT_LEN}",
            salt.len()
        )));
    }
    let nonce: [u8; NONCE_LEN] = decode("nonce", &file.nonce)?
        .try_into()
        .map_err(|n: Vec<u8>| malformed(format!("nonce is {} bytes, not {NONCE_LEN}", n.len())))?;
    let mut sealed = Zeroizing::new(decode("ciphertext", &file.ciphertext)?);
    if sealed.len() < TAG_LEN {
        return Err(malformed("ciphertext is shorter than its tag".into()));
    }

    let key = derive_key(password, &salt, iterations)?;
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(file.version, &file.kdf, iterations, &salt)),
            &mut sealed[..],
        )
        .map_err(|_| VaultError::Unlock {
            path: path.to_path_buf(),
        })?;
    let map: BTreeMap<String, String> = serde_json::from_slice(plain)
        .map_err(|e| malformed(format!("decrypted entries are not a JSON map: {e}")))?;
    // `sealed` (which now holds the plaintext) is wiped when it drops; each value moves
    // into a Zeroizing without a copy.
    Ok((
        iterations,
        map.into_iter()
            .map(|(k, v)| (k, Zeroizing::new(v)))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> MasterPassword {
        MasterPassword::new(Zeroizing::new(s.to_owned())).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn header_fields_are_bound_into_the_associated_data() {
        let base = aad(1, KDF, 600_000, &[1; 16]);
        assert_ne!(base, aad(2, KDF, 600_000, &[1; 16]));
        assert_ne!(base, aad(1, "pbkdf2-sha512", 600_000, &[1; 16]));
        assert_ne!(base, aad(1, KDF, 600_001, &[1; 16]));
        assert_ne!(base, aad(1, KDF, 600_000, &[2; 16]));
    }

    #[test]
    fn a_lowered_iteration_count_is_refused_before_any_key_derivation() {
        let file = format!(
            r#"{{"version":1,"kdf":"{KDF}","iterations":1,"salt":"{}","nonce":"{}","ciphertext":"{}"}}"#,
            B64.encode([0u8; 16]),
            B64.encode([0u8; 12]),
            B64.encode([0u8; 32])
        );
        let started = std::time::Instant::now();
        let err = open(Path::new("v.json"), file.as_bytes(), &pw("x"));
        assert!(
            matches!(err, Err(VaultError::Downgraded { iterations: 1, .. })),
            "{err:?}"
        );
        assert!(started.elapsed().as_millis() < 100);
    }

    #[test]
    fn truncated_and_foreign_files_are_reported_as_such() {
        for (text, want) in [
            ("{\"version\":1,\"kdf\":\"pbkdf2", "Malformed"),
            ("", "Malformed"),
            (
                r#"{"version":2,"kdf":"pbkdf2-sha256","iterations":600000,"salt":"","nonce":"","ciphertext":""}"#,
                "Unsupported",
            ),
            (
                r#"{"version":1,"kdf":"scrypt","iterations":600000,"salt":"","nonce":"","ciphertext":""}"#,
                "Unsupported",
            ),
            (
                r#"{"version":1,"kdf":"pbkdf2-sha256","iterations":99999999999,"salt":"","nonce":"","ciphertext":""}"#,
                "Malformed",
            ),
            (
                r#"{"version":1,"kdf":"pbkdf2-sha256","iterations":600000,"salt":"AAAA","nonce":"","ciphertext":""}"#,
                "Malformed",
            ),
        ] {
            let err = open(Path::new("v.json"), text.as_bytes(), &pw("x"))
                .err()
                .map(|e| format!("{e:?}"))
                .unwrap_or_default();
            assert!(err.starts_with(want), "{text}: {err}");
        }
    }
}
