//! `search_memory`: keyword search over lessons from past tasks (SQLite FTS5).

use serde::Deserialize;

use super::{ToolCtx, ToolOutput, parse_args};
use crate::store::memories;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    query: String,
    k: Option<usize>,
}

pub async fn run(raw: &str, ctx: &ToolCtx<'_>) -> ToolOutput {
    let args: Args = match parse_args("search_memory", raw) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let k = args.k.unwrap_or(5).clamp(1, 20);
    let query = args.query.clone();
    match ctx
        .store
        .call(move |c| memories::search(c, &query, k))
        .await
    {
        Ok(hits) if hits.is_empty() => ToolOutput::ok(format!("no lessons match {:?}", args.query)),
        Ok(hits) => ToolOutput::ok(
            hits.iter()
                .map(|m| format!("- [{}] {}", m.category, m.lesson))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        Err(e) => ToolOutput::err(format!("memory search failed: {e}")),
    }
}
