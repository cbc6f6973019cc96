//! What the user sees: snapshots of the whole screen at 80×24 and 120×40 for
//! each state worth looking at, and cell styles where colour carries meaning.

use az_os::engine::Event;
use az_os::health::Level;
use az_os::health::checks::ComponentCheck;
use az_os::health::machine::{Gauge, MachineSnapshot};
use az_os::store::TaskStatus;
use az_os::store::memories::Memory;
use az_os::tui::model::Model;
use az_os::tui::msg::Msg;
use az_os::tui::panes::popups::Popup;
use az_os::tui::update::areas;
use pretty_assertions::assert_eq;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use serde_json::json;

use super::{
    T0, ch, ev, finished, global, llm_call, model_sized, press, render, run_task, screen, send,
    snapshot, submit_task,
};

// ---------------------------------------------------------------- view snapshots

/// The setup hint `az-os` shows when no model is usable, for a home in /home/user.
fn setup_hint() -> String {
    az_os::tui::setup_hint(
        std::path::Path::new("/home/user/.az-os/config.toml"),
        Some("F3"),
    )
}

fn gauges(cpu: (f64, Level), memory: (f64, Level), disk: (f64, Level)) -> Event {
    Event::Health {
        machine: MachineSnapshot {
            cpu_pct: cpu.0,
            cpus: 8,
            memory_pct: memory.0,
            memory_used_bytes: 11_811_160_064,
            memory_total_bytes: 17_179_869_184,
            disk_pct: disk.0,
            disk_used_bytes: 465_000_000_000,
            disk_total_bytes: 500_000_000_000,
            load_avg: [1.25, 0.98, 0.71],
            process_rss_bytes: 48 * 1_048_576,
        },
        gauges: vec![
            Gauge {
                name: "cpu".into(),
                value: cpu.0,
                level: cpu.1,
            },
            Gauge {
                name: "memory".into(),
                value: memory.0,
                level: memory.1,
            },
            Gauge {
                name: "disk".into(),
                value: disk.0,
                level: disk.1,
            },
        ],
    }
}

fn lessons() -> Vec<Memory> {
    let lesson = |n: u8, category: &str, text: &str| Memory {
        id: format!("mem{n}"),
        task_id: None,
        lesson: text.into(),
        category: category.into(),
        success: true,
        score: 0.8,
        created_at: T0 - 86_400.0,
        access_count: 2,
        ..Memory::default()
    };
    vec![
        lesson(1, "shell", "Use `wc -l < file` to print a bare line count."),
        lesson(
            2,
            "python",
            "Run scripts with python3; python may not exist on this machine.",
        ),
    ]
}

/// An older task for the queue: completed two hours ago, on another model.
fn history(m: &mut Model) {
    run_task(
        m,
        "9f8e7d6c",
        "Summarise README.md in three bullet points",
        T0 - 7200.0,
        "gemini-flash",
    );
    ev(m, "9f8e7d6c", T0 - 7100.0, llm_call("gemini-flash", 0.0004));
    ev(
        m,
        "9f8e7d6c",
        T0 - 7100.0,
        finished(
            TaskStatus::Completed,
            Some("• az-os runs tasks\n• cheaply\n• on the record"),
            None,
            0.0004,
        ),
    );
}

fn empty(w: u16, h: u16) -> Model {
    model_sized(w, h)
}

fn empty_setup(w: u16, h: u16) -> Model {
    let mut m = model_sized(w, h);
    m.setup_hint = Some(setup_hint());
    m
}

/// A task mid-run (turn 3, its thought still streaming) after an older one, with
/// health gauges (one critical) and two lessons.
pub(super) fn running(w: u16, h: u16) -> Model {
    let mut m = model_sized(w, h);
    history(&mut m);
    let t = "a1b2c3d4";
    submit_task(
        &mut m,
        t,
        "Count the lines in data.csv and write the total to out/count.txt",
        T0 - 95.0,
        "claude-haiku",
    );
    ev(&mut m, t, T0 - 90.0, Event::TurnStarted { turn: 1 });
    ev(
        &mut m,
        t,
        T0 - 88.0,
        Event::Thought {
            turn: 1,
            text: "I need the number of lines in data.csv first; wc will do.".into(),
        },
    );
    ev(
        &mut m,
        t,
        T0 - 88.0,
        Event::Action {
            turn: 1,
            tool: "execute_command".into(),
            input: json!({"command": "wc -l < data.csv"}),
        },
    );
    ev(
        &mut m,
        t,
        T0 - 87.0,
        Event::Observation {
            turn: 1,
            tool: "execute_command".into(),
            ok: true,
            output: "exit code: 0\n3\n".into(),
        },
    );
    ev(
        &mut m,
        t,
        T0 - 87.0,
        Event::Reflection {
            turn: 1,
            text: "1 of 20 turns used; got the count.".into(),
        },
    );
    ev(&mut m, t, T0 - 87.0, llm_call("claude-haiku", 0.0021));
    ev(&mut m, t, T0 - 60.0, Event::TurnStarted { turn: 2 });
    ev(
        &mut m,
        t,
        T0 - 60.0,
        Event::Action {
            turn: 2,
            tool: "write_file".into(),
            input: json!({"path": "out/count.txt", "content": "3\n"}),
        },
    );
    ev(
        &mut m,
        t,
        T0 - 59.0,
        Event::Observation {
            turn: 2,
            tool: "write_file".into(),
            ok: false,
            output: "out/: permission denied".into(),
        },
    );
    ev(&mut m, t, T0 - 59.0, llm_call("claude-haiku", 0.0018));
    ev(&mut m, t, T0 - 5.0, Event::TurnStarted { turn: 3 });
    ev(
        &mut m,
        t,
        T0 - 2.0,
        Event::ThoughtDelta {
            turn: 3,
            text: "The directory is read-only, so I will ".into(),
        },
    );
    ev(
        &mut m,
        t,
        T0,
        Event::ThoughtDelta {
            turn: 3,
            text: "create it first".into(),
        },
    );
    global(
        &mut m,
        T0,
        gauges(
            (35.0, Level::Healthy),
            (68.75, Level::Degraded),
            (93.0, Level::Unhealthy),
        ),
    );
    send(&mut m, Msg::MemoriesLoaded(lessons()));
    m
}

