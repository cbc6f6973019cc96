//! Engine events into the dashboard's state: queue rows, transcripts, the cost
//! meter, health, approvals and the status line.

use super::short;
use crate::engine::{EngineEvent, Event};
use crate::store::TaskStatus;
use crate::tui::model::Model;
use crate::tui::msg::Effect;
use crate::tui::panes::queue::TaskItem;
use crate::tui::panes::status::{Scope, Tone};

pub(super) fn engine(m: &mut Model, ev: EngineEvent, now: f64, fx: &mut Vec<Effect>) {
    let Some(id) = ev.task_id.clone() else {
        global_event(m, ev.event, now, fx);
        return;
    };
    // A start or an end of a task the queue does not know: it was queued (or run, on
    // another host) while the stored list was being read, which may then come back
    // older than this event. Its row, read now, says where it stands.
    if matches!(
        ev.event,
        Event::TaskStarted { .. } | Event::TaskFinished { .. }
    ) && m.queue.get(&id).is_none()
    {
        fx.push(Effect::LoadTask(id.clone()));
    }
    match &ev.event {
        Event::TaskQueued { description } => {
            let existing = m.queue.get(&id).cloned();
            let item = TaskItem {
                status: TaskStatus::Pending,
                result: None,
                error: None,
                turns: 0,
                started_at: None,
                took: None,
                ..existing.unwrap_or_else(|| TaskItem {
                    id: id.clone(),
                    description: description.clone(),
                    status: TaskStatus::Pending,
                    model: None,
                    cost_usd: 0.0,
                    created_at: now,
                    started_at: None,
                    took: None,
                    turns: 0,
                    max_turns: m.defaults.max_turns.unwrap_or(m.defaults.config_max_turns),
                    result: None,
                    error: None,
                    budget_usd: m.defaults.budget_usd,
                    route: None,
                })
            };
            m.queue.upsert([item]);
            m.status.task_restarted(&id);
            if m.select_on_queue.as_ref() == Some(&id) {
                m.select_on_queue = None;
                m.queue.select(&id);
                m.turns.transcripts.remove(&id);
            }
        }
        Event::TaskStarted { model, route } => {
            if let Some(t) = m.queue.get_mut(&id) {
                t.status = TaskStatus::Running;
                t.started_at = Some(now);
                t.model = Some(model.clone());
                t.route = Some(route.reason.clone());
            }
            m.queue.rebuild(None);
            m.setup_hint = None;
        }
        Event::Fallback { to_model, .. } => {
            if let Some(t) = m.queue.get_mut(&id) {
                t.model = Some(to_model.clone());
            }
        }
        Event::TurnStarted { turn } => {
            if let Some(t) = m.queue.get_mut(&id) {
                t.turns = *turn;
            }
        }
        Event::LlmCall {
            model,
            cost_usd,
            latency_ms,
            ..
        } => {
            m.health.request_ok(model, *latency_ms, now);
            m.cost.add(model, *cost_usd, now);
            if let Some(t) = m.queue.get_mut(&id) {
                t.cost_usd += cost_usd;
            }
        }
        Event::TaskFinished {
            status,
            result,
            turns,
            cost_usd,
            error,
            duration_ms,
        } => {
            if let Some(t) = m.queue.get_mut(&id) {
                t.status = *status;
                t.took = Some(*duration_ms as f64 / 1000.0);
                t.result.clone_from(result);
                t.error.clone_from(error);
                t.turns = *turns;
                t.cost_usd = *cost_usd;
            }
            m.queue.rebuild(None);
            let tone = if *status == TaskStatus::Completed {
                Tone::Info
            } else {
                Tone::Warn
            };
            m.status.set_about(
                tone,
                format!("Task {} {}", short(&id), status.as_str()),
                Scope::Task(id.clone()),
            );
            fx.push(Effect::LoadMetrics);
        }
        Event::Error { message, .. } => m.status.set(Tone::Error, message.clone()),
        Event::RequestFailed {
            model,
            category,
            message,
            ..
        } => m
            .health
            .request_failed(model, &format!("{category}: {message}"), now),
        // The status bar announces it from the dialog on screen (`approval::notice`).
        Event::ApprovalRequested { .. } => super::approval::requested(m, &id, &ev.event),
        // The transcript below takes these; the queue row has nothing to change.
        // (Machine-wide health always comes without a task id: `global_event`.)
        Event::ThoughtDelta { .. }
        | Event::Thought { .. }
        | Event::ApprovalAnswered { .. }
        | Event::Action { .. }
        | Event::Observation { .. }
        | Event::Reflection { .. }
        | Event::Context { .. }
        | Event::Checkpoint { .. }
        | Event::Retry { .. }
        | Event::Alert { .. }
        | Event::Notice { .. }
        | Event::ModelsReloaded { .. }
        | Event::Health { .. }
        | Event::ComponentHealth { .. }
        | Event::McpStatus { .. }
        | Event::Workers { .. } => {}
    }
    if let Event::TaskFinished { .. } = &ev.event {
        super::approval::withdraw(m, &id);
    }
    m.turns.apply(&id, &ev.event);
    if m.queue.selected_id().as_ref() == Some(&id) && m.turns.shown.as_ref() != Some(&id) {
        m.turns.show(Some(id));
    }
}

