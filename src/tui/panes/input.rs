//! The task input: a multi-line editor (ratatui-textarea) with paste and a
//! history of submitted tasks.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;
use ratatui_textarea::TextArea;

use super::frame;
use crate::tui::theme::Theme;

#[derive(Clone, Debug, Default)]
pub struct InputState {
    pub textarea: TextArea<'static>,
    pub history: Vec<String>,
    /// Position while browsing the history (`None`: editing a new task).
    pub history_pos: Option<usize>,
}

impl InputState {
    pub fn text(&self) -> String {
        self.textarea.lines().join("\n")
    }

    pub fn set_text(&mut self, text: &str) {
        self.textarea = TextArea::new(text.lines().map(str::to_owned).collect());
        self.textarea
            .move_cursor(ratatui_textarea::CursorMove::Bottom);
        self.textarea.move_cursor(ratatui_textarea::CursorMove::End);
    }

    /// Takes the text out (for submitting) and remembers it.
    pub fn take(&mut self) -> String {
        let t = self.text().trim().to_owned();
        if !t.is_empty() && self.history.last() != Some(&t) {
            self.history.push(t.clone());
        }
        self.history_pos = None;
        self.textarea = TextArea::default();
        t
    }

    pub fn history_step(&mut self, back: bool) {
        if self.history.is_empty() {
            return;
        }
        let last = self.history.len() - 1;
        self.history_pos = match (self.history_pos, back) {
            (None, true) => Some(last),
            (None, false) => None,
            (Some(p), true) => Some(p.saturating_sub(1)),
            (Some(p), false) if p >= last => None,
            (Some(p), false) => Some(p + 1),
        };
        let text = self
            .history_pos
            .map(|p| self.history[p].clone())
            .unwrap_or_default();
        self.set_text(&text);
    }

    /// Lines the editor needs (1 to 5) plus its border.
    pub fn height(&self) -> u16 {
        u16::try_from(self.textarea.lines().len().clamp(1, 5)).unwrap_or(5) + 2
    }
}

pub struct InputPane<'a> {
    pub state: &'a InputState,
    pub theme: &'a Theme,
    pub focused: bool,
    pub hint: &'a str,
}

impl Widget for InputPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let th = self.theme;
        let block = frame("New task", self.hint, self.focused, th);
        let inner = block.inner(area);
        block.render(area, buf);
        let mut ta = self.state.textarea.clone();
        ta.set_style(th.input);
        ta.set_cursor_line_style(ratatui::style::Style::default());
        ta.set_placeholder_text("Type a task and press Enter");
        ta.set_placeholder_style(th.placeholder);
        if !self.focused {
            ta.set_cursor_style(ratatui::style::Style::default());
        }
        ta.render(inner, buf);
    }
}
