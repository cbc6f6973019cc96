//! `az-os index` and `az-os search`: the document index from the command line. Indexing
//! shows a progress bar on a terminal (files, chunks, rate, ETA), JSON Lines progress
//! events with `--json`, and with `-v` what was skipped and why. With the embedding model
//! in place, vectors follow in a background process at low priority, or in the
//! foreground with `--wait`. Fetching the model is `index_cmd/fetch.rs`.

mod bar;
mod fetch;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, eyre};

use super::style::{self, color_enabled, paint};
use super::{Ctx, Exit, exit, print_json};
use crate::knowledge::dense::{self, EmbedProgress};
use crate::knowledge::vectors::Vectors;
use crate::knowledge::{self, Bm25, IndexError, Mode, Progress, assets};
use bar::Bar;
pub use fetch::fetch_model;

/// What `index` does after (or instead of) bringing the words index up to date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    /// Print what the index holds; change nothing.
    Stats,
    /// Vectors in a background process at low priority (the default).
    Background,
    /// Vectors now, in the foreground, with a progress bar.
    Wait,
    /// Only the embedding pass, quietly, on one thread (what `Background` starts).
    EmbedOnly,
}

impl Then {
    pub fn from_flags(stats: bool, wait: bool, embed_only: bool) -> Self {
        match (stats, wait, embed_only) {
            (true, _, _) => Self::Stats,
            (_, _, true) => Self::EmbedOnly,
            (_, true, _) => Self::Wait,
            _ => Self::Background,
        }
    }
}

/// Said once when dense search is not possible.
const NO_MODEL: &str = "search by meaning needs the embedding model; run `az-os index --fetch-model` once (word search works without it)";

/// How long `index` waits for another process indexing the same folder.
const BUSY_WAIT: Duration = Duration::from_secs(120);

fn root_of(path: Option<&Path>) -> Result<PathBuf> {
    let p = match path {
        Some(p) => p.to_path_buf(),
        None => std::env::current_dir()?,
    };
    if !p.is_dir() {
        return Err(eyre!(Exit::usage(format!(
            "{} is not a folder; give a folder to index or search",
            p.display()
        ))));
    }
    Ok(p.canonicalize().unwrap_or(p))
}

