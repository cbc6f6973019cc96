//! Everything a key can do, as a typed enum. Keymap files name actions by their
//! string form (`task.cancel`); the help popup shows each binding's `desc`.

use std::fmt;
use std::str::FromStr;

macro_rules! actions {
    ($($variant:ident => $name:literal,)*) => {
        /// A user action.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action { $($variant,)* }

        impl Action {
            /// Every action, in declaration order.
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];

            pub fn name(self) -> &'static str {
                match self { $(Action::$variant => $name,)* }
            }
        }

        impl FromStr for Action {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($name => Ok(Action::$variant),)*
                    other => Err(format!("unknown action {other:?}")),
                }
            }
        }
    };
}

actions! {
    Noop => "noop",
    Quit => "app.quit",
    Interrupt => "app.interrupt",
    Help => "app.help",
    Suspend => "app.suspend",
    FocusNext => "focus.next",
    FocusPrev => "focus.prev",
    FocusInput => "focus.input",
    FocusPanes => "focus.panes",
    FocusQueue => "focus.queue",
    FocusTurns => "focus.turns",
    FocusCost => "focus.cost",
    FocusHealth => "focus.health",
    FocusMemory => "focus.memory",
    Zoom => "pane.zoom",
    Up => "move.up",
    Down => "move.down",
    Top => "move.top",
    Bottom => "move.bottom",
    PageUp => "move.page_up",
    PageDown => "move.page_down",
    Submit => "task.submit",
    Cancel => "task.cancel",
    Retry => "task.retry",
    Resume => "task.resume",
    Delete => "task.delete",
    Detail => "task.detail",
    Copy => "task.copy",
    Changes => "task.changes",
    Rollback => "task.rollback",
    ChangesOpen => "changes.open",
    Filter => "queue.filter",
    Sort => "queue.sort",
    Toggle => "turns.toggle",
    Follow => "turns.follow",
    MemorySearch => "memory.search",
    MemoryDelete => "memory.delete",
    MemoryView => "memory.view",
    MemoryDocs => "memory.docs",
    MemoryAdd => "memory.add",
    MemoryEdit => "memory.edit",
    Newline => "input.newline",
    HistoryPrev => "input.history_prev",
    HistoryNext => "input.history_next",
    Clear => "input.clear",
    Close => "popup.close",
    Confirm => "popup.confirm",
    ApprovalFocus => "approval.focus",
    ApproveOnce => "approval.once",
    ApproveAlways => "approval.always",
    ApproveDeny => "approval.deny",
    SetupOpen => "setup.open",
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Action::ALL {
            assert_eq!(a.name().parse::<Action>(), Ok(*a));
        }
        assert!("task.explode".parse::<Action>().is_err());
    }
}
