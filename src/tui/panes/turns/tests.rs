//! Tests of the parent module.
use super::*;

#[test]
fn wrapping_respects_width_and_indents() {
    let lines = wrap_lines(
        " 1 ▸ ",
        "     ",
        &["the quick brown fox jumps over the lazy dog"],
        20,
    );
    assert!(lines.iter().all(|l| width_of(l) <= 20), "{lines:?}");
    assert!(lines[0].starts_with(" 1 ▸ the"));
    assert!(lines[1].starts_with("     "));
    let long = wrap_lines("", "", &["x".repeat(50).as_str()], 20);
    assert_eq!(long.len(), 3);
}

#[test]
fn a_checkpoint_is_one_quiet_line_of_its_turn() {
    let mut t = Transcript::default();
    let id = "0123456789ab.2".to_owned();
    t.apply(
        &Event::Checkpoint {
            turn: 2,
            checkpoint_id: id,
        },
        40,
    );
    let e = &t.entries[0];
    assert_eq!((e.kind, e.turn, e.height()), (Kind::Checkpoint, Some(2), 1));
    assert_eq!(e.lines, vec![" 2 ⚑ checkpoint 0123456789ab.2".to_owned()]);
    let th = Theme::named("default").unwrap();
    assert_eq!(e.style(&th), th.dim);
    assert_ne!(th.dim, th.accent, "quieter than a status line");
}

#[test]
fn streamed_thought_is_replaced_by_the_full_one() {
    let mut t = Transcript::default();
    t.apply(
        &Event::ThoughtDelta {
            turn: 1,
            text: "Hel".into(),
        },
        40,
    );
    t.apply(
        &Event::ThoughtDelta {
            turn: 1,
            text: "lo".into(),
        },
        40,
    );
    assert_eq!(t.entries.len(), 1);
    assert_eq!(t.entries[0].text, "Hello");
    t.apply(
        &Event::Thought {
            turn: 1,
            text: "Hello world".into(),
        },
        40,
    );
    assert_eq!(t.entries.len(), 1);
    assert_eq!(t.entries[0].text, "Hello world");
}

#[test]
fn observations_collapse_to_one_line_until_expanded() {
    let mut s = TurnsState::default();
    let id = TaskId::from("t");
    s.show(Some(id.clone()));
    s.apply(
        &id,
        &Event::Observation {
            turn: 1,
            tool: "x".into(),
            ok: true,
            output: "a\nb\nc".into(),
        },
    );
    assert_eq!(s.transcript().unwrap().entries[0].height(), 1);
    s.toggle();
    assert_eq!(s.transcript().unwrap().entries[0].height(), 3);
}
