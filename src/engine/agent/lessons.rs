//! Lessons at both ends of a task. At the start, those that match it (this workdir's and
//! the global ones) join the first request (`crate::memory::recall`). At the end, one
//! request to the cheapest usable model draws up to `[memory] max_lessons` lessons from
//! what the task did (`crate::memory::extract`), recorded in the ledger like any call and
//! announced in the task's transcript. `[memory] extract = "auto"` skips tasks that teach
//! nothing: cancelled, over budget, or completed in one turn without a tool. A spent budget
//! or a failed request stops extraction, never the task.

use std::sync::Arc;

use super::calls::{CallError, Caller};
use super::recorder::Recorder;
use super::retry::RetryPolicy;
use super::{Ending, RunState, Runner};
use crate::config::{Extract, ModelSpec};
use crate::engine::budget::Caps;
use crate::engine::protocol::Event;
use crate::engine::route::SuccessRates;
use crate::llm::{ChatRequest, LlmClient, Message};
use crate::memory::{extract, hybrid, recall};
use crate::store::memories::{self, Memory};
use crate::store::{TaskRow, TaskStatus};
use crate::util::time::now_unix;

/// The lessons recalled for `task` in `workdir`, leaving out what `docs` already holds.
///
/// Keyword and meaning fused when this process's embedder is already loaded (a query's
/// vector costs milliseconds); keyword alone otherwise, because loading the model takes
/// about a second and ~260 MB, and the first request does not wait for that. So a batch
/// run (one task per process) recalls by keyword unless something else loaded the model;
/// in the dashboard, once a search by meaning ran, every later task recalls by both.
pub(super) async fn recall(
    runner: &Runner,
    lane: &crate::store::StoreHandle,
    task: &str,
    workdir: &str,
    docs: &str,
) -> Option<recall::Recalled> {
    let budget = runner.settings().memory.context_tokens;
    if budget == 0 {
        return None;
    }
    let home = runner.settings().home.root().to_path_buf();
    let warm = hybrid::embedder(&home, hybrid::Load::IfWarm);
    let vector = match &warm {
        Some(e) => match hybrid::query_vector(e, task).await {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!("recalling lessons by keyword only: {e}");
                None
            }
        },
        None => None,
    };
    let (task, workdir, docs) = (task.to_owned(), workdir.to_owned(), docs.to_owned());
    let found = lane
        .call(move |c| recall::for_task(c, &task, vector.as_deref(), &workdir, budget, &docs))
        .await;
    // The recall is counted (queued: the first request does not wait for a write), and
    // lessons stored since the model was loaded get their vectors, after the first
    // request is on its way.
    if let Ok(Some(r)) = &found {
        let ids = r.ids.clone();
        lane.post("count recalled lessons", move |c| recall::count(c, &ids));
    }
    if let Some(e) = warm {
        let store = runner.store.clone();
        tokio::spawn(async move {
            if let Err(why) = hybrid::backfill(&store, &e, hybrid::BACKFILL_PER_SEARCH).await {
                tracing::warn!("lesson vectors not made: {why}");
            }
        });
    }
    match found {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("no lessons recalled: {e}");
            None
        }
    }
}

/// Whether a task that ended so is asked for lessons.
pub(super) fn worth_asking(mode: Extract, ending: &Ending, st: &RunState) -> bool {
    if ending.model_failed {
        return false;
    }
    match mode {
        Extract::Never => false,
        Extract::Always => st.turns > 0,
        Extract::Auto => match ending.status {
            // Stopped from outside, or not over: nothing the task did teaches.
            TaskStatus::Cancelled
            | TaskStatus::BudgetExceeded
            | TaskStatus::Pending
            | TaskStatus::Running => false,
            // One turn and done: a direct answer (or finish alone) teaches nothing.
            TaskStatus::Completed => st.turns > 1,
            TaskStatus::Failed | TaskStatus::Interrupted => st.turns > 0,
        },
    }
}

