//! Ranking MCP tools against a text (the task and the model's latest thought, or a
//! `find_tools` query): BM25 over each tool's name and description, in memory — a few
//! hundred short documents at most, ranked per turn in microseconds, so no index.
//!
//! Words are folded as the document index folds them (`knowledge::context::stem_words`:
//! lower case, `lines` meets `line`), but the stop list is only English function words:
//! the verbs and nouns tools are named by (`read`, `write`, `file`, `find`) are exactly
//! what must match here. A hit in the tool's name counts twice.

use std::collections::HashSet;

use crate::knowledge::context::stem_words;
use crate::mcp::McpTool;

/// BM25's term-frequency saturation and length normalisation (the usual values).
const K1: f64 = 1.2;
const B: f64 = 0.75;

/// Words that say nothing about which tool is meant.
const STOP: &[&str] = &[
    "the", "and", "for", "with", "that", "this", "from", "into", "then", "than", "what", "which",
    "who", "how", "why", "when", "where", "are", "was", "were", "been", "have", "has", "had",
    "does", "did", "can", "could", "should", "would", "will", "not", "but", "all", "any", "its",
    "our", "your", "you", "they", "them", "there", "here", "these", "those", "also", "just",
    "only", "very", "please", "tool", "tools", "call", "use", "using",
];

/// The distinct, folded content words of `text`.
fn words(text: &str) -> HashSet<String> {
    stem_words(text)
        .into_iter()
        .filter(|w| w.chars().count() >= 3 && !STOP.contains(&w.as_str()))
        .collect()
}

/// One tool's words: those of its name (server and tool, `_` and `-` split) and those of
/// its description.
struct Doc {
    name: HashSet<String>,
    text: HashSet<String>,
}

impl Doc {
    fn new(t: &McpTool) -> Self {
        let name = words(&format!("{} {}", t.server, t.name));
        let mut text = words(&t.description);
        text.extend(name.iter().cloned());
        Self { name, text }
    }

    /// How often `w` occurs, a name hit counting twice.
    fn tf(&self, w: &str) -> f64 {
        f64::from(u8::from(self.text.contains(w))) + f64::from(u8::from(self.name.contains(w)))
    }

    fn len(&self) -> f64 {
        (self.text.len() + self.name.len()) as f64
    }
}

/// The tools that share a content word with `query`, best first, as (index into
/// `tools`, score). Ties keep the servers' order.
pub fn rank(tools: &[McpTool], query: &str) -> Vec<(usize, f64)> {
    let terms = words(query);
    if terms.is_empty() || tools.is_empty() {
        return Vec::new();
    }
    let docs: Vec<Doc> = tools.iter().map(Doc::new).collect();
    let n = docs.len() as f64;
    let avg = (docs.iter().map(Doc::len).sum::<f64>() / n).max(1.0);
    let idf: Vec<(&String, f64)> = terms
        .iter()
        .map(|t| {
            let df = docs.iter().filter(|d| d.text.contains(t)).count() as f64;
            (t, (1.0 + (n - df + 0.5) / (df + 0.5)).ln())
        })
        .collect();
    let mut scored: Vec<(usize, f64)> = docs
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let norm = K1 * (1.0 - B + B * d.len() / avg);
            let score: f64 = idf
                .iter()
                .map(|(t, idf)| {
                    let tf = d.tf(t);
                    idf * tf * (K1 + 1.0) / (tf + norm)
                })
                .sum();
            (score > 0.0).then_some((i, score))
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::Approval;

    pub(crate) fn tool(server: &str, name: &str, description: &str) -> McpTool {
        McpTool {
            server: server.into(),
            name: name.into(),
            qualified: format!("{server}__{name}"),
            description: description.into(),
            input_schema: serde_json::json!({"type": "object"}),
            read_only: true,
            approval: Approval::Allow,
        }
    }

    fn names(tools: &[McpTool], query: &str) -> Vec<String> {
        rank(tools, query)
            .into_iter()
            .map(|(i, _)| tools[i].qualified.clone())
            .collect()
    }

    #[test]
    fn the_tool_named_by_the_task_comes_first() {
        let tools = [
            tool(
                "fs",
                "read_text_file",
                "Read the complete contents of a file as text.",
            ),
            tool(
                "fs",
                "write_file",
                "Create a new file or overwrite an existing one.",
            ),
            tool(
                "github",
                "create_issue",
                "Open a new issue in a GitHub repository.",
            ),
            tool(
                "github",
                "list_pull_requests",
                "List pull requests of a repository.",
            ),
            tool("weather", "forecast", "The weather forecast for a city."),
        ];
        let got = names(&tools, "open an issue on GitHub about the crash");
        assert_eq!(
            got.first().map(String::as_str),
            Some("github__create_issue")
        );
        let got = names(&tools, "what is the weather in Paris tomorrow");
        assert_eq!(got, ["weather__forecast"]);
        // Plurals and verb forms meet: "requests" finds list_pull_requests.
        let got = names(&tools, "which pull requests are open");
        assert_eq!(
            got.first().map(String::as_str),
            Some("github__list_pull_requests")
        );
        // Writing a file is what write_file is named for.
        let got = names(&tools, "write the results to a file");
        assert_eq!(got.first().map(String::as_str), Some("fs__write_file"));
    }

    #[test]
    fn nothing_in_common_selects_nothing() {
        let tools = [tool("fs", "read_text_file", "Read a file.")];
        assert!(rank(&tools, "say hello").is_empty());
        assert!(rank(&tools, "").is_empty());
        assert!(rank(&[], "read a file").is_empty());
    }

    #[test]
    fn a_rare_word_outranks_a_common_one() {
        // Every tool mentions "repository"; only one mentions "branch".
        let tools = [
            tool("git", "log", "Show commits of a repository."),
            tool("git", "branch", "Create a branch in a repository."),
            tool("git", "status", "Show the status of a repository."),
        ];
        let got = names(&tools, "create a branch in the repository");
        assert_eq!(got.first().map(String::as_str), Some("git__branch"));
        assert_eq!(got.len(), 3, "all share 'repository': {got:?}");
    }
}
