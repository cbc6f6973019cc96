//! `az-os index` and `az-os search`: the document index from the command line. Indexing
//! shows a progress bar on a terminal (files, chunks, rate, ETA), JSON Lines progress
//! events with `--json`, and with `-v` what was skipped and why.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, eyre};

use super::style::{self, color_enabled, paint};
use super::{Ctx, Exit, exit, print_json};
use crate::knowledge::{self, Bm25, IndexError, Mode, Progress};

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

pub fn index(ctx: &Ctx, paths: &[PathBuf], stats: bool) -> Result<i32> {
    let roots: Vec<PathBuf> = if paths.is_empty() {
        vec![root_of(None)?]
    } else {
        paths
            .iter()
            .map(|p| root_of(Some(p)))
            .collect::<Result<_>>()?
    };
    ctx.home.ensure()?;
    for root in roots {
        let dir = knowledge::dir_for(ctx.home.root(), &root);
        if stats {
            let s = Bm25::open_existing(&dir)
                .map_err(|e| eyre!(e))?
                .map(|i| i.stats())
                .unwrap_or_default();
            if ctx.global.json {
                print_json(
                    &serde_json::json!({"path": root, "files": s.files, "chunks": s.chunks, "bytes": s.bytes}),
                )?;
            } else {
                println!(
                    "{}: {} files, {} chunks, {} on disk",
                    root.display(),
                    s.files,
                    s.chunks,
                    human_bytes(s.bytes)
                );
            }
            continue;
        }
        let mut bar = Bar::new(ctx.global.json, ctx.global.quiet);
        let t0 = Instant::now();
        let up = with_writer(ctx, &dir, |idx| idx.update(&root, &mut |p| bar.show(p)))?;
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
        if ctx.global.json {
            // One line, after the progress lines: JSON Lines.
            println!(
                "{}",
                serde_json::json!({
                    "type": "indexed", "path": root, "files": up.files, "changed": up.changed,
                    "deleted": up.deleted, "chunks_added": up.chunks_added, "skipped": up.skipped.len(),
                    "rebuilt": up.rebuilt, "seconds": secs,
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
        }
    }
    Ok(exit::OK)
}

pub fn search(ctx: &Ctx, query: &str, k: usize, mode: Mode, path: Option<&Path>) -> Result<i32> {
    if query.trim().is_empty() {
        return Err(eyre!(Exit::usage(
            "the query is empty; say what to look for"
        )));
    }
    let root = root_of(path)?;
    let dir = knowledge::dir_for(ctx.home.root(), &root);
    let Some(idx) = Bm25::open_existing(&dir).map_err(|e| eyre!(e))? else {
        return Err(eyre!(Exit::usage(format!(
            "{} is not indexed yet (or its first indexing is still running); run `az-os index {}` first",
            root.display(),
            path.map_or(String::new(), |p| p.display().to_string())
        ))));
    };
    let (hits, note) = match mode {
        Mode::Bm25 => (idx.search(query, k).map_err(|e| eyre!(e))?, None),
        Mode::Dense | Mode::Hybrid => (
            idx.search(query, k).map_err(|e| eyre!(e))?,
            Some(
                "dense search needs the embedding model, which is not set up here; these are BM25 results (run `az-os index --fetch-model` to add it)",
            ),
        ),
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

/// Indexing progress: a bar on a terminal, JSON Lines with `--json`, nothing otherwise.
struct Bar {
    json: bool,
    tty: bool,
    started: Instant,
    last: Option<Instant>,
}

impl Bar {
    fn new(json: bool, quiet: bool) -> Self {
        Self {
            json,
            tty: !quiet && !json && std::io::stderr().is_terminal(),
            started: Instant::now(),
            last: None,
        }
    }

    fn show(&mut self, p: Progress) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|l| now - l < Duration::from_millis(100))
            && p.files_done < p.files_total
        {
            return;
        }
        self.last = Some(now);
        if self.json {
            let line = serde_json::json!({"type": "progress", "files_done": p.files_done,
                "files_total": p.files_total, "chunks": p.chunks});
            println!("{line}");
        } else if self.tty {
            let secs = self.started.elapsed().as_secs_f64().max(0.001);
            let rate = p.files_done as f64 / secs;
            let left = p.files_total.saturating_sub(p.files_done) as f64 / rate.max(0.001);
            let frac = if p.files_total == 0 {
                1.0
            } else {
                p.files_done as f64 / p.files_total as f64
            };
            let filled = (frac * 24.0) as usize;
            eprint!(
                "\r[{}{}] {}/{} files, {} chunks, {:.0} files/s, ETA {:.0}s   ",
                "█".repeat(filled),
                "░".repeat(24 - filled.min(24)),
                p.files_done,
                p.files_total,
                p.chunks,
                rate,
                left
            );
        }
    }

    fn done(&self) {
        if self.tty {
            eprint!("\r\x1b[2K");
        }
    }
}
