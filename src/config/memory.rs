//! `[memory]` in `config.toml`: when lessons are drawn from a finished task, how many of
//! them a new task is given, and what `consolidate` and `cleanup` do. Only the settings
//! live here; the lessons are `crate::memory`.

use serde::{Deserialize, Serialize};

/// When a finished task is asked for lessons.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Extract {
    /// Every task but trivial ones: completed in one turn without a tool, or cancelled.
    #[default]
    Auto,
    /// Every task that ran at least one turn.
    Always,
    /// Never (lessons come only from `az-os memory add` and imports).
    Never,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryConfig {
    pub extract: Extract,
    /// Most lessons drawn from one task.
    pub max_lessons: usize,
    /// Most tokens of recalled lessons in a task's first request; 0 recalls none.
    pub context_tokens: usize,
    /// Cosine similarity at or above which two lessons of one scope are one lesson.
    pub consolidate_threshold: f32,
    /// `cleanup` removes lessons older than this many days that were never recalled
    /// within `unused_days`, and lessons scored below `min_score` (0–10) older than a week.
    pub max_age_days: u32,
    pub unused_days: u32,
    pub min_score: f64,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            extract: Extract::Auto,
            max_lessons: 3,
            context_tokens: 200,
            consolidate_threshold: 0.8,
            max_age_days: 180,
            unused_days: 60,
            min_score: 2.0,
        }
    }
}

impl MemoryConfig {
    /// The first invalid setting as (key, problem, fix).
    pub fn invalid(&self) -> Option<(String, String, &'static str)> {
        if self.max_lessons > 10 {
            return Some((
                "memory.max_lessons".into(),
                format!("{} is out of range", self.max_lessons),
                "use 0 to 10 lessons per task",
            ));
        }
        if self.context_tokens > 4000 {
            return Some((
                "memory.context_tokens".into(),
                format!("{} is out of range", self.context_tokens),
                "use 0 (none) to 4000 tokens; every one is sent with every turn",
            ));
        }
        if !(0.5..=1.0).contains(&self.consolidate_threshold) {
            return Some((
                "memory.consolidate_threshold".into(),
                format!("{} is out of range", self.consolidate_threshold),
                "use a cosine similarity from 0.5 (merge loosely) to 1.0 (only identical)",
            ));
        }
        if !(0.0..=10.0).contains(&self.min_score) {
            return Some((
                "memory.min_score".into(),
                format!("{} is out of range", self.min_score),
                "scores run from 0 to 10",
            ));
        }
        None
    }
}
