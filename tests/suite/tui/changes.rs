//! What a task changed, in the dashboard: `v` opens the files with +/- counts, Enter a
//! file's diff (scrollable, Esc back), `u` asks before rolling back, and a rollback
//! refused over the user's edits lists them and asks again before forcing.

use az_os::checkpoint::{Change, FileChange, Restored};
use az_os::store::TaskStatus;
use az_os::tui::model::Model;
use az_os::tui::msg::{Effect, Msg, RollbackRefused};
use az_os::tui::panes::popups::{Confirm, Popup};
use ratatui::crossterm::event::KeyCode;

use super::{T0, ch, ev, finished, id, model_sized, press, render, run_task, screen, send};

const TASK: &str = "c0ffee123456";

fn file(path: &str, change: Change, added: usize, removed: usize) -> FileChange {
    FileChange {
        path: path.into(),
        change,
        added,
        removed,
        binary: false,
    }
}

/// A finished task, the panes focused, its changes open and loaded.
fn opened(w: u16, h: u16) -> Model {
    let mut m = model_sized(w, h);
    run_task(&mut m, TASK, "Refactor the parser", T0 - 10.0, "m");
    ev(
        &mut m,
        TASK,
        T0,
        finished(TaskStatus::Completed, Some("done"), None, 0.0),
    );
    send(&mut m, press(KeyCode::Esc));
    let fx = send(&mut m, ch('v'));
    assert_eq!(fx, vec![Effect::LoadChanges(id(TASK))]);
    assert!(screen(&render(&m)).contains("Reading checkpoints"));
    send(
        &mut m,
        Msg::ChangesLoaded {
            task: id(TASK),
            files: Ok(vec![
                file("src/parser.rs", Change::Modified, 12, 30),
                file("src/lexer.rs", Change::Added, 80, 0),
                file("old.rs", Change::Deleted, 0, 41),
            ]),
        },
    );
    m
}

fn diff_scroll(m: &Model) -> u16 {
    match &m.popup {
        Some(Popup::Changes(c)) => c.diff.as_ref().map_or(0, |d| d.scroll),
        other => panic!("no changes popup: {other:?}"),
    }
}

#[test]
fn the_files_a_task_changed_with_their_line_counts() {
    for (w, h) in [(80, 24), (120, 40)] {
        let m = opened(w, h);
        let shown = screen(&render(&m));
        assert!(shown.contains("3 file(s) changed · +92 -71"), "{shown}");
        let row = |path: &str| {
            shown
                .lines()
                .find(|l| l.contains(path))
                .unwrap_or_else(|| panic!("{path} not shown:\n{shown}"))
                .to_owned()
        };
        let parser = row("src/parser.rs");
        assert!(
            parser.contains("▶ modified") && parser.contains("+12 -30"),
            "{parser}"
        );
        let lexer = row("src/lexer.rs");
        assert!(
            lexer.contains("added") && lexer.contains("+80 -0"),
            "{lexer}"
        );
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("../../snapshots");
        settings.set_prepend_module_to_snapshot(false);
        settings.bind(|| insta::assert_snapshot!(format!("tui_changes_{w}x{h}"), shown));
    }
}

#[test]
fn enter_shows_a_files_diff_that_scrolls_and_esc_goes_back() {
    let mut m = opened(80, 24);
    send(&mut m, ch('j'));
    let fx = send(&mut m, press(KeyCode::Enter));
    assert_eq!(
        fx,
        vec![Effect::LoadFileDiff(id(TASK), "src/lexer.rs".into())]
    );
    let body = (1..=80)
        .map(|i| format!("+line {i}"))
        .collect::<Vec<_>>()
        .join("\n");
    send(
        &mut m,
        Msg::FileDiffLoaded {
            task: id(TASK),
            path: "src/lexer.rs".into(),
            diff: Ok(format!(
                "--- /dev/null\n+++ b/src/lexer.rs\n@@ -0,0 +1,80 @@\n{body}"
            )),
        },
    );
    let shown = screen(&render(&m));
    assert!(
        shown.contains("+line 1") && !shown.contains("+line 80"),
        "{shown}"
    );
    send(&mut m, ch('G'));
    assert!(diff_scroll(&m) > 0);
    assert!(screen(&render(&m)).contains("+line 80"));
    send(&mut m, press(KeyCode::Esc));
    let Some(Popup::Changes(c)) = &m.popup else {
        panic!("Esc from a diff goes back to the files")
    };
    assert!(c.diff.is_none());
    assert_eq!(c.selected, 1);
    send(&mut m, press(KeyCode::Esc));
    assert!(m.popup.is_none());
}

#[test]
fn rollback_asks_and_a_refusal_lists_the_users_edits_then_forces_on_yes() {
    let mut m = opened(80, 24);
    assert!(
        send(&mut m, ch('u')).is_empty(),
        "nothing before the answer"
    );
    assert!(matches!(
        &m.popup,
        Some(Popup::Confirm { what: Confirm::Rollback(t), .. }) if *t == id(TASK)
    ));
    let fx = send(&mut m, ch('y'));
    assert_eq!(
        fx,
        vec![Effect::Rollback {
            task: id(TASK),
            force: false
        }]
    );
    send(
        &mut m,
        Msg::RolledBack {
            task: id(TASK),
            result: Err(RollbackRefused::Edited(vec![
                "src/parser.rs".into(),
                "README.md".into(),
            ])),
        },
    );
    let shown = screen(&render(&m));
    assert!(
        shown.contains("You changed 2 file(s) after task c0ffee"),
        "{shown}"
    );
    assert!(
        shown.contains("src/parser.rs") && shown.contains("README.md"),
        "{shown}"
    );
    // No leaves everything as it is.
    assert!(send(&mut m, ch('n')).is_empty());
    assert!(m.popup.is_none());
    // Asked again and answered yes: forced.
    send(&mut m, ch('u'));
    send(&mut m, ch('y'));
    send(
        &mut m,
        Msg::RolledBack {
            task: id(TASK),
            result: Err(RollbackRefused::Edited(vec!["src/parser.rs".into()])),
        },
    );
    let fx = send(&mut m, press(KeyCode::Enter));
    assert_eq!(
        fx,
        vec![Effect::Rollback {
            task: id(TASK),
            force: true
        }]
    );
    send(
        &mut m,
        Msg::RolledBack {
            task: id(TASK),
            result: Ok(Restored {
                written: vec!["src/parser.rs".into(), "old.rs".into()],
                deleted: vec!["src/lexer.rs".into()],
            }),
        },
    );
    assert!(screen(&render(&m)).contains("Rolled back task c0ffee: 2 file(s) restored, 1 deleted"));
}

#[test]
fn a_running_task_is_not_rolled_back() {
    let mut m = model_sized(120, 40);
    run_task(&mut m, TASK, "Still going", T0 - 10.0, "m");
    send(&mut m, press(KeyCode::Esc));
    assert!(send(&mut m, ch('u')).is_empty());
    assert!(m.popup.is_none());
    assert!(screen(&render(&m)).contains("cancel it before rolling back"));
}

#[test]
fn a_task_without_checkpoints_says_so() {
    let mut m = opened(80, 24);
    send(
        &mut m,
        Msg::ChangesLoaded {
            task: id(TASK),
            files: Err(
                "no checkpoint c0ffee123456: `az-os checkpoint list` shows the ones there are"
                    .into(),
            ),
        },
    );
    let shown = screen(&render(&m));
    assert!(shown.contains("no checkpoint c0ffee123456"), "{shown}");
}
