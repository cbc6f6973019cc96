//! Keymaps as data: `keymaps/default.toml` (and `emacs.toml`) are embedded; a
//! user `keymap.toml` in the home overrides only the keys it lists. Keys are
//! written `q`, `G`, `<C-c>`, `<A-Enter>`, `<S-Tab>`, `<Up>`, `<F1>`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;

use super::action::Action;

pub const DEFAULT_KEYMAP: &str = include_str!("../../keymaps/default.toml");
pub const EMACS_KEYMAP: &str = include_str!("../../keymaps/emacs.toml");

/// Where a binding applies. Lookups go from the most specific context to `global`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Context {
    Global,
    Input,
    Panes,
    Queue,
    Turns,
    Cost,
    Health,
    Memory,
    Help,
    Detail,
    Changes,
    Confirm,
    Approval,
    Setup,
}

impl Context {
    pub const ALL: [Self; 14] = [
        Self::Global,
        Self::Input,
        Self::Panes,
        Self::Queue,
        Self::Turns,
        Self::Cost,
        Self::Health,
        Self::Memory,
        Self::Help,
        Self::Detail,
        Self::Changes,
        Self::Confirm,
        Self::Approval,
        Self::Setup,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::Input => "input",
            Self::Panes => "panes",
            Self::Queue => "queue",
            Self::Turns => "turns",
            Self::Cost => "cost",
            Self::Health => "health",
            Self::Memory => "memory",
            Self::Help => "help",
            Self::Detail => "detail",
            Self::Confirm => "confirm",
            Self::Approval => "approval",
            Self::Setup => "setup",
            Self::Changes => "changes",
        }
    }
}

/// A key with modifiers, comparable with crossterm's events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    /// Normalises an event: shift is folded into the character for printable keys.
    pub fn from_event(e: &KeyEvent) -> Self {
        let mut mods =
            e.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match e.code {
            KeyCode::Char(c) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::Char(if mods.contains(KeyModifiers::CONTROL) {
                    c.to_ascii_lowercase()
                } else {
                    c
                })
            }
            KeyCode::BackTab => {
                mods.insert(KeyModifiers::SHIFT);
                KeyCode::Tab
            }
            other => other,
        };
        Self { code, mods }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "cannot read key {s:?}; write keys like q, G, <C-c>, <A-Enter>, <S-Tab>, <Up>, <F1>"
            )
        };
        if let Some(inner) = s.strip_prefix('<').and_then(|r| r.strip_suffix('>')) {
            let mut mods = KeyModifiers::NONE;
            let mut rest = inner;
            while rest.len() > 2 && rest.as_bytes()[1] == b'-' {
                match rest.as_bytes()[0] {
                    b'C' => mods |= KeyModifiers::CONTROL,
                    b'A' | b'M' => mods |= KeyModifiers::ALT,
                    b'S' => mods |= KeyModifiers::SHIFT,
                    _ => return Err(bad()),
                }
                rest = &rest[2..];
            }
            let code = match rest {
                "Enter" | "CR" => KeyCode::Enter,
                "Esc" => KeyCode::Esc,
                "Tab" => KeyCode::Tab,
                "BS" | "Backspace" => KeyCode::Backspace,
                "Del" | "Delete" => KeyCode::Delete,
                "Space" => KeyCode::Char(' '),
                "Up" => KeyCode::Up,
                "Down" => KeyCode::Down,
                "Left" => KeyCode::Left,
                "Right" => KeyCode::Right,
                "Home" => KeyCode::Home,
                "End" => KeyCode::End,
                "PageUp" => KeyCode::PageUp,
                "PageDown" => KeyCode::PageDown,
                "lt" => KeyCode::Char('<'),
                f if f.starts_with('F') && f.len() > 1 => {
                    KeyCode::F(f[1..].parse::<u8>().map_err(|_| bad())?)
                }
                c if c.chars().count() == 1 => {
                    let ch = c.chars().next().ok_or_else(bad)?;
                    KeyCode::Char(if mods.contains(KeyModifiers::CONTROL) {
                        ch.to_ascii_lowercase()
                    } else {
                        ch
                    })
                }
                _ => return Err(bad()),
            };
            if let KeyCode::Char(_) = code {
                mods.remove(KeyModifiers::SHIFT);
            }
            return Ok(Self { code, mods });
        }
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Ok(Self {
                code: KeyCode::Char(c),
                mods: KeyModifiers::NONE,
            }),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.code {
            KeyCode::Char(' ') => "Space".to_owned(),
            KeyCode::Char(c) if self.mods.is_empty() => return write!(f, "{c}"),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::Backspace => "BS".into(),
            KeyCode::Delete => "Del".into(),
            KeyCode::Up => "Up".into(),
            KeyCode::Down => "Down".into(),
            KeyCode::Left => "Left".into(),
            KeyCode::Right => "Right".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::PageUp => "PageUp".into(),
            KeyCode::PageDown => "PageDown".into(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        let mut prefix = String::new();
        if self.mods.contains(KeyModifiers::CONTROL) {
            prefix.push_str("C-");
        }
        if self.mods.contains(KeyModifiers::ALT) {
            prefix.push_str("A-");
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            prefix.push_str("S-");
        }
        write!(f, "<{prefix}{name}>")
    }
}

