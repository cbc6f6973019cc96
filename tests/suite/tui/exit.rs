//! Leaving the dashboard leaves a clean terminal (issue 11, item 6): with
//! `--no-alt-screen` the prompt comes below the frame, not inside it. (Raw mode,
//! the cursor and the alternate screen on SIGTERM/SIGHUP: `scripts/tui-smoke.sh`.)

use az_os::tui::terminal::{TermOptions, park_cursor};
use ratatui::backend::{Backend, TestBackend};
use ratatui::layout::Position;
use ratatui::{Terminal, TerminalOptions, Viewport};

use super::{T0, ch, model_sized, update};

#[test]
fn leaving_an_inline_dashboard_puts_the_cursor_on_its_last_row() {
    let mut term = Terminal::with_options(
        TestBackend::new(100, 40),
        TerminalOptions {
            viewport: Viewport::Inline(24),
        },
    )
    .unwrap();
    let mut m = model_sized(100, 24);
    term.draw(|f| az_os::tui::view::view(&m, f)).unwrap();
    // A last frame that changes a cell near the top leaves the cursor there.
    update(&mut m, ch('x'), T0);
    term.draw(|f| az_os::tui::view::view(&m, f)).unwrap();
    let area = term.get_frame().area();
    let opts = TermOptions {
        alt_screen: false,
        mouse: false,
    };
    park_cursor(&mut term, opts);
    assert_eq!(
        term.backend_mut().get_cursor_position().unwrap(),
        Position::new(area.x, area.bottom() - 1)
    );
}