/// Opens the index of `root`, waiting while another process writes it.
fn with_writer<T>(
    ctx: &Ctx,
    dir: &Path,
    mut f: impl FnMut(&Bm25) -> std::result::Result<T, IndexError>,
) -> Result<T> {
    let start = Instant::now();
    let mut said = false;
    loop {
        match Bm25::open(dir).and_then(|idx| f(&idx)) {
            Err(IndexError::Busy) if start.elapsed() < BUSY_WAIT => {
                if !said && !ctx.global.quiet {
                    eprintln!("az-os: another az-os is indexing this folder; waiting for it");
                    said = true;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            other => return other.map_err(|e| eyre!(e)),
        }
    }
}

pub fn index(ctx: &Ctx, paths: &[PathBuf], then: Then) -> Result<i32> {
    let roots: Vec<PathBuf> = if paths.is_empty() {
        vec![root_of(None)?]
    } else {
        paths
            .iter()
            .map(|p| root_of(Some(p)))
            .collect::<Result<_>>()?
    };
    ctx.home.ensure()?;
    let model = assets::locate(&assets::model_dir(ctx.home.root()));
    for root in roots {
        let dir = knowledge::dir_for(ctx.home.root(), &root);
        match then {
            Then::Stats => {
                stats(ctx, &root, &dir)?;
                continue;
            }
            Then::EmbedOnly => {
                // The background pass: one thread, and nothing to say (stdio is closed).
                if let Some(files) = &model {
                    match dense::embed_pending(&dir, files, 1, &mut |_| {}) {
                        Ok(_) | Err(IndexError::Busy) => {}
                        Err(e) => tracing::warn!("embedding {}: {e}", root.display()),
                    }
                }
                continue;
            }
            Then::Background | Then::Wait => {}
        }
        let mut bar = Bar::new(ctx.global.json, ctx.global.quiet);
        let t0 = Instant::now();
        let up = with_writer(ctx, &dir, |idx| {
            idx.update(&root, &mut |p: Progress| {
                let event = serde_json::json!({"type": "progress", "files_done": p.files_done,
                    "files_total": p.files_total, "chunks": p.chunks});
                bar.show(
                    p.files_done as u64,
                    p.files_total as u64,
                    "files",
                    &format!(", {} chunks", p.chunks),
                    &event,
                );
            })
        })?;
        bar.done();
        if ctx.global.verbose > 0 && !ctx.global.json {
            for s in &up.skipped {
                eprintln!(
                    "skipped {}: {}",
                    if s.rel.is_empty() { "?" } else { &s.rel },
                    s.why
                );
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        // The words index is ready; now the vectors.
        let dense_state = match (&model, then) {
            (None, _) => "no model",
            (Some(_), Then::Wait) => "waiting",
            (Some(_), _) => {
                if needs_vectors(&dir) {
                    spawn_background(ctx, &root);
                    "background"
                } else {
                    "complete"
                }
            }
        };
        if ctx.global.json {
            // One line, after the progress lines: JSON Lines.
            println!(
                "{}",
                serde_json::json!({
                    "type": "indexed", "path": root, "files": up.files, "changed": up.changed,
                    "deleted": up.deleted, "chunks_added": up.chunks_added, "skipped": up.skipped.len(),
                    "rebuilt": up.rebuilt, "seconds": secs, "dense": dense_state,
                })
            );
        } else if !ctx.global.quiet {
            if up.rebuilt {
                eprintln!("az-os: the old index could not be read and was rebuilt");
            }
            println!(
                "{}: {} files ({} changed, {} removed), {} chunks added, {} skipped{} in {:.1}s",
                root.display(),
                up.files,
                up.changed,
                up.deleted,
                up.chunks_added,
                up.skipped.len(),
                if ctx.global.verbose > 0 {
                    ""
                } else {
                    " (-v lists them)"
                },
                secs
            );
            match dense_state {
                "no model" => eprintln!("az-os: {NO_MODEL}"),
                "background" => eprintln!(
                    "az-os: vectors for search by meaning are being made in the background (`az-os index --wait` waits for them)"
                ),
                _ => {}
            }
        }
        if let (Some(files), Then::Wait) = (&model, then) {
            embed_now(ctx, &root, &dir, files)?;
        }
    }
    Ok(exit::OK)
}

fn stats(ctx: &Ctx, root: &Path, dir: &Path) -> Result<()> {
    let idx = Bm25::open_existing(dir).map_err(|e| eyre!(e))?;
    let s = idx.as_ref().map(Bm25::stats).unwrap_or_default();
    let vectors = idx
        .as_ref()
        .map_or(0, |i| Vectors::load(dir, i.live_chunks().0).len());
    if ctx.global.json {
        print_json(
            &serde_json::json!({"path": root, "files": s.files, "chunks": s.chunks,
            "vectors": vectors, "bytes": s.bytes}),
        )?;
    } else {
        println!(
            "{}: {} files, {} chunks ({} with a vector), {} on disk",
            root.display(),
            s.files,
            s.chunks,
            vectors,
            human_bytes(s.bytes)
        );
    }
    Ok(())
}

/// Whether some chunk of the index in `dir` lacks a vector or a vector outlived its chunk.
fn needs_vectors(dir: &Path) -> bool {
    Bm25::open_existing(dir)
        .ok()
        .flatten()
        .is_some_and(|idx| dense::needs_pass(dir, &idx))
}

/// Starts `az-os index --embed-only ROOT` detached, under `nice` when there is one: it
/// outlives this process and yields the CPU to everything else.
fn spawn_background(ctx: &Ctx, root: &Path) {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args: Vec<std::ffi::OsString> = vec!["--home".into(), ctx.home.root().into()];
    if let Some(c) = &ctx.global.config {
        args.extend(["--config".into(), c.into()]);
    }
    args.extend([
        "-q".into(),
        "index".into(),
        "--embed-only".into(),
        root.into(),
    ]);
    let start = |program: &std::ffi::OsStr, pre: &[&str]| {
        use std::os::unix::process::CommandExt;
        std::process::Command::new(program)
            .args(pre)
            .arg(&exe)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            // Its own process group: Ctrl-C on this terminal does not stop it.
            .process_group(0)
            .spawn()
    };
    let started = start("nice".as_ref(), &["-n", "19"]).or_else(|_| {
        // No `nice`: run it plainly (still one thread).
        let mut c = std::process::Command::new(&exe);
        c.args(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut c, 0).spawn()
    });
    if let Err(e) = started {
        tracing::warn!("cannot start the background embedding: {e}");
    }
}

/// `--wait`: the embedding pass in this process with every core and a progress bar,
/// after any background pass running on this index has finished.
fn embed_now(ctx: &Ctx, root: &Path, dir: &Path, files: &assets::ModelFiles) -> Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut said = false;
    loop {
        let mut bar = Bar::new(ctx.global.json, ctx.global.quiet);
        let mut show = |p: EmbedProgress| {
            let event =
                serde_json::json!({"type": "embed_progress", "done": p.done, "total": p.total});
            bar.show(p.done as u64, p.total as u64, "chunks", " embedded", &event);
        };
        match dense::embed_pending(dir, files, threads, &mut show) {
            Ok(pass) => {
                bar.done();
                if ctx.global.json {
                    println!(
                        "{}",
                        serde_json::json!({"type": "embedded", "path": root, "embedded": pass.embedded,
                            "dropped": pass.dropped, "vectors": pass.vectors, "seconds": pass.seconds})
                    );
                } else if !ctx.global.quiet && pass.embedded + pass.dropped > 0 {
                    eprintln!(
                        "az-os: {} chunks embedded ({:.1} chunks/s), {} vectors dropped, {} in all",
                        pass.embedded,
                        pass.embedded as f64 / pass.seconds.max(0.001),
                        pass.dropped,
                        pass.vectors
                    );
                }
                return Ok(());
            }
            Err(IndexError::Busy) => {
                if !said && !ctx.global.quiet {
                    eprintln!(
                        "az-os: vectors are being made in the background; waiting for that pass"
                    );
                    said = true;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) => return Err(eyre!(e)),
        }
    }
}

pub fn search(ctx: &Ctx, query: &str, k: usize, mode: Mode, path: Option<&Path>) -> Result<i32> {
    if query.trim().is_empty() {
        return Err(eyre!(Exit::usage(
            "the query is empty; say what to look for"
        )));
    }
    let root = root_of(path)?;
    let (hits, note) = match knowledge::search(ctx.home.root(), &root, query, k, mode) {
        Ok(found) => found,
        Err(IndexError::NotIndexed(_)) => {
            return Err(eyre!(Exit::usage(format!(
                "{} is not indexed yet (or its first indexing is still running); run `az-os index {}` first",
                root.display(),
                path.map_or(String::new(), |p| p.display().to_string())
            ))));
        }
        Err(e) => return Err(eyre!(e)),
    };
    if let Some(n) = note
        && !ctx.global.quiet
    {
        eprintln!("az-os: {n}");
    }
    // Paths as the user refers to the folder: relative to the current directory, or
    // under the folder as given.
    let shown = |rel: &str| match path {
        Some(p) => p.join(rel).display().to_string(),
        None => rel.to_owned(),
    };
    if ctx.global.json {
        let rows: Vec<serde_json::Value> = hits
            .iter()
            .map(|h| {
                serde_json::json!({"path": shown(&h.path), "start_line": h.start_line,
                    "end_line": h.end_line, "score": h.score, "snippet": h.snippet})
            })
            .collect();
        print_json(&rows)?;
        return Ok(exit::OK);
    }
    if hits.is_empty() {
        eprintln!("no matches for {query:?}");
        return Ok(exit::OK);
    }
    let color = color_enabled(true);
    let mut out = std::io::stdout().lock();
    for h in &hits {
        writeln!(
            out,
            "{} {}",
            paint(
                color,
                style::bold(),
                &format!("{}:{}-{}", shown(&h.path), h.start_line, h.end_line)
            ),
            paint(color, style::dim(), &format!("{:.3}", h.score))
        )?;
        writeln!(
            out,
            "{}\n",
            indent(&highlight(&h.snippet, &h.highlights, color))
        )?;
    }
    Ok(exit::OK)
}

/// The snippet with its matched words in bold (plain without colour).
fn highlight(snippet: &str, ranges: &[std::ops::Range<usize>], color: bool) -> String {
    let clean = |s: &str| crate::util::text::strip_control(s);
    if !color {
        return clean(snippet);
    }
    let mut out = String::new();
    let mut at = 0;
    for r in ranges {
        let (Some(before), Some(word)) = (snippet.get(at..r.start), snippet.get(r.clone())) else {
            continue;
        };
        out.push_str(&clean(before));
        out.push_str(&paint(true, style::yellow().bold(), &clean(word)));
        at = r.end;
    }
    out.push_str(&clean(snippet.get(at..).unwrap_or("")));
    out
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / f64::from(1u32 << 30)),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1u32 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}
