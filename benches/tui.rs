//! Dashboard frame cost: one full frame at 200×60 with 10,000 tasks in the queue
//! and 100,000 log lines in the selected task's transcript (target: ≤ 2 ms at
//! p99), and the memory that state takes. Frames are drawn into ratatui's
//! TestBackend, so this is layout and rendering without terminal IO.
//!
//! Run with `cargo bench --bench tui`.

use std::time::{Duration, Instant};

use az_os::store::TaskRow;
use az_os::store::TaskStatus;
use az_os::store::logs::LogRow;
use az_os::tui::keymap::{DEFAULT_KEYMAP, Keymap};
use az_os::tui::model::{Model, TaskDefaults};
use az_os::tui::msg::Msg;
use az_os::tui::theme::Theme;
use az_os::tui::update::update;
use az_os::tui::view::view;
use az_os::util::ids::TaskId;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const TASKS: usize = 10_000;
const LOG_LINES: usize = 100_000;
const FRAMES: usize = 2_000;

/// CPU time of this thread: what a frame costs, without time spent waiting for a
/// core the machine's other work holds.
fn thread_cpu() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map_or(Duration::ZERO, Duration::from)
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |pages| pages * 4096.0 / 1_048_576.0)
}

fn task(i: usize) -> TaskRow {
    let status = [
        TaskStatus::Completed,
        TaskStatus::Failed,
        TaskStatus::Running,
        TaskStatus::Pending,
    ][i % 4];
    TaskRow {
        critical: false,
        id: TaskId(format!("{i:012x}")),
        description: format!(
            "task {i}: count the lines in data-{i}.csv and write a summary to out-{i}.txt"
        ),
        model: Some("trinity".into()),
        status,
        created_at: 1_700_000_000.0 + i as f64,
        started_at: None,
        completed_at: None,
        result: Some(format!("result {i}")),
        error: None,
        cost_usd: i as f64 * 1e-6,
        workdir: Some("/tmp".into()),
        turns: 3,
        max_turns: 5,
        budget_usd: None,
        requested_model: None,
        route_json: None,
    }
}

fn log(i: usize, id: &TaskId) -> LogRow {
    let (kind, msg) = match i % 4 {
        0 => (
            "thought",
            format!(
                "Turn {i}: I should look at the file before deciding what to do next, then run the command."
            ),
        ),
        1 => (
            "action",
            format!("execute_command {{\"command\":\"wc -l data-{i}.csv\"}}"),
        ),
        2 => (
            "observation",
            format!("exit code: 0\n{i} data.csv\nline two\nline three"),
        ),
        _ => (
            "reflection",
            "1 action succeeded. 2 of 5 turns left.".to_owned(),
        ),
    };
    LogRow {
        id: i as i64,
        task_id: id.clone(),
        timestamp: 1_700_000_000.0,
        level: "info".into(),
        kind: Some(kind.into()),
        turn: Some(u32::try_from(i / 4 % 5 + 1).unwrap_or(1)),
        message: msg,
    }
}

fn main() {
    let before = rss_mb();
    let keymap = Keymap::parse(DEFAULT_KEYMAP, "default").unwrap_or_else(|e| panic!("{e}"));
    let theme = Theme::named("default").unwrap_or_else(|e| panic!("{e}"));
    let defaults = TaskDefaults {
        workdir: "/tmp".into(),
        max_turns: None,
        budget_usd: None,
        model: None,
        config_max_turns: 5,
    };
    let mut model = Model::new(keymap, theme, defaults, 5.0, 0.5);
    let now = 1_700_020_000.0;
    update(&mut model, Msg::Resize(200, 60), now);
    let t0 = Instant::now();
    update(
        &mut model,
        Msg::TasksLoaded((0..TASKS).map(task).collect()),
        now,
    );
    let load_tasks = t0.elapsed();
    let with_tasks = rss_mb();
    let selected = model
        .queue
        .selected_id()
        .unwrap_or_else(|| panic!("no selection"));
    let logs: Vec<LogRow> = (0..LOG_LINES).map(|i| log(i, &selected)).collect();
    let t0 = Instant::now();
    update(&mut model, Msg::LogsLoaded(selected, logs), now);
    let load_logs = t0.elapsed();
    let after = rss_mb();

    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap_or_else(|e| panic!("{e}"));
    // Warm up, then time each frame. Alternate selection so every frame has work.
    for _ in 0..50 {
        terminal
            .draw(|f| view(&model, f))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let mut times: Vec<Duration> = Vec::with_capacity(FRAMES);
    let mut cpu_times: Vec<Duration> = Vec::with_capacity(FRAMES);
    for i in 0..FRAMES {
        // Scroll the transcript a little so frames differ, as while reading.
        let k = if i % 2 == 0 { 'k' } else { 'j' };
        update(
            &mut model,
            Msg::Key(ratatui::crossterm::event::KeyEvent::from(
                ratatui::crossterm::event::KeyCode::Char(k),
            )),
            now,
        );
        let t = Instant::now();
        let c = thread_cpu();
        terminal
            .draw(|f| view(&model, f))
            .unwrap_or_else(|e| panic!("{e}"));
        times.push(t.elapsed());
        cpu_times.push(thread_cpu().saturating_sub(c));
    }
    times.sort();
    cpu_times.sort();
    let cpu_pct = |p: f64| {
        cpu_times[((cpu_times.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0
    };
    let pct =
        |p: f64| times[((times.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0;
    println!(
        "frame 200x60, {TASKS} tasks, {LOG_LINES} log lines: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms (n={FRAMES})",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "  the same frames in this thread's CPU time (no waiting for a busy core): p50 {:.3} ms, p99 {:.3} ms",
        cpu_pct(0.5),
        cpu_pct(0.99)
    );
    println!(
        "loading {TASKS} tasks: {:.1} ms; laying out {LOG_LINES} log lines: {:.1} ms",
        load_tasks.as_secs_f64() * 1000.0,
        load_logs.as_secs_f64() * 1000.0
    );
    println!(
        "resident memory: {before:.1} MB at start, {with_tasks:.1} MB with {TASKS} tasks, {after:.1} MB with the transcript too"
    );
}
