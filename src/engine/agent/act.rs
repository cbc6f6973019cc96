//! One turn's tool calls: each is announced (`action`), passed through policy when it
//! runs a command or its approval when it is an MCP tool, run, audited, observed
//! (`observation`) and fed back to the model as a tool result. `finish` ends the task;
//! `query_llm` is a billed side request; `find_tools` adds MCP tools to later turns.
//! What a call changed (a file written, a command run) is noted in the loop state for
//! the turn's checkpoint.

use std::time::Instant;

use serde::Deserialize;

use super::calls::Caller;
use super::mcp_call;
use super::offer::Offer;
use super::recorder::Recorder;
use super::state::RunState;
use super::{ACTIONS_KEPT, Ending, call_ending, cancelled, command, gate};
use crate::engine::policy;
use crate::engine::protocol::Event;
use crate::engine::tools::{self, OBSERVATION_MAX_BYTES, ToolCtx, ToolOutput};
use crate::llm::{self, Message};
use crate::util::text::truncate_middle;

#[derive(Deserialize)]
struct FinishArgs {
    result: String,
}

/// What the tool calls of one turn did.
pub(super) struct Acted {
    pub finished: Option<String>,
    pub failures: Vec<String>,
}

/// Runs a turn's tool calls in order, feeding each observation back.
pub(super) async fn act(
    caller: &mut Caller<'_>,
    ctx: &ToolCtx<'_>,
    rec: &Recorder,
    turn: u32,
    tool_calls: &[llm::ToolCall],
    offer: &Offer,
    st: &mut RunState,
) -> Result<Acted, Ending> {
    let mut acted = Acted {
        finished: None,
        failures: Vec::new(),
    };
    for call in tool_calls {
        let input = serde_json::from_str(&call.arguments)
            .unwrap_or_else(|_| serde_json::Value::String(call.arguments.clone()));
        let shown = truncate_middle(&input.to_string(), 2048);
        rec.event(
            Event::Action {
                turn,
                tool: call.name.clone(),
                input,
            },
            "info",
            "action",
            Some(turn),
            &format!("{} {shown}", call.name),
        );
        let t0 = Instant::now();
        let mut passage: Option<gate::Passage> = None;
        let mut tool = offer.registry.get(&call.name).map(|t| (t.run, t.gate));
        // A tool of a server that was still starting when the turn began.
        let late = match tool {
            None => mcp_call::once_started(caller.runner, &call.name, ctx.cancel).await,
            Some(_) => None,
        };
        if late.is_some() {
            tool = Some((tools::Run::Mcp, tools::Gate::None));
        }
        let out = match tool {
            None => mcp_call::not_ready(caller.runner, &call.name)
                .unwrap_or_else(|| offer.registry.unknown(&call.name)),
            // Finishing in the same reply as other calls would end the task before their
            // results were read (and small models write a whole plan, finish included).
            Some((tools::Run::Finish, _)) if tool_calls.len() > 1 => ToolOutput::err(
                "finish was not run: it ends the task, so call it alone, in a reply after you have read the results of your other calls",
            ),
            Some((tools::Run::Finish, _)) => {
                match tools::parse_args::<FinishArgs>(&call.name, &call.arguments) {
                    Ok(a) => {
                        acted.finished = Some(a.result);
                        ToolOutput::ok("finished")
                    }
                    Err(e) => e,
                }
            }
            Some((tools::Run::QueryLlm, _)) => {
                let (out, cost) = caller
                    .query_llm(&call.arguments, turn, st.cost_usd)
                    .await
                    .map_err(call_ending)?;
                st.cost_usd += cost;
                out
            }
            Some((tools::Run::Local(run), tools::Gate::Command)) => {
                let guard = st
                    .guard
                    .get_or_insert_with(|| policy::guard_ctx(ctx.workdir.clone()));
                match gate::check(
                    caller.runner,
                    rec,
                    turn,
                    &call.arguments,
                    guard,
                    &mut st.approved,
                    ctx.cancel,
                )
                .await
                {
                    Err(gate::Cancelled) => return Err(cancelled()),
                    Ok(p) => {
                        let refusal = p.as_ref().and_then(|p| p.refusal.clone());
                        passage = p;
                        match refusal {
                            Some(r) => ToolOutput::err(r),
                            None => command::run(caller.runner, run, call, ctx).await,
                        }
                    }
                }
            }
            Some((tools::Run::Local(run), tools::Gate::None)) => run(&call.arguments, ctx).await,
            Some((tools::Run::Mcp, _)) => match offer.mcp_tool(&call.name).or(late.as_ref()) {
                None => offer.registry.unknown(&call.name),
                Some(t) => {
                    let (runner, args) = (caller.runner, &call.arguments);
                    match mcp_call::run(runner, rec, turn, t, args, &mut st.approved, ctx.cancel)
                        .await
                    {
                        Err(gate::Cancelled) => return Err(cancelled()),
                        Ok((out, p)) => {
                            passage = p;
                            out
                        }
                    }
                }
            },
            Some((tools::Run::FindTools, _)) => offer.find(&call.arguments, &mut st.found_tools),
        };
        let elapsed_ms = t0.elapsed().as_secs_f64() * 1000.0;
        command::audit(
            caller.runner,
            rec,
            turn,
            call,
            passage.as_ref(),
            &out,
            elapsed_ms,
        );
        let output = truncate_middle(&out.output, OBSERVATION_MAX_BYTES);
        if !out.ok {
            // The reflection joins failures with "; ", so no sentence stop of its own.
            let first = output
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .trim_end_matches('.');
            acted
                .failures
                .push(format!("{} failed: {first}", call.name));
        }
        if st.actions.len() < ACTIONS_KEPT {
            let how = if out.ok {
                "ok".to_owned()
            } else {
                format!("failed: {}", output.lines().next().unwrap_or("").trim())
            };
            st.actions.push(format!(
                "{} {} → {how}",
                call.name,
                truncate_middle(&call.arguments, 160)
            ));
            st.outputs.push(truncate_middle(&out.output, 2048));
        }
        rec.observation(turn, &call.name, out.ok, &output, elapsed_ms);
        if out.ok {
            let changes_files = offer.changes_files(&call.name);
            st.note_change(turn, &call.name, &call.arguments, changes_files);
        }
        st.messages.push(Message::ToolResult {
            call_id: call.id.clone(),
            name: call.name.clone(),
            content: output,
            is_error: !out.ok,
        });
        if ctx.cancel.is_cancelled() {
            return Err(cancelled());
        }
    }
    Ok(acted)
}