/// Asks for lessons and stores them; returns what it cost.
#[allow(clippy::too_many_arguments)] // the task's whole context, once, at its end
pub(super) async fn learn(
    runner: &Runner,
    rec: &Recorder,
    task: &TaskRow,
    workdir: &str,
    cancel: &tokio_util::sync::CancellationToken,
    caps: Caps,
    ending: &Ending,
    st: &RunState,
) -> f64 {
    let cfg = &runner.settings().memory;
    if cfg.max_lessons == 0 || !worth_asking(cfg.extract, ending, st) {
        return 0.0;
    }
    let Some((spec, key)) = cheapest(runner) else {
        return 0.0;
    };
    let mut caller = Caller {
        runner,
        rec,
        task,
        cancel,
        caps,
        policy: RetryPolicy::from_defaults(&runner.settings().defaults),
        rates: SuccessRates::default(),
        client: LlmClient::new(runner.http.clone(), Arc::new(spec), key, runner.timeouts),
        given_up: Vec::new(),
        failures: Vec::new(),
        escalated: true,
        stream_thoughts: false,
    };
    let outline = extract::Outline {
        task: &task.description,
        status: ending.status.as_str(),
        result: ending.result.as_deref(),
        error: ending.error.as_deref(),
        actions: &st.actions,
    };
    let messages = [Message::User {
        text: extract::request(&outline, cfg.max_lessons),
    }];
    let req = ChatRequest {
        system: extract::SYSTEM,
        messages: &messages,
        tools: &[],
    };
    let turn = st.turns;
    let (reply, cost) = match caller.call(req, turn, st.cost_usd).await {
        Ok(done) => done,
        Err(e) => {
            let why = match e {
                CallError::Cancelled => "cancelled".to_owned(),
                CallError::Budget(m) | CallError::Llm(m) | CallError::Store(m) => m,
            };
            note(rec, &format!("no lessons drawn: {why}"));
            return 0.0;
        }
    };
    let outputs: Vec<&str> = st.outputs.iter().map(String::as_str).collect();
    let drafts = match extract::parse(&reply.text, cfg.max_lessons, &outputs) {
        Ok(d) => d,
        Err(why) => {
            tracing::info!("task {}: no lessons stored: {why}", task.id);
            note(rec, &format!("no lessons stored: {why}"));
            return cost;
        }
    };
    if drafts.is_empty() {
        note(rec, "nothing worth keeping as a lesson");
        return cost;
    }
    let success = ending.status == TaskStatus::Completed;
    let rows: Vec<Memory> = drafts
        .into_iter()
        .map(|d| Memory {
            id: memories::new_id(),
            task_id: Some(task.id.to_string()),
            lesson: d.lesson,
            category: d.category.to_owned(),
            success,
            score: d.score,
            created_at: now_unix(),
            scope: d.workdir_only.then(|| workdir.to_owned()),
            ..Memory::default()
        })
        .collect();
    let text: Vec<String> = rows
        .iter()
        .map(|m| format!("[{}] {}", m.category, m.lesson))
        .collect();
    match rec
        .store()
        .call(move |c| {
            rows.iter()
                .try_for_each(|m| memories::insert(c, m).map(|_| ()))
        })
        .await
    {
        Ok(()) => note(rec, &format!("learned: {}", text.join(" · "))),
        Err(e) => note(rec, &format!("lessons not stored: {e}")),
    }
    // With the model already loaded, the new lessons get their vectors now; otherwise
    // at the next search by meaning or `memory consolidate` (never a load for this).
    let home = runner.settings().home.root().to_path_buf();
    if let Some(e) = hybrid::embedder(&home, hybrid::Load::IfWarm)
        && let Err(why) = hybrid::backfill(&runner.store, &e, hybrid::BACKFILL_PER_SEARCH).await
    {
        tracing::warn!("lesson vectors not made: {why}");
    }
    cost
}

/// The usable model with the lowest price (input + output per million tokens), whose
/// breaker is closed.
fn cheapest(runner: &Runner) -> Option<(ModelSpec, Option<String>)> {
    let settings = runner.settings();
    let mut models: Vec<&ModelSpec> = settings
        .models
        .iter()
        .filter(|m| m.has_key() && runner.breakers.open_for(&m.name).is_none())
        .collect();
    models.sort_by(|a, b| {
        (a.input_usd_per_mtok + a.output_usd_per_mtok)
            .total_cmp(&(b.input_usd_per_mtok + b.output_usd_per_mtok))
    });
    models
        .into_iter()
        .find_map(|m| m.api_key().ok().map(|k| (m.clone(), k)))
}

fn note(rec: &Recorder, message: &str) {
    rec.event(
        Event::Notice {
            message: message.to_owned(),
        },
        "info",
        "lessons",
        None,
        message,
    );
}
