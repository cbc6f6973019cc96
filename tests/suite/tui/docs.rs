//! The memory browser's docs mode: `t` switches between lessons and the workdir's
//! documents, `/` searches them (through the knowledge search), Enter shows the chunk
//! with its path and lines.

use az_os::knowledge::Hit;
use az_os::tui::model::Focus;
use az_os::tui::msg::{Effect, Msg};
use ratatui::crossterm::event::KeyCode;

use super::{ch, model_sized, press, render, screen, send};

fn hit(path: &str, start: usize, text: &str) -> Hit {
    Hit {
        id: 1,
        path: path.into(),
        start_line: start,
        end_line: start + text.lines().count() - 1,
        lang: "markdown".into(),
        score: 0.9,
        text: text.into(),
        snippet: text.into(),
        highlights: Vec::new(),
    }
}

#[test]
fn t_switches_to_docs_and_a_search_asks_the_index_then_enter_shows_the_chunk() {
    let mut m = model_sized(120, 40);
    m.memory.index_home = Some("/home/u/.az-os".into());
    m.focus = Focus::Memory;
    send(&mut m, ch('t'));
    assert!(m.memory.docs);
    send(&mut m, ch('/'));
    for c in "deploy".chars() {
        send(&mut m, ch(c));
    }
    let fx = send(&mut m, press(KeyCode::Enter));
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::SearchDocs { query, .. } if query == "deploy")),
        "{fx:?}"
    );
    send(
        &mut m,
        Msg::DocsLoaded(Ok((
            vec![hit(
                "docs/deploy.md",
                3,
                "Deploy with make ship.\nRoll back with make unship.",
            )],
            None,
        ))),
    );
    let shown = screen(&render(&m));
    assert!(shown.contains("Docs · 1 hits for \"deploy\""), "{shown}");
    assert!(shown.contains("docs/deploy.md:3-4"), "{shown}");
    send(&mut m, press(KeyCode::Enter));
    let shown = screen(&render(&m));
    assert!(
        shown.contains("Document") && shown.contains("Roll back with make unship."),
        "{shown}"
    );
    // Deleting is for lessons; in docs mode it deletes nothing.
    send(&mut m, press(KeyCode::Esc));
    let fx = send(&mut m, ch('d'));
    assert!(fx.is_empty(), "{fx:?}");
    send(&mut m, ch('t'));
    assert!(!m.memory.docs);
}
