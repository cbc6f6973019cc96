//! Lesson search from async code (the engine's tools and recall, the dashboard): the
//! query's vector from the process's shared embedder on a blocking thread, lessons
//! without a vector given one, then [`super::search::find`] on the store thread. The
//! model is loaded only where the caller allows it ([`Load`]); everything else answers
//! by keyword alone.

use std::path::Path;

use super::search::{self, Found, Mode, Query};
use super::vectors;
use crate::knowledge::embed::{self, Shared};
use crate::knowledge::{IndexError, assets};
use crate::store::memories::vectors as stored;
use crate::store::{StoreError, StoreHandle, memories};

/// Lessons given a vector before one search: enough for those stored since the model
/// was last loaded (a handful per task), few enough that a search after a large import
/// waits seconds, not minutes; the rest follow on later searches or `memory consolidate`.
pub const BACKFILL_PER_SEARCH: usize = 128;

/// Whether a search may load the model (~260 MB, about a second) to have a vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    /// Asked for by meaning (`search_memory`, the dashboard): load it if it is not.
    Allowed,
    /// On the way to a first request: only if it is already loaded.
    IfWarm,
}

/// The shared embedder, when the model files are in `home` (or `AZ_OS_MODEL_DIR`) and
/// `load` allows it now.
pub fn embedder(home: &Path, load: Load) -> Option<Shared> {
    if load == Load::IfWarm && !embed::is_warm() {
        return None;
    }
    let files = assets::locate(&assets::model_dir(home))?;
    embed::shared(&files).ok()
}

/// What a search found, and a notice when it is not what was asked (keyword only).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Answer {
    pub found: Vec<Found>,
    pub notice: Option<String>,
}

/// Searches lessons for `text` (`workdir`: that workdir's and the global ones; `None`:
/// all), counting a recall for each hit when `touch`.
pub async fn search(
    store: &StoreHandle,
    home: &Path,
    text: &str,
    workdir: Option<String>,
    k: usize,
    mode: Mode,
    touch: bool,
) -> Result<Answer, StoreError> {
    let mut notice = None;
    let mut vector = None;
    if mode != Mode::Keyword {
        match embedder(home, Load::Allowed) {
            None => {
                notice = Some(
                    "searching lessons by keyword only: the embedding model is not set up (`az-os index --fetch-model` adds it)"
                        .to_owned(),
                );
            }
            Some(e) => match with_vectors(store, &e, text).await {
                Ok(v) => vector = Some(v),
                Err(why) => {
                    notice = Some(format!("searching lessons by keyword only: {why}"));
                }
            },
        }
    }
    let text = text.to_owned();
    let found = store
        .call(move |c| {
            let found = search::find(
                c,
                &Query {
                    text: &text,
                    vector: vector.as_deref(),
                    workdir: workdir.as_deref(),
                    k,
                    mode,
                },
            )?;
            if touch {
                let ids: Vec<String> = found.iter().map(|f| f.lesson.id.clone()).collect();
                memories::touch(c, &ids)?;
            }
            Ok(found)
        })
        .await?;
    Ok(Answer { found, notice })
}

/// Gives lessons without a vector theirs (at most [`BACKFILL_PER_SEARCH`]) and returns
/// the vector of `text`.
async fn with_vectors(store: &StoreHandle, e: &Shared, text: &str) -> Result<Vec<f32>, String> {
    if let Err(why) = backfill(store, e, BACKFILL_PER_SEARCH).await {
        tracing::warn!("lesson vectors not made: {why}");
    }
    query_vector(e, text).await.map_err(|e| e.to_string())
}

/// The unit vector of `text`, on a blocking thread.
pub async fn query_vector(e: &Shared, text: &str) -> Result<Vec<f32>, IndexError> {
    let (e, text) = (e.clone(), text.to_owned());
    tokio::task::spawn_blocking(move || e.embed(vec![text]))
        .await
        .map_err(|err| IndexError::Model(format!("the embedder stopped: {err}")))??
        .pop()
        .ok_or_else(|| IndexError::Model("the embedder gave no vector".into()))
}

/// Gives up to `limit` lessons without a vector one: read on the store thread, embedded
/// on a blocking thread (never holding the store), stored back. Returns how many.
pub async fn backfill(store: &StoreHandle, e: &Shared, limit: usize) -> Result<usize, String> {
    let mut made = 0;
    while made < limit {
        let want = vectors::BATCH.min(limit - made);
        let todo = store
            .call(move |c| stored::pending(c, want))
            .await
            .map_err(|e| e.to_string())?;
        let n = todo.len();
        if n == 0 {
            break;
        }
        let e = e.clone();
        let done = tokio::task::spawn_blocking(move || {
            vectors::embed_pending(todo, &mut |texts| e.embed(texts))
        })
        .await
        .map_err(|e| format!("the embedder stopped: {e}"))?
        .map_err(|e| e.to_string())?;
        let kept = store
            .call(move |c| stored::store(c, &done))
            .await
            .map_err(|e| e.to_string())?;
        made += kept;
        // Fewer than asked: none left. None kept: they changed meanwhile; next time.
        if n < want || kept == 0 {
            break;
        }
    }
    Ok(made)
}