/// One key bound to an action, with the text the help popup shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub key: Key,
    pub action: Action,
    pub desc: String,
}

/// Bindings per context.
#[derive(Clone, Debug, Default)]
pub struct Keymap {
    contexts: BTreeMap<Context, Vec<Binding>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBinding {
    on: String,
    run: String,
    #[serde(default)]
    desc: String,
}

type RawKeymap = BTreeMap<Context, Vec<RawBinding>>;

fn parse_raw(text: &str, file: &str) -> Result<RawKeymap, String> {
    toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        format!(
            "{file}{}: {}",
            line.map(|l| format!(":{l}")).unwrap_or_default(),
            e.message().trim()
        )
    })
}

impl Keymap {
    /// Parses a keymap file; errors name the file, the context and the key.
    pub fn parse(text: &str, file: &str) -> Result<Self, String> {
        let mut km = Self::default();
        km.apply(text, file, false)?;
        Ok(km)
    }

    /// The shipped default, overridden by `keymap.toml` in `home` if present.
    /// `base` picks the shipped keymap: `default` or `emacs`.
    pub fn load(home: &Path, base: &str) -> Result<Self, String> {
        let text = if base == "emacs" {
            EMACS_KEYMAP
        } else {
            DEFAULT_KEYMAP
        };
        let mut km = Self::parse(text, &format!("keymaps/{base}.toml"))?;
        let user = home.join("keymap.toml");
        match std::fs::read_to_string(&user) {
            Ok(t) => km.apply(&t, &user.display().to_string(), true)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: cannot be read: {e}", user.display())),
        }
        Ok(km)
    }

    /// Adds `text`'s bindings; with `overriding`, a key already bound in a context
    /// is rebound (and `run = "noop"` unbinds it).
    fn apply(&mut self, text: &str, file: &str, overriding: bool) -> Result<(), String> {
        for (ctx, raws) in parse_raw(text, file)? {
            for raw in raws {
                let at = |m: &str| format!("{file}: [{}] on = {:?}: {m}", ctx.name(), raw.on);
                let key = Key::parse(&raw.on).map_err(|e| at(&e))?;
                let action: Action = raw.run.parse().map_err(|e: String| at(&e))?;
                let list = self.contexts.entry(ctx).or_default();
                if let Some(pos) = list.iter().position(|b| b.key == key) {
                    if !overriding {
                        return Err(at(&format!(
                            "key bound twice (also to {})",
                            list[pos].action
                        )));
                    }
                    list.remove(pos);
                }
                if action != Action::Noop {
                    let desc = if raw.desc.is_empty() {
                        action.name().to_owned()
                    } else {
                        raw.desc
                    };
                    list.push(Binding { key, action, desc });
                }
            }
        }
        Ok(())
    }

