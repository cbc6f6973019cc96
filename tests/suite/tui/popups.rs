//! Popups that hold more than a screen: task detail, a lesson and help size to the
//! terminal, scroll with every motion key, stop at the end of their text, and the
//! status bar advertises only the keys that do something.

use az_os::store::TaskStatus;
use az_os::store::memories::Memory;
use az_os::tui::model::Model;
use az_os::tui::msg::Msg;
use az_os::tui::panes::popups::Popup;
use ratatui::crossterm::event::KeyCode;

use super::{T0, ch, ev, finished, model_sized, press, render, run_task, screen, send};

/// A finished task whose result is 60 numbered lines, its detail popup open.
fn long_detail(w: u16, h: u16) -> Model {
    let mut m = model_sized(w, h);
    let result = (1..=60)
        .map(|i| format!("result line {i}"))
        .collect::<Vec<_>>()
        .join("\n");
    run_task(&mut m, "abcdef01", "Write sixty lines", T0 - 10.0, "m");
    ev(
        &mut m,
        "abcdef01",
        T0,
        finished(TaskStatus::Completed, Some(&result), None, 0.0),
    );
    send(&mut m, press(KeyCode::Esc));
    send(&mut m, press(KeyCode::Enter));
    assert!(matches!(m.popup, Some(Popup::Detail { .. })));
    m
}

fn scroll(m: &Model) -> u16 {
    match m.popup {
        Some(
            Popup::Help { scroll } | Popup::Detail { scroll, .. } | Popup::Lesson { scroll, .. },
        ) => scroll,
        _ => panic!("no scrolling popup: {:?}", m.popup),
    }
}

#[test]
fn detail_popup_fills_the_terminal_and_every_motion_key_scrolls_it() {
    for (w, h) in [(80, 24), (120, 40), (200, 60)] {
        let mut m = long_detail(w, h);
        let shown = screen(&render(&m));
        // Sized to the terminal: one free row above and below.
        let rows = shown.lines().filter(|l| l.contains('┃')).count() + 2;
        assert_eq!(rows, usize::from(h) - 2, "{w}x{h}\n{shown}");
        assert!(!shown.contains("result line 60"), "{w}x{h}");
        send(&mut m, press(KeyCode::Down));
        assert_eq!(scroll(&m), 1);
        send(&mut m, ch('j'));
        assert_eq!(scroll(&m), 2);
        send(&mut m, press(KeyCode::Up));
        send(&mut m, ch('k'));
        assert_eq!(scroll(&m), 0);
        send(&mut m, press(KeyCode::PageDown));
        let page = scroll(&m);
        assert!(
            page >= 10,
            "{w}x{h}: a page is the popup's height, got {page}"
        );
        send(&mut m, press(KeyCode::PageUp));
        assert_eq!(scroll(&m), 0);
        // End shows the result's last line; nothing scrolls past it.
        send(&mut m, press(KeyCode::End));
        let end = scroll(&m);
        let shown = screen(&render(&m));
        assert!(shown.contains("result line 60"), "{w}x{h}\n{shown}");
        for key in [
            press(KeyCode::Down),
            ch('j'),
            press(KeyCode::PageDown),
            ch('G'),
        ] {
            send(&mut m, key);
            assert_eq!(scroll(&m), end, "{w}x{h}: scrolled past the end");
        }
        // The last line sits on the last row inside the border.
        let lines: Vec<&str> = shown.lines().collect();
        let last = lines
            .iter()
            .position(|l| l.contains("result line 60"))
            .unwrap();
        assert!(lines[last + 1].contains('┗'), "{w}x{h}\n{shown}");
        send(&mut m, press(KeyCode::Home));
        assert_eq!(scroll(&m), 0);
        assert!(screen(&render(&m)).contains("Write sixty lines"));
    }
}

#[test]
fn status_bar_advertises_scrolling_only_when_the_popup_scrolls() {
    let m = long_detail(120, 40);
    let bar = screen(&render(&m)).lines().last().unwrap().to_owned();
    assert!(bar.contains("Scroll down"), "{bar}");
    assert!(bar.contains("Copy"), "{bar}");

    // A short detail, nothing to scroll and no result to copy.
    let mut m = model_sized(120, 40);
    run_task(&mut m, "abcdef02", "Still going", T0 - 10.0, "m");
    send(&mut m, press(KeyCode::Esc));
    send(&mut m, press(KeyCode::Enter));
    let bar = screen(&render(&m)).lines().last().unwrap().to_owned();
    assert!(!bar.contains("Scroll") && !bar.contains("Page"), "{bar}");
    assert!(!bar.contains("Copy"), "{bar}");
    assert!(bar.contains("Close"), "{bar}");
    send(&mut m, ch('j'));
    assert_eq!(scroll(&m), 0);
}

#[test]
fn a_long_lesson_wraps_and_its_end_is_reachable() {
    let mut m = model_sized(80, 24);
    let lesson = format!(
        "{} THE END",
        "Check the exit code before reading output. ".repeat(40)
    );
    send(
        &mut m,
        Msg::MemoriesLoaded(vec![Memory {
            id: "mem1".into(),
            task_id: None,
            lesson,
            category: "shell".into(),
            success: true,
            score: 0.5,
            created_at: T0,
            access_count: 0,
            ..Memory::default()
        }]),
    );
    send(&mut m, press(KeyCode::Esc));
    send(&mut m, ch('5'));
    send(&mut m, press(KeyCode::Enter));
    assert!(matches!(m.popup, Some(Popup::Lesson { .. })));
    let shown = screen(&render(&m));
    assert!(
        shown
            .lines()
            .filter(|l| l.contains("Check the exit"))
            .count()
            > 3,
        "{shown}"
    );
    send(&mut m, press(KeyCode::End));
    assert!(screen(&render(&m)).contains("THE END"));
}

#[test]
fn help_stops_scrolling_at_its_last_line() {
    for (w, h) in [(80, 24), (120, 40)] {
        let mut m = model_sized(w, h);
        send(&mut m, press(KeyCode::F(1)));
        for _ in 0..200 {
            send(&mut m, ch('j'));
        }
        let end = scroll(&m);
        let shown = screen(&render(&m));
        let lines: Vec<&str> = shown.lines().collect();
        // The setup dialog's context's last line closes the text, right above the border.
        let last = lines[..lines.len() - 1]
            .iter()
            .rposition(|l| l.contains("Previous row or field"))
            .unwrap_or_else(|| panic!("{shown}"));
        assert!(lines[last + 1].contains('┗'), "{w}x{h}\n{shown}");
        send(&mut m, ch('G'));
        assert_eq!(scroll(&m), end);
    }
}