fn global_event(m: &mut Model, ev: Event, now: f64, fx: &mut Vec<Effect>) {
    match ev {
        Event::Health { machine, gauges } => {
            // The panes show whole percents, load to two places and RSS in MB.
            let shown =
                |g: &[crate::health::machine::Gauge],
                 mm: Option<&crate::health::machine::MachineSnapshot>| {
                    (
                        g.iter()
                            .map(|x| (x.value.round() as i64, x.level))
                            .collect::<Vec<_>>(),
                        mm.map(|s| {
                            (
                                s.load_avg.map(|l| (l * 100.0).round() as i64),
                                s.process_rss_bytes / 1_048_576,
                            )
                        }),
                    )
                };
            m.unchanged = shown(&m.health.gauges, m.health.machine.as_ref())
                == shown(&gauges, Some(&machine));
            m.health.machine = Some(machine);
            m.health.gauges = gauges;
        }
        Event::ComponentHealth { checks } => {
            m.health.probed(checks, now);
            fx.push(Effect::LoadMetrics);
        }
        Event::McpStatus { servers } => m.health.mcp = servers,
        Event::Workers { workers } => m.health.workers = workers,
        Event::Alert {
            key,
            level,
            message,
            ..
        } => {
            m.health.alert(&key, level, &message);
            m.status.set(Tone::Warn, message);
        }
        Event::Notice { message } => m.status.set(Tone::Info, message),
        Event::ModelsReloaded { usable, unusable } if usable.is_empty() => {
            let why = if unusable.is_empty() {
                "no model is listed".to_owned()
            } else {
                "its models' keys cannot be read (the Turns pane says why)".to_owned()
            };
            m.status.set(
                Tone::Warn,
                format!("config.toml read again: still no usable model: {why}"),
            );
            m.unusable = unusable;
        }
        Event::ModelsReloaded { usable, unusable } => {
            m.setup_hint = None;
            m.unusable.clear();
            let mut text = format!("models ready: {}", usable.join(", "));
            if !unusable.is_empty() {
                text.push_str(&format!("; not usable: {}", unusable.join("; ")));
            }
            m.status.set(Tone::Info, text);
        }
        Event::Error { message, .. } => m.status.set(Tone::Error, message),
        // Task events always come with a task id (`engine` above).
        Event::TaskQueued { .. }
        | Event::TaskStarted { .. }
        | Event::TurnStarted { .. }
        | Event::ThoughtDelta { .. }
        | Event::Thought { .. }
        | Event::Action { .. }
        | Event::Observation { .. }
        | Event::ApprovalRequested { .. }
        | Event::ApprovalAnswered { .. }
        | Event::RequestFailed { .. }
        | Event::Reflection { .. }
        | Event::Context { .. }
        | Event::LlmCall { .. }
        | Event::Retry { .. }
        | Event::Fallback { .. }
        | Event::Checkpoint { .. }
        | Event::TaskFinished { .. } => {}
    }
}
