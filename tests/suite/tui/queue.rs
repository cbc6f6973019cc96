//! The queue keeps its place (fills its pane after a resize, the selection always
//! on screen, one sort order for tasks queued together) and shows signs of life (a
//! spinner only while something runs, durations, headers, running vs queued).

use az_os::engine::Event;
use az_os::store::{TaskRow, TaskStatus};
use az_os::tui::model::Model;
use az_os::tui::msg::{Effect, Msg};
use az_os::tui::update::{areas, update};
use az_os::util::ids::TaskId;
use ratatui::crossterm::event::KeyCode;

use super::{
    T0, ev, finished, id, llm_call, model, model_sized, press, render, run_task, screen, send,
    started, submit_task,
};

/// The queue's order, top to bottom.
fn order(m: &mut Model) -> Vec<TaskId> {
    m.queue.move_by(-10_000);
    let mut out = Vec::new();
    loop {
        out.extend(m.queue.selected_id());
        let before = m.queue.selected;
        m.queue.move_by(1);
        if m.queue.selected == before {
            return out;
        }
    }
}

/// Rows of the queue pane on screen that show a task.
fn task_rows(m: &Model) -> Vec<String> {
    let a = areas(m).queue;
    screen(&render(m))
        .lines()
        .skip(usize::from(a.y) + 2)
        .take(usize::from(a.height.saturating_sub(3)))
        .map(|l| {
            l.chars()
                .skip(usize::from(a.x))
                .take(usize::from(a.width))
                .collect::<String>()
        })
        .filter(|l| l.contains("job "))
        .collect()
}

#[test]
fn the_queue_fills_its_pane_after_a_resize_and_keeps_the_selection_in_view() {
    let mut m = model_sized(80, 24);
    for i in 0..40 {
        let t = format!("task{i:02}");
        run_task(
            &mut m,
            &t,
            &format!("job {i:02}"),
            T0 - 1000.0 + f64::from(i),
            "m",
        );
    }
    // The oldest task, at the bottom of the newest-first list.
    send(&mut m, press(KeyCode::Esc));
    send(&mut m, press(KeyCode::End));
    assert_eq!(m.queue.selected_id(), Some(id("task00")));
    let small = task_rows(&m).len();
    assert!(task_rows(&m).iter().any(|r| r.contains("job 00")));

    update(&mut m, Msg::Resize(200, 60), T0);
    let rows = task_rows(&m);
    let room = usize::from(areas(&m).queue.height - 3);
    assert!(room > small, "{room} rows at 200x60");
    assert_eq!(rows.len(), room.min(40), "the pane is full: {rows:#?}");
    assert!(rows.iter().any(|r| r.contains("job 00")), "{rows:#?}");

    // Back to small, and smaller still: the selection scrolls into view.
    send(&mut m, press(KeyCode::Home));
    send(&mut m, press(KeyCode::PageDown));
    send(&mut m, press(KeyCode::PageDown));
    let chosen = m.queue.selected_task().unwrap().description.clone();
    for (w, h) in [(80, 24), (70, 20), (200, 60)] {
        update(&mut m, Msg::Resize(w, h), T0);
        let rows = task_rows(&m);
        assert!(
            rows.iter().any(|r| r.contains(&chosen)),
            "{w}x{h}: {chosen} off screen: {rows:#?}"
        );
        assert_eq!(
            rows.len(),
            usize::from(areas(&m).queue.height - 3).min(40),
            "{w}x{h}"
        );
    }
}

#[test]
fn tasks_queued_in_the_same_instant_sort_newest_first_as_after_a_restart() {
    let mut m = model();
    for t in ["first", "second", "third"] {
        ev(
            &mut m,
            t,
            T0,
            Event::TaskQueued {
                description: t.into(),
            },
        );
    }
    assert_eq!(order(&mut m), vec![id("third"), id("second"), id("first")]);
    send(&mut m, press(KeyCode::Esc));
    send(&mut m, az_os_char('s'));
    assert_eq!(m.queue.sort.label(), "oldest");
    assert_eq!(order(&mut m), vec![id("first"), id("second"), id("third")]);
}

fn az_os_char(c: char) -> Msg {
    super::ch(c)
}

#[test]
fn the_spinner_moves_only_while_a_task_runs() {
    let mut m = model_sized(120, 40);
    assert!(!m.animating(), "an empty dashboard asks for no frames");
    ev(
        &mut m,
        "waiting1",
        T0,
        Event::TaskQueued {
            description: "job waits".into(),
        },
    );
    assert!(!m.animating(), "a queued task does not move");
    run_task(&mut m, "running1", "job runs", T0, "m");
    assert!(m.animating());
    let glyph = |m: &Model| {
        let shown = screen(&render(m));
        let row = shown
            .lines()
            .find(|l| l.contains("job runs") && l.contains('$'))
            .unwrap()
            .to_owned();
        row.chars().nth(2).unwrap()
    };
    update(&mut m, Msg::Tick, T0 + 0.05);
    let first = glyph(&m);
    update(&mut m, Msg::Tick, T0 + 0.15);
    assert_ne!(glyph(&m), first, "the spinner turns with the clock");
    ev(
        &mut m,
        "running1",
        T0 + 1.0,
        finished(TaskStatus::Completed, Some("ok"), None, 0.0),
    );
    assert!(!m.animating(), "nothing runs: the loop stops ticking");
}

