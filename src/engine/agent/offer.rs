//! The tools of one turn: the built-in ones, and the MCP servers' tools that are ready
//! now. Every ready MCP tool can be called (dispatch goes through one registry), but
//! not every one is sent: when the servers offer more than `[mcp] tool_threshold`
//! tools, the request carries only the few most relevant to the task and the model's
//! latest thought (`tools::rank`), those the model found with `find_tools` earlier in
//! the task (kept in the loop state), and `find_tools` itself. At or below the
//! threshold, all are sent and `find_tools` is not offered.

use std::sync::Arc;

use crate::engine::tools::{self, FIND_TOOLS, Registry, Tool, ToolOutput, rank};
use crate::llm::{Message, ToolSpec};
use crate::mcp::McpTool;

/// Most MCP tools chosen by relevance for one request when the servers have more than
/// the threshold (those found with `find_tools` come on top).
pub const SELECTED_MAX: usize = 5;
/// A tool scoring below this share of the best one is not relevant enough to send.
const RELATIVE_FLOOR: f64 = 0.3;
/// Most tools `find_tools` names in one answer.
const FOUND_PER_QUERY: usize = 8;
/// Most tools kept found for a task (the oldest leave first).
pub const FOUND_MAX: usize = 12;

/// The turn's tools.
pub struct Offer {
    /// What dispatch looks names up in: the built-in tools, `find_tools` when offered,
    /// and every ready MCP tool.
    pub registry: Registry,
    /// What the request carries.
    pub specs: Vec<ToolSpec>,
    /// The ready MCP tools (approval, read-only, server) by qualified name.
    mcp: Arc<Vec<McpTool>>,
}

impl Offer {
    /// The tools for a turn of a task described by `task`, whose conversation is
    /// `messages` and which found `found` with `find_tools`.
    pub fn new(
        builtin: &Registry,
        mcp: Arc<Vec<McpTool>>,
        threshold: usize,
        task: &str,
        messages: &[Message],
        found: &[String],
    ) -> Self {
        let mut registry = builtin.clone();
        let lean = mcp.len() > threshold;
        if lean {
            // A built-in name is never taken by a server (the hub refuses the clash).
            let _ = registry.register(Tool::find_tools());
        }
        let mut specs = registry.specs();
        let chosen = if lean {
            select(&mcp, &query(task, messages), found)
        } else {
            (0..mcp.len()).collect()
        };
        for t in mcp.iter() {
            // A clash with a built-in is the hub's to report; the built-in wins here.
            let _ = registry.register(Tool::mcp(t));
        }
        specs.extend(chosen.into_iter().map(|i| Tool::mcp(&mcp[i]).spec));
        Self {
            registry,
            specs,
            mcp,
        }
    }

    /// The MCP tool called `name`, if a ready server has it.
    pub fn mcp_tool(&self, name: &str) -> Option<&McpTool> {
        self.mcp.iter().find(|t| t.qualified == name)
    }

    /// Whether a call to `name` can change the workdir's files: `write_file`,
    /// `execute_command`, and MCP tools their server does not mark read-only — or may
    /// (a `server__tool` name of a server that was not ready when the turn began).
    pub fn changes_files(&self, name: &str) -> bool {
        match name {
            "write_file" | "execute_command" => true,
            _ => self
                .mcp_tool(name)
                .map_or(name.contains("__"), |t| !t.read_only),
        }
    }

