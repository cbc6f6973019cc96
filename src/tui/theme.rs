//! Themes as data: semantic slots (`accent`, `gauge_crit`, `thought`, …) mapped
//! to colours in `themes/*.toml`, embedded in the binary. The default uses only
//! the 16 ANSI colours and the terminal's own foreground, so it reads on light
//! and dark backgrounds and over SSH. A user `theme.toml` overrides only the
//! slots it lists; `NO_COLOR` turns every colour off (bold and reverse stay).

use std::collections::BTreeMap;
use std::path::Path;

use ratatui::style::{Color, Modifier, Style};

pub const THEMES: [(&str, &str); 4] = [
    ("default", include_str!("../../themes/default.toml")),
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

macro_rules! slots {
    ($($slot:ident,)*) => {
        /// Every style the panes use, by meaning.
        #[derive(Clone, Debug, PartialEq)]
        pub struct Theme { $(pub $slot: Style,)* }

        impl Theme {
            const SLOT_NAMES: &'static [&'static str] = &[$(stringify!($slot),)*];

            fn slot_mut(&mut self, name: &str) -> Option<&mut Style> {
                match name { $(stringify!($slot) => Some(&mut self.$slot),)* _ => None }
            }

            fn map_styles(&mut self, f: impl Fn(Style) -> Style) {
                $(self.$slot = f(self.$slot);)*
            }
        }

        impl Default for Theme {
            fn default() -> Self { Self { $($slot: Style::new(),)* } }
        }
    };
}

slots! {
    text,
    dim,
    accent,
    title,
    border,
    border_focused,
    selected,
    status_bar,
    status_key,
    status_warn,
    status_error,
    key_hint,
    pending,
    running,
    completed,
    failed,
    cancelled,
    gauge_ok,
    gauge_warn,
    gauge_crit,
    over_budget,
    thought,
    action,
    observation,
    observation_error,
    reflection,
    error,
    input,
    placeholder,
    popup,
}

impl Theme {
    /// Parses a theme file: `slot = "color"` or `slot = { fg, bg, bold, … }`.
    fn apply(&mut self, text: &str, file: &str) -> Result<(), String> {
        let table: BTreeMap<String, toml::Value> =
            toml::from_str(text).map_err(|e| format!("{file}: {}", e.message().trim()))?;
        for (slot, value) in table {
            let at = |m: String| format!("{file}: `{slot}`: {m}");
            let style = parse_style(&value).map_err(at)?;
            let Some(target) = self.slot_mut(&slot) else {
                return Err(at(format!(
                    "unknown slot; slots are: {}",
                    Self::SLOT_NAMES.join(", ")
                )));
            };
            *target = style;
        }
        Ok(())
    }