#[test]
fn the_time_column_is_how_long_a_task_ran_under_headers_and_the_bar_counts_running_and_queued() {
    let mut m = model_sized(120, 40);
    run_task(&mut m, "running1", "job runs", T0 - 95.0, "m");
    ev(
        &mut m,
        "waiting1",
        T0,
        Event::TaskQueued {
            description: "job waits".into(),
        },
    );
    // The queue's row holding `what` (the turns pane's title may hold it too).
    let row = |m: &Model, what: &str| {
        screen(&render(m))
            .lines()
            .find(|l| l.contains(what) && l.contains('$'))
            .unwrap()
            .to_owned()
    };
    // Started a second after it was queued: 94 s so far.
    assert!(
        row(&m, "job runs").contains("$0.0000  1m34s"),
        "{}",
        row(&m, "job runs")
    );
    update(&mut m, Msg::Tick, T0 + 10.0);
    assert!(
        row(&m, "job runs").contains("1m44s"),
        "{}",
        row(&m, "job runs")
    );
    assert!(
        row(&m, "job waits").contains("$0.0000      -"),
        "{}",
        row(&m, "job waits")
    );
    let header = screen(&render(&m))
        .lines()
        .find(|l| l.contains(" id ") && l.contains("time"))
        .unwrap()
        .to_owned();
    for col in ["id", "task", "cost", "time"] {
        assert!(header.contains(col), "{header}");
    }
    // Wide enough for the model column, which gets its header too.
    update(&mut m, Msg::Resize(200, 60), T0 + 10.0);
    let wide = screen(&render(&m));
    assert!(
        wide.lines()
            .any(|l| l.contains(" id ") && l.contains("model") && l.contains("time")),
        "{wide}"
    );
    update(&mut m, Msg::Resize(120, 40), T0 + 10.0);
    let bar = screen(&render(&m)).lines().last().unwrap().to_owned();
    assert!(bar.contains("1 running · 1 queued"), "{bar}");
    assert!(!bar.contains("active"), "{bar}");

    // Done: how long it took (the engine's measure), not its age.
    let mut done = finished(TaskStatus::Completed, Some("ok"), None, 0.0);
    if let Event::TaskFinished { duration_ms, .. } = &mut done {
        *duration_ms = 125_000;
    }
    ev(&mut m, "running1", T0 + 3600.0, done);
    assert!(
        row(&m, "job runs").contains("2m05s"),
        "{}",
        row(&m, "job runs")
    );
    let bar = screen(&render(&m)).lines().last().unwrap().to_owned();
    assert!(
        bar.contains("1 queued") && !bar.contains("running"),
        "{bar}"
    );
}

/// `az-os run TASK` submits before the loop starts, so the start-up read of the
/// store can answer after the engine's first events: a stale row must not
/// overwrite what the events said.
#[test]
fn startup_rows_do_not_overwrite_live_tasks() {
    let mut m = model();
    submit_task(&mut m, "live01", "from the command line", T0, "fast-model");
    ev(&mut m, "live01", T0 + 1.0, llm_call("fast-model", 0.002));
    let live = m.queue.get(&id("live01")).unwrap().clone();
    let stale = row("live01", "from the command line", TaskStatus::Pending);
    let older = TaskRow {
        critical: false,
        id: id("old001"),
        created_at: T0 - 3600.0,
        ..stale.clone()
    };
    send(&mut m, Msg::TasksLoaded(vec![stale, older]));
    assert_eq!(
        m.queue.total(),
        2,
        "the stored task of an earlier session is added"
    );
    assert_eq!(m.queue.get(&id("live01")), Some(&live));
}

/// A stored row of task `task`.
fn row(task: &str, description: &str, status: TaskStatus) -> TaskRow {
    TaskRow {
        critical: false,
        id: id(task),
        description: description.into(),
        model: None,
        status,
        created_at: T0,
        started_at: None,
        completed_at: None,
        result: None,
        error: None,
        cost_usd: 0.0,
        workdir: Some("/home/user/project".into()),
        turns: 0,
        max_turns: 20,
        budget_usd: None,
        requested_model: None,
        route_json: None,
    }
}

/// On the shared store a task queued elsewhere can end between the start-up read of
/// the list and the first event the dashboard sees: the list then says "running" for a
/// task whose end came first. The end of an unknown task asks for its row, and that
/// row (read after the end) wins over the older list; a dashboard left waiting on a
/// task that has ended is what this guards against.
#[test]
fn an_end_seen_before_the_stored_list_is_not_undone_by_it() {
    let mut m = model();
    let fx = ev(
        &mut m,
        "their01",
        T0 + 2.0,
        finished(TaskStatus::Completed, Some("done"), None, 0.0),
    );
    assert!(fx.contains(&Effect::LoadTask(id("their01"))), "{fx:?}");
    let running = row("their01", "their task", TaskStatus::Running);
    send(&mut m, Msg::TasksLoaded(vec![running.clone()]));
    assert_eq!(m.queue.active(), 1, "the list read before the end");
    send(
        &mut m,
        Msg::TaskLoaded(row("their01", "their task", TaskStatus::Completed)),
    );
    assert_eq!(m.queue.active(), 0);
    // A read that comes back late does not bring the task back to life.
    send(&mut m, Msg::TaskLoaded(running));
    assert_eq!(
        m.queue.get(&id("their01")).unwrap().status,
        TaskStatus::Completed
    );
    // A known task's events need no read.
    assert!(
        ev(&mut m, "their01", T0 + 3.0, started("fast-model"))
            .iter()
            .all(|f| !matches!(f, Effect::LoadTask(_)))
    );
}
