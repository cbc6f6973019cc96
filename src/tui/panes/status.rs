//! The status bar: the latest message, counts of running and queued tasks,
//! today's spend, and key hints for the focused context, generated from the
//! keymap's descriptions.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use crate::tui::theme::Theme;

/// How a status message should look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Tone {
    #[default]
    Info,
    Warn,
    Error,
}

/// What a message is about, so it goes when that changes instead of lingering.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Scope {
    /// Stays its time (or, for errors, until replaced).
    #[default]
    Any,
    /// About the input ("Type a task first"): gone once the user types.
    Input,
    /// About one task's end ("Task … cancelled"): gone when it is queued again.
    Task(crate::util::ids::TaskId),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatusState {
    pub message: String,
    pub tone: Tone,
    /// When the message was set (seconds); it is shown for `SHOWN_FOR` (or `ttl`).
    /// `update` stamps it whenever `seq` moved.
    pub set_at: f64,
    /// Bumped by every [`StatusState::set`].
    pub seq: u64,
    /// Seconds this message is true for, when shorter than `SHOWN_FOR` (a window
    /// that closes: "Press Ctrl-C again").
    pub ttl: Option<f64>,
    pub scope: Scope,
}

/// Seconds a status message stays (errors stay until replaced).
const SHOWN_FOR: f64 = 15.0;

impl StatusState {
    pub fn visible(&self, now: f64) -> bool {
        !self.message.is_empty()
            && match self.ttl {
                Some(ttl) => now - self.set_at < ttl,
                None => self.tone == Tone::Error || now - self.set_at < SHOWN_FOR,
            }
    }

    /// When the message on screen stops being shown, so the loop can redraw then
    /// (once; an idle screen still draws nothing after that).
    pub fn expires_at(&self) -> Option<f64> {
        if self.message.is_empty() {
            return None;
        }
        match self.ttl {
            Some(ttl) => Some(self.set_at + ttl),
            None if self.tone == Tone::Error => None,
            None => Some(self.set_at + SHOWN_FOR),
        }
    }

    /// Forgets a message that is no longer shown.
    pub fn expire(&mut self, now: f64) {
        if !self.visible(now) {
            self.clear();
        }
    }

    pub fn clear(&mut self) {
        self.message.clear();
        self.ttl = None;
        self.scope = Scope::Any;
    }

    pub fn set(&mut self, tone: Tone, message: impl Into<String>) {
        self.seq += 1;
        self.tone = tone;
        self.ttl = None;
        self.scope = Scope::Any;
        self.message = crate::util::text::strip_control(&message.into()).replace('\n', " ");
    }

    /// A message true for `ttl` seconds only.
    pub fn set_for(&mut self, tone: Tone, message: impl Into<String>, ttl: f64) {
        self.set(tone, message);
        self.ttl = Some(ttl);
    }

    /// A message about `scope`, cleared when that changes (see [`Scope`]).
    pub fn set_about(&mut self, tone: Tone, message: impl Into<String>, scope: Scope) {
        self.set(tone, message);
        self.scope = scope;
    }

    /// The input changed: a message about it is stale.
    pub fn input_changed(&mut self) {
        if self.scope == Scope::Input {
            self.clear();
        }
    }

    /// `task` is queued or running again: a message about how it ended is stale.
    pub fn task_restarted(&mut self, task: &crate::util::ids::TaskId) {
        if self.scope == Scope::Task(task.clone()) {
            self.clear();
        }
    }
}

pub struct StatusBar<'a> {
    pub state: &'a StatusState,
    pub theme: &'a Theme,
    /// (key, description) hints for the focused context.
    pub hints: Vec<(String, String)>,
    /// Right side: counts and spend.
    pub summary: String,
    /// The time of the latest message, to expire old status messages.
    pub now: f64,
    /// Shown first, whatever the message: something waiting for the user (an
    /// approval request).
    pub pinned: Option<String>,
}

impl Widget for StatusBar<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let th = self.theme;
        buf.set_style(area, th.status_bar);
        let mut spans = Vec::new();
        let right = format!(" {} ", self.summary);
        let rw = u16::try_from(crate::util::text::width(&right)).unwrap_or(0);
        let room = usize::from(area.width.saturating_sub(rw));
        let mut used = 0;
        if let Some(p) = &self.pinned {
            let msg = crate::util::text::ellipsize(p, room.saturating_sub(3).max(1));
            used += msg.chars().count() + 3;
            spans.push(Span::styled(
                format!(" {msg} "),
                th.status_bar.patch(th.gauge_warn),
            ));
            spans.push(Span::styled("│", th.status_bar));
        }
        if self.state.visible(self.now) && used + 8 < room {
            let style = match self.state.tone {
                Tone::Info => th.status_bar,
                Tone::Warn => th.status_bar.patch(th.status_warn),
                Tone::Error => th.status_bar.patch(th.status_error),
            };
            let msg = crate::util::text::ellipsize_cols(
                &self.state.message,
                room.saturating_sub(used + 3).max(1),
            );
            used += crate::util::text::width(&msg) + 3;
            spans.push(Span::styled(format!(" {msg} "), style));
            spans.push(Span::styled("│", th.status_bar));
        }
        // Whole hints only: one that does not fit is left out, not cut.
        for (k, d) in &self.hints {
            let w = crate::util::text::width(k) + crate::util::text::width(d) + 3;
            if used + w > room {
                break;
            }
            used += w;
            spans.push(Span::styled(
                format!(" {k}"),
                th.status_bar.patch(th.status_key),
            ));
            spans.push(Span::styled(format!(" {d} "), th.status_bar));
        }
        buf.set_line(
            area.x,
            area.y,
            &Line::from(spans),
            area.width.saturating_sub(rw),
        );
        if area.width > rw {
            buf.set_line(
                area.x + area.width - rw,
                area.y,
                &Line::from(Span::styled(right, th.status_bar)),
                rw,
            );
        }
    }
}
