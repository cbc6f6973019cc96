//! The ReAct turns of the selected task, live: each turn's thought (streaming in),
//! actions and their observations (collapsed to one line until expanded), the
//! engine's reflections, retries and errors. Follow mode keeps the newest entry in
//! view. Text is wrapped once per width and cached per entry, so a frame only
//! lays out what is visible, however long the transcript.

use std::collections::HashMap;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

mod stored;
mod text;

use super::frame;
use crate::engine::Event;
use crate::engine::protocol::context_line;
use crate::tui::theme::Theme;
use crate::util::ids::TaskId;
use crate::util::text::{strip_control, width as width_of};
pub use text::describe_input;
use text::wrap_lines;

/// What an entry shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Turn,
    Thought,
    Action,
    Observation,
    Reflection,
    Status,
    Retry,
    Error,
    /// A turn's state was saved (quiet: a resume would continue from here).
    Checkpoint,
}

/// One line-group of the transcript.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub turn: Option<u32>,
    pub kind: Kind,
    pub text: String,
    pub ok: bool,
    pub expanded: bool,
    /// Wrapped lines at `wrapped_at` width.
    lines: Vec<String>,
    wrapped_at: u16,
}

impl Entry {
    pub fn new(turn: Option<u32>, kind: Kind, text: &str, ok: bool) -> Self {
        Self {
            turn,
            kind,
            text: strip_control(text),
            ok,
            expanded: false,
            lines: Vec::new(),
            wrapped_at: 0,
        }
    }

    fn prefix(&self) -> String {
        let t = self
            .turn
            .map_or_else(|| "  ".to_owned(), |t| format!("{t:>2}"));
        match self.kind {
            Kind::Turn => format!("── turn {} ", self.turn.unwrap_or(0)),
            Kind::Thought => format!("{t} ▸ "),
            Kind::Action => format!("{t} → "),
            Kind::Observation if self.ok => format!("{t} ← "),
            Kind::Observation => format!("{t} ✗ "),
            Kind::Reflection => format!("{t} ◦ "),
            Kind::Status => "   • ".to_owned(),
            Kind::Retry => "   ↺ ".to_owned(),
            Kind::Error => "   ! ".to_owned(),
            Kind::Checkpoint => format!("{t} ⚑ "),
        }
    }

    /// Lays the entry out for `width` columns (a no-op when already done).
    pub fn wrap(&mut self, width: u16) {
        if self.wrapped_at == width && !self.lines.is_empty() {
            return;
        }
        self.wrapped_at = width;
        let prefix = self.prefix();
        let indent = " ".repeat(width_of(&prefix));
        if self.kind == Kind::Observation && !self.expanded {
            // One line when collapsed: the output's lines joined, cut to the width,
            // with a count when not everything fits.
            let lines: Vec<&str> = self.text.lines().filter(|l| !l.trim().is_empty()).collect();
            let joined = lines.join(" ⏎ ");
            let w = usize::from(width);
            let mut line = format!("{prefix}{joined}");
            if width_of(&line) > w && lines.len() <= 1 {
                line = crate::util::text::ellipsize_cols(&line, w);
            } else if width_of(&line) > w {
                let note = format!("  … {} lines", lines.len());
                let keep = w.saturating_sub(width_of(&note)).max(width_of(&prefix) + 4);
                line = format!("{}{note}", crate::util::text::ellipsize_cols(&line, keep));
            }
            self.lines = vec![line];
            return;
        }
        let body: Vec<&str> = self.text.lines().collect();
        self.lines = wrap_lines(&prefix, &indent, &body, width);
        if self.kind == Kind::Turn {
            let w = usize::from(width);
            if let Some(l) = self.lines.first_mut() {
                let n = w.saturating_sub(width_of(l));
                l.push_str(&"─".repeat(n));
            }
        }
    }

    pub fn height(&self) -> usize {
        self.lines.len().max(1)
    }

    fn style(&self, th: &Theme) -> Style {
        match self.kind {
            Kind::Turn | Kind::Checkpoint => th.dim,
            Kind::Thought => th.thought,
            Kind::Action => th.action,
            Kind::Observation if self.ok => th.observation,
            Kind::Observation => th.observation_error,
            Kind::Reflection => th.reflection,
            Kind::Status => th.accent,
            Kind::Retry => th.cancelled,
            Kind::Error => th.error,
        }
    }
}

/// One task's transcript.
#[derive(Clone, Debug, Default)]
pub struct Transcript {
    pub entries: Vec<Entry>,
    /// The thought being streamed (`thought_delta`), replaced by the full thought.
    streaming: Option<usize>,
    /// Loaded from the store (a task of an earlier session).
    pub loaded: bool,
}

impl Transcript {
    /// An empty transcript for a task whose stored log is being loaded.
    pub fn loading() -> Self {
        Self {
            loaded: true,
            ..Self::default()
        }
    }

    fn push(&mut self, e: Entry, width: u16) {
        let mut e = e;
        e.wrap(width);
        self.entries.push(e);
    }

