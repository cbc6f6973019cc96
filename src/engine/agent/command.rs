//! Around each tool call: `execute_command` run as the sandbox allows (confined,
//! unconfined with a warning said once, or refused), and the call's line in `audit.log`.

use super::Runner;
use super::gate;
use super::recorder::Recorder;
use crate::engine::protocol::{EngineEvent, Event};
use crate::engine::tools::{self, ToolCtx, ToolOutput};
use crate::llm;
use crate::sandbox::Confinement;

/// `execute_command` as the sandbox allows: confined, unconfined (said once), or refused.
pub(super) async fn run(
    runner: &Runner,
    run: tools::LocalFn,
    call: &llm::ToolCall,
    ctx: &ToolCtx<'_>,
) -> ToolOutput {
    let (confinement, warning) = runner.sandbox.confinement();
    if let Some(message) = warning {
        tracing::warn!("{message}");
        let _ = runner
            .events
            .send(EngineEvent::global(Event::Notice { message }));
    }
    let confined = match confinement {
        Confinement::Refused(why) => return ToolOutput::err(why),
        Confinement::Confined => true,
        Confinement::Unconfined => false,
    };
    let ctx = ToolCtx { confined, ..*ctx };
    run(&call.arguments, &ctx).await
}

/// One line in `audit.log` for a tool call.
pub(super) fn audit(
    runner: &Runner,
    rec: &Recorder,
    turn: u32,
    call: &llm::ToolCall,
    passage: Option<&gate::Passage>,
    out: &ToolOutput,
    elapsed_ms: f64,
) {
    let command = runner
        .tools
        .get(&call.name)
        .is_some_and(|t| t.gate == tools::Gate::Command);
    // `exit code: N` heads a command's output when it ran to its end.
    let exit_code = if command && passage.is_none_or(|p| p.refusal.is_none()) {
        out.output
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("exit code: "))
            .and_then(|c| c.trim().parse().ok())
    } else {
        None
    };
    runner.audit.record(&crate::audit::Record {
        ts: crate::util::time::rfc3339(crate::util::time::now_unix()),
        task_id: rec.task_id().to_string(),
        turn,
        tool: call.name.clone(),
        arguments: crate::audit::Record::arguments(&call.arguments),
        policy: passage.map(|p| crate::audit::PolicyRecord {
            decision: p.label(),
            rule: p.verdict.rule.clone(),
            approved_by: p.approved_by.filter(|a| *a != "policy"),
        }),
        sandbox: command.then(|| runner.sandbox_label()),
        ok: out.ok,
        exit_code,
        duration_ms: elapsed_ms as u64,
    });
}