    /// The action for `key`, searching `contexts` in order.
    pub fn lookup(&self, contexts: &[Context], key: Key) -> Option<Action> {
        contexts.iter().find_map(|c| {
            self.contexts
                .get(c)?
                .iter()
                .find(|b| b.key == key)
                .map(|b| b.action)
        })
    }

    pub fn bindings(&self, ctx: Context) -> &[Binding] {
        self.contexts.get(&ctx).map_or(&[], Vec::as_slice)
    }

    /// The first key bound to `action` in `ctx` (for hints in the status bar).
    pub fn key_for(&self, ctx: Context, action: Action) -> Option<Key> {
        self.bindings(ctx)
            .iter()
            .find(|b| b.action == action)
            .map(|b| b.key)
    }

    /// Every action bound anywhere.
    pub fn bound_actions(&self) -> std::collections::BTreeSet<Action> {
        self.contexts.values().flatten().map(|b| b.action).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_print() {
        for (s, code, mods) in [
            ("q", KeyCode::Char('q'), KeyModifiers::NONE),
            ("G", KeyCode::Char('G'), KeyModifiers::NONE),
            ("<C-c>", KeyCode::Char('c'), KeyModifiers::CONTROL),
            ("<A-Enter>", KeyCode::Enter, KeyModifiers::ALT),
            ("<S-Tab>", KeyCode::Tab, KeyModifiers::SHIFT),
            ("<F1>", KeyCode::F(1), KeyModifiers::NONE),
            ("<Space>", KeyCode::Char(' '), KeyModifiers::NONE),
        ] {
            let k = Key::parse(s).unwrap();
            assert_eq!((k.code, k.mods), (code, mods), "{s}");
            assert_eq!(Key::parse(&k.to_string()).unwrap(), k, "{s}");
        }
        assert!(Key::parse("<X-q>").is_err());
        assert!(Key::parse("ab").is_err());
    }

    #[test]
    fn events_normalise_shift_and_backtab() {
        let e = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(Key::from_event(&e), Key::parse("G").unwrap());
        let e = KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT);
        assert_eq!(Key::from_event(&e), Key::parse("<S-Tab>").unwrap());
    }

    #[test]
    fn shipped_keymaps_parse_without_conflicts_and_bind_every_action() {
        for (text, name) in [(DEFAULT_KEYMAP, "default"), (EMACS_KEYMAP, "emacs")] {
            let km = Keymap::parse(text, name).unwrap();
            let bound = km.bound_actions();
            for a in Action::ALL {
                // `noop` exists to unbind keys; it is never bound on purpose.
                if *a != Action::Noop {
                    assert!(bound.contains(a), "{name}: {a} is not bound");
                }
            }
        }
    }

    #[test]
    fn user_overrides_replace_and_unbind() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keymap.toml"), "[queue]\nkeys = []\n").unwrap();
        // An unknown table shape is an error naming the file.
        let err = Keymap::load(dir.path(), "default").unwrap_err();
        assert!(err.contains("keymap.toml"), "{err}");
        std::fs::write(
            dir.path().join("keymap.toml"),
            "queue = [{ on = \"x\", run = \"task.cancel\", desc = \"Kill\" }, { on = \"c\", run = \"noop\" }]\n",
        )
        .unwrap();
        let km = Keymap::load(dir.path(), "default").unwrap();
        let x = Key::parse("x").unwrap();
        let c = Key::parse("c").unwrap();
        assert_eq!(km.lookup(&[Context::Queue], x), Some(Action::Cancel));
        assert_eq!(km.lookup(&[Context::Queue], c), None);
        let bad = Keymap::parse("queue = [{ on = \"x\", run = \"task.explode\" }]", "k.toml")
            .unwrap_err();
        assert!(
            bad.contains("k.toml") && bad.contains("task.explode") && bad.contains("[queue]"),
            "{bad}"
        );
        let twice = Keymap::parse(
            "queue = [{ on = \"x\", run = \"task.cancel\" }, { on = \"x\", run = \"task.retry\" }]",
            "k.toml",
        )
        .unwrap_err();
        assert!(twice.contains("bound twice"), "{twice}");
    }
}