    /// A saved turn, shown quietly (a resume would continue from here).
    fn checkpoint(&mut self, turn: u32, id: &str, width: u16) {
        let text = format!("checkpoint {id}");
        self.push(Entry::new(Some(turn), Kind::Checkpoint, &text, true), width);
    }

    /// Adds what an engine event says about the task.
    pub fn apply(&mut self, ev: &Event, width: u16) {
        match ev {
            Event::TaskQueued { description } => self.push(
                Entry::new(None, Kind::Status, &format!("queued: {description}"), true),
                width,
            ),
            Event::TaskStarted { model, route } => self.push(
                Entry::new(
                    None,
                    Kind::Status,
                    &format!("started on {model}: {}", route.reason),
                    true,
                ),
                width,
            ),
            Event::TurnStarted { turn } => {
                self.push(Entry::new(Some(*turn), Kind::Turn, "", true), width);
            }
            Event::ThoughtDelta { turn, text } => {
                if let Some(i) = self.streaming {
                    let e = &mut self.entries[i];
                    e.text.push_str(&strip_control(text));
                    e.wrapped_at = 0;
                    e.wrap(width);
                } else {
                    self.streaming = Some(self.entries.len());
                    self.push(Entry::new(Some(*turn), Kind::Thought, text, true), width);
                }
            }
            Event::Thought { turn, text } => match self.streaming.take() {
                Some(i) => {
                    let e = &mut self.entries[i];
                    e.text = strip_control(text);
                    e.wrapped_at = 0;
                    e.wrap(width);
                }
                None => self.push(Entry::new(Some(*turn), Kind::Thought, text, true), width),
            },
            Event::Action { turn, tool, input } => {
                self.streaming = None;
                let shown = describe_input(input);
                self.push(
                    Entry::new(Some(*turn), Kind::Action, &format!("{tool} {shown}"), true),
                    width,
                );
            }
            Event::Observation {
                turn, ok, output, ..
            } => self.push(
                Entry::new(Some(*turn), Kind::Observation, output, *ok),
                width,
            ),
            Event::Reflection { turn, text } => {
                self.push(Entry::new(Some(*turn), Kind::Reflection, text, true), width);
            }
            Event::Context { sources, tokens } => self.push(
                Entry::new(None, Kind::Status, &context_line(sources, *tokens), true),
                width,
            ),
            Event::Retry {
                model,
                attempt,
                delay_ms,
                category,
            } => self.push(
                Entry::new(
                    None,
                    Kind::Retry,
                    &format!(
                        "{model}: {category}, attempt {attempt} in {:.1}s",
                        *delay_ms as f64 / 1000.0
                    ),
                    true,
                ),
                width,
            ),
            Event::Error { message, .. } => {
                self.push(Entry::new(None, Kind::Error, message, false), width);
            }
            Event::ApprovalRequested {
                turn,
                command,
                reason,
                ..
            } => self.push(
                Entry::new(
                    Some(*turn),
                    Kind::Retry,
                    &format!("awaiting approval: {command} ({reason})"),
                    true,
                ),
                width,
            ),
            Event::ApprovalAnswered {
                turn,
                command,
                decision,
                ..
            } => {
                // The words of the stored row, so a restart reads the same.
                let ok = *decision != crate::engine::Approval::Deny;
                let text = format!("{}: `{command}`", decision.said());
                self.push(Entry::new(Some(*turn), Kind::Status, &text, ok), width);
            }
            Event::Fallback {
                from_model,
                to_model,
                reason,
            } => self.push(
                Entry::new(
                    None,
                    Kind::Retry,
                    &format!("fallback {from_model} → {to_model}: {reason}"),
                    true,
                ),
                width,
            ),
            Event::TaskFinished {
                status,
                result,
                error,
                ..
            } => {
                self.streaming = None;
                // The result or error once: not again when the transcript already
                // shows it (a final thought that is the answer, an error line).
                let said = |kind: Kind, text: &str| {
                    self.entries
                        .iter()
                        .any(|e| e.kind == kind && e.text.trim() == strip_control(text).trim())
                };
                let text = match (result, error) {
                    (_, Some(e)) if !said(Kind::Error, e) => format!("{}: {e}", status.as_str()),
                    (Some(r), None) if !said(Kind::Thought, r) => {
                        format!("{}: {r}", status.as_str())
                    }
                    _ => status.as_str().to_owned(),
                };
                let kind = if *status == crate::store::TaskStatus::Completed {
                    Kind::Status
                } else {
                    Kind::Error
                };
                self.push(Entry::new(None, kind, &text, true), width);
            }
            Event::Notice { message } => {
                self.push(Entry::new(None, Kind::Status, message, true), width);
            }
            Event::Checkpoint {
                turn,
                checkpoint_id: id,
            } => self.checkpoint(*turn, id, width),
            Event::Alert { message, .. } => {
                self.push(Entry::new(None, Kind::Retry, message, true), width);
            }
            // Billing goes to the cost pane; machine health is never about one task.
            // A failed request shows as its `retry` or `fallback` line.
            Event::LlmCall { .. }
            | Event::RequestFailed { .. }
            | Event::Health { .. }
            | Event::ComponentHealth { .. }
            | Event::McpStatus { .. }
            | Event::Workers { .. }
            | Event::ModelsReloaded { .. } => {}
        }
    }
}

