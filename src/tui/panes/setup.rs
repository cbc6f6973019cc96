//! The setup dialog: adding a model without leaving the dashboard (its key binding, or
//! by itself when no model is usable). Its steps: what to add (the catalogue's
//! providers, the models a local Ollama has pulled, an OpenAI-compatible server), the
//! server's URL and model id, the key in a hidden field, where the key lives (the
//! encrypted vault or the environment), the vault's master password (twice when the
//! vault is created), and what was done. Checking the key and saving are
//! `crate::setup`'s work, run as effects; this file holds the dialog's state and draws
//! it. Nothing typed into a hidden field is ever drawn: a dot stands for each character.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget, Wrap};

use super::{centered, frame, select_line};
use crate::setup::{Offer, Saved, Storage};
use crate::tui::action::Action;
use crate::tui::keymap::{Context, Keymap};
use crate::tui::theme::Theme;
use crate::util::hidden::Hidden;
use crate::util::text::ellipsize_cols;

/// The row after the offers: a server the user names.
pub const SERVER_ROW: &str = "OpenAI-compatible server";

/// What the look at the machine found (Ollama's models come with it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VaultInfo {
    /// The vault file, for the user (`~/.az-os/vault.json`).
    pub path: String,
    pub exists: bool,
    /// `AZ_OS_MASTER_PASSWORD` is set: the dialog asks for no password.
    pub env_password: bool,
}

/// A check the dialog asks for: does the provider take `key` (or answer, without one)?
#[derive(Clone, Debug, PartialEq)]
pub struct CheckJob {
    pub attempt: u64,
    pub offer: Offer,
    pub key: Option<Hidden>,
}

/// A save the dialog asks for (`crate::setup::save`). Without `password`, a vault
/// save uses `AZ_OS_MASTER_PASSWORD`.
#[derive(Clone, Debug, PartialEq)]
pub struct SaveJob {
    pub attempt: u64,
    pub offer: Offer,
    pub key: Option<Hidden>,
    pub storage: Storage,
    pub password: Option<Hidden>,
}

/// Where the dialog is.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Choosing from the list (`selected`).
    Choose,
    /// An OpenAI-compatible server: its URL and model id; `field` is the one typed in.
    Server {
        url: String,
        model: String,
        field: usize,
    },
    /// The key, hidden.
    Key { offer: Box<Offer>, key: Hidden },
    /// Asking the provider whether it takes the key (or, without one, answers).
    Checking {
        offer: Box<Offer>,
        key: Option<Hidden>,
    },
    /// Where the key lives (`selected`: 0 the vault, 1 the environment); `answer` is
    /// what the provider said when it took the key.
    Store {
        offer: Box<Offer>,
        key: Hidden,
        answer: String,
    },
    /// The vault's master password; `again` (and `field` 1) only when it is created.
    Password {
        offer: Box<Offer>,
        key: Hidden,
        password: Hidden,
        again: Hidden,
        field: usize,
    },
    /// Writing the vault and config.toml.
    Saving {
        offer: Box<Offer>,
        key: Option<Hidden>,
        storage: Storage,
    },
    /// What was done.
    Done { saved: Saved, label: String },
}

