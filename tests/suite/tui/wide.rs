//! Wide characters (CJK, emoji) keep the columns aligned: everything laid out in
//! columns measures display width, never bytes or chars.

use az_os::store::memories::Memory;
use az_os::tui::model::Model;
use az_os::tui::msg::Msg;
use az_os::tui::update::areas;
use ratatui::layout::Rect;

use super::{T0, model_sized, render, run_task, send};

/// The x of the first cell in row `y` of `area` whose symbol is `symbol`.
fn column_of(m: &Model, area: Rect, y: u16, symbol: &str) -> Option<u16> {
    let t = render(m);
    let buf = t.backend().buffer();
    (area.x..area.x + area.width).find(|&x| buf[(x, y)].symbol() == symbol)
}

#[test]
fn queue_columns_line_up_with_cjk_and_emoji_descriptions() {
    for (w, h) in [(80, 24), (120, 40), (200, 60)] {
        let mut m = model_sized(w, h);
        run_task(&mut m, "ascii001", "plain ascii task", T0 - 30.0, "m");
        run_task(
            &mut m,
            "cjk00001",
            "漢字のテストを実行して結果を書く長い説明です",
            T0 - 20.0,
            "模型",
        );
        run_task(
            &mut m,
            "emoji001",
            "deploy 🚀 the site 🎉 and 📦 package it",
            T0 - 10.0,
            "m",
        );
        let q = areas(&m).queue;
        let rows: Vec<u16> = (q.y + 2..q.y + 5).collect();
        let dollars: Vec<Option<u16>> = rows.iter().map(|&y| column_of(&m, q, y, "$")).collect();
        assert!(dollars[0].is_some(), "{w}x{h}: {dollars:?}");
        assert!(
            dollars.iter().all(|d| *d == dollars[0]),
            "{w}x{h}: cost column moved: {dollars:?}"
        );
        // The right border is intact on every row.
        let t = render(&m);
        let buf = t.backend().buffer();
        for &y in &rows {
            assert_eq!(buf[(q.x + q.width - 1, y)].symbol(), "│", "{w}x{h} row {y}");
        }
    }
}

#[test]
fn transcript_and_memory_rows_stay_inside_their_panes() {
    let mut m = model_sized(80, 24);
    run_task(&mut m, "cjk00001", "説明", T0, "m");
    az_os_ev_thought(&mut m, "漢字の考え".repeat(20).as_str());
    send(
        &mut m,
        Msg::MemoriesLoaded(vec![Memory {
            id: "mem1".into(),
            task_id: None,
            lesson: "結果を確認する前に終了コードを確認する。".repeat(5),
            category: "シェル".into(),
            success: true,
            score: 0.5,
            created_at: T0,
            access_count: 0,
            ..Memory::default()
        }]),
    );
    let a = areas(&m);
    let t = render(&m);
    let buf = t.backend().buffer();
    let text_of = |pane: Rect| -> Vec<String> {
        (pane.y + 1..pane.y + pane.height - 1)
            .map(|y| {
                (pane.x + 1..pane.x + pane.width - 1)
                    .map(|x| buf[(x, y)].symbol())
                    .collect()
            })
            .collect()
    };
    // Wrapped by display width, the thought is all there: none of it cut at the border.
    let turns = text_of(a.turns).concat();
    assert_eq!(turns.matches('考').count(), 20, "{}", super::screen(&t));
    // The lesson is cut to the pane with its `…` showing, not clipped mid-character.
    let lesson = text_of(a.memory)
        .into_iter()
        .find(|l| l.contains('×'))
        .unwrap();
    assert!(lesson.trim_end().ends_with('…'), "{lesson:?}");
    for pane in [a.turns, a.memory] {
        for y in pane.y + 1..pane.y + pane.height - 1 {
            let right = &buf[(pane.x + pane.width - 1, y)];
            assert_eq!(
                right.symbol(),
                "│",
                "row {y} of {pane:?}\n{}",
                super::screen(&t)
            );
        }
    }
}

fn az_os_ev_thought(m: &mut Model, text: &str) {
    super::ev(
        m,
        "cjk00001",
        T0,
        az_os::engine::Event::Thought {
            turn: 1,
            text: text.into(),
        },
    );
}
