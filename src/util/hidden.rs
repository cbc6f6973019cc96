//! [`Hidden`]: text a person typed into a hidden field (an API key, a master password).
//! It is wiped from memory when dropped, and its `Debug` shows its length only, so a
//! message or effect that carries it can be logged or compared in tests without the
//! secret ever reaching a log line.

use zeroize::Zeroizing;

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Hidden(Zeroizing<String>);

impl std::fmt::Debug for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hidden({} chars)", self.0.chars().count())
    }
}

impl Hidden {
    pub fn new(text: &str) -> Self {
        Self(Zeroizing::new(text.to_owned()))
    }

    /// The text itself, for the one place that needs it (a check, the vault).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn push(&mut self, c: char) {
        self.0.push(c);
    }

    pub fn push_str(&mut self, s: &str) {
        self.0.push_str(s);
    }

    /// Takes back the last character typed.
    pub fn pop(&mut self) {
        self.0.pop();
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many characters were typed (what a masked field shows).
    pub fn chars(&self) -> usize {
        self.0.chars().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_text() {
        let mut h = Hidden::new("sk-secret");
        h.push('é');
        let shown = format!("{h:?}");
        assert_eq!(shown, "Hidden(10 chars)");
        h.pop();
        assert_eq!(h.expose(), "sk-secret");
    }
}