impl Step {
    /// Whether the step has a field that takes typed text.
    pub fn takes_text(&self) -> bool {
        matches!(
            self,
            Self::Server { .. } | Self::Key { .. } | Self::Password { .. }
        )
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct SetupState {
    /// The catalogue's providers, then (once the look answered) Ollama's models; the
    /// list shows [`SERVER_ROW`] after them.
    pub offers: Vec<Offer>,
    /// Whether the look for Ollama and the vault has answered.
    pub probed: bool,
    pub vault: VaultInfo,
    /// The highlighted row of a list (what to add; where the key lives).
    pub selected: usize,
    pub step: Step,
    /// What went wrong at this step (a refused key, with the provider's reason).
    pub error: Option<String>,
    /// Each check and save carries the attempt it belongs to: an answer to an attempt
    /// that was left (Esc, or a later one) changes nothing.
    pub attempt: u64,
}

impl SetupState {
    pub fn new(offers: Vec<Offer>) -> Self {
        Self {
            offers,
            probed: false,
            vault: VaultInfo::default(),
            selected: 0,
            step: Step::Choose,
            error: None,
            attempt: 0,
        }
    }

    /// Rows in the list of what to add.
    pub fn rows(&self) -> usize {
        self.offers.len() + 1
    }
}

/// Draws the dialog centred in `area`.
pub fn render(area: Rect, buf: &mut Buffer, th: &Theme, keymap: &Keymap, s: &SetupState) {
    let w = area.width.saturating_sub(4).min(84);
    let inner = usize::from(w.saturating_sub(2));
    let mut lines = body(th, s, inner);
    if let Some(e) = &s.error {
        lines.push(Line::default());
        lines.push(Line::from(Span::styled(e.clone(), th.error)));
    }
    let rows = Paragraph::new(lines.clone())
        .wrap(Wrap { trim: false })
        .line_count(w.saturating_sub(2));
    let h = u16::try_from(rows + 2)
        .unwrap_or(u16::MAX)
        .min(area.height.saturating_sub(2));
    let rect = centered(area, w, h);
    Clear.render(rect, buf);
    let hint = hint(keymap, s);
    let block = frame("Add a model", &hint, true, th).style(th.popup);
    // Too little room: the end (the field and any error) matters more than the top.
    let scroll =
        u16::try_from(rows.saturating_sub(usize::from(h.saturating_sub(2)))).unwrap_or(u16::MAX);
    Paragraph::new(lines)
        .block(block)
        .wrap(Wrap { trim: false })
        .scroll((scroll, 0))
        .render(rect, buf);
}

/// The keys that work at this step, from the keymap.
fn hint(keymap: &Keymap, s: &SetupState) -> String {
    let key = |a: Action| {
        keymap
            .key_for(Context::Setup, a)
            .map_or_else(String::new, |k| k.to_string())
    };
    let (ok, close, next) = (
        key(Action::Confirm),
        key(Action::Close),
        key(Action::FocusNext),
    );
    match &s.step {
        Step::Choose | Step::Store { .. } => format!("↑↓ choose · {ok} select · {close} leave"),
        Step::Server { .. } => format!("{next} next field · {ok} continue · {close} leave"),
        Step::Password { .. } if !s.vault.exists => {
            format!("{next} next field · {ok} save · {close} leave")
        }
        Step::Password { .. } => format!("{ok} save · {close} leave"),
        Step::Key { .. } => format!("{ok} continue · {close} leave"),
        Step::Checking { .. } | Step::Saving { .. } => format!("{close} leave"),
        Step::Done { .. } => format!("{ok} close"),
    }
}

fn body<'a>(th: &Theme, s: &'a SetupState, width: usize) -> Vec<Line<'a>> {
    let text = |t: String| Line::from(Span::styled(t, th.text));
    let dim = |t: String| Line::from(Span::styled(t, th.dim));
    match &s.step {
        Step::Choose => choose_lines(th, s, width),
        Step::Server { url, model, field } => vec![
            text("An OpenAI-compatible server (LiteLLM, llama.cpp, vLLM, a gateway).".into()),
            Line::default(),
            field_line(
                th,
                "Server URL",
                url,
                *field == 0,
                "http://127.0.0.1:8080/v1",
            ),
            field_line(
                th,
                "Model id  ",
                model,
                *field == 1,
                "the id the server lists",
            ),
        ],
        Step::Key { offer, key } => {
            let whence = match offer.key_url {
                Some(url) if offer.id != "openai-compatible" => format!(" (from {url})"),
                _ => String::new(),
            };
            let mut out = vec![
                text(format!("Paste the key for {}{whence}.", offer.label)),
                dim(format!(
                    "{} checks it before anything is saved; it is never shown.",
                    offer.label
                )),
            ];
            if offer.id == "openai-compatible" {
                out.push(dim("Leave it empty if the server needs none.".into()));
            }
            out.push(Line::default());
            out.push(hidden_line(th, "Key", key, true));
            out
        }
        Step::Checking { offer, key } => vec![text(format!(
            "Asking {} at {} whether it {}…",
            offer.label,
            offer.spec.base_url,
            if key.is_some() {
                "takes the key"
            } else {
                "answers"
            }
        ))],
        Step::Store { offer, answer, .. } => store_lines(th, s, offer, answer),
        Step::Password {
            password,
            again,
            field,
            ..
        } => {
            let creating = !s.vault.exists;
            let mut out = vec![if creating {
                text(format!(
                    "Create the vault at {}: choose its master password.",
                    s.vault.path
                ))
            } else {
                text(format!(
                    "The master password of the vault at {}.",
                    s.vault.path
                ))
            }];
            out.push(dim(
                "az-os never stores it; you type it when az-os starts (or set AZ_OS_MASTER_PASSWORD)."
                    .into(),
            ));
            out.push(Line::default());
            out.push(hidden_line(th, "Password", password, *field == 0));
            if creating {
                out.push(hidden_line(th, "Again   ", again, *field == 1));
            }
            out
        }
        Step::Saving { offer, .. } => vec![text(format!("Saving {}…", offer.spec.name))],
        Step::Done { saved, label } => done_lines(th, saved, label),
    }
}

