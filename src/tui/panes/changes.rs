//! What a task changed, as a popup: its files with +/- line counts (from the task's
//! checkpoints, baseline against last), and one file's diff, scrollable. Rollback
//! from here asks first (`Confirm::Rollback`). The data comes from
//! `crate::checkpoint` through effects; this file only holds and draws it.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::popups::Sheet;
use crate::checkpoint::{Change, FileChange};
use crate::tui::theme::Theme;
use crate::util::ids::TaskId;
use crate::util::text::strip_control;

/// The popup's state.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangesState {
    pub task: TaskId,
    /// `None` while loading.
    pub files: Option<Vec<FileChange>>,
    /// Why the files could not be read (no checkpoints, a damaged repository).
    pub error: Option<String>,
    pub selected: usize,
    /// The open file's diff: its path, its text (`None` while loading) and scroll.
    pub diff: Option<FileDiff>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FileDiff {
    pub path: String,
    pub text: Option<String>,
    pub scroll: u16,
}

impl ChangesState {
    pub fn loading(task: TaskId) -> Self {
        Self {
            task,
            files: None,
            error: None,
            selected: 0,
            diff: None,
        }
    }

    /// The selected file's path.
    pub fn selected_path(&self) -> Option<&str> {
        self.files
            .as_ref()?
            .get(self.selected)
            .map(|f| f.path.as_str())
    }

    /// Moves the selection by `delta`, within the list.
    pub fn move_by(&mut self, delta: isize) {
        let n = self.files.as_ref().map_or(0, Vec::len);
        if n == 0 {
            return;
        }
        let to = self.selected.saturating_add_signed(delta);
        self.selected = to.min(n - 1);
    }

    /// Rows above the first file in the list sheet.
    pub const HEADER_ROWS: usize = 2;
}

/// The list of files (or what is going on instead).
pub fn list_sheet<'a>(th: &Theme, s: &ChangesState) -> Sheet<'a> {
    let mut lines = Vec::new();
    let short: String = s.task.as_str().chars().take(6).collect();
    match (&s.files, &s.error) {
        (_, Some(e)) => {
            lines.push(Line::from(Span::styled(format!("task {short}"), th.dim)));
            lines.push(Line::default());
            lines.extend(
                strip_control(e)
                    .lines()
                    .map(|l| Line::from(Span::styled(l.to_owned(), th.error))),
            );
        }
        (None, None) => {
            lines.push(Line::from(Span::styled(format!("task {short}"), th.dim)));
            lines.push(Line::default());
            lines.push(Line::from(Span::styled("Reading checkpoints…", th.dim)));
        }
        (Some(files), None) => {
            let (plus, minus) = files
                .iter()
                .fold((0, 0), |(p, m), f| (p + f.added, m + f.removed));
            lines.push(Line::from(Span::styled(
                format!(
                    "task {short} · {} file(s) changed · +{plus} -{minus}",
                    files.len()
                ),
                th.dim,
            )));
            lines.push(Line::default());
            if files.is_empty() {
                lines.push(Line::from(Span::styled(
                    "The task changed no files since its first checkpoint.",
                    th.text,
                )));
            }
            for (i, f) in files.iter().enumerate() {
                let (word, style) = match f.change {
                    Change::Added => ("added   ", th.completed),
                    Change::Modified => ("modified", th.running),
                    Change::Deleted => ("deleted ", th.failed),
                    Change::TypeChanged => ("type    ", th.running),
                };
                let counts = if f.binary {
                    "binary".to_owned()
                } else {
                    format!("+{} -{}", f.added, f.removed)
                };
                let marker = if i == s.selected { "▶ " } else { "  " };
                let path_style = if i == s.selected {
                    th.selected
                } else {
                    th.text
                };
                lines.push(Line::from(vec![
                    Span::styled(marker, th.accent),
                    Span::styled(word, style),
                    Span::styled(format!(" {counts:>12}  "), th.dim),
                    Span::styled(strip_control(&f.path), path_style),
                ]));
            }
        }
    }
    Sheet::new(
        "Changes",
        "Enter diff · u roll back · Esc close",
        lines,
        100,
    )
}

/// Draws the popup: the diff when one is open, else the list scrolled to keep the
/// selected file in view.
pub fn render(screen: Rect, buf: &mut Buffer, th: &Theme, c: &ChangesState) {
    if let Some(d) = &c.diff {
        diff_sheet(th, d).render(screen, buf, th, d.scroll);
        return;
    }
    let sheet = list_sheet(th, c);
    let page = usize::from(sheet.page(screen));
    let row = c.selected + ChangesState::HEADER_ROWS;
    let scroll = u16::try_from((row + 1).saturating_sub(page)).unwrap_or(0);
    sheet.render(screen, buf, th, scroll);
}

/// One file's diff, coloured by line.
pub fn diff_sheet<'a>(th: &Theme, d: &FileDiff) -> Sheet<'a> {
    let lines = match &d.text {
        None => vec![Line::from(Span::styled("Reading the diff…", th.dim))],
        Some(text) => text
            .lines()
            .map(|l| {
                let style = if l.starts_with("+++") || l.starts_with("---") {
                    th.dim
                } else if l.starts_with('+') {
                    th.completed
                } else if l.starts_with('-') {
                    th.failed
                } else if l.starts_with("@@") {
                    th.accent
                } else {
                    th.text
                };
                Line::from(Span::styled(strip_control(l), style))
            })
            .collect(),
    };
    Sheet::new("Diff", "Esc back to the files", lines, 120)
}
