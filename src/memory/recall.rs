//! Lessons for a new task's first request: those of its workdir and the global ones that
//! really match the task (`search.rs`: keyword, fused with meaning when the task has a
//! vector, above the floor document context has), best first, within `[memory]
//! context_tokens`. Each recalled lesson's access count goes up.

use crate::store::Db;

use super::search::{self, Mode, Query};
use crate::store::StoreError;
use crate::store::memories;
#[cfg(test)]
use crate::store::memories::Memory;

/// Candidates read before the budget.
const CANDIDATES: usize = 20;

/// Lessons recalled for a task.
#[derive(Clone, Debug, PartialEq)]
pub struct Recalled {
    /// The text added to the first request.
    pub text: String,
    pub ids: Vec<String>,
    pub tokens: usize,
    /// Whether the meaning side took part (the query had a vector).
    pub hybrid: bool,
}

/// The lessons for `task` in `workdir` within `budget_tokens`, leaving out any whose text
/// is already in `already` (the document context). Reading only: [`count`] counts the
/// recall once the first request is on its way (a write can wait for another process's
/// write; the first request should not). With `vector`
/// (the task's embedding, when the model is already loaded) keyword and meaning are
/// fused; without it, keyword alone.
pub fn for_task(
    conn: &Db,
    task: &str,
    vector: Option<&[f32]>,
    workdir: &str,
    budget_tokens: usize,
    already: &str,
) -> Result<Option<Recalled>, StoreError> {
    // A task of no content words (`what is 17 times 23`) has no lesson that matches.
    if budget_tokens == 0 || crate::knowledge::context::terms(task).is_empty() {
        return Ok(None);
    }
    let hits: Vec<_> = search::find(
        conn,
        &Query {
            text: task,
            vector,
            workdir: Some(workdir),
            k: CANDIDATES,
            mode: Mode::Hybrid,
        },
    )?
    .into_iter()
    .map(|f| f.lesson)
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
    Ok(Some(Recalled {
        tokens: tokens(&text),
        text,
        ids,
        hybrid: vector.is_some(),
    }))
}

/// Counts a recall of `ids`: access count up, last access now.
pub fn count(conn: &Db, ids: &[String]) -> Result<(), StoreError> {
    memories::touch(conn, ids)
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
        let r = for_task(&c, "count the lines of data.csv", None, "/w", 200, "")?.unwrap();
        assert_eq!(r.ids[0], here, "the best match first: {r:?}");
        assert_eq!(
            memories::get(&c, &here)?.unwrap().access_count,
            0,
            "read only"
        );
        count(&c, &r.ids)?;
        assert!(!r.ids.contains(&other), "another workdir's lesson: {r:?}");
        let m = memories::get(&c, &here)?.unwrap();
        assert_eq!(m.access_count, 1);
        assert!(m.last_access.is_some());
        let r = for_task(&c, "count newline lines with wc", None, "/w", 200, "")?.unwrap();
        assert!(r.ids.contains(&global), "{r:?}");
        assert!(for_task(&c, "what is 17 times 23", None, "/w", 200, "")?.is_none());
        assert!(for_task(&c, "count the lines of data.csv", None, "/w", 0, "")?.is_none());
        Ok(())
    }
}
