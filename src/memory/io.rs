//! `memory.json`: the seed's lesson records (`id`, `task_id`, `lesson`, `category`,
//! `success`, `score`, `timestamp`, `access_count`) as a JSON array, plus where a lesson
//! applies and what it was merged from. Import is all or nothing, idempotent by id (a
//! lesson already stored is left as it is), and names the record that is wrong.

use crate::store::Db;
use serde::{Deserialize, Serialize};

use crate::store::StoreError;
use crate::store::memories::{self, Memory, Provenance};

/// One lesson as `memory.json` holds it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub id: String,
    #[serde(default)]
    pub task_id: Option<String>,
    pub lesson: String,
    #[serde(default = "general")]
    pub category: String,
    #[serde(default = "yes")]
    pub success: bool,
    #[serde(default)]
    pub score: f64,
    pub timestamp: f64,
    #[serde(default)]
    pub access_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "is_empty")]
    pub provenance: Provenance,
}

fn general() -> String {
    "general".into()
}
fn yes() -> bool {
    true
}
fn is_empty(p: &Provenance) -> bool {
    p.lessons.is_empty() && p.tasks.is_empty()
}

impl From<Memory> for Record {
    fn from(m: Memory) -> Self {
        Self {
            id: m.id,
            task_id: m.task_id,
            lesson: m.lesson,
            category: m.category,
            success: m.success,
            score: m.score,
            timestamp: m.created_at,
            access_count: m.access_count,
            scope: m.scope,
            provenance: m.provenance,
        }
    }
}

/// Why an import was refused (nothing was stored).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("not a JSON array of lessons: {0} (export writes one; fix the file or re-export it)")]
    Json(String),
    #[error("record {index}{}: {message}", id.as_deref().map(|i| format!(" (id {i})")).unwrap_or_default())]
    Record {
        /// From 1, in file order.
        index: usize,
        id: Option<String>,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Imported {
    pub added: usize,
    /// Ids already stored, left as they were.
    pub existing: usize,
}

/// Every lesson as `memory.json` (pretty, oldest first).
pub fn export(conn: &Db) -> Result<String, StoreError> {
    let records: Vec<Record> = memories::all(conn)?.into_iter().map(Record::from).collect();
    Ok(serde_json::to_string_pretty(&records).unwrap_or_else(|_| "[]".into()) + "\n")
}

/// Reads `text` (a JSON array of records, or one record) and stores the lessons not yet
/// stored, in one transaction.
pub fn import(conn: &Db, text: &str) -> Result<Imported, ImportError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ImportError::Json(e.to_string()))?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        one @ serde_json::Value::Object(_) => vec![one],
        _ => {
            return Err(ImportError::Json(
                "the top level is neither an array nor an object".into(),
            ));
        }
    };
    let mut seen = std::collections::HashMap::new();
    let mut records = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let index = i + 1;
        let id = item.get("id").and_then(|v| v.as_str()).map(str::to_owned);
        let bad = |message: String| ImportError::Record {
            index,
            id: id.clone(),
            message,
        };
        let r: Record = serde_json::from_value(item).map_err(|e| bad(e.to_string()))?;
        if r.id.trim().is_empty() {
            return Err(bad("the id is empty".into()));
        }
        if r.lesson.trim().is_empty() {
            return Err(bad("the lesson is empty".into()));
        }
        let chars = r.lesson.chars().count();
        if chars > super::MAX_LESSON_CHARS * 4 {
            return Err(bad(format!(
                "the lesson is {chars} characters; a lesson is at most {} (shorten it)",
                super::MAX_LESSON_CHARS * 4
            )));
        }
        if !r.score.is_finite() || !r.timestamp.is_finite() {
            return Err(bad("score and timestamp must be numbers".into()));
        }
        if let Some(first) = seen.insert(r.id.clone(), index) {
            return Err(bad(format!("the same id as record {first}")));
        }
        records.push(r);
    }
    let tx = conn.unchecked_transaction()?;
    let mut done = Imported::default();
    for r in records {
        let m = Memory {
            id: r.id,
            task_id: r.task_id,
            lesson: crate::redact::redact(&r.lesson).into_owned(),
            category: r.category,
            success: r.success,
            score: r.score,
            created_at: r.timestamp,
            access_count: r.access_count,
            scope: r.scope,
            provenance: r.provenance,
            last_access: None,
        };
        if memories::insert(&tx, &m)? {
            done.added += 1;
        } else {
            done.existing += 1;
        }
    }
    tx.commit()?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_then_import_is_the_same_and_twice_is_once() -> Result<(), Box<dyn std::error::Error>>
    {
        let a = crate::store::open_in_memory()?;
        memories::add(
            &a,
            None,
            "Use csv for CSV files",
            "best_practice",
            true,
            9.0,
        )?;
        memories::add(&a, None, "Ünïcode lesson — kept", "fact", false, 1.5)?;
        let text = export(&a)?;
        let b = crate::store::open_in_memory()?;
        assert_eq!(
            import(&b, &text)?,
            Imported {
                added: 2,
                existing: 0
            }
        );
        assert_eq!(
            import(&b, &text)?,
            Imported {
                added: 0,
                existing: 2
            }
        );
        assert_eq!(export(&b)?, text);
        Ok(())
    }

    #[test]
    fn bad_records_are_named_and_nothing_is_stored() -> Result<(), Box<dyn std::error::Error>> {
        let c = crate::store::open_in_memory()?;
        let ok = r#"{"id":"m1","lesson":"a","timestamp":1}"#;
        let cases = [
            (
                format!("[{ok},{ok}]"),
                "record 2 (id m1): the same id as record 1",
            ),
            (
                format!(r#"[{ok},{{"id":"m2","lesson":"b","timestamp":1,"colour":"red"}}]"#),
                "record 2 (id m2): unknown field `colour`",
            ),
            (
                r#"[{"id":"m3","lesson":"b","timestamp":"yesterday"}]"#.to_owned(),
                "record 1 (id m3): invalid type",
            ),
            (format!("[{ok}"), "not a JSON array"),
            (
                format!(
                    r#"[{{"id":"m4","lesson":"{}","timestamp":1}}]"#,
                    "x".repeat(3000)
                ),
                "at most 2000",
            ),
        ];
        for (text, want) in cases {
            let e = import(&c, &text).unwrap_err().to_string();
            assert!(e.contains(want), "{e} should say {want}");
        }
        assert!(memories::all(&c)?.is_empty(), "nothing stored");
        Ok(())
    }
}
