//! Lessons learned from tasks: drawn from a finished task (`extract.rs`), recalled into a
//! new task's first request (`recall.rs`), moved in and out as the seed's `memory.json`
//! records (`io.rs`), and kept clean (`cleanup.rs`). SQLite's `memories` table is the
//! record (`crate::store::memories`); everything here is blocking and runs on the store
//! thread or a blocking thread, so the CLI and the engine share the same code.

pub mod cleanup;
pub mod consolidate;
pub mod edit;
pub mod extract;
pub mod hybrid;
pub mod io;
pub mod recall;
pub mod search;
pub mod vectors;

/// Categories a lesson may have; anything else is stored as `general`.
pub const CATEGORIES: &[&str] = &[
    "best_practice",
    "pitfall",
    "fact",
    "workflow",
    "tooling",
    "general",
];

/// Longest lesson kept, in characters: a lesson is a sentence or two, not a document.
pub const MAX_LESSON_CHARS: usize = 500;

/// `category` if it is one of [`CATEGORIES`], else `general`.
pub fn category(c: &str) -> &'static str {
    let c = c.trim().to_lowercase().replace([' ', '-'], "_");
    CATEGORIES
        .iter()
        .find(|k| **k == c)
        .copied()
        .unwrap_or("general")
}
