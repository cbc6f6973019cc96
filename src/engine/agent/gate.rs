//! The gate in front of `execute_command` and of MCP tools: the verdict (the policy's on
//! the command line; the tool's configured approval for MCP), and for "ask" the answer —
//! the front end's (`approval_requested` → `Approve`), `--yes`, or a refusal when nobody
//! can answer. A refused call becomes an observation that says why and what would change
//! it; the task goes on.

use serde::Deserialize;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::Runner;
use super::recorder::Recorder;
use crate::engine::handle::Approvals;
use crate::engine::policy::{Decision, GuardCtx, Verdict};
use crate::engine::protocol::{Approval, Event};
use crate::mcp::McpTool;
use crate::util::ids::TaskId;
use crate::util::text::truncate_middle;

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

/// What the gate is asked about.
pub enum Subject<'a> {
    /// `execute_command` with this command line.
    Command(&'a str),
    /// An MCP tool, with its arguments as the audit log has them (redacted, long values
    /// cut).
    Mcp {
        tool: &'a McpTool,
        args: serde_json::Value,
    },
}

/// Longest the arguments get in the approval dialog (the model may send a whole file),
/// and in the one line that records the answer.
const SHOWN_MAX_BYTES: usize = 4096;
const BRIEF_MAX_BYTES: usize = 240;

impl Subject<'_> {
    fn tool(&self) -> &str {
        match self {
            Self::Command(_) => "execute_command",
            Self::Mcp { tool, .. } => &tool.qualified,
        }
    }

    /// What the dialog shows: the command line, or the server, tool and arguments
    /// (indented, cut as a whole).
    fn shown(&self) -> String {
        match self {
            Self::Command(c) => (*c).to_owned(),
            Self::Mcp { tool, args } => {
                let text = serde_json::to_string_pretty(args).unwrap_or_else(|_| args.to_string());
                format!(
                    "server: {}\ntool: {}\narguments: {}",
                    tool.server,
                    tool.name,
                    truncate_middle(&text, SHOWN_MAX_BYTES)
                )
            }
        }
    }

    /// The one line that records the answer: the command, or the tool and arguments.
    fn brief(&self) -> String {
        match self {
            Self::Command(c) => (*c).to_owned(),
            Self::Mcp { tool, args } => {
                let args = truncate_middle(&args.to_string(), BRIEF_MAX_BYTES).replace('\n', " ");
                format!("{} {args}", tool.qualified)
            }
        }
    }

    /// What the model reads when nobody could answer (`batch`) or a rule refused.
    fn refusal(&self, verdict: &Verdict, batch: bool) -> String {
        match self {
            Self::Command(_) => verdict.refusal(batch),
            Self::Mcp { tool, .. } if batch => format!(
                "{} was not called: it asks for approval ({}), and batch mode cannot ask. The \
                 user can rerun with --yes, or set approvals = {{ {} = \"allow\" }} in the \
                 [[mcp_servers]] entry named {} in config.toml.",
                tool.qualified, verdict.rule, tool.name, tool.server
            ),
            Self::Mcp { tool, .. } => format!(
                "{} was not called: its approval is deny ({}). The user can change it with \
                 approvals = {{ {} = \"ask\" }} (or \"allow\") in the [[mcp_servers]] entry \
                 named {} in config.toml. Do not call it again; find another way.",
                tool.qualified, verdict.rule, tool.name, tool.server
            ),
        }
    }

    fn denied_by_user(&self, verdict: &Verdict) -> String {
        match self {
            Self::Command(_) => verdict.denied_by_user(),
            Self::Mcp { tool, .. } => format!(
                "{} was not called: the user denied it when asked ({}). Do not call it again; \
                 find another way, or say in your answer what you needed it for.",
                tool.qualified, verdict.rule
            ),
        }
    }
}

