//! Messages into `update` and effects out of it. Every message carries the time
//! it was stamped with by the loop, so `update` never reads a clock.

use ratatui::crossterm::event::{KeyEvent, MouseEvent};

use crate::engine::{Command, EngineEvent};
use crate::health::metrics::ServiceMetrics;
use crate::store::TaskRow;
use crate::store::logs::LogRow;
use crate::store::memories::Memory;
use crate::util::ids::TaskId;

/// Something that happened, for `update`.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Paste(String),
    Resize(u16, u16),
    /// Time passed: while a task runs (spinner, running times), or a time the loop was
    /// asked to wake at has come (a status message's end). Never sent otherwise, so an
    /// idle dashboard draws nothing.
    Tick,
    /// The loop has begun (the first message after the size): the dialog opens by
    /// itself when no model is usable.
    Started,
    /// The setup dialog's look at the machine: the models a local Ollama has pulled,
    /// and the vault.
    SetupProbed {
        ollama: Vec<crate::setup::Offer>,
        vault: super::panes::setup::VaultInfo,
    },
    /// The provider's answer to the dialog's check: what it said when it took the key,
    /// or why not (its own words).
    SetupChecked {
        attempt: u64,
        result: Result<String, String>,
    },
    /// What the dialog's save did, or why it could not.
    SetupSaved {
        attempt: u64,
        result: Result<crate::setup::Saved, String>,
    },
    /// An event from the engine.
    Engine(EngineEvent),
    /// Stored tasks, newest first (at start-up).
    TasksLoaded(Vec<TaskRow>),
    /// One task's row, read after an event about a task the queue did not know yet
    /// (queued or run elsewhere before the stored list was read).
    TaskLoaded(TaskRow),
    /// A task's stored transcript (when a task from an earlier session is selected).
    LogsLoaded(TaskId, Vec<LogRow>),
    /// Lessons (all, or the hits of a search).
    MemoriesLoaded(Vec<Memory>),
    /// A lesson was added, edited or deleted (what the status bar says), or why not.
    LessonChanged(Result<String, String>),
    /// Document hits of a docs search, and a notice (BM25 only, vectors still coming), or
    /// what went wrong.
    DocsLoaded(Result<(Vec<crate::knowledge::Hit>, Option<String>), String>),
    /// Spend today from the ledger, total and by model.
    CostLoaded {
        today_usd: f64,
        by_model: Vec<(String, f64)>,
    },
    /// Service metrics from the ledger.
    MetricsLoaded(Box<ServiceMetrics>),
    /// A task was deleted from the store.
    TaskDeleted(TaskId),
    /// A store action finished; `Err` carries what went wrong.
    Done(Result<String, String>),
    /// The files task `task` changed (baseline against its last checkpoint).
    ChangesLoaded {
        task: TaskId,
        files: Result<Vec<crate::checkpoint::FileChange>, String>,
    },
    /// One file's diff within what task `task` changed.
    FileDiffLoaded {
        task: TaskId,
        path: String,
        diff: Result<String, String>,
    },
    /// A rollback of task `task` finished, or was refused.
    RolledBack {
        task: TaskId,
        result: Result<crate::checkpoint::Restored, RollbackRefused>,
    },
}

impl Msg {
    /// What the status bar says once the clipboard took `text` (or did not).
    pub fn copied(text: &str, how: Result<String, String>) -> Self {
        let n = text.chars().count();
        Self::Done(
            how.map(|how| format!("Copied {n} characters {how}"))
                .map_err(|e| format!("Could not copy the result: {e}")),
        )
    }
}

/// Why a rollback did not happen.
#[derive(Debug, Clone, PartialEq)]
pub enum RollbackRefused {
    /// The user changed these files after the task's last checkpoint (`force` overwrites).
    Edited(Vec<String>),
    /// Anything else, as a message that names the fix.
    Failed(String),
}

/// What `update` asks the outside world to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Send a command to the engine.
    Engine(Command),
    LoadLogs(TaskId),
    /// Read one task's row (answered by `Msg::TaskLoaded`).
    LoadTask(TaskId),
    /// Lessons: newest first, or those matching `query` (by words and meaning through
    /// the lesson search; words alone without `home` or the model).
    LoadMemories {
        query: Option<String>,
        home: Option<std::path::PathBuf>,
    },
    /// Search the document index of `workdir` (in the home `home`).
    SearchDocs {
        home: std::path::PathBuf,
        workdir: std::path::PathBuf,
        query: String,
    },
    /// Add, edit or delete a lesson (through `crate::memory::edit`, as the CLI does).
    ChangeLesson(crate::memory::edit::Change),
    /// Delete a finished task and its transcript (its spend stays in the ledger).
    DeleteTask(TaskId),
    /// Read the files task `.0` changed from its checkpoints.
    LoadChanges(TaskId),
    /// Read one file's diff within what a task changed.
    LoadFileDiff(TaskId, String),
    /// Undo a task's file changes; `force` overwrites files the user changed since.
    Rollback {
        task: TaskId,
        force: bool,
    },
    LoadCost,
    LoadMetrics,
    /// Look for a local Ollama's models and the vault (`Msg::SetupProbed`).
    SetupProbe,
    /// Ask the provider whether it takes a key (`Msg::SetupChecked`).
    SetupCheck(Box<super::panes::setup::CheckJob>),
    /// Save the model and its key (`Msg::SetupSaved`).
    SetupSave(Box<super::panes::setup::SaveJob>),
    /// Put text on the clipboard with OSC 52 (works over SSH).
    Copy(String),
    /// Give the terminal back and stop the process (Ctrl-Z); `fg` resumes and redraws.
    Suspend,
    Quit,
}
