//! The cost meter: the selected task against its cap, this session, today against
//! the daily budget, spend by model, and a sparkline of spend per minute.

use std::collections::BTreeMap;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Sparkline, Widget};

use super::frame;
use crate::tui::theme::Theme;

/// Minutes of spend the sparkline keeps.
const BUCKETS: usize = 60;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct CostState {
    pub session_usd: f64,
    pub today_usd: f64,
    pub budget_day: f64,
    pub budget_task: f64,
    /// Spend today by model (ledger at start, plus this session's calls).
    pub by_model: BTreeMap<String, f64>,
    /// Spend per minute, oldest first, in micro-dollars.
    pub spark: Vec<u64>,
    /// Minute (Unix seconds / 60) of the last bucket.
    pub last_minute: i64,
}

impl CostState {
    pub fn new(budget_day: f64, budget_task: f64) -> Self {
        Self {
            budget_day,
            budget_task,
            spark: vec![0; BUCKETS],
            ..Self::default()
        }
    }

    /// Adds one billed call made at `now`.
    pub fn add(&mut self, model: &str, usd: f64, now: f64) {
        self.session_usd += usd;
        self.today_usd += usd;
        *self.by_model.entry(model.to_owned()).or_default() += usd;
        self.advance(now);
        if let Some(last) = self.spark.last_mut() {
            *last += (usd * 1e6).round() as u64;
        }
    }

    /// Moves the sparkline window to the minute of `now`.
    pub fn advance(&mut self, now: f64) {
        let minute = (now / 60.0).floor() as i64;
        if self.spark.len() != BUCKETS {
            self.spark = vec![0; BUCKETS];
        }
        if self.last_minute == 0 {
            self.last_minute = minute;
            return;
        }
        let gap = usize::try_from(minute - self.last_minute)
            .unwrap_or(0)
            .min(BUCKETS);
        if gap > 0 {
            self.spark.drain(..gap);
            self.spark.extend(std::iter::repeat_n(0, gap));
            self.last_minute = minute;
        }
    }

    pub fn over_day(&self) -> bool {
        self.budget_day > 0.0 && self.today_usd >= self.budget_day
    }
}

pub struct CostPane<'a> {
    pub state: &'a CostState,
    pub theme: &'a Theme,
    pub focused: bool,
    /// The selected task's spend and cap.
    pub task: Option<(f64, f64)>,
}

fn meter(label: &str, spent: f64, cap: f64, width: usize, th: &Theme) -> Line<'static> {
    let over = cap > 0.0 && spent >= cap;
    let ratio = if cap > 0.0 {
        (spent / cap).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let cap_s = crate::util::text::dollars(cap);
    let mut text = format!("{label:<8}${spent:.4}/{cap_s}");
    if text.chars().count() + if over { 5 } else { 0 } > width {
        text = format!("{label:<6}${spent:.3}/{cap_s}");
    }
    let tail = if over { " OVER" } else { "" };
    // The bar goes first when space is short; the numbers and OVER stay.
    let bar_w = width.saturating_sub(text.chars().count() + tail.len() + 1);
    let mut spans = vec![Span::styled(
        text,
        if over { th.over_budget } else { th.text },
    )];
    if bar_w >= 4 {
        let filled = ((bar_w as f64) * ratio).round() as usize;
        let style = if over {
            th.over_budget
        } else if ratio > 0.8 {
            th.gauge_warn
        } else {
            th.gauge_ok
        };
        spans.push(Span::raw(" "));
        spans.push(Span::styled("█".repeat(filled), style));
        spans.push(Span::styled("░".repeat(bar_w - filled), th.dim));
    }
    if over {
        spans.push(Span::styled(tail, th.over_budget));
    }
    Line::from(spans)
}

impl Widget for CostPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (s, th) = (self.state, self.theme);
        let block = frame("Cost", "", self.focused, th);
        let inner = block.inner(area);
        block.render(area, buf);
        let w = usize::from(inner.width);
        let mut lines = Vec::new();
        match self.task {
            Some((spent, cap)) => lines.push(meter("task", spent, cap, w, th)),
            None => lines.push(Line::from(Span::styled("task  -", th.dim))),
        }
        lines.push(Line::from(vec![
            Span::styled(if w >= 30 { "session " } else { "sess. " }, th.text),
            Span::styled(format!("${:.4}", s.session_usd), th.accent),
        ]));
        lines.push(meter("today", s.today_usd, s.budget_day, w, th));
        let mut models: Vec<(&String, &f64)> = s.by_model.iter().collect();
        models.sort_by(|a, b| b.1.total_cmp(a.1));
        for (m, usd) in models.iter().take(3) {
            let name = crate::util::text::fit(m, w.saturating_sub(12).max(4));
            lines.push(Line::from(Span::styled(
                format!("  {name}${usd:.4}"),
                th.dim,
            )));
        }
        let used = u16::try_from(lines.len())
            .unwrap_or(u16::MAX)
            .min(inner.height);
        for (i, l) in lines.iter().take(usize::from(used)).enumerate() {
            buf.set_line(
                inner.x,
                inner.y + u16::try_from(i).unwrap_or(0),
                l,
                inner.width,
            );
        }
        if inner.height > used + 1 {
            let spark_area = Rect {
                x: inner.x,
                y: inner.y + used,
                width: inner.width,
                height: inner.height - used,
            };
            let data: Vec<u64> = s
                .spark
                .iter()
                .rev()
                .take(usize::from(inner.width))
                .rev()
                .copied()
                .collect();
            Sparkline::default()
                .data(&data)
                .style(Style::default().patch(th.accent))
                .render(spark_area, buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spend_lands_in_the_current_minute_and_the_window_slides() {
        let mut c = CostState::new(5.0, 0.5);
        c.add("m", 0.001, 600.0);
        assert_eq!(*c.spark.last().unwrap(), 1000);
        c.add("m", 0.002, 720.0);
        assert_eq!(c.spark[BUCKETS - 3..], [1000, 0, 2000]);
        assert!((c.session_usd - 0.003).abs() < 1e-12);
        c.add("m", 10.0, 730.0);
        assert!(c.over_day());
    }
}
