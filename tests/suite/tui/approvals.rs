//! The approval dialog (issue 11, items 1–4): typing never answers it, a long
//! command is readable in full with the answer keys always in sight, the answer
//! is recorded as the user's, and with several requests waiting the dialog, the
//! status bar and the turns pane all name the same task.

use az_os::engine::{Approval, Command, Event};
use az_os::tui::model::{Focus, Model};
use az_os::tui::msg::Effect;
use az_os::tui::panes::popups::Popup;
use az_os::tui::panes::turns::Kind;
use pretty_assertions::assert_eq;
use ratatui::crossterm::event::KeyCode;

use super::{
    T0, ch, ev, id, model, model_sized, press, render, run_task, screen, transcript, update,
};
use az_os::tui::msg::Msg;

/// Keys the user answers with; F2 moves the keyboard to the dialog.
fn f2() -> Msg {
    press(KeyCode::F(2))
}

fn request(request_id: &str, command: &str) -> Event {
    Event::ApprovalRequested {
        request_id: request_id.into(),
        turn: 1,
        tool: "execute_command".into(),
        command: command.into(),
        reason: "git push --force rewrites the remote's history (guard:git push --force)".into(),
    }
}

/// Types `text` one key every 50 ms from `at`; returns the effects and the time after.
fn type_at(m: &mut Model, text: &str, at: f64) -> (Vec<Effect>, f64) {
    let mut t = at;
    let mut fx = Vec::new();
    for c in text.chars() {
        fx.extend(update(m, ch(c), t));
        t += 0.05;
    }
    (fx, t)
}

fn approvals_in(fx: &[Effect]) -> Vec<&Effect> {
    fx.iter()
        .filter(|e| matches!(e, Effect::Engine(Command::Approve { .. })))
        .collect()
}

fn shown(m: &Model) -> (String, bool) {
    match &m.popup {
        Some(Popup::Approval(r)) => (r.request_id.clone(), r.focused),
        other => panic!("no approval on screen: {other:?}"),
    }
}

// ---------------------------------------------------------------- item 1

#[test]
fn typing_never_answers_and_every_letter_stays_in_the_input() {
    let mut m = model();
    run_task(&mut m, "push01", "push the branch", T0, "fast-model");
    let (fx, t) = type_at(&mut m, "typing a note about c", T0 + 2.0);
    assert!(fx.is_empty());
    // The request arrives mid-word; the next letter is `a` (= "always" in the dialog).
    ev(
        &mut m,
        "push01",
        t,
        request("r1", "git push --force origin main"),
    );
    let (fx, t) = type_at(&mut m, "ats, and you may notice y, n, a", t);
    assert_eq!(approvals_in(&fx), Vec::<&Effect>::new());
    assert_eq!(
        m.input.text(),
        "typing a note about cats, and you may notice y, n, a"
    );
    assert_eq!(m.focus, Focus::Input);
    // Shown, announced, but without the keyboard.
    assert_eq!(shown(&m), ("r1".to_owned(), false));
    let text = screen(&render(&m));
    assert!(text.contains("git push --force origin main"), "{text}");
    assert!(
        text.contains("Task push01 asks approval · <F2> to answer"),
        "{text}"
    );
    // Enter submits what was typed; it does not run the command.
    let fx = update(&mut m, press(KeyCode::Enter), t);
    assert!(matches!(
        fx.as_slice(),
        [Effect::Engine(Command::Submit { .. })]
    ));
    assert_eq!(shown(&m), ("r1".to_owned(), false));

    // In the panes too, `y` (copy) and Esc keep their meaning.
    update(&mut m, press(KeyCode::Esc), t + 0.1);
    let fx = update(&mut m, ch('y'), t + 0.2);
    assert_eq!(approvals_in(&fx), Vec::<&Effect>::new());
    assert_eq!(shown(&m), ("r1".to_owned(), false));
}

