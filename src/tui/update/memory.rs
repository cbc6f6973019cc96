//! The memory browser's keys: its search line, switching between lessons and the
//! workdir's documents, viewing and deleting.

use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::approval;
use crate::tui::model::Model;
use crate::tui::msg::Effect;
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

/// What fills the memory browser now: lessons (all, or those matching the query), or the
/// workdir's documents matching it.
fn load(m: &Model) -> Effect {
    match (&m.memory.index_home, &m.memory.query, m.memory.docs) {
        (Some(home), Some(q), true) => Effect::SearchDocs {
            home: home.clone(),
            workdir: m.defaults.workdir.clone(),
            query: q.clone(),
        },
        _ => Effect::LoadMemories(m.memory.query.clone()),
    }
}
