//! Health gauges: CPU, memory and disk with their levels, load and our memory,
//! the database and each model's provider (latency, rate-limit headroom), and
//! the MCP servers (ready with their tools, failed and why, restarting), and
//! alerts that are still active. A model's level comes from the newest of two
//! sources: the periodic probe of its endpoint and the real requests tasks make
//! (`llm_call`, `request_failed`), so a provider that fails requests shows it at
//! once and one that answers again recovers as soon as a request succeeds.

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
    /// When the component checks (probes) last came in.
    pub probed_at: f64,
    /// The last real request to each model, by `[[models]]` name.
    pub requests: std::collections::BTreeMap<String, Seen>,
    /// The MCP servers, as the engine last reported them (`mcp_status`).
    pub mcp: Vec<ComponentCheck>,
    /// The shared queue's workers, as the engine last listed them (`workers`; none on
    /// one machine).
    pub workers: Vec<ComponentCheck>,
}

/// What the last real request to a model said.
#[derive(Clone, Debug, PartialEq)]
pub struct Seen {
    pub ok: bool,
    pub at: f64,
    pub latency_ms: Option<f64>,
    /// Why it failed (empty when it did not).
    pub detail: String,
}

/// One model's line in the pane.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderRow {
    pub model: String,
    pub level: Level,
    pub latency_ms: Option<f64>,
    /// Why it is not healthy (empty when it is).
    pub detail: String,
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

    /// A request to `model` succeeded.
    pub fn request_ok(&mut self, model: &str, latency_ms: u64, now: f64) {
        self.requests.insert(
            model.to_owned(),
            Seen {
                ok: true,
                at: now,
                latency_ms: Some(latency_ms as f64),
                detail: String::new(),
            },
        );
    }

    /// A request to `model` failed.
    pub fn request_failed(&mut self, model: &str, detail: &str, now: f64) {
        self.requests.insert(
            model.to_owned(),
            Seen {
                ok: false,
                at: now,
                latency_ms: None,
                detail: detail.to_owned(),
            },
        );
    }

    /// Fresh probes of the database and the provider endpoints.
    pub fn probed(&mut self, checks: Vec<ComponentCheck>, now: f64) {
        self.components = checks;
        self.probed_at = now;
    }

    /// Each model's level: the newest of its endpoint's probe and its last real
    /// request. A probe newer than a failed request that only shows the model list
    /// answers makes it degraded, not healthy: requests are what count.
    pub fn providers(&self) -> Vec<ProviderRow> {
        let mut models: std::collections::BTreeSet<&str> =
            self.requests.keys().map(String::as_str).collect();
        for c in self.components.iter().filter(|c| c.kind == "provider") {
            models.extend(c.models.iter().map(String::as_str));
        }
        models
            .into_iter()
            .map(|model| {
                let probe = self
                    .components
                    .iter()
                    .find(|c| c.kind == "provider" && c.models.iter().any(|m| m == model));
                let seen = self.requests.get(model);
                let from_request = |s: &Seen| {
                    if s.ok {
                        (Level::Healthy, s.latency_ms, String::new())
                    } else {
                        (Level::Unhealthy, None, s.detail.clone())
                    }
                };
                let from_probe = |c: &ComponentCheck| {
                    let detail = if c.level == Level::Healthy {
                        String::new()
                    } else {
                        c.detail.clone()
                    };
                    (c.level, c.latency_ms, detail)
                };
                let (level, latency_ms, detail) = match (probe, seen) {
                    (None, None) => (Level::Healthy, None, String::new()),
                    (None, Some(s)) => from_request(s),
                    (Some(_), Some(s)) if s.at >= self.probed_at => from_request(s),
                    (Some(c), Some(s)) if !s.ok && c.level == Level::Healthy => (
                        Level::Degraded,
                        c.latency_ms,
                        format!("last request failed: {}", s.detail),
                    ),
                    // No request yet, or one older than the probe that agrees with it.
                    (Some(c), _) => from_probe(c),
                };
                ProviderRow {
                    model: model.to_owned(),
                    level,
                    latency_ms,
                    detail,
                }
            })
            .collect()
    }

    /// Components drawn by name (the database, the vault; a provider check that
    /// names no model).
    fn other_components(&self) -> impl Iterator<Item = &ComponentCheck> {
        self.components
            .iter()
            .filter(|c| c.kind != "provider" || c.models.is_empty())
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
            .chain(self.other_components().map(|c| c.level))
            .chain(self.providers().iter().map(|p| p.level))
            .chain(self.mcp.iter().chain(&self.workers).map(|c| c.level))
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

/// `● name note`: the mark in the level's colour, the note dimmed and cut to fit.
fn component_line(th: &Theme, level: Level, name: &str, note: &str, w: usize) -> Line<'static> {
    let mark = match level {
        Level::Healthy => "●",
        Level::Degraded => "◐",
        Level::Unhealthy => "○",
    };
    let name = crate::util::text::ellipsize(name, w.saturating_sub(16).max(8));
    let room = w.saturating_sub(name.chars().count() + 2).max(1);
    Line::from(vec![
        Span::styled(format!("{mark} "), level_style(th, level)),
        Span::styled(name, th.text),
        Span::styled(crate::util::text::ellipsize(note, room), th.dim),
    ])
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
        for c in s.other_components() {
            let latency = c
                .latency_ms
                .map_or_else(String::new, |ms| format!(" {ms:.0}ms"));
            lines.push(component_line(th, c.level, &c.name, &latency, w));
        }
        // Workers before the providers: on the shared store they are where tasks run.
        for c in &s.workers {
            // `host · 2/8 running · 3s since its heartbeat`: the host and the load fit.
            let note = c
                .detail
                .split(" · ")
                .take(2)
                .collect::<Vec<_>>()
                .join(" · ");
            lines.push(component_line(th, c.level, &c.name, &format!(" {note}"), w));
        }
        for p in s.providers() {
            let latency = p
                .latency_ms
                .map_or_else(String::new, |ms| format!(" {ms:.0}ms"));
            let headroom = s
                .metrics
                .as_ref()
                .and_then(|m| m.models.iter().find(|mm| mm.model == p.model))
                .and_then(|mm| mm.requests_remaining.map(|r| format!(" {r} req left")))
                .unwrap_or_default();
            let note = if p.detail.is_empty() {
                format!("{latency}{headroom}")
            } else {
                format!(" {}", p.detail)
            };
            lines.push(component_line(th, p.level, &p.model, &note, w));
        }
        for c in &s.mcp {
            // The detail ends with the transport, which the pane has no room for.
            let state = c.detail.split(" · ").next().unwrap_or(&c.detail);
            lines.push(component_line(
                th,
                c.level,
                &c.name,
                &format!(" {state}"),
                w,
            ));
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
