//! The task input: a multi-line editor (ratatui-textarea) that wraps its text and
//! grows with it (up to five rows) instead of scrolling sideways, with paste and a
//! history of submitted tasks that Up/Down reach from the first/last row.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;
use ratatui_textarea::{CursorMove, TextArea, WrapMode};
use unicode_width::UnicodeWidthChar;

use super::frame;
use crate::tui::theme::Theme;

/// Most rows of text the input grows to; longer text scrolls inside it.
const MAX_ROWS: usize = 5;

#[derive(Clone, Debug, Default)]
pub struct InputState {
    pub textarea: TextArea<'static>,
    pub history: Vec<String>,
    /// Position while browsing the history (`None`: editing a new task).
    pub history_pos: Option<usize>,
    /// Columns for text at the last layout (the terminal's width less the border).
    pub width: u16,
}

impl InputState {
    pub fn text(&self) -> String {
        self.textarea.lines().join("\n")
    }

    pub fn set_text(&mut self, text: &str) {
        self.textarea = TextArea::new(text.lines().map(str::to_owned).collect());
        self.textarea.move_cursor(CursorMove::Bottom);
        self.textarea.move_cursor(CursorMove::End);
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

    /// Up: to the row above (a wrapped row of the same line, or the line above);
    /// from the first row, the previous task of the history.
    pub fn up(&mut self) {
        if !self.move_row(true) {
            self.history_step(true);
        }
    }

    /// Down: to the row below; from the last row, the next task of the history.
    pub fn down(&mut self) {
        if !self.move_row(false) {
            self.history_step(false);
        }
    }

    /// Moves the cursor one row on screen, keeping its column where it can;
    /// `false` when it is already on the first (or last) row.
    fn move_row(&mut self, up: bool) -> bool {
        let ratatui_textarea::DataCursor(row, col) = self.textarea.cursor();
        let lines = self.textarea.lines();
        let here = segments(&lines[row], self.width);
        let k = here
            .iter()
            .rposition(|(start, _)| *start <= col)
            .unwrap_or(0);
        let offset = col - here[k].0;
        let (to_row, (start, end)) = match (up, k) {
            (true, k) if k > 0 => (row, here[k - 1]),
            (true, _) if row > 0 => {
                let above = segments(&lines[row - 1], self.width);
                (row - 1, above[above.len() - 1])
            }
            (false, k) if k + 1 < here.len() => (row, here[k + 1]),
            (false, _) if row + 1 < lines.len() => {
                (row + 1, segments(&lines[row + 1], self.width)[0])
            }
            _ => return false,
        };
        // A row that wraps ends where the next starts: stay before that point.
        let last = if end > start && to_row == row && (up || k + 1 < here.len()) {
            end - 1
        } else {
            end
        };
        let to_col = (start + offset).min(last.max(start));
        let (r, c) = (
            u16::try_from(to_row).unwrap_or(u16::MAX),
            u16::try_from(to_col).unwrap_or(u16::MAX),
        );
        self.textarea.move_cursor(CursorMove::Jump(r, c));
        true
    }

    /// Rows the text takes wrapped to the input's width (1 to 5), plus its border.
    pub fn height(&self) -> u16 {
        let rows: usize = self
            .textarea
            .lines()
            .iter()
            .map(|l| segments(l, self.width).len())
            .sum();
        u16::try_from(rows.clamp(1, MAX_ROWS)).unwrap_or(5) + 2
    }
}

/// Where a line wraps at `width` columns: (first char, end char) of each row, by
/// display width (a CJK character or an emoji takes two columns). Words move to the
/// next row whole when they fit on one, as the editor wraps them.
pub fn segments(line: &str, width: u16) -> Vec<(usize, usize)> {
    let width = usize::from(width.max(1));
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        let mut used = 0;
        let mut end = start;
        while end < chars.len() {
            let w = chars[end].width().unwrap_or(0);
            if used + w > width {
                break;
            }
            used += w;
            end += 1;
        }
        if end >= chars.len() {
            out.push((start, chars.len()));
            return out;
        }
        // Break after the last space of the row, if the row has one past its start.
        let brk = (start + 1..=end)
            .rev()
            .find(|&i| chars[i - 1] == ' ')
            .unwrap_or(end.max(start + 1));
        out.push((start, brk));
        start = brk;
    }
    if out.is_empty() {
        out.push((0, 0));
    }
    out
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
        ta.set_wrap_mode(WrapMode::WordOrGlyph);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_wrap_at_spaces_by_display_width() {
        assert_eq!(segments("", 10), vec![(0, 0)]);
        assert_eq!(segments("hello world", 20), vec![(0, 11)]);
        // "hello " fits on the first row, "world" moves down whole.
        assert_eq!(segments("hello world", 8), vec![(0, 6), (6, 11)]);
        // No space: cut at the width. Wide characters count two columns.
        assert_eq!(segments("abcdefghij", 4), vec![(0, 4), (4, 8), (8, 10)]);
        assert_eq!(segments("漢字漢字漢", 4), vec![(0, 2), (2, 4), (4, 5)]);
    }
}
