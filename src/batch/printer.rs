//! Prints engine events for batch mode: JSON Lines on stdout with `--json`;
//! otherwise progress on stderr and each completed task's result alone on stdout.

use std::collections::HashMap;
use std::io::Write;

use crate::cli::style::{self, color_enabled, paint};
use crate::engine::{EngineEvent, Event};
use crate::store::TaskStatus;
use crate::util::ids::TaskId;
use crate::util::text::{ellipsize, strip_control};

pub struct Printer {
    json: bool,
    quiet: bool,
    verbose: u8,
    color: bool,
    /// Short labels per task, shown when more than one task runs.
    labels: HashMap<TaskId, String>,
}

impl Printer {
    pub fn new(json: bool, quiet: bool, verbose: u8) -> Self {
        Self {
            json,
            quiet,
            verbose,
            color: color_enabled(false),
            labels: HashMap::new(),
        }
    }

    pub fn print(&mut self, ev: &EngineEvent) {
        if self.json {
            let mut out = std::io::stdout().lock();
            if let Ok(line) = serde_json::to_string(ev) {
                // A closed stdout (`| head`) must not stop the run.
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            return;
        }
        if let (
            Event::TaskFinished {
                status: TaskStatus::Completed,
                result: Some(r),
                ..
            },
            _,
        ) = (&ev.event, &ev.task_id)
        {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", strip_control(r));
            let _ = out.flush();
        }
        if let Some(line) = self.human(ev) {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
    }

    /// A note from the batch runner itself (stderr, even in JSON mode).
    pub fn note(&self, text: &str) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr().lock(), "az-os: {text}");
        }
    }

    fn human(&mut self, ev: &EngineEvent) -> Option<String> {
        let c = self.color;
        let label = match &ev.task_id {
            Some(id) => {
                self.labels
                    .entry(id.clone())
                    .or_insert_with(|| id.as_str().chars().take(6).collect());
                paint(c, style::dim(), &format!("[{}]", &self.labels[id]))
            }
            None => paint(c, style::dim(), "[az-os]"),
        };
        let one = |s: &str, n: usize| ellipsize(&strip_control(s).replace('\n', " ⏎ "), n);
        let line = match &ev.event {
            // Errors and endings show even with -q.
            Event::Error {
                message, category, ..
            } => {
                format!(
                    "{label} {} {}",
                    paint(c, style::red(), &format!("error ({category}):")),
                    strip_control(message)
                )
            }
            Event::TaskFinished {
                status,
                turns,
                cost_usd,
                duration_ms,
                error,
                ..
            } => {
                let mark = if *status == TaskStatus::Completed {
                    "✓"
                } else {
                    "✗"
                };
                let mut s = format!(
                    "{label} {} in {turns} turn{} · ${cost_usd:.4} · {:.1}s",
                    paint(
                        c,
                        style::status_style(*status),
                        &format!("{mark} {}", status.as_str())
                    ),
                    if *turns == 1 { "" } else { "s" },
                    *duration_ms as f64 / 1000.0
                );
                if let Some(e) = error {
                    s.push_str(&format!(": {}", strip_control(e)));
                }
                s
            }
            _ if self.quiet => return None,
            Event::TaskQueued { description } => {
                format!("{label} queued: {}", one(description, 100))
            }
            Event::TaskStarted { model, route } => {
                format!(
                    "{label} started on {} ({})",
                    paint(c, style::bold(), model),
                    one(&route.reason, 120)
                )
            }
            Event::Thought { turn, text } => format!(
                "{label} {turn} {} {}",
                paint(c, style::bold(), "▸"),
                one(text, 160)
            ),
            Event::Action { turn, tool, input } => {
                let shown = match input {
                    serde_json::Value::Object(m) if m.len() == 1 => m
                        .values()
                        .next()
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                        .unwrap_or_default(),
                    other => other.to_string(),
                };
                format!(
                    "{label} {turn} {} {tool} {}",
                    paint(c, style::green(), "→"),
                    one(&shown, 120)
                )
            }
            Event::Observation {
                turn, ok, output, ..
            } => {
                let tag = if *ok {
                    paint(c, style::green(), "← ok")
                } else {
                    paint(c, style::yellow(), "← failed")
                };
                format!("{label} {turn} {tag} {}", one(output, 140))
            }
            Event::Reflection { turn, text } if self.verbose > 0 => {
                format!(
                    "{label} {turn} {} {}",
                    paint(c, style::dim(), "◦"),
                    one(text, 140)
                )
            }
            Event::Context { sources, tokens } if self.verbose > 0 => format!(
                "{label} {} {}",
                paint(c, style::dim(), "≡"),
                one(
                    &crate::engine::protocol::context_line(sources, *tokens),
                    200
                )
            ),
            Event::Retry {
                model,
                attempt,
                delay_ms,
                category,
            } => format!(
                "{label} {} {model}: {category}, attempt {attempt} in {:.1}s",
                paint(c, style::yellow(), "↺"),
                *delay_ms as f64 / 1000.0
            ),
            Event::Fallback {
                from_model,
                to_model,
                reason,
            } => format!(
                "{label} {} {from_model} → {}: {}",
                paint(c, style::yellow(), "⇢ fallback"),
                paint(c, style::bold(), to_model),
                one(reason, 200)
            ),
            Event::LlmCall {
                model,
                input_tokens,
                output_tokens,
                cost_usd,
                latency_ms,
                ..
            } if self.verbose > 0 => format!(
                "{label}   {model}: {input_tokens}+{output_tokens} tokens, ${cost_usd:.6}, {latency_ms} ms"
            ),
            Event::Notice { message } => format!("{label} {}", strip_control(message)),
            Event::Alert { message, level, .. } => format!(
                "{label} {} {}",
                paint(c, style::yellow(), &format!("alert ({}):", level.as_str())),
                strip_control(message)
            ),
            // Not shown on a terminal: streaming pieces (batch asks for none), turn
            // marks, approvals (batch answers them itself), the dashboard's health
            // feed, and the detail lines `-v` adds.
            Event::ThoughtDelta { .. }
            | Event::TurnStarted { .. }
            | Event::Checkpoint { .. }
            | Event::ApprovalRequested { .. }
            | Event::ApprovalAnswered { .. }
            | Event::RequestFailed { .. }
            | Event::Reflection { .. }
            | Event::Context { .. }
            | Event::LlmCall { .. }
            | Event::Health { .. }
            | Event::ComponentHealth { .. }
            | Event::McpStatus { .. }
            | Event::Workers { .. }
            | Event::ModelsReloaded { .. } => return None,
        };
        Some(line)
    }
}