/// A failed task selected (the newest), with its error in the transcript.
pub(super) fn failed(w: u16, h: u16) -> Model {
    let mut m = model_sized(w, h);
    history(&mut m);
    let t = "f00dbabe";
    submit_task(
        &mut m,
        t,
        "Deploy the site to production",
        T0 - 300.0,
        "gpt-4o-mini",
    );
    ev(&mut m, t, T0 - 299.0, Event::TurnStarted { turn: 1 });
    ev(
        &mut m,
        t,
        T0 - 298.0,
        Event::Action {
            turn: 1,
            tool: "execute_command".into(),
            input: json!({"command": "make deploy"}),
        },
    );
    ev(
        &mut m,
        t,
        T0 - 290.0,
        Event::Observation {
            turn: 1,
            tool: "execute_command".into(),
            ok: false,
            output: "exit code: 2\nmake: *** No rule to make target 'deploy'.  Stop.".into(),
        },
    );
    ev(&mut m, t, T0 - 290.0, llm_call("gpt-4o-mini", 0.0009));
    ev(
        &mut m,
        t,
        T0 - 280.0,
        Event::Retry {
            model: "gpt-4o-mini".into(),
            attempt: 2,
            delay_ms: 1500,
            category: "rate_limit".into(),
        },
    );
    ev(
        &mut m,
        t,
        T0 - 270.0,
        Event::Error {
            message: "provider error: 429 Too Many Requests (rate_limit)".into(),
            category: "rate_limit".into(),
            retryable: true,
        },
    );
    ev(
        &mut m,
        t,
        T0 - 260.0,
        finished(
            TaskStatus::Failed,
            None,
            Some("gpt-4o-mini: rate limited after 3 attempts"),
            0.0009,
        ),
    );
    m
}

/// Today's spend past the $5 daily cap.
fn over_budget(w: u16, h: u16) -> Model {
    let mut m = model_sized(w, h);
    history(&mut m);
    send(
        &mut m,
        Msg::CostLoaded {
            today_usd: 5.2,
            by_model: vec![("claude-sonnet".into(), 4.9), ("gemini-flash".into(), 0.3)],
        },
    );
    submit_task(
        &mut m,
        "b0b0b0b0",
        "Refactor the parser",
        T0 - 30.0,
        "claude-sonnet",
    );
    ev(
        &mut m,
        "b0b0b0b0",
        T0 - 20.0,
        llm_call("claude-sonnet", 0.61),
    );
    m
}

/// A CPU alert, still active (the gauge is still critical), with one provider
/// checked (the dashboard always checks them).
fn alert(w: u16, h: u16) -> Model {
    let mut m = model_sized(w, h);
    history(&mut m);
    let check = ComponentCheck {
        name: "openrouter.ai".into(),
        kind: "provider".into(),
        level: Level::Healthy,
        latency_ms: Some(182.0),
        detail: "200 OK from /models".into(),
        models: vec!["trinity".into()],
    };
    global(
        &mut m,
        T0,
        Event::ComponentHealth {
            checks: vec![check],
        },
    );
    global(
        &mut m,
        T0,
        gauges(
            (97.0, Level::Unhealthy),
            (40.0, Level::Healthy),
            (50.0, Level::Healthy),
        ),
    );
    global(
        &mut m,
        T0,
        Event::Alert {
            key: "cpu".into(),
            level: Level::Unhealthy,
            value: Some(97.0),
            message: "cpu at 97% (unhealthy from 90%)".into(),
        },
    );
    m
}

pub(super) fn help(w: u16, h: u16) -> Model {
    let mut m = running(w, h);
    send(&mut m, press(KeyCode::Esc));
    send(&mut m, ch('?'));
    assert!(matches!(m.popup, Some(Popup::Help { .. })));
    m
}