    /// A shipped theme by name.
    pub fn named(name: &str) -> Result<Self, String> {
        let (_, text) = THEMES.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            format!(
                "no theme named {name:?}; shipped themes: {}",
                THEMES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        let mut t = Self::default();
        t.apply(text, &format!("themes/{name}.toml"))?;
        Ok(t)
    }

    /// The named theme, overridden by `theme.toml` in `home`, without colour when
    /// `no_color`.
    pub fn load(home: &Path, name: &str, no_color: bool) -> Result<Self, String> {
        let mut t = Self::named(name)?;
        let user = home.join("theme.toml");
        match std::fs::read_to_string(&user) {
            Ok(text) => t.apply(&text, &user.display().to_string())?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: cannot be read: {e}", user.display())),
        }
        if no_color {
            t.map_styles(|s| Style {
                fg: None,
                bg: None,
                underline_color: None,
                ..s
            });
        }
        Ok(t)
    }
}

fn parse_style(v: &toml::Value) -> Result<Style, String> {
    match v {
        toml::Value::String(c) => Ok(Style::new().fg(parse_color(c)?)),
        toml::Value::Table(t) => {
            let mut s = Style::new();
            for (k, v) in t {
                match (k.as_str(), v) {
                    ("fg", toml::Value::String(c)) => s = s.fg(parse_color(c)?),
                    ("bg", toml::Value::String(c)) => s = s.bg(parse_color(c)?),
                    (m, toml::Value::Boolean(true)) => s = s.add_modifier(modifier(m)?),
                    (m, toml::Value::Boolean(false)) => {
                        modifier(m)?;
                    }
                    (k, _) => {
                        return Err(format!(
                            "cannot read `{k}`; use fg/bg = \"color\" or bold/italic/underlined/dim/reversed = true"
                        ));
                    }
                }
            }
            Ok(s)
        }
        _ => Err("use a colour name, \"#rrggbb\", or a table { fg, bg, bold }".into()),
    }
}

fn modifier(name: &str) -> Result<Modifier, String> {
    Ok(match name {
        "bold" => Modifier::BOLD,
        "italic" => Modifier::ITALIC,
        "underlined" => Modifier::UNDERLINED,
        "dim" => Modifier::DIM,
        "reversed" => Modifier::REVERSED,
        other => return Err(format!("unknown modifier `{other}`")),
    })
}

fn parse_color(s: &str) -> Result<Color, String> {
    let c = match s.to_ascii_lowercase().as_str() {
        "reset" | "default" | "fg" => Color::Reset,
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" | "grey" => Color::Gray,
        "darkgray" | "darkgrey" => Color::DarkGray,
        "lightred" => Color::LightRed,
        "lightgreen" => Color::LightGreen,
        "lightyellow" => Color::LightYellow,
        "lightblue" => Color::LightBlue,
        "lightmagenta" => Color::LightMagenta,
        "lightcyan" => Color::LightCyan,
        "white" => Color::White,
        hex if hex.starts_with('#') && hex.len() == 7 => {
            let n = u32::from_str_radix(&hex[1..], 16).map_err(|_| format!("bad colour {s:?}"))?;
            Color::Rgb((n >> 16) as u8, (n >> 8) as u8, n as u8)
        }
        idx => Color::Indexed(idx.parse::<u8>().map_err(|_| {
            format!("bad colour {s:?}; use an ANSI name (red, lightblue, …), \"#rrggbb\" or 0-255")
        })?),
    };
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_themes_parse_and_default_is_ansi_only() {
        for (name, _) in THEMES {
            Theme::named(name).unwrap();
        }
        let t = Theme::named("default").unwrap();
        assert_eq!(
            t.text.fg,
            Some(Color::Reset),
            "default text is the terminal's foreground"
        );
        let check = |s: Style| {
            for c in [s.fg, s.bg].into_iter().flatten() {
                assert!(!matches!(c, Color::Rgb(..) | Color::Indexed(_)), "{c:?}");
            }
        };
        check(t.accent);
        check(t.gauge_crit);
        check(t.selected);
    }

    #[test]
    fn user_theme_overrides_slots_and_errors_name_the_slot() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("theme.toml"), "accent = \"#ff0000\"\n").unwrap();
        let t = Theme::load(dir.path(), "default", false).unwrap();
        assert_eq!(t.accent.fg, Some(Color::Rgb(255, 0, 0)));
        assert_eq!(t.gauge_crit, Theme::named("default").unwrap().gauge_crit);
        std::fs::write(dir.path().join("theme.toml"), "acent = \"red\"\n").unwrap();
        let e = Theme::load(dir.path(), "default", false).unwrap_err();
        assert!(
            e.contains("theme.toml") && e.contains("acent") && e.contains("unknown slot"),
            "{e}"
        );
        std::fs::write(dir.path().join("theme.toml"), "accent = \"purplish\"\n").unwrap();
        assert!(
            Theme::load(dir.path(), "default", false)
                .unwrap_err()
                .contains("purplish")
        );
    }

    #[test]
    fn no_color_keeps_modifiers_only() {
        let dir = tempfile::tempdir().unwrap();
        let t = Theme::load(dir.path(), "default", true).unwrap();
        assert_eq!(t.gauge_crit.fg, None);
        assert!(t.selected.add_modifier.contains(Modifier::REVERSED));
    }
}