/// An MCP tool's configured approval as a verdict; the rule names the config key that
/// decides it for this tool.
pub fn mcp_verdict(tool: &McpTool) -> Verdict {
    let rule = format!("mcp_servers[{}].approvals.{}", tool.server, tool.name);
    let (decision, how) = match tool.approval {
        crate::mcp::Approval::Allow => (Decision::Allow, "allow"),
        crate::mcp::Approval::Ask => (Decision::Ask, "ask"),
        crate::mcp::Approval::Deny => (Decision::Deny, "deny"),
    };
    let why = if tool.read_only {
        ""
    } else {
        "; the server does not mark it read-only"
    };
    Verdict {
        decision,
        reason: format!(
            "tool {} of MCP server {} is set to {how}{why}",
            tool.name, tool.server
        ),
        rule,
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
    let subject = Subject::Command(&args.command);
    decide(runner, rec, turn, &subject, verdict, approved, cancel)
        .await
        .map(Some)
}

/// Decides whether a call of MCP tool `tool` with arguments `raw` may run.
pub async fn check_mcp(
    runner: &Runner,
    rec: &Recorder,
    turn: u32,
    tool: &McpTool,
    raw: &str,
    approved: &mut Approved,
    cancel: &CancellationToken,
) -> Result<Passage, Cancelled> {
    let verdict = mcp_verdict(tool);
    let args = crate::audit::Record::arguments(raw);
    let subject = Subject::Mcp { tool, args };
    decide(runner, rec, turn, &subject, verdict, approved, cancel).await
}

/// The verdict, and for "ask" whoever answers: one flow for every gated tool.
async fn decide(
    runner: &Runner,
    rec: &Recorder,
    turn: u32,
    subject: &Subject<'_>,
    verdict: Verdict,
    approved: &mut Approved,
    cancel: &CancellationToken,
) -> Result<Passage, Cancelled> {
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
    Ok(match verdict.decision {
        Decision::Allow => passage(verdict, Some("policy"), None),
        Decision::Deny => {
            let refusal = subject.refusal(&verdict, false);
            passage(verdict, None, Some(refusal))
        }
        Decision::Ask => match runner.approvals {
            Approvals::AutoApprove => passage(verdict, Some("--yes"), None),
            Approvals::Deny => {
                let refusal = subject.refusal(&verdict, true);
                passage(verdict, None, Some(refusal))
            }
            Approvals::Interactive if approved.0.contains(&verdict.rule) => {
                passage(verdict, Some("user (always)"), None)
            }
            Approvals::Interactive => {
                match ask(runner, rec, turn, subject, &verdict, cancel).await? {
                    Approval::Once => answered(verdict, Some("user"), None),
                    Approval::Always => {
                        approved.0.push(verdict.rule.clone());
                        answered(verdict, Some("user (always)"), None)
                    }
                    Approval::Deny => {
                        let refusal = subject.denied_by_user(&verdict);
                        answered(verdict, None, Some(refusal))
                    }
                }
            }
        },
    })
}

async fn ask(
    runner: &Runner,
    rec: &Recorder,
    turn: u32,
    subject: &Subject<'_>,
    verdict: &Verdict,
    cancel: &CancellationToken,
) -> Result<Approval, Cancelled> {
    let command = subject.shown();
    let command = command.as_str();
    let brief = subject.brief();
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
            tool: subject.tool().to_owned(),
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
            command: brief.clone(),
            decision: answer,
        },
        if answer == Approval::Deny {
            "warn"
        } else {
            "info"
        },
        "approval",
        Some(turn),
        &format!("{}: `{brief}`", answer.said()),
    );
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::Approval as McpApproval;

    fn tool(approval: McpApproval) -> McpTool {
        McpTool {
            server: "fs".into(),
            name: "write_file".into(),
            qualified: "fs__write_file".into(),
            description: "Write a file.".into(),
            input_schema: serde_json::json!({"type": "object"}),
            read_only: false,
            approval,
        }
    }

    #[test]
    fn an_mcp_tools_approval_is_its_verdict_and_names_the_key() {
        for (a, d) in [
            (McpApproval::Allow, Decision::Allow),
            (McpApproval::Ask, Decision::Ask),
            (McpApproval::Deny, Decision::Deny),
        ] {
            let v = mcp_verdict(&tool(a));
            assert_eq!(v.decision, d);
            assert_eq!(v.rule, "mcp_servers[fs].approvals.write_file");
        }
    }

    #[test]
    fn refusals_of_mcp_tools_say_what_changes_them() {
        let t = tool(McpApproval::Ask);
        let s = Subject::Mcp {
            tool: &t,
            args: serde_json::json!({}),
        };
        let v = mcp_verdict(&t);
        let batch = s.refusal(&v, true);
        assert!(batch.contains("--yes"), "{batch}");
        assert!(
            batch.contains(r#"approvals = { write_file = "allow" }"#),
            "{batch}"
        );
        let deny = s.refusal(&mcp_verdict(&tool(McpApproval::Deny)), false);
        assert!(deny.starts_with("fs__write_file was not called"), "{deny}");
        assert!(deny.contains("[[mcp_servers]] entry named fs"), "{deny}");
        assert!(s.denied_by_user(&v).contains("the user denied it"));
        assert_eq!(s.tool(), "fs__write_file");
        assert!(
            s.shown()
                .starts_with("server: fs\ntool: write_file\narguments: {}")
        );
        assert_eq!(s.brief(), "fs__write_file {}");
    }

    #[test]
    fn the_dialog_shows_mcp_arguments_masked_and_cut() {
        let t = tool(McpApproval::Ask);
        let raw = serde_json::json!({
            "token": "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789",
            "content": "x".repeat(20_000),
            "lines": "a\nb",
        })
        .to_string();
        let s = Subject::Mcp {
            tool: &t,
            args: crate::audit::Record::arguments(&raw),
        };
        let shown = s.shown();
        assert!(
            !shown.contains("abcdefghijklmnopqrstuvwxyz0123456789"),
            "{shown}"
        );
        assert!(shown.len() <= SHOWN_MAX_BYTES + 100, "{}", shown.len());
        assert!(shown.contains("\"content\""), "{shown}");
        let brief = s.brief();
        assert!(
            !brief.contains('\n') && brief.len() <= BRIEF_MAX_BYTES + 100,
            "{brief}"
        );
    }
}