#[test]
fn answers_count_only_after_a_deliberate_move_and_a_moment_on_screen() {
    let mut m = model();
    run_task(&mut m, "push01", "push the branch", T0, "fast-model");
    ev(
        &mut m,
        "push01",
        T0 + 5.0,
        request("r1", "git push --force"),
    );
    // F2 moves the keyboard to the dialog; a key right after it opened is not an answer.
    update(&mut m, f2(), T0 + 5.1);
    assert_eq!(shown(&m), ("r1".to_owned(), true));
    let fx = update(&mut m, ch('y'), T0 + 5.2);
    assert_eq!(fx, vec![]);
    assert_eq!(
        m.status.message,
        "The dialog just opened: read the command, then answer"
    );
    // F2 again gives the keyboard back without answering.
    update(&mut m, f2(), T0 + 6.0);
    assert_eq!(shown(&m), ("r1".to_owned(), false));
    assert_eq!(update(&mut m, ch('a'), T0 + 6.1), vec![]);
    assert_eq!(m.input.text(), "a");
    update(&mut m, f2(), T0 + 7.0);
    let fx = update(&mut m, ch('n'), T0 + 7.1);
    assert_eq!(
        fx,
        vec![Effect::Engine(Command::Approve {
            id: id("push01"),
            request_id: "r1".into(),
            decision: Approval::Deny,
        })]
    );
    assert_eq!(m.popup, None);
    assert_eq!(m.status.message, "Denied: git push --force");
    // With nothing waiting, F2 says so.
    update(&mut m, f2(), T0 + 8.0);
    assert_eq!(m.status.message, "No command is waiting for approval");
}

#[test]
fn another_popup_does_not_lose_a_waiting_request() {
    let mut m = model();
    run_task(&mut m, "push01", "push the branch", T0, "fast-model");
    ev(
        &mut m,
        "push01",
        T0 + 1.0,
        request("r1", "git push --force"),
    );
    update(&mut m, press(KeyCode::Esc), T0 + 2.0);
    update(&mut m, ch('?'), T0 + 2.1);
    assert!(matches!(m.popup, Some(Popup::Help { .. })));
    update(&mut m, press(KeyCode::Esc), T0 + 3.0);
    assert_eq!(shown(&m), ("r1".to_owned(), false));
}

// ---------------------------------------------------------------- item 2

/// A 430-character command: every part of it must be readable before answering.
fn long_command() -> String {
    let mut c = String::from("git push --force origin main && ");
    let mut i = 0;
    while c.chars().count() < 420 {
        c.push_str(&format!("echo step-{i:03} >> deploy.log && "));
        i += 1;
    }
    c.push_str("echo THE-END");
    c
}

fn with_long_request(w: u16, h: u16) -> Model {
    let mut m = model_sized(w, h);
    run_task(&mut m, "push01", "push the branch", T0, "fast-model");
    ev(&mut m, "push01", T0 + 1.0, request("r1", &long_command()));
    m
}

#[test]
fn a_long_command_wraps_scrolls_and_keeps_the_answer_keys_at_every_size() {
    for (w, h) in [(70, 20), (80, 24), (120, 40), (200, 60)] {
        let mut m = with_long_request(w, h);
        let text = screen(&render(&m));
        assert!(text.contains("<F2> to answer"), "{w}x{h}\n{text}");
        for key in ["y once", "a always", "n deny"] {
            assert!(text.contains(key), "{w}x{h}: {key} missing\n{text}");
        }
        let all_shown = text.contains("THE-END");
        if !all_shown {
            assert!(text.contains("more line(s) below"), "{w}x{h}\n{text}");
        }
        // Scroll to the end: the command's last characters come into sight.
        update(&mut m, f2(), T0 + 2.0);
        for i in 0..40 {
            update(&mut m, ch('j'), T0 + 2.1 + f64::from(i) * 0.01);
        }
        let text = screen(&render(&m));
        assert!(text.contains("THE-END"), "{w}x{h}\n{text}");
        for key in ["y once", "a always", "n deny"] {
            assert!(text.contains(key), "{w}x{h}: {key} missing\n{text}");
        }
        // Every character is on some row: nothing is cut without a mark.
        if !all_shown {
            assert!(text.contains("above"), "{w}x{h}\n{text}");
        }
    }
}

