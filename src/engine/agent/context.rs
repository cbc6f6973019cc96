//! The knowledge a task starts with: its workdir is indexed (incrementally, on a thread
//! of its own that outlives the wait), and the chunks that really match the task go into
//! the first request. The first request waits for the index update at most
//! `[knowledge] index_wait_ms`; past that it uses what the index already holds, and the
//! update finishes in the background for `search_memory` and the next task. The lessons
//! that match the task follow the excerpts (`lessons.rs`); one `context` event says what
//! went in.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Runner;
use super::recorder::Recorder;
use crate::config::KnowledgeConfig;
use crate::engine::protocol::Event;
use crate::engine::tools::ToolCtx;
use crate::knowledge::{self, Bm25, IndexError, context::Context};
use crate::store::TaskRow;

/// A workdir with more files than this is not indexed by a task on its own (a task
/// started in a home folder or `/`); `az-os index` still indexes it when asked.
const MAX_AUTO_FILES: usize = 20_000;

/// The task, followed by what of the workdir's documents matches it (announced).
pub(super) async fn first_message(
    runner: &Runner,
    rec: &Recorder,
    ctx: &ToolCtx<'_>,
    task: &TaskRow,
) -> String {
    let found = gather(
        &runner.settings().knowledge,
        ctx.index.to_path_buf(),
        ctx.workdir,
        &task.description,
    )
    .await;
    let docs = found.as_ref().map_or("", |f| f.text.as_str());
    let workdir = ctx.workdir.display().to_string();
    let recalled =
        super::lessons::recall(runner, rec.store(), &task.description, &workdir, docs).await;
    let mut text = task.description.clone();
    let mut sources = Vec::new();
    let mut tokens = 0;
    if let Some(f) = found {
        text = format!("{text}\n\n{}", f.text);
        sources.extend(f.sources);
        tokens += f.tokens;
    }
    if let Some(r) = recalled {
        text = format!("{text}\n\n{}", r.text);
        sources.extend(r.ids.into_iter().map(|id| format!("lesson:{id}")));
        tokens += r.tokens;
    }
    if sources.is_empty() {
        return text;
    }
    let tokens = tokens as u64;
    let msg = crate::engine::protocol::context_line(&sources, tokens);
    rec.event(
        Event::Context { sources, tokens },
        "info",
        "context",
        None,
        &msg,
    );
    text
}

/// Indexes `workdir` in the background (when configured) and returns the context for
/// `task`, or `None`. Never fails a task: a problem with the index is logged and the
/// task goes on without context.
async fn gather(
    cfg: &KnowledgeConfig,
    index_dir: PathBuf,
    workdir: &Path,
    task: &str,
) -> Option<Context> {
    if cfg.auto_index {
        let done = update_in_background(index_dir.clone(), workdir.to_path_buf());
        // A timeout or a thread gone both mean: use what the index holds now.
        let _ = tokio::time::timeout(Duration::from_millis(cfg.index_wait_ms), done).await;
    }
    if cfg.context_tokens == 0 {
        return None;
    }
    let (task, budget) = (task.to_owned(), cfg.context_tokens);
    let found = tokio::task::spawn_blocking(move || {
        knowledge::context::for_task(&index_dir, &task, budget)
    })
    .await;
    match found {
        Ok(Ok(context)) => context,
        Ok(Err(e)) => {
            tracing::warn!("no context from the index: {e}");
            None
        }
        Err(e) => {
            tracing::warn!("the context search stopped: {e}");
            None
        }
    }
}

/// Starts the update on its own thread; the receiver hears when it is done.
fn update_in_background(
    index_dir: PathBuf,
    workdir: PathBuf,
) -> tokio::sync::oneshot::Receiver<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("az-os-index".into())
        .spawn(move || {
            match update(&index_dir, &workdir) {
                Ok(()) => {}
                // Another az-os is updating it: its result serves this task too.
                Err(IndexError::Busy) => tracing::debug!("index of {} busy", workdir.display()),
                Err(e) => tracing::warn!("indexing {} failed: {e}", workdir.display()),
            }
            let _ = tx.send(());
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the index thread: {e}");
    }
    rx
}

fn update(index_dir: &Path, workdir: &Path) -> Result<(), IndexError> {
    let first = Bm25::open_existing(index_dir)?.is_none();
    if first {
        let (found, _) = knowledge::walk::walk(workdir);
        if found.is_empty() {
            // Nothing to find: no index is made (an empty workdir costs nothing).
            return Ok(());
        }
        if found.len() > MAX_AUTO_FILES {
            tracing::info!(
                "not indexing {} for a task: {} files (more than {MAX_AUTO_FILES}); run `az-os index` to index it",
                workdir.display(),
                found.len()
            );
            return Ok(());
        }
    }
    let index = Bm25::open(index_dir)?;
    let up = index.update(workdir, &mut |_| {})?;
    tracing::debug!(
        "indexed {}: {} files changed, {} deleted, {} chunks added",
        workdir.display(),
        up.changed,
        up.deleted,
        up.chunks_added
    );
    Ok(())
}
