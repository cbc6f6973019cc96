//! WCAG AA for every built-in theme: every character drawn on a colour the theme
//! chooses (a selected row, the status bar, a popup) has a contrast ratio of at
//! least 4.5:1 with it. The screens are real renders of the dashboard's states with
//! each pane focused, so every fg/bg pair the panes draw is measured, not a list
//! that could drift from the code.
//!
//! ANSI colours are resolved with xterm's palette; the terminal's own colours
//! (`reset`) are checked on a dark and on a light terminal for the ANSI themes.

use az_os::tui::model::{Focus, Model};
use az_os::tui::panes::popups::Popup;
use az_os::tui::panes::status::Tone;
use az_os::tui::theme::{THEMES, Theme};
use ratatui::crossterm::event::KeyCode;
use ratatui::style::{Color, Modifier};

use super::view::{detail, failed, help, running};
use super::{press, render, screen, send};

type Rgb = (u8, u8, u8);

/// A terminal's default foreground and background.
#[derive(Clone, Copy, Debug)]
struct Terminal {
    name: &'static str,
    fg: Rgb,
    bg: Rgb,
}

const DARK: Terminal = Terminal {
    name: "dark terminal",
    fg: (0xe5, 0xe5, 0xe5),
    bg: (0x00, 0x00, 0x00),
};
const LIGHT: Terminal = Terminal {
    name: "light terminal",
    fg: (0x00, 0x00, 0x00),
    bg: (0xff, 0xff, 0xff),
};

/// xterm's default palette for the 16 ANSI colours.
fn ansi(c: Color) -> Option<Rgb> {
    Some(match c {
        Color::Black => (0x00, 0x00, 0x00),
        Color::Red => (0xcd, 0x00, 0x00),
        Color::Green => (0x00, 0xcd, 0x00),
        Color::Yellow => (0xcd, 0xcd, 0x00),
        Color::Blue => (0x00, 0x00, 0xee),
        Color::Magenta => (0xcd, 0x00, 0xcd),
        Color::Cyan => (0x00, 0xcd, 0xcd),
        Color::Gray => (0xe5, 0xe5, 0xe5),
        Color::DarkGray => (0x7f, 0x7f, 0x7f),
        Color::LightRed => (0xff, 0x00, 0x00),
        Color::LightGreen => (0x00, 0xff, 0x00),
        Color::LightYellow => (0xff, 0xff, 0x00),
        Color::LightBlue => (0x5c, 0x5c, 0xff),
        Color::LightMagenta => (0xff, 0x00, 0xff),
        Color::LightCyan => (0x00, 0xff, 0xff),
        Color::White => (0xff, 0xff, 0xff),
        Color::Rgb(r, g, b) => (r, g, b),
        Color::Reset | Color::Indexed(_) => return None,
    })
}

/// WCAG 2 relative luminance.
fn luminance((r, g, b): Rgb) -> f64 {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
}

/// WCAG 2 contrast ratio, 1 to 21.
fn contrast(a: Rgb, b: Rgb) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

#[test]
fn the_contrast_formula_matches_wcag() {
    assert!((contrast((0, 0, 0), (255, 255, 255)) - 21.0).abs() < 1e-9);
    assert!((contrast((0x77, 0x77, 0x77), (255, 255, 255)) - 4.48).abs() < 0.01);
    // The pairs issue 11 measured: the dark theme's running icon on its selection.
    assert!(contrast((0x88, 0xc0, 0xd0), (0x88, 0xc0, 0xd0)) < 1.1);
}

/// Box drawing, blocks and gauge bars are not text.
fn is_text(symbol: &str) -> bool {
    symbol
        .chars()
        .any(|c| !c.is_whitespace() && !('\u{2500}'..='\u{259f}').contains(&c))
}

/// Every text cell drawn on a colour the theme sets (not the terminal's own
/// background) below 4.5:1, as readable findings.
fn low_contrast(m: &Model, term: Terminal, what: &str) -> Vec<String> {
    let t = render(m);
    let buf = t.backend().buffer();
    let mut out: Vec<String> = Vec::new();
    let mut pairs = Vec::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            let cell = &buf[(x, y)];
            if !is_text(cell.symbol()) {
                continue;
            }
            let mut fg = ansi(cell.fg).unwrap_or(term.fg);
            let mut bg = ansi(cell.bg).unwrap_or(term.bg);
            if cell.modifier.contains(Modifier::REVERSED) {
                std::mem::swap(&mut fg, &mut bg);
            }
            if bg == term.bg {
                continue;
            }
            let ratio = contrast(fg, bg);
            if ratio < 4.5 && !pairs.contains(&(fg, bg)) {
                pairs.push((fg, bg));
                out.push(format!(
                    "{what}, {}: {:?} at ({x},{y}) fg {fg:02x?} on bg {bg:02x?} is {ratio:.2}:1",
                    term.name,
                    cell.symbol()
                ));
            }
        }
    }
    if !out.is_empty() && std::env::var_os("CONTRAST_SCREENS").is_some() {
        out.push(screen(&t));
    }
    out
}

/// A dashboard state at a size.
type State = fn(u16, u16) -> Model;

/// The failed task's detail popup: its error on the popup's colours.
fn failed_detail(w: u16, h: u16) -> Model {
    let mut m = failed(w, h);
    send(&mut m, press(KeyCode::Esc));
    send(&mut m, press(KeyCode::Enter));
    assert!(matches!(m.popup, Some(Popup::Detail { .. })));
    m
}

/// A status message of `tone` on the status bar.
fn with_status(mut m: Model, tone: Tone) -> Model {
    m.status.set(tone, "provider error: 429 Too Many Requests");
    m.status.set_at = m.queue.now;
    m
}

#[test]
fn every_theme_meets_wcag_aa_on_its_selection_status_bar_and_popups() {
    let states: [(&str, State); 7] = [
        ("running", running),
        ("failed", failed),
        ("help", help),
        ("detail", detail),
        ("failed task's detail", failed_detail),
        ("a warning", |w, h| with_status(running(w, h), Tone::Warn)),
        ("an error", |w, h| with_status(running(w, h), Tone::Error)),
    ];
    let mut failures = Vec::new();
    for (name, _) in THEMES {
        let terminals: &[Terminal] = match name {
            "dark" => &[DARK],
            "light" => &[LIGHT],
            _ => &[DARK, LIGHT],
        };
        for &term in terminals {
            for (state, make) in states {
                for focus in [Focus::Input, Focus::Queue, Focus::Turns, Focus::Memory] {
                    let mut m = make(120, 40);
                    m.theme = Theme::named(name).unwrap();
                    m.focus = focus;
                    let what = format!("theme {name}, {state}, focus {focus:?}");
                    failures.extend(low_contrast(&m, term, &what));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells below 4.5:1:\n{}",
        failures.len(),
        failures
            .iter()
            .filter(|f| !f.starts_with('"'))
            .take(400)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
