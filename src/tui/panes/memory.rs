//! The memory browser: lessons from past tasks, newest first or as search hits (by words
//! and meaning), each with how often tasks recalled it and where it applies; `/` edits
//! the query, Enter views a lesson with its provenance, `a` adds one and `e` edits the
//! selected one on an input line at the top, `d` deletes one (after confirming).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::frame;
use crate::store::memories::Memory;
use crate::tui::theme::Theme;
use crate::util::text::{ellipsize, ellipsize_cols, strip_control, width};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemoryState {
    pub items: Vec<Memory>,
    pub selected: usize,
    /// The query being typed (`Some` while the search line has focus).
    pub editing: Option<String>,
    /// The query the list shows hits for.
    pub query: Option<String>,
    pub height: usize,
    /// Searching the workdir's documents instead of lessons (`t` toggles).
    pub docs: bool,
    /// The document hits of the last docs search, best first.
    pub doc_hits: Vec<crate::knowledge::Hit>,
    /// Where the document indexes live (the home); `None`: no docs search.
    pub index_home: Option<std::path::PathBuf>,
    /// A lesson being written (`a`) or edited (`e`).
    pub draft: Option<Draft>,
}

/// The input line of a lesson being written or edited.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Draft {
    /// `None`: a new lesson; else the id of the lesson edited.
    pub id: Option<String>,
    pub text: String,
    /// Index into `crate::memory::CATEGORIES` (Tab cycles).
    pub category: usize,
}

impl Draft {
    pub fn category(&self) -> &'static str {
        crate::memory::CATEGORIES
            .get(self.category)
            .copied()
            .unwrap_or("general")
    }
}

impl MemoryState {
    pub fn selected_item(&self) -> Option<&Memory> {
        self.items.get(self.selected)
    }

    pub fn set_items(&mut self, items: Vec<Memory>) {
        self.items = items;
        self.selected = self.selected.min(self.items.len().saturating_sub(1));
    }

    pub fn move_by(&mut self, delta: isize) {
        let n = self.len();
        if n > 0 {
            self.selected = self.selected.saturating_add_signed(delta).min(n - 1);
        }
    }

    /// Rows in the list shown (lessons, or document hits).
    pub fn len(&self) -> usize {
        if self.docs {
            self.doc_hits.len()
        } else {
            self.items.len()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The selected document hit (in docs mode).
    pub fn selected_doc(&self) -> Option<&crate::knowledge::Hit> {
        self.docs
            .then(|| self.doc_hits.get(self.selected))
            .flatten()
    }
}

pub struct MemoryPane<'a> {
    pub state: &'a MemoryState,
    pub theme: &'a Theme,
    pub focused: bool,
}

impl Widget for MemoryPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (s, th) = (self.state, self.theme);
        if s.docs {
            render_docs(s, th, self.focused, area, buf);
            return;
        }
        let title = match &s.query {
            Some(q) => format!(
                "Memory · {} hits for \"{}\"",
                s.items.len(),
                ellipsize(q, 20)
            ),
            None => format!("Memory · {}", s.items.len()),
        };
        let block = frame(&title, "/ search · a add · t docs", self.focused, th);
        let inner = block.inner(area);
        block.render(area, buf);
        let y = search_line(s, th, inner, buf);
        if s.items.is_empty() {
            let msg = if s.query.is_some() {
                "No lesson matches."
            } else {
                "No lessons yet."
            };
            Paragraph::new(Span::styled(msg, th.dim)).render(below(inner, y), buf);
            return;
        }
        let lines = s.items.iter().map(|m| {
            let used = format!("{:>3}× ", m.access_count.min(999));
            let scope = format!("{:<8} ", ellipsize_cols(&scope_name(m), 8));
            let cat = format!("[{}] ", ellipsize_cols(&strip_control(&m.category), 12));
            let text = ellipsize_cols(
                &strip_control(&m.lesson).replace('\n', " "),
                usize::from(inner.width)
                    .saturating_sub(width(&used) + width(&scope) + width(&cat))
                    .max(1),
            );
            Line::from(vec![
                Span::styled(used, th.dim),
                Span::styled(scope, th.accent),
                Span::styled(cat, th.dim),
                Span::styled(text, th.text),
            ])
        });
        draw_rows(lines, s.selected, self.focused, th, inner, y, buf);
    }
}

