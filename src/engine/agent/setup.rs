//! Before the first turn: read the ledger's success rates, route the task (or take the
//! model `--model` named), record the decision and mark the task running, check its
//! workdir, and work out its budget caps. A failure here ends the task before any request.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::recorder::Recorder;
use super::{Ending, Runner};
use crate::engine::budget::Caps;
use crate::engine::route::{self, SuccessRates};
use crate::llm::LlmClient;
use crate::store::{TaskRow, costs};
use crate::util::time::now_unix;

/// What a task needs once it has a model and a workdir.
pub(super) struct Setup {
    pub client: LlmClient,
    pub workdir: PathBuf,
    pub caps: Caps,
    pub max_turns: u32,
    /// Ledger success rates, kept for re-routing.
    pub rates: SuccessRates,
    /// Every candidate is cooling down: wait this long before the first request.
    pub wait: Option<Duration>,
}

/// How long success rates read from the ledger are used before they are read again.
const RATES_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// The ledger's success rates, read at most every [`RATES_TTL`] per engine.
#[derive(Default)]
pub struct RatesCache {
    last: tokio::sync::Mutex<Option<(std::time::Instant, SuccessRates)>>,
}

impl RatesCache {
    /// The rates, read again when older than the TTL. Tasks starting together wait for
    /// one read (the lock is held across it).
    pub async fn get(&self, store: &crate::store::StoreHandle) -> SuccessRates {
        let mut last = self.last.lock().await;
        if let Some((at, rates)) = last.as_ref()
            && at.elapsed() < RATES_TTL
        {
            return rates.clone();
        }
        let since = now_unix() - route::SUCCESS_WINDOW_S;
        match store.call(move |c| costs::model_records(c, since)).await {
            Ok(records) => {
                let rates = SuccessRates::new(records);
                *last = Some((std::time::Instant::now(), rates.clone()));
                rates
            }
            Err(e) => {
                // Routing still works on the priors; the task need not fail for this.
                tracing::warn!("cannot read success rates from the ledger: {e}");
                SuccessRates::default()
            }
        }
    }
}

/// Routes the task, checks its key and workdir, and marks it started. A resumed task
/// (`resuming`: the model it was on) goes on on that model if it is still configured
/// with a key; otherwise it is routed afresh, with the same conversation.
pub(super) async fn prepare(
    runner: &Runner,
    rec: &Recorder,
    task: &TaskRow,
    resuming: Option<&str>,
) -> Result<Setup, Ending> {
    let settings = &runner.settings();
    let rates = runner.rates.get(rec.store()).await;
    let same_model = resuming
        .filter(|_| task.requested_model.is_none())
        .filter(|m| settings.model(m).is_some_and(|s| s.api_key().is_ok()));
    let ask = route::Ask {
        description: &task.description,
        critical: task.critical,
        requested: task.requested_model.as_deref().or(same_model),
        exclude: &[],
        at_least: None,
    };
    let mut decision = route::decide(settings, &ask, &rates, |m| runner.breakers.open_for(m))
        .map_err(|e| {
            let msg = match e {
                route::RouteError::NoModel => format!("{e}; {}", crate::config::ADD_MODEL_HINT),
                _ => e.to_string(),
            };
            rec.error(&msg, "config", false);
            Ending::failed(msg)
        })?;
    if let Some(m) = same_model {
        decision.route.reason = format!("resumed on {m}, the model it was on when it stopped");
    } else if let (Some(was), Some(asked)) = (resuming, task.requested_model.as_deref())
        && was != asked
    {
        decision.route.reason = format!(
            "resumed on {asked}, as `tasks resume --model` asked (it was on {was} when it stopped)"
        );
    }
    let spec = decision.model;
    let key = spec.api_key().map_err(|e| Ending::failed(e.to_string()))?;
    if !rec
        .started(&spec.name, &decision.route, &decision.ranked)
        .await
        .map_err(Ending::failed)?
    {
        return Err(super::cancelled());
    }
    let workdir = match task.workdir.as_deref().map(PathBuf::from) {
        Some(w) if w.is_dir() => w.canonicalize().unwrap_or(w),
        Some(w) => {
            let msg = format!(
                "the workdir {} does not exist; create it or pass --workdir",
                w.display()
            );
            rec.error(&msg, "filesystem", false);
            return Err(Ending::failed(msg));
        }
        None => return Err(Ending::failed("the task has no workdir")),
    };
    let d = &settings.defaults;
    Ok(Setup {
        client: LlmClient::new(runner.http.clone(), Arc::new(spec), key, runner.timeouts),
        workdir,
        caps: Caps {
            per_task: task.budget_usd.unwrap_or(d.budget_usd_per_task),
            per_day: d.budget_usd_per_day,
        },
        max_turns: task.max_turns.max(1),
        rates,
        wait: decision.wait,
    })
}
