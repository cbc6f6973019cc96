//! `read_file`: a text file inside the workdir, optionally a range of lines.
//! Binary files and huge files are described rather than dumped.

use serde::Deserialize;

use super::{ToolCtx, ToolOutput, confine, parse_args};
use crate::util::text::looks_binary;

/// Files above this size are refused; the model can use `execute_command` (head, grep).
const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    path: String,
    offset: Option<usize>,
    limit: Option<usize>,
}

pub async fn run(raw: &str, ctx: &ToolCtx<'_>) -> ToolOutput {
    let args: Args = match parse_args("read_file", raw) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let path = match confine(ctx.workdir, &args.path) {
        Ok(p) => p,
        Err(e) => return ToolOutput::err(e.to_string()),
    };
    let meta = match tokio::fs::metadata(&path).await {
        Ok(m) => m,
        Err(e) => return ToolOutput::err(format!("cannot read {}: {e}", args.path)),
    };
    if meta.is_dir() {
        return ToolOutput::err(format!(
            "{} is a directory; use execute_command with `ls` to list it",
            args.path
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return ToolOutput::err(format!(
            "{} is {} bytes, over the {MAX_FILE_BYTES}-byte limit; read parts with execute_command (head, tail, grep)",
            args.path,
            meta.len()
        ));
    }
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) => return ToolOutput::err(format!("cannot read {}: {e}", args.path)),
    };
    if looks_binary(&bytes) {
        return ToolOutput::err(format!(
            "{} is a binary file ({} bytes); not shown",
            args.path,
            bytes.len()
        ));
    }
    let text = String::from_utf8_lossy(&bytes);
    if args.offset.is_none() && args.limit.is_none() {
        return ToolOutput::ok(text.into_owned());
    }
    let start = args.offset.unwrap_or(1).max(1) - 1;
    let limit = args.limit.unwrap_or(usize::MAX);
    let total = text.lines().count();
    let selected: Vec<&str> = text.lines().skip(start).take(limit).collect();
    let shown_end = start + selected.len();
    let mut out = selected.join("\n");
    out.push_str(&format!("\n[lines {}-{shown_end} of {total}]", start + 1));
    ToolOutput::ok(out)
}
