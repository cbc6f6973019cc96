//! `write_file`: creates or replaces a file inside the workdir, creating parent
//! folders. Writes go to a temporary file first and are renamed into place, so a
//! cancelled or failed write never leaves half a file.

use serde::Deserialize;

use super::{ToolCtx, ToolOutput, confine, parse_args};

/// Largest content accepted in one write.
const MAX_WRITE_BYTES: usize = 10 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    path: String,
    content: String,
}

pub async fn run(raw: &str, ctx: &ToolCtx<'_>) -> ToolOutput {
    let args: Args = match parse_args("write_file", raw) {
        Ok(a) => a,
        Err(e) => return e,
    };
    if args.content.len() > MAX_WRITE_BYTES {
        return ToolOutput::err(format!(
            "content is {} bytes, over the {MAX_WRITE_BYTES}-byte limit",
            args.content.len()
        ));
    }
    let path = match confine(ctx.workdir, &args.path) {
        Ok(p) => p,
        Err(e) => return ToolOutput::err(e.to_string()),
    };
    if path.is_dir() {
        return ToolOutput::err(format!("{} is a directory", args.path));
    }
    if let Some(parent) = path.parent()
        && let Err(e) = tokio::fs::create_dir_all(parent).await
    {
        return ToolOutput::err(format!("cannot create the folder for {}: {e}", args.path));
    }
    let tmp = path.with_file_name(format!(
        ".{}.az-os-tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let result = async {
        tokio::fs::write(&tmp, args.content.as_bytes()).await?;
        tokio::fs::rename(&tmp, &path).await
    }
    .await;
    match result {
        Ok(()) => ToolOutput::ok(format!(
            "wrote {} bytes ({} lines) to {}",
            args.content.len(),
            args.content.lines().count(),
            args.path
        )),
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            ToolOutput::err(format!("cannot write {}: {e}", args.path))
        }
    }
}
