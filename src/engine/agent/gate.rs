//! The gate in front of `execute_command`: the policy's verdict on the command line,
//! and for "ask" the answer — the front end's (`approval_requested` → `Approve`), `--yes`,
//! or a refusal when nobody can answer. A refused command becomes an observation that
//! says why and what would change it; the task goes on.

use serde::Deserialize;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::Runner;
use super::recorder::Recorder;
use crate::engine::handle::Approvals;
use crate::engine::policy::{Decision, GuardCtx, Verdict};
use crate::engine::protocol::{Approval, Event};
use crate::util::ids::TaskId;

/// A request waiting for the front end's answer.
pub struct Waiting {
    task: TaskId,
    answer: oneshot::Sender<Approval>,
}

/// How the gate decided.
#[derive(Debug)]
pub struct Passage {
    pub verdict: Verdict,
    /// `None`: refused. `Some(how)`: runs, `how` being `policy`, `user`, `user (always)`
    /// or `--yes`.
    pub approved_by: Option<&'static str>,
    /// What the model reads when refused.
    pub refusal: Option<String>,
    /// The user answered (approved or denied) when asked.
    pub asked_user: bool,
}

impl Passage {
    /// `allow`, `approved`, `deny` (a rule), `denied` (the user, when asked) or
    /// `refused` (an ask nobody could answer), for the audit.
    pub fn label(&self) -> &'static str {
        match (self.verdict.decision, self.approved_by) {
            (Decision::Allow, _) => "allow",
            (_, Some(_)) => "approved",
            (Decision::Deny, None) => "deny",
            (Decision::Ask, None) if self.asked_user => "denied",
            (Decision::Ask, None) => "refused",
        }
    }
}

/// The gate was waiting for an answer when the task was cancelled.
pub struct Cancelled;

#[derive(Deserialize)]
struct CommandArgs {
    command: String,
}

/// Per task: the rules the user approved "always" for (kept in the saved loop state, so a
/// resumed task does not ask again).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Approved(Vec<String>);

impl Runner {
    /// Hands the front end's answer to the waiting task.
    pub fn answer(
        &self,
        task: &TaskId,
        request_id: &str,
        decision: Approval,
    ) -> Result<(), String> {
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match pending.get(request_id) {
            Some(w) if &w.task == task => {}
            _ => {
                return Err(format!(
                    "no approval request {request_id} is waiting for task {task}"
                ));
            }
        }
        let Some(w) = pending.remove(request_id) else {
            return Err(format!("no approval request {request_id}"));
        };
        // The task may have been cancelled meanwhile; then nobody listens.
        let _ = w.answer.send(decision);
        Ok(())
    }

    fn forget(&self, request_id: &str) {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(request_id);
    }
}

/// Decides whether `execute_command` with `raw` arguments may run. Arguments that do
/// not parse pass: the tool itself explains the mistake and runs nothing.
pub async fn check(
    runner: &Runner,
    rec: &Recorder,
    turn: u32,
    raw: &str,
    guard: &GuardCtx,
    approved: &mut Approved,
    cancel: &CancellationToken,
) -> Result<Option<Passage>, Cancelled> {
    let Ok(args) = serde_json::from_str::<CommandArgs>(raw) else {
        return Ok(None);
    };
    let verdict = runner.policy.check(&args.command, guard);
    let passage = |verdict: Verdict, approved_by, refusal| Passage {
        verdict,
        approved_by,
        refusal,
        asked_user: false,
    };
    let answered = |verdict: Verdict, approved_by, refusal| Passage {
        verdict,
        approved_by,
        refusal,
        asked_user: true,
    };
    Ok(Some(match verdict.decision {
        Decision::Allow => passage(verdict, Some("policy"), None),
        Decision::Deny => {
            let refusal = verdict.refusal(false);
            passage(verdict, None, Some(refusal))
        }
        Decision::Ask => match runner.approvals {
            Approvals::AutoApprove => passage(verdict, Some("--yes"), None),
            Approvals::Deny => {
                let refusal = verdict.refusal(true);
                passage(verdict, None, Some(refusal))
            }
            Approvals::Interactive if approved.0.contains(&verdict.rule) => {
                passage(verdict, Some("user (always)"), None)
            }
            Approvals::Interactive => {
                match ask(runner, rec, turn, &args.command, &verdict, cancel).await? {
                    Approval::Once => answered(verdict, Some("user"), None),
                    Approval::Always => {
                        approved.0.push(verdict.rule.clone());
                        answered(verdict, Some("user (always)"), None)
                    }
                    Approval::Deny => {
                        let refusal = verdict.denied_by_user();
                        answered(verdict, None, Some(refusal))
                    }
                }
            }
        },
    }))
}

async fn ask(
    runner: &Runner,
    rec: &Recorder,
    turn: u32,
    command: &str,
    verdict: &Verdict,
    cancel: &CancellationToken,
) -> Result<Approval, Cancelled> {
    let request_id = crate::util::ids::TaskId::new().to_string();
    let (tx, rx) = oneshot::channel();
    runner
        .pending
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(
            request_id.clone(),
            Waiting {
                task: rec.task_id().clone(),
                answer: tx,
            },
        );
    let reason = format!("{} ({})", verdict.reason, verdict.rule);
    rec.event(
        Event::ApprovalRequested {
            request_id: request_id.clone(),
            turn,
            tool: "execute_command".into(),
            command: command.to_owned(),
            reason: reason.clone(),
        },
        "warn",
        "approval",
        Some(turn),
        &format!("asks approval for `{command}`: {reason}"),
    );
    let answer = tokio::select! {
        a = rx => a.ok(),
        () = cancel.cancelled() => None,
    };
    runner.forget(&request_id);
    let answer = answer.ok_or(Cancelled)?;
    rec.event(
        Event::ApprovalAnswered {
            request_id,
            turn,
            command: command.to_owned(),
            decision: answer,
        },
        if answer == Approval::Deny {
            "warn"
        } else {
            "info"
        },
        "approval",
        Some(turn),
        &format!("{}: `{command}`", answer.said()),
    );
    Ok(answer)
}
