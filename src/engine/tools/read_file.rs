//! `read_file`: a text file inside the workdir, optionally a range of lines. Only regular
//! files are read — a FIFO, socket or device would block or never end — and binary or
//! huge files are described rather than dumped. UTF-8 is read as is; other 8-bit text as
//! Windows-1252 (said in the output). The read runs off the runtime and is cancellable.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::Deserialize;

use super::{ToolCtx, ToolOutput, parse_args};
use crate::util::text::{Encoding, decode_text};

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
    let path = match ctx.confine(&args.path) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let shown = args.path.clone();
    let read = tokio::task::spawn_blocking(move || read_regular(&path, &shown));
    let bytes = tokio::select! {
        r = read => match r {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => return e,
            Err(e) => return ToolOutput::err(format!("cannot read {}: {e}", args.path)),
        },
        () = ctx.cancel.cancelled() => return ToolOutput::err("cancelled"),
    };
    let Some((text, encoding)) = decode_text(&bytes) else {
        return ToolOutput::err(format!(
            "{} is a binary file ({} bytes); not shown",
            args.path,
            bytes.len()
        ));
    };
    let note = match encoding {
        Encoding::Utf8 => "",
        Encoding::Latin1 => "\n[not UTF-8: read as Windows-1252 (Latin-1)]",
    };
    // Small models send `"offset": 0, "limit": 0` meaning "all of it": 0 is no limit.
    let limit = args.limit.filter(|l| *l > 0);
    let offset = args.offset.filter(|o| *o > 1);
    if offset.is_none() && limit.is_none() {
        return ToolOutput::ok(format!("{text}{note}"));
    }
    let start = offset.unwrap_or(1) - 1;
    let limit = limit.unwrap_or(usize::MAX);
    let total = text.lines().count();
    let selected: Vec<&str> = text.lines().skip(start).take(limit).collect();
    let shown_end = start + selected.len();
    let mut out = selected.join("\n");
    out.push_str(&format!(
        "\n[lines {}-{shown_end} of {total}]{note}",
        start + 1
    ));
    ToolOutput::ok(out)
}

/// Opens without blocking (a FIFO would wait for a writer) or taking a terminal, checks
/// what was opened, and reads at most the cap.
fn read_regular(path: &Path, shown: &str) -> Result<Vec<u8>, ToolOutput> {
    let fail = |e: std::io::Error| ToolOutput::err(format!("cannot read {shown}: {e}"));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
        .open(path)
        .map_err(fail)?;
    let meta = file.metadata().map_err(fail)?;
    if meta.is_dir() {
        return Err(ToolOutput::err(format!(
            "{shown} is a directory; use execute_command with `ls` to list it"
        )));
    }
    if !meta.is_file() {
        return Err(ToolOutput::err(format!(
            "{shown} is not a regular file (a pipe, socket or device); read_file reads files only"
        )));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(ToolOutput::err(format!(
            "{shown} is {} bytes, over the {MAX_FILE_BYTES}-byte limit; read parts with execute_command (head, tail, grep)",
            meta.len()
        )));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_FILE_BYTES)
        .read_to_end(&mut bytes)
        .map_err(fail)?;
    Ok(bytes)
}
