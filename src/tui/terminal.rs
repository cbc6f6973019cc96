//! Owning the terminal: raw mode, the alternate screen (or an inline viewport),
//! mouse capture, bracketed paste, and putting everything back on exit and on
//! panic, before anything is printed.

use std::io::{self, Stdout, Write};

use ratatui::backend::Backend;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::{Terminal, TerminalOptions, Viewport};

/// How to take the terminal.
#[derive(Clone, Copy, Debug)]
pub struct TermOptions {
    /// Draw in the alternate screen (off: an inline region below the prompt).
    pub alt_screen: bool,
    pub mouse: bool,
}

pub type Tui = Terminal<CrosstermBackend<Stdout>>;

/// Height of the inline viewport when the alternate screen is off.
const INLINE_HEIGHT: u16 = 24;

pub fn setup(opts: TermOptions) -> io::Result<Tui> {
    install_panic_hook(opts);
    enable_raw_mode()?;
    let mut out = io::stdout();
    if opts.alt_screen {
        execute!(out, EnterAlternateScreen)?;
    }
    if opts.mouse {
        execute!(out, EnableMouseCapture)?;
    }
    execute!(out, EnableBracketedPaste)?;
    let backend = CrosstermBackend::new(io::stdout());
    if opts.alt_screen {
        Terminal::new(backend)
    } else {
        Terminal::with_options(
            backend,
            TerminalOptions {
                viewport: Viewport::Inline(INLINE_HEIGHT),
            },
        )
    }
}

/// Before leaving an inline dashboard: the cursor goes to the viewport's last row,
/// so the newline `restore` writes puts the shell's prompt below the frame (the
/// last draw may have left the cursor anywhere inside it). A no-op in the
/// alternate screen, which is left whole.
pub fn park_cursor<B: Backend>(term: &mut Terminal<B>, opts: TermOptions) {
    if opts.alt_screen {
        return;
    }
    let area = term.get_frame().area();
    let _ = term.set_cursor_position((area.x, area.bottom().saturating_sub(1)));
}

/// Puts the terminal back as it was. Safe to call more than once.
pub fn restore(opts: TermOptions) {
    let mut out = io::stdout();
    let _ = execute!(out, DisableBracketedPaste);
    if opts.mouse {
        let _ = execute!(out, DisableMouseCapture);
    }
    if opts.alt_screen {
        let _ = execute!(out, LeaveAlternateScreen);
    }
    let _ = disable_raw_mode();
    if !opts.alt_screen {
        // The inline dashboard stays on screen; the prompt goes below it.
        let _ = out.write_all(b"\r\n");
    }
    let _ = execute!(out, ratatui::crossterm::cursor::Show);
    let _ = out.flush();
}

fn install_panic_hook(opts: TermOptions) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore(opts);
        previous(info);
    }));
}

/// Ctrl-Z: gives the terminal back, stops the process as the shell expects
/// (SIGTSTP), and takes the terminal again when `fg` continues it. The caller
/// redraws the whole screen.
pub fn suspend(opts: TermOptions) -> io::Result<()> {
    restore(opts);
    nix::sys::signal::raise(nix::sys::signal::Signal::SIGTSTP).map_err(io::Error::other)?;
    // Running again (SIGCONT).
    enable_raw_mode()?;
    let mut out = io::stdout();
    if opts.alt_screen {
        execute!(out, EnterAlternateScreen)?;
    }
    if opts.mouse {
        execute!(out, EnableMouseCapture)?;
    }
    execute!(out, EnableBracketedPaste)
}