fn snapshot(name: &str, state: fn(u16, u16) -> Model) {
    for (w, h) in [(80, 24), (120, 40)] {
        let text = screen(&render(&state(w, h)));
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("../../snapshots");
        settings.set_prepend_module_to_snapshot(false);
        settings.set_description(format!("{name} at {w}x{h}"));
        settings.bind(|| insta::assert_snapshot!(format!("tui_{name}_{w}x{h}"), text));
    }
}

#[test]
fn snapshot_approval_long_command() {
    snapshot("approval_long_command", with_long_request);
}

// ---------------------------------------------------------------- item 3

#[test]
fn the_answer_is_recorded_in_the_transcript_as_the_users() {
    let mut m = model();
    run_task(&mut m, "push01", "push the branch", T0, "fast-model");
    ev(
        &mut m,
        "push01",
        T0 + 1.0,
        request("r1", "git push --force"),
    );
    ev(
        &mut m,
        "push01",
        T0 + 3.0,
        Event::ApprovalAnswered {
            request_id: "r1".into(),
            turn: 1,
            command: "git push --force".into(),
            decision: Approval::Deny,
        },
    );
    let t = transcript(&m, "push01");
    assert_eq!(
        t.last(),
        Some(&(
            Some(1),
            Kind::Status,
            "denied by the user: `git push --force`".to_owned()
        ))
    );
}

// ---------------------------------------------------------------- item 4

fn two_waiting(w: u16, h: u16) -> Model {
    let mut m = model_sized(w, h);
    run_task(&mut m, "first1", "deploy the docs site", T0, "fast-model");
    run_task(
        &mut m,
        "second",
        "clean the build tree",
        T0 + 1.0,
        "fast-model",
    );
    ev(
        &mut m,
        "first1",
        T0 + 2.0,
        request("r1", "git push --force origin gh-pages"),
    );
    ev(&mut m, "second", T0 + 3.0, request("r2", "rm -r build"));
    m
}

#[test]
fn with_two_requests_waiting_dialog_status_and_turns_name_the_same_task() {
    let mut m = two_waiting(120, 40);
    let text = screen(&render(&m));
    assert_eq!(shown(&m).0, "r1");
    assert!(text.contains("1 of 2 waiting"), "{text}");
    assert!(text.contains("Task first1 deploy the docs site"), "{text}");
    assert!(
        text.contains("Task first1 asks approval (2 waiting) · <F2> to answer"),
        "{text}"
    );
    assert_eq!(m.queue.selected_id(), Some(id("first1")));
    assert_eq!(m.turns.shown, Some(id("first1")));
    assert!(text.contains("Turns · first1"), "{text}");

    update(&mut m, f2(), T0 + 4.0);
    update(&mut m, ch('y'), T0 + 4.5);
    let text = screen(&render(&m));
    assert_eq!(shown(&m).0, "r2");
    assert!(text.contains("Task second clean the build tree"), "{text}");
    assert!(
        text.contains("Task second asks approval · <F2> to answer"),
        "{text}"
    );
    assert!(!text.contains("waiting)"), "{text}");
    assert_eq!(m.queue.selected_id(), Some(id("second")));
    assert!(text.contains("Turns · second"), "{text}");
}

#[test]
fn snapshot_approval_two_waiting() {
    snapshot("approval_two_waiting", two_waiting);
}

#[test]
fn a_click_on_the_dialog_moves_the_keyboard_to_it_a_click_elsewhere_does_not() {
    use ratatui::crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
    let click = |column, row| {
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    let mut m = model();
    run_task(&mut m, "push01", "push the branch", T0, "fast-model");
    ev(
        &mut m,
        "push01",
        T0 + 1.0,
        request("r1", "git push --force"),
    );
    // The input (row 21 at 80×24) is never under the dialog.
    update(&mut m, click(5, 21), T0 + 2.0);
    assert_eq!(shown(&m), ("r1".to_owned(), false));
    assert_eq!(m.focus, Focus::Input);
    update(&mut m, click(40, 10), T0 + 2.5);
    assert_eq!(shown(&m), ("r1".to_owned(), true));
}