    /// `find_tools`: the ready MCP tools matching `raw`'s query, named with one line
    /// each; their qualified names join `found` (offered from the next turn on).
    pub fn find(&self, raw: &str, found: &mut Vec<String>) -> ToolOutput {
        #[derive(serde::Deserialize)]
        struct Args {
            query: String,
        }
        let args: Args = match tools::parse_args(FIND_TOOLS, raw) {
            Ok(a) => a,
            Err(e) => return e,
        };
        let hits: Vec<&McpTool> = rank::rank(&self.mcp, &args.query)
            .into_iter()
            .take(FOUND_PER_QUERY)
            .map(|(i, _)| &self.mcp[i])
            .collect();
        if hits.is_empty() {
            let servers: std::collections::BTreeSet<&str> =
                self.mcp.iter().map(|t| t.server.as_str()).collect();
            return ToolOutput::err(format!(
                "no tool matches {:?}; try other words for what the tool should do (servers: {})",
                args.query,
                servers.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        let mut out = String::from("Found (callable from your next turn):\n");
        for t in hits {
            let line = t.description.lines().next().unwrap_or("").trim();
            out.push_str(&format!(
                "- {}: {}\n",
                t.qualified,
                crate::util::text::ellipsize(line, 160)
            ));
            found.retain(|f| f != &t.qualified);
            found.push(t.qualified.clone());
        }
        if found.len() > FOUND_MAX {
            found.drain(..found.len() - FOUND_MAX);
        }
        ToolOutput::ok(out.trim_end())
    }
}

/// What relevance is judged against: the task, and the model's latest thought.
fn query(task: &str, messages: &[Message]) -> String {
    let thought = messages.iter().rev().find_map(|m| match m {
        Message::Assistant { text, .. } if !text.trim().is_empty() => Some(text.as_str()),
        Message::Assistant { .. } | Message::User { .. } | Message::ToolResult { .. } => None,
    });
    match thought {
        Some(t) => format!("{task}\n{t}"),
        None => task.to_owned(),
    }
}

/// The MCP tools sent when there are more than the threshold: the found ones, then the
/// best by relevance, at most [`SELECTED_MAX`] of those; indices into `mcp`.
fn select(mcp: &[McpTool], query: &str, found: &[String]) -> Vec<usize> {
    let mut chosen: Vec<usize> = found
        .iter()
        .filter_map(|f| mcp.iter().position(|t| &t.qualified == f))
        .collect();
    let ranked = rank::rank(mcp, query);
    let best = ranked.first().map_or(0.0, |r| r.1);
    for (i, score) in ranked.into_iter().take(SELECTED_MAX) {
        if score >= best * RELATIVE_FLOOR && !chosen.contains(&i) {
            chosen.push(i);
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::Approval;

    fn tool(server: &str, name: &str, description: &str) -> McpTool {
        McpTool {
            server: server.into(),
            name: name.into(),
            qualified: format!("{server}__{name}"),
            description: description.into(),
            input_schema: serde_json::json!({"type": "object", "properties": {}}),
            read_only: name.starts_with("get") || name.starts_with("list"),
            approval: Approval::Allow,
        }
    }

    /// 60 tools on 5 servers, of which one is about weather.
    fn many() -> Vec<McpTool> {
        let mut v = Vec::new();
        for s in ["alpha", "beta", "gamma", "delta", "omega"] {
            for i in 0..12 {
                v.push(tool(
                    s,
                    &format!("get_item_{i}"),
                    &format!("Get item {i} of {s}."),
                ));
            }
        }
        v[7] = tool("alpha", "forecast", "The weather forecast for a city.");
        v
    }

    fn sent(o: &Offer) -> Vec<String> {
        o.specs.iter().map(|s| s.name.clone()).collect()
    }

    #[test]
    fn at_or_below_the_threshold_everything_is_sent_and_find_tools_is_not() {
        let few: Vec<McpTool> = many().into_iter().take(12).collect();
        let o = Offer::new(
            &Registry::builtin(),
            Arc::new(few),
            12,
            "say hello",
            &[],
            &[],
        );
        let names = sent(&o);
        assert_eq!(names.len(), 6 + 12);
        assert!(!names.iter().any(|n| n == FIND_TOOLS));
        assert!(o.registry.get(FIND_TOOLS).is_none());
    }

    #[test]
    fn above_the_threshold_only_relevant_tools_and_find_tools_are_sent() {
        let tools = Arc::new(many());
        let o = Offer::new(
            &Registry::builtin(),
            tools.clone(),
            12,
            "say hello",
            &[],
            &[],
        );
        let names = sent(&o);
        assert_eq!(names.len(), 7, "built-ins and find_tools only: {names:?}");
        assert_eq!(names.last().map(String::as_str), Some(FIND_TOOLS));
        // Every ready tool can still be called.
        assert!(o.registry.get("beta__get_item_3").is_some());

        let o = Offer::new(
            &Registry::builtin(),
            tools.clone(),
            12,
            "will it rain in Paris? check the weather",
            &[],
            &[],
        );
        assert_eq!(&sent(&o)[7..], ["alpha__forecast"]);

        // The latest thought counts too.
        let said = [Message::Assistant {
            text: "I need the weather forecast.".into(),
            tool_calls: Vec::new(),
        }];
        let o = Offer::new(&Registry::builtin(), tools, 12, "plan my trip", &said, &[]);
        assert!(sent(&o).contains(&"alpha__forecast".to_owned()));
    }

    #[test]
    fn found_tools_are_sent_on_later_turns() {
        let tools = Arc::new(many());
        let o = Offer::new(
            &Registry::builtin(),
            tools.clone(),
            12,
            "say hello",
            &[],
            &[],
        );
        let mut found = Vec::new();
        let out = o.find(r#"{"query": "weather forecasts"}"#, &mut found);
        assert!(out.ok, "{}", out.output);
        assert!(
            out.output.contains("alpha__forecast: The weather forecast"),
            "{}",
            out.output
        );
        assert_eq!(found, ["alpha__forecast"]);
        let next = Offer::new(&Registry::builtin(), tools, 12, "say hello", &[], &found);
        assert_eq!(&sent(&next)[7..], ["alpha__forecast"]);
    }

    #[test]
    fn find_tools_says_when_nothing_matches_and_caps_what_it_keeps() {
        let tools = Arc::new(many());
        let o = Offer::new(&Registry::builtin(), tools, 12, "say hello", &[], &[]);
        let mut found = Vec::new();
        let out = o.find(r#"{"query": "zebra"}"#, &mut found);
        assert!(!out.ok);
        assert!(out.output.contains("alpha, beta"), "{}", out.output);
        assert!(found.is_empty());
        for s in ["alpha", "beta", "gamma", "delta"] {
            let _ = o.find(&format!(r#"{{"query": "{s}"}}"#), &mut found);
        }
        assert_eq!(found.len(), FOUND_MAX);
        assert!(!o.find("not json", &mut found).ok);
    }

    #[test]
    fn only_tools_that_are_not_read_only_change_files() {
        let o = Offer::new(
            &Registry::builtin(),
            Arc::new(vec![
                tool("fs", "get_file", "Read."),
                tool("fs", "put_file", "Write."),
            ]),
            12,
            "x",
            &[],
            &[],
        );
        assert!(o.changes_files("write_file"));
        assert!(o.changes_files("fs__put_file"));
        assert!(!o.changes_files("fs__get_file"));
        assert!(!o.changes_files("read_file"));
        assert!(!o.changes_files("nope"));
        assert!(o.changes_files("late__x"), "a server not ready yet: may");
    }
}
