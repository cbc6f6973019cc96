//! The dashboard's state: one field per pane, the focus, the popup, and the
//! keymap and theme it was started with. `update` changes it; `view` draws it.

use std::path::PathBuf;

use super::keymap::{Context, Keymap};
use super::panes::approval::ApprovalRequest;
use super::panes::cost::CostState;
use super::panes::health::HealthState;
use super::panes::input::InputState;
use super::panes::memory::MemoryState;
use super::panes::popups::Popup;
use super::panes::queue::QueueState;
use super::panes::status::StatusState;
use super::panes::turns::TurnsState;
use super::theme::Theme;
use crate::util::ids::TaskId;

/// Which part of the screen takes keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Focus {
    Input,
    Queue,
    Turns,
    Cost,
    Health,
    Memory,
}

impl Focus {
    pub const CYCLE: [Self; 6] = [
        Self::Input,
        Self::Queue,
        Self::Turns,
        Self::Cost,
        Self::Health,
        Self::Memory,
    ];

    pub fn context(self) -> Context {
        match self {
            Self::Input => Context::Input,
            Self::Queue => Context::Queue,
            Self::Turns => Context::Turns,
            Self::Cost => Context::Cost,
            Self::Health => Context::Health,
            Self::Memory => Context::Memory,
        }
    }
}

/// What a new task gets unless the user says otherwise.
#[derive(Clone, Debug)]
pub struct TaskDefaults {
    pub workdir: PathBuf,
    pub max_turns: Option<u32>,
    pub budget_usd: Option<f64>,
    pub model: Option<String>,
    /// The configured turn limit, shown for tasks that do not set their own.
    pub config_max_turns: u32,
}

pub struct Model {
    pub queue: QueueState,
    pub turns: TurnsState,
    pub cost: CostState,
    pub health: HealthState,
    pub memory: MemoryState,
    pub input: InputState,
    pub status: StatusState,
    pub focus: Focus,
    /// The pane focus returns to when leaving the input.
    pub last_pane: Focus,
    pub popup: Option<Popup>,
    /// The focused pane fills the screen.
    pub zoom: bool,
    pub size: (u16, u16),
    pub keymap: Keymap,
    pub theme: Theme,
    pub defaults: TaskDefaults,
    /// When Ctrl-C was pressed once (a second press within 2 s quits).
    pub interrupt_at: Option<f64>,
    /// A task submitted here, selected when the engine confirms it is queued.
    pub select_on_queue: Option<TaskId>,
    /// Shown when no model is usable, until one is.
    pub setup_hint: Option<String>,
    /// Models config.toml lists whose key cannot be read, with why (`NAME: why`), as
    /// the engine's last reload found them; shown under the hint.
    pub unusable: Vec<String>,
    pub quit: bool,
    /// Approval requests waiting behind the one on screen, oldest first.
    pub approvals: std::collections::VecDeque<ApprovalRequest>,
    /// Set by `update` when the last message changed nothing on screen, so the
    /// loop can skip the frame (a health sample that reads the same).
    pub unchanged: bool,
}

impl Model {
    pub fn new(
        keymap: Keymap,
        theme: Theme,
        defaults: TaskDefaults,
        budget_day: f64,
        budget_task: f64,
    ) -> Self {
        Self {
            queue: QueueState::default(),
            turns: TurnsState::default(),
            cost: CostState::new(budget_day, budget_task),
            health: HealthState::default(),
            memory: MemoryState::default(),
            input: InputState::default(),
            status: StatusState::default(),
            focus: Focus::Input,
            last_pane: Focus::Queue,
            popup: None,
            zoom: false,
            size: (80, 24),
            keymap,
            theme,
            defaults,
            interrupt_at: None,
            select_on_queue: None,
            setup_hint: None,
            unusable: Vec::new(),
            quit: false,
            unchanged: false,
            approvals: std::collections::VecDeque::new(),
        }
    }

    /// Whether something on screen moves with time (a spinner, running times): true
    /// only while a task runs, so an idle dashboard asks for no frames.
    pub fn animating(&self) -> bool {
        self.queue.running() > 0
    }

    /// The popup that takes keys, if any (an approval dialog the user has not
    /// moved to is on screen but does not).
    pub fn modal(&self) -> Option<&Popup> {
        self.popup.as_ref().filter(|p| p.takes_keys())
    }

    /// The approval on screen, if any.
    pub fn approval(&self) -> Option<&ApprovalRequest> {
        match &self.popup {
            Some(Popup::Approval(r)) => Some(r),
            _ => None,
        }
    }

    /// Contexts to look a key up in, most specific first.
    pub fn contexts(&self) -> Vec<Context> {
        if let Some(p) = self.popup.as_ref().filter(|p| p.takes_keys()) {
            return vec![p.context(), Context::Global];
        }
        match self.focus {
            Focus::Input => vec![Context::Input, Context::Global],
            f => vec![f.context(), Context::Panes, Context::Global],
        }
    }
}