/// What to add: a numbered row each, the highlighted one's note below.
fn choose_lines<'a>(th: &Theme, s: &SetupState, width: usize) -> Vec<Line<'a>> {
    let mut out = vec![
        Line::from(Span::styled(
            "What should az-os use? Free ones come first.",
            th.text,
        )),
        Line::default(),
    ];
    for i in 0..s.rows() {
        let (label, tag) = match s.offers.get(i) {
            Some(o) => (o.label.as_str(), offer_tag(o)),
            None => (SERVER_ROW, "your URL"),
        };
        let marker = if i == s.selected { "›" } else { " " };
        let n = if i < 9 {
            format!("{}", i + 1)
        } else {
            " ".into()
        };
        let row = format!("{marker} {n} {} {tag}", pad(label, 30));
        let line = Line::from(Span::styled(ellipsize_cols(&row, width), th.text));
        out.push(if i == s.selected {
            select_line(line, th)
        } else {
            line
        });
    }
    if !s.probed {
        out.push(Line::from(Span::styled(
            "  looking for a local Ollama…",
            th.dim,
        )));
    }
    out.push(Line::default());
    let about = match s.offers.get(s.selected) {
        Some(o) => o.note.clone(),
        None => "LiteLLM, llama.cpp, vLLM or a company gateway: its URL and a model id".into(),
    };
    out.push(Line::from(Span::styled(about, th.dim)));
    out
}

/// Where the key lives: the vault or the environment.
fn store_lines<'a>(th: &Theme, s: &SetupState, offer: &Offer, answer: &str) -> Vec<Line<'a>> {
    let text = |t: String| Line::from(Span::styled(t, th.text));
    let mut out = vec![
        text(format!("{} took the key ({answer}).", offer.label)),
        Line::default(),
        text("Where should the key live?".into()),
    ];
    let vault = if s.vault.exists {
        format!(
            "The encrypted vault ({}; its master password)",
            s.vault.path
        )
    } else {
        format!(
            "The encrypted vault (created now at {}, with a master password)",
            s.vault.path
        )
    };
    let choices = [
        vault,
        format!(
            "The environment only ({}): for this run; you add a line to your shell profile",
            offer.key_env()
        ),
    ];
    for (i, c) in choices.into_iter().enumerate() {
        let marker = if i == s.selected { "›" } else { " " };
        let key = if i == 0 { "v" } else { "e" };
        let line = text(format!("{marker} {key} {c}"));
        out.push(if i == s.selected {
            select_line(line, th)
        } else {
            line
        });
    }
    out
}

/// What was done, and for a key left to the environment, the line to keep it.
fn done_lines<'a>(th: &Theme, saved: &Saved, label: &str) -> Vec<Line<'a>> {
    let text = |t: String| Line::from(Span::styled(t, th.text));
    let mut out = vec![text(format!("{} is ready.", saved.model))];
    if let Some(entry) = &saved.vault_entry {
        out.push(text(format!("Its key is in the vault as {entry}.")));
    }
    if let Some(cfg) = &saved.config {
        out.push(Line::from(Span::styled(
            format!("{} lists it.", cfg.display()),
            th.dim,
        )));
    }
    if let Some(line) = &saved.export_line {
        out.push(text(
            "The key is kept by this az-os until it quits. To keep it, add this line to your shell profile (~/.bashrc, ~/.zshrc), your key in place of <your key>:"
                .into(),
        ));
        out.push(Line::from(Span::styled(format!("  {line}"), th.accent)));
    }
    out.push(Line::default());
    out.push(text(format!(
        "The health pane checks {label} now. Type a task to use it."
    )));
    out
}

/// `free`, `paid` or `local`, for a row.
fn offer_tag(o: &Offer) -> &'static str {
    match (o.needs_key(), o.free) {
        (false, _) => "local, no key",
        (true, true) => "free",
        (true, false) => "paid",
    }
}

/// `text` padded with spaces to `cols` columns (cut with an ellipsis when longer).
fn pad(text: &str, cols: usize) -> String {
    let t = ellipsize_cols(text, cols);
    let w = crate::util::text::width(&t);
    format!("{t}{}", " ".repeat(cols.saturating_sub(w)))
}

/// A text field: its label, its text (or a dim example when empty), a cursor when it
/// has the focus.
fn field_line<'a>(th: &Theme, label: &str, value: &str, focused: bool, example: &str) -> Line<'a> {
    let mut spans = vec![Span::styled(format!("{label}: "), th.key_hint)];
    if value.is_empty() && !focused {
        spans.push(Span::styled(example.to_owned(), th.placeholder));
    } else {
        spans.push(Span::styled(value.to_owned(), th.input));
    }
    if focused {
        spans.push(Span::styled("▏", th.accent));
    }
    Line::from(spans)
}

/// A hidden field: a dot per character typed (at most 48), never the text.
fn hidden_line<'a>(th: &Theme, label: &str, value: &Hidden, focused: bool) -> Line<'a> {
    let n = value.chars();
    let mut dots = "•".repeat(n.min(48));
    if n > 48 {
        dots.push('…');
    }
    let mut spans = vec![
        Span::styled(format!("{label}: "), th.key_hint),
        Span::styled(dots, th.input),
    ];
    if focused {
        spans.push(Span::styled("▏", th.accent));
    }
    if n > 0 {
        spans.push(Span::styled(format!("  {n} characters"), th.dim));
    }
    Line::from(spans)
}
