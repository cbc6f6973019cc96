//! Lessons for a new task's first request: those of its workdir and the global ones that
//! really match the task (the same floor as document context: enough of the task's
//! content words), best first, within `[memory] context_tokens`. Each recalled lesson's
//! access count goes up.

use rusqlite::Connection;

use crate::knowledge::context::{matches, terms};
use crate::store::StoreError;
use crate::store::memories::{self, Memory};

/// Candidates read before the floor.
const CANDIDATES: usize = 20;

/// Lessons recalled for a task.
#[derive(Clone, Debug, PartialEq)]
pub struct Recalled {
    /// The text added to the first request.
    pub text: String,
    pub ids: Vec<String>,
    pub tokens: usize,
}

/// The lessons for `task` in `workdir` within `budget_tokens`, leaving out any whose text
/// is already in `already` (the document context); counted as recalled.
pub fn for_task(
    conn: &Connection,
    task: &str,
    workdir: &str,
    budget_tokens: usize,
    already: &str,
) -> Result<Option<Recalled>, StoreError> {
    let terms = terms(task);
    if budget_tokens == 0 || terms.is_empty() {
        return Ok(None);
    }
    let hits: Vec<Memory> = memories::find_stems(conn, &terms, CANDIDATES)?
        .into_iter()
        .filter(|m| m.scope.as_deref().is_none_or(|s| s == workdir))
        .filter(|m| matches(&terms, &m.lesson))
        .filter(|m| !already.contains(&m.lesson))
        .collect();
    let tokens = |s: &str| s.len().div_ceil(3);
    let intro = "Lessons from earlier tasks that may apply:\n";
    let Some(mut left) = budget_tokens.checked_sub(tokens(intro)) else {
        return Ok(None);
    };
    let mut text = intro.to_owned();
    let mut ids = Vec::new();
    for m in hits {
        let line = format!("- [{}] {}\n", m.category, m.lesson);
        if tokens(&line) > left {
            continue;
        }
        left -= tokens(&line);
        text.push_str(&line);
        ids.push(m.id);
    }
    if ids.is_empty() {
        return Ok(None);
    }
    memories::touch(conn, &ids)?;
    Ok(Some(Recalled {
        tokens: tokens(&text),
        text,
        ids,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_matching_lessons_of_this_workdir_or_global_are_recalled() -> Result<(), StoreError> {
        let c = crate::store::open_in_memory()?;
        let add = |lesson: &str, scope: Option<&str>| -> Result<String, StoreError> {
            let m = Memory {
                id: memories::new_id(),
                lesson: lesson.into(),
                category: "pitfall".into(),
                created_at: 1.0,
                scope: scope.map(str::to_owned),
                ..Memory::default()
            };
            memories::insert(&c, &m)?;
            Ok(m.id)
        };
        let here = add(
            "data.csv has a header row: subtract one when counting lines",
            Some("/w"),
        )?;
        let other = add(
            "data.csv in /other has no header row when counting lines",
            Some("/other"),
        )?;
        let global = add(
            "wc -l counts newline characters, not lines without one",
            None,
        )?;
        add("always greet the user", None)?;
        let r = for_task(&c, "count the lines of data.csv", "/w", 200, "")?.unwrap();
        assert_eq!(r.ids[0], here, "the best match first: {r:?}");
        assert!(!r.ids.contains(&other), "another workdir's lesson: {r:?}");
        let m = memories::get(&c, &here)?.unwrap();
        assert_eq!(m.access_count, 1);
        assert!(m.last_access.is_some());
        let r = for_task(&c, "count newline lines with wc", "/w", 200, "")?.unwrap();
        assert!(r.ids.contains(&global), "{r:?}");
        assert!(for_task(&c, "what is 17 times 23", "/w", 200, "")?.is_none());
        assert!(for_task(&c, "count the lines of data.csv", "/w", 0, "")?.is_none());
        Ok(())
    }
}