/// Docs mode: the workdir's document hits for the query, `path:start-end` and the
/// chunk's first line.
fn render_docs(s: &MemoryState, th: &Theme, focused: bool, area: Rect, buf: &mut Buffer) {
    let title = match &s.query {
        Some(q) => format!(
            "Docs · {} hits for \"{}\"",
            s.doc_hits.len(),
            ellipsize(q, 20)
        ),
        None => "Docs".to_owned(),
    };
    let block = frame(&title, "/ search · t lessons", focused, th);
    let inner = block.inner(area);
    block.render(area, buf);
    let y = search_line(s, th, inner, buf);
    if s.doc_hits.is_empty() {
        let msg = if s.query.is_some() {
            "No document matches (index the workdir with az-os index)."
        } else {
            "Press / to search the workdir's documents."
        };
        Paragraph::new(Span::styled(msg, th.dim)).render(below(inner, y), buf);
        return;
    }
    let lines = s.doc_hits.iter().map(|h| {
        let place = format!(
            "{}:{}-{} ",
            strip_control(&h.path),
            h.start_line,
            h.end_line
        );
        let place = ellipsize_cols(&place, usize::from(inner.width) / 2);
        let first = h.text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        let text = ellipsize_cols(
            &strip_control(first.trim()),
            usize::from(inner.width)
                .saturating_sub(width(&place))
                .max(1),
        );
        Line::from(vec![
            Span::styled(place, th.accent),
            Span::styled(text, th.text),
        ])
    });
    draw_rows(lines, s.selected, focused, th, inner, y, buf);
}

/// The list's rows from row `top` down, scrolled so `selected` shows, highlighted when
/// the pane has focus.
fn draw_rows<'a>(
    lines: impl Iterator<Item = Line<'a>>,
    selected: usize,
    focused: bool,
    th: &Theme,
    inner: Rect,
    top: u16,
    buf: &mut Buffer,
) {
    let rows = usize::from(inner.height.saturating_sub(top - inner.y));
    let offset = selected.saturating_sub(rows.saturating_sub(1));
    for (y, (i, mut line)) in (top..).zip(lines.enumerate().skip(offset).take(rows)) {
        if i == selected && focused {
            line = super::select_line(line, th);
        }
        buf.set_line(inner.x, y, &line, inner.width);
    }
}

/// Where a lesson applies, short: `global`, or its workdir's folder name.
pub fn scope_name(m: &Memory) -> String {
    m.scope.as_deref().map_or_else(
        || "global".to_owned(),
        |s| {
            let name = std::path::Path::new(s)
                .file_name()
                .map_or_else(|| s.to_owned(), |n| n.to_string_lossy().into_owned());
            strip_control(&name)
        },
    )
}

/// The input line of a lesson being written or edited, or the search line while a query
/// is typed; the first row below it.
fn search_line(s: &MemoryState, th: &Theme, inner: Rect, buf: &mut Buffer) -> u16 {
    if let Some(d) = &s.draft {
        let what = if d.id.is_some() { "edit" } else { "new" };
        let head = format!("{what} [{}] ", d.category());
        let full = usize::from(inner.width).saturating_sub(width(&head) + 1);
        // The keys while there is room for them and 30 columns of text; the text first.
        let hint = " Tab category · Enter save · Esc cancel";
        let hint = if full >= width(hint) + 30 { hint } else { "" };
        let room = full.saturating_sub(width(hint));
        // The end of a long text shows: that is where the cursor is.
        let shown: String = {
            let chars: Vec<char> = strip_control(&d.text).chars().collect();
            let mut kept = Vec::new();
            let mut cols = 0;
            for c in chars.iter().rev() {
                let w = width(&c.to_string());
                if cols + w > room.max(1) {
                    break;
                }
                cols += w;
                kept.push(*c);
            }
            kept.into_iter().rev().collect()
        };
        let line = Line::from(vec![
            Span::styled(head, th.accent),
            Span::styled(format!("{shown}▏"), th.input),
            Span::styled(hint, th.dim),
        ]);
        buf.set_line(inner.x, inner.y, &line, inner.width);
        return inner.y + 1;
    }
    let Some(q) = &s.editing else {
        return inner.y;
    };
    let line = Line::from(vec![
        Span::styled("/", th.accent),
        Span::styled(format!("{q}▏"), th.input),
    ]);
    buf.set_line(inner.x, inner.y, &line, inner.width);
    inner.y + 1
}

/// What of `inner` lies from row `y` down.
fn below(inner: Rect, y: u16) -> Rect {
    Rect {
        y,
        height: inner.height.saturating_sub(y - inner.y),
        ..inner
    }
}