pub(super) fn detail(w: u16, h: u16) -> Model {
    let mut m = model_sized(w, h);
    history(&mut m);
    send(&mut m, press(KeyCode::Esc));
    send(&mut m, press(KeyCode::Enter));
    assert!(matches!(m.popup, Some(Popup::Detail { .. })));
    m
}

/// Snapshots `state` at 80×24 and 120×40 as `tests/snapshots/tui_{name}_{w}x{h}.snap`.
#[test]
fn snapshot_empty() {
    snapshot("empty", empty);
}

#[test]
fn snapshot_empty_with_setup_hint() {
    snapshot("empty_setup_hint", empty_setup);
}

#[test]
fn snapshot_running() {
    snapshot("running", running);
}

#[test]
fn snapshot_failed() {
    snapshot("failed", failed);
}

#[test]
fn snapshot_over_budget() {
    snapshot("over_budget", over_budget);
}

#[test]
fn snapshot_alert() {
    snapshot("alert", alert);
}

#[test]
fn snapshot_help() {
    snapshot("help", help);
}

#[test]
fn snapshot_detail() {
    snapshot("detail", detail);
}

// ---------------------------------------------------------------- colour

/// Cells of `area` in the row whose text contains `needle`, from the needle on.
fn find_row(buf: &Buffer, area: Rect, needle: &str) -> Option<(u16, u16)> {
    (area.y..area.y + area.height).find_map(|y| {
        let row: String = (area.x..area.x + area.width)
            .map(|x| buf[(x, y)].symbol())
            .collect();
        let at = row.find(needle)?;
        Some((
            area.x + u16::try_from(row[..at].chars().count()).unwrap(),
            y,
        ))
    })
}

#[test]
fn over_budget_meter_uses_the_over_budget_style() {
    for (w, h) in [(80, 24), (120, 40)] {
        let m = over_budget(w, h);
        let t = render(&m);
        let buf = t.backend().buffer();
        let cost = areas(&m).cost;
        let want = m.theme.over_budget;
        let (x, y) = find_row(buf, cost, "today")
            .unwrap_or_else(|| panic!("{w}x{h}: no today meter in\n{}", screen(&t)));
        for dx in 0..5 {
            let cell = &buf[(x + dx, y)];
            assert_eq!(cell.fg, want.fg.unwrap(), "{w}x{h} today label cell {dx}");
            assert!(cell.modifier.contains(Modifier::BOLD), "{w}x{h}");
        }
        // Whatever bar fits is full and in the same style.
        let row: Vec<_> = (cost.x..cost.x + cost.width)
            .map(|x| &buf[(x, y)])
            .collect();
        assert!(
            row.iter().all(|c| c.symbol() != "░"),
            "{w}x{h}: the bar is full"
        );
        assert!(
            row.iter()
                .filter(|c| c.symbol() == "█")
                .all(|c| c.fg == want.fg.unwrap())
        );
        // The status bar says so too.
        assert!(screen(&t).contains("OVER BUDGET"), "{w}x{h}");
    }
    // At 80×24 the meter has room for its bar and the OVER mark. (At 120×40 the
    // cost pane is 22 columns wide and OVER is cut to "OVE": see the report.)
    let m = over_budget(80, 24);
    let t = render(&m);
    let buf = t.backend().buffer();
    let (x, y) = find_row(buf, areas(&m).cost, "OVER").unwrap();
    for dx in 0..4 {
        assert_eq!(buf[(x + dx, y)].fg, m.theme.over_budget.fg.unwrap());
    }
    // Under the cap, nothing is marked.
    assert!(!screen(&render(&running(120, 40))).contains("OVER"));
}

#[test]
fn critical_gauge_uses_the_crit_style_and_healthy_the_ok_style() {
    for (w, h) in [(80, 24), (120, 40)] {
        let m = running(w, h);
        let t = render(&m);
        let buf = t.backend().buffer();
        let health = areas(&m).health;
        let bar_style = |needle: &str| {
            let (x, y) = find_row(buf, health, needle)
                .unwrap_or_else(|| panic!("{w}x{h}: no {needle}\n{}", screen(&t)));
            let cells: Vec<_> = (x..health.x + health.width)
                .map(|x| &buf[(x, y)])
                .filter(|c| c.symbol() == "█")
                .collect();
            assert!(!cells.is_empty(), "{w}x{h}: {needle} has no bar");
            let first = cells[0];
            assert!(
                cells
                    .iter()
                    .all(|c| c.fg == first.fg && c.modifier == first.modifier)
            );
            (first.fg, first.modifier.contains(Modifier::BOLD))
        };
        assert_eq!(
            bar_style("disk"),
            (m.theme.gauge_crit.fg.unwrap(), true),
            "{w}x{h} disk"
        );
        assert_eq!(
            bar_style("memory"),
            (m.theme.gauge_warn.fg.unwrap(), false),
            "{w}x{h} memory"
        );
        assert_eq!(
            bar_style("cpu"),
            (m.theme.gauge_ok.fg.unwrap(), false),
            "{w}x{h} cpu"
        );
    }
}
