//! Changing lessons by hand: adding one, editing one's text or category, deleting one.
//! `az-os memory add|remove` and the dashboard's memory browser both write through
//! [`apply`], so a lesson is checked (length, category) and redacted the same way
//! whichever front end wrote it. Blocking, on the store's connection.

use crate::store::Db;

use crate::redact::redact;
use crate::store::StoreError;
use crate::store::memories::{self, Memory};
use crate::util::time::now_unix;

/// A change to the lessons.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// A new lesson; `scope`: the workdir it applies to, `None` everywhere.
    Add {
        text: String,
        category: String,
        scope: Option<String>,
    },
    /// New text and category for lesson `id` (its counts and provenance stay; its vector
    /// is made again from the new text).
    Edit {
        id: String,
        text: String,
        category: String,
    },
    Delete {
        id: String,
    },
}

/// Why a change was refused; the message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("the lesson is empty; write a sentence a later task can act on")]
    Empty,
    #[error("the lesson is {0} characters; keep it under {max} (one or two sentences)", max = super::MAX_LESSON_CHARS)]
    TooLong(usize),
    #[error("unknown category {0:?}; use one of {list}", list = super::CATEGORIES.join(", "))]
    Category(String),
    #[error("no lesson {0} (deleted meanwhile?); the list shows the current ones")]
    NoSuchLesson(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Carries out `change`; returns the lesson as stored (added or edited) or as it was
/// (deleted).
pub fn apply(conn: &Db, change: &Change) -> Result<Memory, EditError> {
    match change {
        Change::Add {
            text,
            category,
            scope,
        } => {
            let m = Memory {
                id: memories::new_id(),
                lesson: checked(text)?,
                category: checked_category(category)?,
                success: true,
                score: 5.0,
                created_at: now_unix(),
                scope: scope.clone(),
                ..Memory::default()
            };
            memories::insert(conn, &m)?;
            Ok(m)
        }
        Change::Edit { id, text, category } => {
            let mut m =
                memories::get(conn, id)?.ok_or_else(|| EditError::NoSuchLesson(id.clone()))?;
            m.lesson = checked(text)?;
            m.category = checked_category(category)?;
            if !memories::update(conn, &m)? {
                return Err(EditError::NoSuchLesson(id.clone()));
            }
            Ok(m)
        }
        Change::Delete { id } => {
            let m = memories::get(conn, id)?.ok_or_else(|| EditError::NoSuchLesson(id.clone()))?;
            memories::delete(conn, &m.id)?;
            Ok(m)
        }
    }
}

/// The text as stored: whitespace folded to single spaces, secrets redacted, within
/// the length limit.
fn checked(text: &str) -> Result<String, EditError> {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return Err(EditError::Empty);
    }
    let chars = text.chars().count();
    if chars > super::MAX_LESSON_CHARS {
        return Err(EditError::TooLong(chars));
    }
    Ok(redact(&text).into_owned())
}

fn checked_category(c: &str) -> Result<String, EditError> {
    let known = super::category(c);
    if known == c {
        Ok(known.to_owned())
    } else {
        Err(EditError::Category(c.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_edit_delete_check_and_redact() -> Result<(), EditError> {
        let c = crate::store::open_in_memory()?;
        let add = |text: &str, category: &str| {
            apply(
                &c,
                &Change::Add {
                    text: text.into(),
                    category: category.into(),
                    scope: None,
                },
            )
        };
        let m = add("  run   make check\n first ", "workflow")?;
        assert_eq!(m.lesson, "run make check first");
        assert!(matches!(add("   ", "workflow"), Err(EditError::Empty)));
        assert!(matches!(
            add(&"x".repeat(501), "fact"),
            Err(EditError::TooLong(501))
        ));
        assert!(matches!(add("ok", "nonsense"), Err(EditError::Category(_))));
        let secret = add("the key is sk-test-secret-0123456789abcdef", "fact")?;
        assert!(
            !secret.lesson.contains("0123456789abcdef"),
            "{}",
            secret.lesson
        );
        let e = apply(
            &c,
            &Change::Edit {
                id: m.id.clone(),
                text: "run make test first".into(),
                category: "tooling".into(),
            },
        )?;
        let stored = memories::get(&c, &m.id)?.unwrap();
        assert_eq!(stored, e);
        assert_eq!(stored.category, "tooling");
        apply(&c, &Change::Delete { id: m.id.clone() })?;
        assert!(memories::get(&c, &m.id)?.is_none());
        assert!(matches!(
            apply(&c, &Change::Delete { id: m.id }),
            Err(EditError::NoSuchLesson(_))
        ));
        Ok(())
    }
}
