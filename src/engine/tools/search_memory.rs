//! `search_memory`: lessons from past tasks and the workdir's document index (`"in":
//! "lessons" | "docs" | "all"`, default all), both by words and meaning (keyword alone,
//! with a notice, without the embedding model). Docs come first when both are asked
//! for: they are about this workdir. Lessons found count as recalled.

use serde::Deserialize;

use super::{ToolCtx, ToolOutput, parse_args};
use crate::knowledge::{Hit, IndexError, Mode, search};
use crate::memory::hybrid;
use crate::memory::search::Mode as LessonMode;
use crate::util::text::truncate_middle;

/// Most bytes of one chunk in the observation; `read_file` gets the rest.
const CHUNK_BYTES: usize = 900;

#[derive(Deserialize, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Within {
    Lessons,
    Docs,
    #[default]
    All,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    query: String,
    k: Option<usize>,
    #[serde(default, rename = "in")]
    within: Within,
}

pub async fn run(raw: &str, ctx: &ToolCtx<'_>) -> ToolOutput {
    let args: Args = match parse_args("search_memory", raw) {
        Ok(a) => a,
        Err(e) => return e,
    };
    if args.query.trim().is_empty() {
        return ToolOutput::err("search_memory needs a non-empty query");
    }
    let k = args.k.unwrap_or(5).clamp(1, 20);
    let mut parts = Vec::new();
    let mut failed = Vec::new();
    if args.within != Within::Lessons {
        match docs(ctx, &args.query, k).await {
            Ok((hits, _)) if hits.is_empty() => parts.push("docs: nothing matches".to_owned()),
            Ok((hits, notice)) => {
                let note = notice.map(|n| format!(" ({n})")).unwrap_or_default();
                parts.push(format!("docs{note}:\n{}", render_docs(&hits)));
            }
            Err(e) => failed.push(format!("docs: {e}")),
        }
    }
    if args.within != Within::Docs {
        let workdir = Some(ctx.workdir.display().to_string());
        match hybrid::search(
            ctx.store,
            ctx.home,
            &args.query,
            workdir,
            k,
            LessonMode::Hybrid,
            true,
        )
        .await
        {
            Ok(a) if a.found.is_empty() => parts.push(format!(
                "lessons: nothing matches{}",
                a.notice.map(|n| format!(" ({n})")).unwrap_or_default()
            )),
            Ok(a) => parts.push(format!(
                "lessons{}:\n{}",
                a.notice.map(|n| format!(" ({n})")).unwrap_or_default(),
                a.found
                    .iter()
                    .map(|f| format!("- [{}] {}", f.lesson.category, f.lesson.lesson))
                    .collect::<Vec<_>>()
                    .join("\n")
            )),
            Err(e) => failed.push(format!("lessons: memory search failed: {e}")),
        }
    }
    if parts.is_empty() {
        return ToolOutput::err(failed.join("\n"));
    }
    parts.extend(failed);
    ToolOutput::ok(parts.join("\n\n"))
}

/// The workdir's index by words and meaning (BM25 alone, with a notice, without the
/// embedding model), on a blocking thread; no index yet is no hits.
async fn docs(
    ctx: &ToolCtx<'_>,
    query: &str,
    k: usize,
) -> Result<(Vec<Hit>, Option<String>), String> {
    let (home, root, query) = (
        ctx.home.to_path_buf(),
        ctx.workdir.clone(),
        query.to_owned(),
    );
    tokio::task::spawn_blocking(move || {
        match search::search(&home, &root, &query, k, Mode::Hybrid) {
            Ok(found) => Ok(found),
            Err(IndexError::NotIndexed(_)) => Ok((Vec::new(), None)),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
    .map_err(|e| format!("the search stopped: {e}"))?
}

fn render_docs(hits: &[Hit]) -> String {
    hits.iter()
        .map(|h| {
            format!(
                "- {}:{}-{} (score {:.2})\n{}",
                h.path,
                h.start_line,
                h.end_line,
                h.score,
                truncate_middle(h.text.trim_end(), CHUNK_BYTES)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
