//! Where each pane goes for a terminal size. Pure, so `update` (to size scrolled
//! lists) and `view` (to draw) agree, and tests can check it.

use ratatui::layout::{Constraint, Layout, Rect};

use super::model::Focus;

/// The rectangles of one frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Areas {
    pub queue: Rect,
    pub turns: Rect,
    pub cost: Rect,
    pub health: Rect,
    pub memory: Rect,
    pub input: Rect,
    pub status: Rect,
}

impl Areas {
    pub fn of(&self, f: Focus) -> Rect {
        match f {
            Focus::Input => self.input,
            Focus::Queue => self.queue,
            Focus::Turns => self.turns,
            Focus::Cost => self.cost,
            Focus::Health => self.health,
            Focus::Memory => self.memory,
        }
    }

    /// The pane under a screen position.
    pub fn at(&self, x: u16, y: u16) -> Option<Focus> {
        Focus::CYCLE.into_iter().find(|f| {
            let r = self.of(*f);
            r.width > 0 && x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height
        })
    }
}

/// Lays out a `width`×`height` screen; with `zoom`, `focus` takes the main area.
pub fn compute(width: u16, height: u16, input_height: u16, zoom: bool, focus: Focus) -> Areas {
    compute_in(Rect::new(0, 0, width, height), input_height, zoom, focus)
}

/// Lays out `screen` (the whole terminal, or an inline viewport).
pub fn compute_in(screen: Rect, input_height: u16, zoom: bool, focus: Focus) -> Areas {
    let width = screen.width;
    let height = screen.height;
    let [main, input, status] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(input_height),
        Constraint::Length(1),
    ])
    .areas(screen);
    let mut a = Areas {
        input,
        status,
        ..Areas::default()
    };
    if zoom && focus != Focus::Input {
        match focus {
            Focus::Queue => a.queue = main,
            Focus::Turns => a.turns = main,
            Focus::Cost => a.cost = main,
            Focus::Health => a.health = main,
            Focus::Memory => a.memory = main,
            Focus::Input => {}
        }
        return a;
    }
    let (queue, cost, health, turns, memory) = if width >= 160 {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)])
                .areas(main);
        let [queue, gauges] =
            Layout::vertical([Constraint::Min(5), Constraint::Length(9)]).areas(left);
        let [cost, health] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(gauges);
        let [turns, memory] =
            Layout::vertical([Constraint::Min(5), Constraint::Length(8)]).areas(right);
        (queue, cost, health, turns, memory)
    } else {
        let (l, r) = if width >= 100 { (40, 60) } else { (45, 55) };
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(l), Constraint::Percentage(r)]).areas(main);
        // A short terminal keeps the gauges compact so the queue still shows its
        // headers and a few tasks.
        let (cost_h, health_h) = match height {
            36.. => (8, 9),
            24.. => (6, 7),
            _ => (5, 6),
        };
        let [queue, cost, health] = Layout::vertical([
            Constraint::Min(3),
            Constraint::Length(cost_h),
            Constraint::Length(health_h),
        ])
        .areas(left);
        let memory_h = if height >= 36 { 8 } else { 5 };
        let [turns, memory] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(memory_h)]).areas(right);
        (queue, cost, health, turns, memory)
    };
    Areas {
        queue,
        turns,
        cost,
        health,
        memory,
        input,
        status,
    }
}

/// Inner size of a bordered pane.
pub fn inner(r: Rect) -> (u16, u16) {
    (r.width.saturating_sub(2), r.height.saturating_sub(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panes_tile_the_screen_without_overlap() {
        for (w, h) in [(80, 24), (120, 40), (200, 60)] {
            let a = compute(w, h, 3, false, Focus::Input);
            let rects = [
                a.queue, a.turns, a.cost, a.health, a.memory, a.input, a.status,
            ];
            let area: u32 = rects
                .iter()
                .map(|r| u32::from(r.width) * u32::from(r.height))
                .sum();
            assert_eq!(area, u32::from(w) * u32::from(h), "{w}x{h}");
            for (i, r) in rects.iter().enumerate() {
                assert!(r.width > 0 && r.height > 0, "{w}x{h} pane {i} is empty");
                for o in &rects[i + 1..] {
                    assert!(!r.intersects(*o), "{w}x{h}: {r:?} overlaps {o:?}");
                }
            }
        }
    }

    #[test]
    fn zoom_gives_the_focused_pane_the_main_area() {
        let a = compute(80, 24, 3, true, Focus::Turns);
        assert_eq!(a.turns, Rect::new(0, 0, 80, 20));
        assert_eq!(a.queue, Rect::default());
        assert_eq!(a.at(5, 5), Some(Focus::Turns));
    }
}