#[derive(Clone, Debug)]
pub struct TurnsState {
    pub transcripts: HashMap<TaskId, Transcript>,
    /// The task whose transcript is shown.
    pub shown: Option<TaskId>,
    /// Selected entry of the shown transcript.
    pub selected: usize,
    /// Keep the newest entry selected as entries arrive.
    pub follow: bool,
    /// Inner width and height at the last layout.
    pub width: u16,
    pub height: u16,
}

impl Default for TurnsState {
    fn default() -> Self {
        Self {
            transcripts: HashMap::new(),
            shown: None,
            selected: 0,
            follow: true,
            width: 80,
            height: 10,
        }
    }
}

impl TurnsState {
    pub fn transcript(&self) -> Option<&Transcript> {
        self.transcripts.get(self.shown.as_ref()?)
    }

    fn transcript_mut(&mut self) -> Option<&mut Transcript> {
        let id = self.shown.clone()?;
        self.transcripts.get_mut(&id)
    }

    pub fn apply(&mut self, id: &TaskId, ev: &Event) {
        let width = self.width;
        self.transcripts
            .entry(id.clone())
            .or_default()
            .apply(ev, width);
        if self.follow && self.shown.as_ref() == Some(id) {
            self.selected = self.len().saturating_sub(1);
        }
    }

    pub fn len(&self) -> usize {
        self.transcript().map_or(0, |t| t.entries.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn show(&mut self, id: Option<TaskId>) {
        if self.shown != id {
            self.shown = id;
            self.follow = true;
            self.selected = self.len().saturating_sub(1);
            self.rewrap();
        }
    }

    /// Re-wraps the shown transcript for a new width (others wrap when shown).
    pub fn set_size(&mut self, width: u16, height: u16) {
        self.height = height;
        if self.width != width {
            self.width = width;
            self.rewrap();
        }
    }

    fn rewrap(&mut self) {
        let w = self.width;
        if let Some(t) = self.transcript_mut() {
            for e in &mut t.entries {
                e.wrap(w);
            }
        }
    }

    pub fn move_by(&mut self, delta: isize) {
        let n = self.len();
        if n == 0 {
            return;
        }
        self.selected = self.selected.saturating_add_signed(delta).min(n - 1);
        self.follow = self.selected == n - 1;
    }

    pub fn toggle(&mut self) {
        let (sel, w) = (self.selected, self.width);
        if let Some(e) = self.transcript_mut().and_then(|t| t.entries.get_mut(sel))
            && e.kind == Kind::Observation
        {
            e.expanded = !e.expanded;
            e.wrapped_at = 0;
            e.wrap(w);
        }
    }

    pub fn set_follow(&mut self) {
        self.follow = !self.follow;
        if self.follow {
            self.selected = self.len().saturating_sub(1);
        }
    }

    /// Index of the first entry to draw so that the selected one is visible at
    /// the bottom (walks back over at most one screen of entries).
    fn first_visible(&self, t: &Transcript, height: usize) -> usize {
        let sel = self.selected.min(t.entries.len().saturating_sub(1));
        let mut used = 0;
        let mut first = sel;
        for i in (0..=sel).rev() {
            used += t.entries[i].height();
            if used > height {
                break;
            }
            first = i;
        }
        first
    }
}

pub struct TurnsPane<'a> {
    pub state: &'a TurnsState,
    pub theme: &'a Theme,
    pub focused: bool,
    /// Label of the shown task (id and description) for the title.
    pub title: String,
}

impl Widget for TurnsPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let th = self.theme;
        let hint = if self.state.follow {
            "following"
        } else {
            "f: follow"
        };
        let block = frame(&self.title, hint, self.focused, th);
        let inner = block.inner(area);
        block.render(area, buf);
        let Some(t) = self.state.transcript().filter(|t| !t.entries.is_empty()) else {
            let msg = if self.state.shown.is_some() {
                "Waiting for the first turn…"
            } else {
                "Select a task to see its turns."
            };
            Paragraph::new(Span::styled(msg, th.dim)).render(inner, buf);
            return;
        };
        let height = usize::from(inner.height);
        let first = self.state.first_visible(t, height);
        let mut y = inner.y;
        let bottom = inner.y + inner.height;
        for (i, e) in t.entries.iter().enumerate().skip(first) {
            let style = e.style(th);
            let selected = i == self.state.selected && self.focused;
            for l in &e.lines {
                if y >= bottom {
                    return;
                }
                let line = Line::from(Span::styled(
                    l.as_str(),
                    if selected { th.selected } else { style },
                ));
                buf.set_line(inner.x, y, &line, inner.width);
                y += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests;
