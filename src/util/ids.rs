//! Task ids: 12 lowercase hex characters (48 random bits), short enough to type and
//! unique enough for millions of tasks. Commands accept any unique prefix.

use std::fmt;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// `N` random bytes as lowercase hex: task ids, and names no other process can guess
/// (temp files and dirs).
pub fn random_hex<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: fall back to the clock and the pid, still unique in practice.
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
            ^ u128::from(std::process::id()) << 64;
        for (b, n) in bytes.iter_mut().zip(n.to_le_bytes().iter().cycle()) {
            *b = *n;
        }
    }
    let mut s = String::with_capacity(N * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Identifies one task everywhere: database, events, command line.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(pub String);

impl TaskId {
    /// A fresh random id.
    pub fn new() -> Self {
        Self(random_hex::<6>())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TaskId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for TaskId {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_twelve_hex_and_distinct() {
        let a = TaskId::new();
        let b = TaskId::new();
        assert_eq!(a.as_str().len(), 12);
        assert!(a.as_str().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
