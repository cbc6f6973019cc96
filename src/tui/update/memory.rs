//! The memory browser's keys: its search line, switching between lessons and the
//! workdir's documents, viewing, adding and editing on an input line, and deleting.
//! Writes go out as one effect (`Effect::ChangeLesson`, carried out by
//! `crate::memory::edit::apply` as the CLI's are); the list reloads when it is done.

use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::approval;
use crate::memory::CATEGORIES;
use crate::memory::edit::Change;
use crate::tui::model::Model;
use crate::tui::msg::Effect;
use crate::tui::panes::memory::Draft;
use crate::tui::panes::popups::{Confirm, Popup};
use crate::tui::panes::status::Tone;

/// A key while the search line is open: edit the query, Enter searches, Esc closes it.
pub(super) fn query_key(m: &mut Model, k: KeyEvent, fx: &mut Vec<Effect>) {
    let Some(q) = m.memory.editing.as_mut() else {
        return;
    };
    match k.code {
        KeyCode::Esc => m.memory.editing = None,
        KeyCode::Enter => {
            let q = q.trim().to_owned();
            m.memory.editing = None;
            m.memory.query = (!q.is_empty()).then(|| q.clone());
            m.memory.selected = 0;
            fx.push(load(m));
        }
        KeyCode::Backspace => {
            q.pop();
        }
        KeyCode::Char(c) => q.push(c),
        _ => {}
    }
}

/// `t`: lessons or the workdir's documents.
pub(super) fn toggle_docs(m: &mut Model, fx: &mut Vec<Effect>) {
    m.memory.docs = !m.memory.docs;
    m.memory.selected = 0;
    let what = if m.memory.docs {
        "Searching the workdir's documents (t: lessons)"
    } else {
        "Searching lessons (t: the workdir's documents)"
    };
    m.status.set(Tone::Info, what);
    if !m.memory.docs || m.memory.query.is_some() {
        fx.push(load(m));
    }
}

/// Enter: the selected lesson, or the selected document chunk.
pub(super) fn view(m: &mut Model) {
    let p = if m.memory.docs {
        m.memory.selected_doc().map(|_| Popup::Doc {
            hit: m.memory.selected,
            scroll: 0,
        })
    } else {
        m.memory.selected_item().map(|mem| Popup::Lesson {
            id: mem.id.clone(),
            scroll: 0,
        })
    };
    if let Some(p) = p {
        approval::open_popup(m, p);
    }
}

/// `d`: asks before deleting the selected lesson; documents are not deleted here.
pub(super) fn delete(m: &mut Model) {
    if m.memory.docs {
        m.status.set(
            Tone::Info,
            "Documents are the workdir's files; nothing to delete here",
        );
        return;
    }
    if let Some(mem) = m.memory.selected_item() {
        let question = format!(
            "Delete lesson \"{}\"?",
            crate::util::text::ellipsize(&mem.lesson, 40)
        );
        let p = Popup::Confirm {
            what: Confirm::DeleteMemory(mem.id.clone()),
            question,
        };
        approval::open_popup(m, p);
    }
}

/// `a`: an input line for a new lesson (global; Tab picks its category).
pub(super) fn add(m: &mut Model) {
    if m.memory.docs {
        m.status
            .set(Tone::Info, "Lessons are added in the lessons view (t)");
        return;
    }
    m.memory.editing = None;
    m.memory.draft = Some(Draft {
        id: None,
        text: String::new(),
        category: CATEGORIES.iter().position(|c| *c == "general").unwrap_or(0),
    });
}

/// `e`: the selected lesson's text and category on the input line.
pub(super) fn edit(m: &mut Model) {
    if m.memory.docs {
        m.status.set(
            Tone::Info,
            "Documents are the workdir's files; edit them in an editor",
        );
        return;
    }
    let Some(mem) = m.memory.selected_item() else {
        return;
    };
    let draft = Draft {
        id: Some(mem.id.clone()),
        text: mem.lesson.clone(),
        category: CATEGORIES
            .iter()
            .position(|c| *c == mem.category)
            .unwrap_or(0),
    };
    m.memory.editing = None;
    m.memory.draft = Some(draft);
}

/// A key while a lesson is written: edit the text, Tab cycles the category, Enter saves,
/// Esc drops it.
pub(super) fn draft_key(m: &mut Model, k: KeyEvent, fx: &mut Vec<Effect>) {
    let Some(d) = m.memory.draft.as_mut() else {
        return;
    };
    match k.code {
        KeyCode::Esc => m.memory.draft = None,
        KeyCode::Tab => d.category = (d.category + 1) % CATEGORIES.len(),
        KeyCode::BackTab => d.category = (d.category + CATEGORIES.len() - 1) % CATEGORIES.len(),
        KeyCode::Enter => {
            if d.text.trim().is_empty() {
                m.status.set(
                    Tone::Warn,
                    "The lesson is empty: write a sentence, or Esc to cancel",
                );
                return;
            }
            let chars = d.text.chars().count();
            if chars > crate::memory::MAX_LESSON_CHARS {
                m.status.set(
                    Tone::Warn,
                    format!(
                        "The lesson is {chars} characters; keep it under {} (one or two sentences)",
                        crate::memory::MAX_LESSON_CHARS
                    ),
                );
                return;
            }
            let (text, category) = (d.text.clone(), d.category().to_owned());
            let change = match d.id.clone() {
                None => Change::Add {
                    text,
                    category,
                    scope: None,
                },
                Some(id) => Change::Edit { id, text, category },
            };
            m.memory.draft = None;
            fx.push(Effect::ChangeLesson(change));
        }
        KeyCode::Backspace => {
            d.text.pop();
        }
        KeyCode::Char(c) => d.text.push(c),
        _ => {}
    }
}

/// A change was stored (or refused): say so, and show the lessons as they are now.
pub(super) fn changed(m: &mut Model, r: Result<String, String>, fx: &mut Vec<Effect>) {
    match r {
        Ok(msg) => {
            m.status.set(Tone::Info, &msg);
            fx.push(load(m));
        }
        Err(e) => m.status.set(Tone::Error, &e),
    }
}

/// What fills the memory browser now: lessons (all, or those matching the query), or the
/// workdir's documents matching it.
fn load(m: &Model) -> Effect {
    match (&m.memory.index_home, &m.memory.query, m.memory.docs) {
        (Some(home), Some(q), true) => Effect::SearchDocs {
            home: home.clone(),
            workdir: m.defaults.workdir.clone(),
            query: q.clone(),
        },
        _ => Effect::LoadMemories {
            query: m.memory.query.clone(),
            home: m.memory.index_home.clone(),
        },
    }
}
