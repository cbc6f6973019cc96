//! Plain-text tables for human output: aligned columns, optional colour, cells
//! cleaned of control characters and cut to a sane width.

use anstyle::Style;

use super::style::{bold, paint};
use crate::util::text::{ellipsize, strip_control};

/// A table under construction.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<(String, Style)>>,
    color: bool,
}

/// Widest a cell may be before it is cut.
const MAX_CELL: usize = 60;

impl Table {
    pub fn new(headers: Vec<&'static str>, color: bool) -> Self {
        Self {
            headers,
            rows: Vec::new(),
            color,
        }
    }

    /// Adds a row of unstyled cells.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows
            .push(cells.into_iter().map(|c| (c, Style::new())).collect());
    }

    /// Adds a row with a style per cell.
    pub fn styled_row(&mut self, cells: Vec<(String, Style)>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let clean = |s: &str| ellipsize(&strip_control(s).replace('\n', " "), MAX_CELL);
        let rows: Vec<Vec<(String, Style)>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(|(c, s)| (clean(c), *s)).collect())
            .collect();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &rows {
            for (i, (c, _)) in r.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(c.chars().count());
                }
            }
        }
        let mut out = String::new();
        let last = self.headers.len().saturating_sub(1);
        let line = |out: &mut String, cells: Vec<(String, Style)>| {
            for (i, (c, s)) in cells.into_iter().enumerate() {
                let pad = widths
                    .get(i)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(c.chars().count());
                out.push_str(&paint(self.color, s, &c));
                if i < last {
                    out.push_str(&" ".repeat(pad + 2));
                }
            }
            out.push('\n');
        };
        line(
            &mut out,
            self.headers
                .iter()
                .map(|h| ((*h).to_owned(), bold()))
                .collect(),
        );
        for r in rows {
            line(&mut out, r);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_control_sequences_are_removed() {
        let mut t = Table::new(vec!["ID", "NAME"], false);
        t.row(vec!["1".into(), "a\u{1b}[31mred".into()]);
        t.row(vec!["200".into(), "b".into()]);
        assert_eq!(t.render(), "ID   NAME\n1    ared\n200  b\n");
    }
}
