//! Health gauges: CPU, memory and disk with their levels, load and our memory,
//! the database and each provider (latency, rate-limit headroom), and alerts
//! that are still active.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::frame;
use crate::health::Level;
use crate::health::checks::ComponentCheck;
use crate::health::machine::{Gauge, MachineSnapshot};
use crate::health::metrics::ServiceMetrics;
use crate::tui::theme::Theme;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthState {
    pub machine: Option<MachineSnapshot>,
    pub gauges: Vec<Gauge>,
    pub components: Vec<ComponentCheck>,
    pub metrics: Option<ServiceMetrics>,
    /// Recent alerts, newest last: (key, level, message).
    pub alerts: Vec<(String, Level, String)>,
}

impl HealthState {
    pub fn alert(&mut self, key: &str, level: Level, message: &str) {
        self.alerts.retain(|(k, _, _)| k != key);
        self.alerts
            .push((key.to_owned(), level, message.to_owned()));
        if self.alerts.len() > 20 {
            self.alerts.remove(0);
        }
    }

    /// Alerts whose gauge or component is still not healthy.
    pub fn active_alerts(&self) -> Vec<&(String, Level, String)> {
        self.alerts
            .iter()
            .filter(|(k, _, _)| {
                let gauge = self.gauges.iter().find(|g| &g.name == k).map(|g| g.level);
                let comp = self
                    .components
                    .iter()
                    .find(|c| &c.name == k)
                    .map(|c| c.level);
                gauge.or(comp).is_none_or(|l| l != Level::Healthy)
            })
            .collect()
    }

    /// The worst level shown.
    pub fn overall(&self) -> Level {
        self.gauges
            .iter()
            .map(|g| g.level)
            .chain(self.components.iter().map(|c| c.level))
            .max()
            .unwrap_or(Level::Healthy)
    }
}

fn level_style(th: &Theme, l: Level) -> Style {
    match l {
        Level::Healthy => th.gauge_ok,
        Level::Degraded => th.gauge_warn,
        Level::Unhealthy => th.gauge_crit,
    }
}

pub struct HealthPane<'a> {
    pub state: &'a HealthState,
    pub theme: &'a Theme,
    pub focused: bool,
}

impl Widget for HealthPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (s, th) = (self.state, self.theme);
        let title = format!("Health · {}", s.overall().as_str());
        let block = frame(&title, "", self.focused, th);
        let inner = block.inner(area);
        block.render(area, buf);
        let w = usize::from(inner.width);
        let mut lines: Vec<Line> = Vec::new();
        if s.gauges.is_empty() {
            lines.push(Line::from(Span::styled("sampling…", th.dim)));
        }
        for g in &s.gauges {
            let label = format!("{:<6} {:>3.0}% ", g.name, g.value);
            let bar_w = w.saturating_sub(label.chars().count());
            let filled = ((bar_w as f64) * (g.value / 100.0).clamp(0.0, 1.0)).round() as usize;
            lines.push(Line::from(vec![
                Span::styled(label, th.text),
                Span::styled("█".repeat(filled), level_style(th, g.level)),
                Span::styled("░".repeat(bar_w - filled), th.dim),
            ]));
        }
        // Alerts come right after the gauges so a small pane still shows them.
        for (_, level, msg) in s.active_alerts().iter().rev().take(3) {
            let text = crate::util::text::ellipsize(&format!("⚠ {msg}"), w.max(1));
            lines.push(Line::from(Span::styled(text, level_style(th, *level))));
        }
        for c in &s.components {
            let latency = c
                .latency_ms
                .map_or_else(String::new, |ms| format!(" {ms:.0}ms"));
            let headroom = s
                .metrics
                .as_ref()
                .and_then(|m| m.models.iter().find(|mm| c.detail.contains(&mm.model)))
                .and_then(|mm| mm.requests_remaining.map(|r| format!(" {r} req left")))
                .unwrap_or_default();
            let mark = match c.level {
                Level::Healthy => "●",
                Level::Degraded => "◐",
                Level::Unhealthy => "○",
            };
            lines.push(Line::from(vec![
                Span::styled(format!("{mark} "), level_style(th, c.level)),
                Span::styled(
                    crate::util::text::ellipsize(&c.name, w.saturating_sub(16).max(8)),
                    th.text,
                ),
                Span::styled(format!("{latency}{headroom}"), th.dim),
            ]));
        }
        if let Some(m) = &s.machine {
            let text = format!(
                "load {:.2} {:.2} {:.2} · rss {} MB",
                m.load_avg[0],
                m.load_avg[1],
                m.load_avg[2],
                m.process_rss_bytes / 1_048_576
            );
            lines.push(Line::from(Span::styled(
                crate::util::text::ellipsize(&text, w.max(1)),
                th.dim,
            )));
        }
        Paragraph::new(lines).render(inner, buf);
    }
}
