//! The memory browser's lessons: rows show how often each was recalled and where it
//! applies; Enter shows its provenance; `a` adds one and `e` edits the selected one on
//! an input line (Tab picks the category, Enter saves, Esc drops it); `d` deletes after
//! a y/n confirm that Esc or n cancels. Writes leave as one effect
//! (`Effect::ChangeLesson`), and the list reloads once the change is stored.

use az_os::memory::edit::Change;
use az_os::store::memories::{Memory, Provenance};
use az_os::tui::model::{Focus, Model};
use az_os::tui::msg::{Effect, Msg};
use az_os::tui::panes::popups::Popup;
use ratatui::crossterm::event::KeyCode;

use super::{T0, ch, model_sized, press, render, screen, send, type_text};

fn merged() -> Memory {
    Memory {
        id: "mem-merged".into(),
        task_id: Some("t-1".into()),
        lesson: "data.csv has a header row; subtract one when counting rows".into(),
        category: "pitfall".into(),
        success: false,
        score: 8.0,
        created_at: T0 - 86_400.0,
        access_count: 7,
        scope: Some("/home/user/project".into()),
        provenance: Provenance {
            lessons: vec!["mem-b".into(), "mem-c".into()],
            tasks: vec!["t-1".into(), "t-2".into()],
        },
        last_access: Some(T0 - 60.0),
    }
}

fn global() -> Memory {
    Memory {
        id: "mem-global".into(),
        lesson: "Run the tests with make check".into(),
        category: "workflow".into(),
        success: true,
        score: 5.0,
        created_at: T0,
        ..Memory::default()
    }
}

fn browser() -> Model {
    let mut m = model_sized(120, 40);
    send(&mut m, Msg::MemoriesLoaded(vec![merged(), global()]));
    m.focus = Focus::Memory;
    m
}

#[test]
fn rows_show_recalls_and_scope_and_enter_shows_provenance() {
    let mut m = browser();
    let shown = screen(&render(&m));
    let row = shown
        .lines()
        .find(|l| l.contains("subtract one"))
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(row.contains("7×") && row.contains("project"), "{row}");
    let row = shown
        .lines()
        .find(|l| l.contains("make check"))
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(row.contains("0×") && row.contains("global"), "{row}");

    send(&mut m, press(KeyCode::Enter));
    assert!(matches!(m.popup, Some(Popup::Lesson { .. })));
    let shown = screen(&render(&m));
    for want in [
        "pitfall · score 8.0 · from a task that failed",
        "created    2025-06-14",
        "7 times, last 2025-06-15",
        "/home/user/project",
        "merged     mem-b, mem-c",
        "from tasks t-1, t-2",
        "task       t-1",
    ] {
        assert!(shown.contains(want), "{want:?} in\n{shown}");
    }
}

#[test]
fn a_adds_a_lesson_with_a_category_and_the_list_reloads() {
    let mut m = browser();
    assert!(send(&mut m, ch('a')).is_empty());
    // Keys bound elsewhere (q quits, d deletes, t docs) are text here.
    type_text(&mut m, "quote paths; tests need it");
    send(&mut m, press(KeyCode::Tab)); // general → best_practice
    let shown = screen(&render(&m));
    // The end of the text shows (where the cursor is), with the category it will get.
    let line = shown
        .lines()
        .find(|l| l.contains("new [best_practice]"))
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(line.contains("tests need it▏"), "{line}");
    let fx = send(&mut m, press(KeyCode::Enter));
    assert_eq!(
        fx,
        [Effect::ChangeLesson(Change::Add {
            text: "quote paths; tests need it".into(),
            category: "best_practice".into(),
            scope: None,
        })]
    );
    assert!(m.memory.draft.is_none());
    let fx = send(
        &mut m,
        Msg::LessonChanged(Ok("Lesson added: quote paths".into())),
    );
    assert!(
        fx.iter().any(|e| matches!(e, Effect::LoadMemories { .. })),
        "{fx:?}"
    );
    assert!(screen(&render(&m)).contains("Lesson added"));
}

#[test]
fn e_edits_the_selected_lesson_and_esc_drops_the_edit() {
    let mut m = browser();
    send(&mut m, ch('j')); // the second lesson
    send(&mut m, ch('e'));
    let d = m.memory.draft.clone().unwrap();
    assert_eq!(d.id.as_deref(), Some("mem-global"));
    assert_eq!(d.text, "Run the tests with make check");
    assert_eq!(d.category(), "workflow");
    for _ in 0.."check".len() {
        send(&mut m, press(KeyCode::Backspace));
    }
    type_text(&mut m, "test");
    let fx = send(&mut m, press(KeyCode::Enter));
    assert_eq!(
        fx,
        [Effect::ChangeLesson(Change::Edit {
            id: "mem-global".into(),
            text: "Run the tests with make test".into(),
            category: "workflow".into(),
        })]
    );
    // Esc leaves the lesson as it was: no effect.
    send(&mut m, ch('e'));
    type_text(&mut m, " more");
    assert!(send(&mut m, press(KeyCode::Esc)).is_empty());
    assert!(m.memory.draft.is_none());
    // An empty lesson is not sent; the line stays for a fix.
    send(&mut m, ch('a'));
    assert!(send(&mut m, press(KeyCode::Enter)).is_empty());
    assert!(m.memory.draft.is_some());
    assert!(screen(&render(&m)).contains("The lesson is empty"));
}

#[test]
fn d_asks_first_and_only_y_deletes() {
    let mut m = browser();
    send(&mut m, ch('d'));
    assert!(matches!(m.popup, Some(Popup::Confirm { .. })));
    assert!(screen(&render(&m)).contains("Delete lesson"));
    assert!(send(&mut m, press(KeyCode::Esc)).is_empty());
    assert!(m.popup.is_none());
    send(&mut m, ch('d'));
    assert!(send(&mut m, ch('n')).is_empty());
    assert!(m.popup.is_none());
    send(&mut m, ch('d'));
    let fx = send(&mut m, ch('y'));
    assert_eq!(
        fx,
        [Effect::ChangeLesson(Change::Delete {
            id: "mem-merged".into()
        })]
    );
    let fx = send(
        &mut m,
        Msg::LessonChanged(Err("no lesson mem-merged".into())),
    );
    assert!(fx.is_empty(), "a refused change reloads nothing: {fx:?}");
    assert!(screen(&render(&m)).contains("no lesson mem-merged"));
}
