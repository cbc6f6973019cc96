//! Checkpoint ids: `{task_id}.{turn}`, where turn 0 is the state before the task's
//! first change. The same convention names the task-state files of resume.

use std::fmt;

use super::CheckpointError;

/// One checkpoint: a task and a turn.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CheckpointId {
    pub task_id: String,
    pub turn: u32,
}

impl CheckpointId {
    pub fn new(task_id: &str, turn: u32) -> Self {
        Self {
            task_id: task_id.to_owned(),
            turn,
        }
    }

    /// Parses `TASK.TURN`.
    pub fn parse(s: &str) -> Result<Self, CheckpointError> {
        let bad = || CheckpointError::BadId {
            given: s.to_owned(),
        };
        let (task, turn) = s.trim().rsplit_once('.').ok_or_else(bad)?;
        if !is_task_id(task) {
            return Err(bad());
        }
        let turn = turn.parse::<u32>().map_err(|_| bad())?;
        Ok(Self::new(task, turn))
    }
}

impl fmt::Display for CheckpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.task_id, self.turn)
    }
}

/// What a command line argument names: a whole task, or one checkpoint of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Task(String),
    One(CheckpointId),
}

impl Target {
    pub fn parse(s: &str) -> Result<Self, CheckpointError> {
        let s = s.trim();
        if s.contains('.') {
            CheckpointId::parse(s).map(Self::One)
        } else if is_task_id(s) {
            Ok(Self::Task(s.to_owned()))
        } else {
            Err(CheckpointError::BadId {
                given: s.to_owned(),
            })
        }
    }

    pub fn task_id(&self) -> &str {
        match self {
            Self::Task(t) => t,
            Self::One(id) => &id.task_id,
        }
    }
}

/// Task ids are hex (12 digits when made by az-os; shorter ones in tests are fine).
pub fn is_task_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_and_print() {
        let id = CheckpointId::parse("3f2a9c0d1e4b.2").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(id, CheckpointId::new("3f2a9c0d1e4b", 2));
        assert_eq!(id.to_string(), "3f2a9c0d1e4b.2");
        assert!(CheckpointId::parse("3f2a9c0d1e4b").is_err());
        assert!(CheckpointId::parse("x.1").is_err());
        assert!(CheckpointId::parse("abc.-1").is_err());
        assert_eq!(
            Target::parse("abc").ok(),
            Some(Target::Task("abc".to_owned()))
        );
        assert!(Target::parse("../etc").is_err());
    }
}
