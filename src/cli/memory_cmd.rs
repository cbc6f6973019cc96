//! `az-os memory list|show|search|add|remove|export|import|consolidate|cleanup`: the
//! lessons learned from tasks, through the same code the engine uses (`crate::memory`).

use color_eyre::eyre::{Result, WrapErr, eyre};

use super::args::MemoryCmd;
use super::style::{self, color_enabled};
use super::table::Table;
use super::{Ctx, Exit, exit, print, print_json};
use crate::memory::edit::{self, Change, EditError};
use crate::memory::search::{Mode, Query};
use crate::memory::{self, cleanup, consolidate, io, vectors};
use crate::store::memories::{self, Memory};
use crate::util::text::{ellipsize, strip_control};
use crate::util::time::{age, now_unix, rfc3339};

pub fn run(ctx: &Ctx, action: Option<MemoryCmd>) -> Result<i32> {
    match action.unwrap_or(MemoryCmd::List { limit: 50 }) {
        MemoryCmd::List { limit } => {
            let conn = ctx.open_store()?;
            table(
                ctx,
                &memories::list(&conn, limit)?,
                "no lessons yet; tasks leave them as they finish, or add one with: az-os memory add \"TEXT\"",
            )
        }
        MemoryCmd::Show { id } => show(ctx, &id),
        MemoryCmd::Search { query, k, mode } => search(ctx, &query, k, mode),
        MemoryCmd::Add {
            text,
            category,
            here,
        } => add(ctx, &text, &category, here),
        MemoryCmd::Remove { id } => remove(ctx, &id),
        MemoryCmd::Export { file } => export(ctx, file.as_deref()),
        MemoryCmd::Import { file } => import(ctx, &file),
        MemoryCmd::Consolidate { dry_run } => consolidate(ctx, dry_run),
        MemoryCmd::Cleanup { dry_run } => clean(ctx, dry_run),
    }
}

fn table(ctx: &Ctx, rows: &[Memory], empty: &str) -> Result<i32> {
    if ctx.global.json {
        print_json(&rows)?;
        return Ok(exit::OK);
    }
    if rows.is_empty() {
        eprintln!("{empty}");
        return Ok(exit::OK);
    }
    let now = now_unix();
    let mut t = Table::new(
        vec!["ID", "CATEGORY", "SCOPE", "SCORE", "USED", "AGE", "LESSON"],
        color_enabled(true),
    );
    for m in rows {
        t.styled_row(vec![
            (m.id.clone(), style::dim()),
            (m.category.clone(), anstyle::Style::new()),
            (scope(m), anstyle::Style::new()),
            (format!("{:.1}", m.score), anstyle::Style::new()),
            (m.access_count.to_string(), anstyle::Style::new()),
            (age(now - m.created_at), anstyle::Style::new()),
            (
                ellipsize(&strip_control(&m.lesson), 90),
                anstyle::Style::new(),
            ),
        ]);
    }
    print(&t.render())?;
    Ok(exit::OK)
}

fn scope(m: &Memory) -> String {
    m.scope.as_deref().map_or_else(
        || "global".to_owned(),
        |s| {
            std::path::Path::new(s)
                .file_name()
                .map_or_else(|| s.to_owned(), |n| n.to_string_lossy().into_owned())
        },
    )
}

fn find(conn: &crate::store::Db, id: &str) -> Result<Memory> {
    memories::get(conn, id)?.ok_or_else(|| {
        eyre!(Exit::usage(format!(
            "no lesson {id} (or the prefix is not unique); `az-os memory list` shows their ids"
        )))
    })
}

fn show(ctx: &Ctx, id: &str) -> Result<i32> {
    let conn = ctx.open_store()?;
    let m = find(&conn, id)?;
    if ctx.global.json {
        print_json(&m)?;
        return Ok(exit::OK);
    }
    let mut s = format!(
        "{}\n\n  id         {}\n  category   {}\n  applies to {}\n  score      {:.1}\n  outcome    {}\n  created    {}\n  recalled   {} times{}\n",
        strip_control(&m.lesson),
        m.id,
        m.category,
        m.scope.as_deref().unwrap_or("every workdir"),
        m.score,
        m.outcome(),
        rfc3339(m.created_at),
        m.access_count,
        m.last_access
            .map(|t| format!(", last {}", rfc3339(t)))
            .unwrap_or_default(),
    );
    if let Some(t) = &m.task_id {
        s.push_str(&format!("  task       {t}\n"));
    }
    if !m.provenance.lessons.is_empty() {
        s.push_str(&format!(
            "  merged     {}\n",
            m.provenance.lessons.join(", ")
        ));
    }
    if !m.provenance.tasks.is_empty() {
        s.push_str(&format!("  from tasks {}\n", m.provenance.tasks.join(", ")));
    }
    print(&s)?;
    Ok(exit::OK)
}

fn add(ctx: &Ctx, text: &str, category: &str, here: bool) -> Result<i32> {
    let scope = if here {
        let cwd = std::env::current_dir().wrap_err("cannot read the current directory")?;
        Some(cwd.canonicalize().unwrap_or(cwd).display().to_string())
    } else {
        None
    };
    let conn = ctx.open_store()?;
    let change = Change::Add {
        text: text.to_owned(),
        category: category.to_owned(),
        scope,
    };
    let m = edit::apply(&conn, &change).map_err(refused)?;
    if ctx.global.json {
        print_json(&m)?;
    } else if !ctx.global.quiet {
        print(&format!("added {}\n", m.id))?;
    }
    Ok(exit::OK)
}

/// A change refused for its input is a usage error (exit 2) with the message's fix.
fn refused(e: EditError) -> color_eyre::Report {
    match e {
        EditError::Store(e) => eyre!(e),
        EditError::Empty => eyre!(Exit::usage(
            "the lesson is empty; write it in quotes: az-os memory add \"Run the tests with make check\""
        )),
        bad => eyre!(Exit::usage(bad.to_string())),
    }
}

fn remove(ctx: &Ctx, id: &str) -> Result<i32> {
    let conn = ctx.open_store()?;
    let m = find(&conn, id)?;
    let gone = edit::apply(&conn, &Change::Delete { id: m.id }).map_err(refused)?;
    if !ctx.global.quiet {
        eprintln!(
            "removed {}: {}",
            gone.id,
            ellipsize(&strip_control(&gone.lesson), 80)
        );
    }
    Ok(exit::OK)
}

fn export(ctx: &Ctx, file: Option<&std::path::Path>) -> Result<i32> {
    let conn = ctx.open_store()?;
    let text = io::export(&conn)?;
    match file {
        None => print(&text)?,
        Some(path) => {
            let tmp = path.with_extension(format!("{}.tmp", crate::util::ids::random_hex::<4>()));
            std::fs::write(&tmp, &text)
                .and_then(|()| std::fs::rename(&tmp, path))
                .wrap_err_with(|| format!("cannot write {}", path.display()))?;
            if !ctx.global.quiet {
                eprintln!(
                    "wrote {} lessons to {}",
                    memories::all(&conn)?.len(),
                    path.display()
                );
            }
        }
    }
    Ok(exit::OK)
}

fn import(ctx: &Ctx, file: &std::path::Path) -> Result<i32> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| eyre!(Exit::usage(format!("cannot read {}: {e}", file.display()))))?;
    let conn = ctx.open_store()?;
    let done = io::import(&conn, &text).map_err(|e| match e {
        io::ImportError::Store(e) => eyre!(e),
        bad => eyre!(Exit::usage(format!(
            "{}: {bad}; nothing was imported",
            file.display()
        ))),
    })?;
    if ctx.global.json {
        print_json(&done)?;
    } else if !ctx.global.quiet {
        eprintln!(
            "imported {} lessons ({} already stored, left as they were)",
            done.added, done.existing
        );
    }
    Ok(exit::OK)
}

fn consolidate(ctx: &Ctx, dry_run: bool) -> Result<i32> {
    let settings = ctx.settings()?;
    let Some(files) =
        crate::knowledge::assets::locate(&crate::knowledge::assets::model_dir(ctx.home.root()))
    else {
        return Err(eyre!(Exit::usage(
            "consolidate compares lessons by meaning and needs the embedding model: run `az-os index --fetch-model` first"
        )));
    };
    let conn = ctx.open_store()?;
    let embedder =
        crate::knowledge::embed::shared(&files).map_err(|e| eyre!(Exit::usage(e.to_string())))?;
    // Lessons stored while the model was not loaded get their vectors now; the others
    // keep the ones they have (no lesson is embedded twice).
    backfill(ctx, &conn, &embedder)?;
    let (lessons, vectors) = consolidate::with_vectors(&conn)?;
    let merges = consolidate::plan(&lessons, &vectors, settings.memory.consolidate_threshold);
    if !dry_run {
        consolidate::apply(&conn, &merges)?;
    }
    if ctx.global.json {
        let rows: Vec<_> = merges
            .iter()
            .map(|m| serde_json::json!({"keep": m.keep, "merged": m.absorbed.iter().map(|a| &a.id).collect::<Vec<_>>()}))
            .collect();
        print_json(&serde_json::json!({"dry_run": dry_run, "merges": rows}))?;
        return Ok(exit::OK);
    }
    let verb = if dry_run { "would merge" } else { "merged" };
    let mut s = String::new();
    for m in &merges {
        s.push_str(&format!(
            "{} {} into {}: {}\n",
            verb,
            m.absorbed
                .iter()
                .map(|a| a.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            m.keep.id,
            ellipsize(&strip_control(&m.keep.lesson), 70)
        ));
    }
    let n: usize = merges.iter().map(|m| m.absorbed.len()).sum();
    s.push_str(&format!(
        "{n} lessons {verb} into {} of {} lessons\n",
        merges.len(),
        lessons.len()
    ));
    print(&s)?;
    Ok(exit::OK)
}

/// Gives every lesson without a vector one, saying so when there are many.
fn backfill(
    ctx: &Ctx,
    conn: &crate::store::Db,
    embedder: &crate::knowledge::embed::Shared,
) -> Result<usize> {
    let pending = crate::store::memories::vectors::pending_count(conn)?;
    if pending > vectors::BATCH as u64 && !ctx.global.quiet {
        eprintln!("embedding {pending} lessons that have no vector yet…");
    }
    vectors::backfill(conn, &mut |t| embedder.embed(t), usize::MAX)
        .map_err(|e| eyre!(Exit::usage(e.to_string())))
}

/// `memory search`: by words, meaning, or both; words alone (with a notice) without the
/// embedding model.
fn search(ctx: &Ctx, query: &str, k: usize, mode: Mode) -> Result<i32> {
    let conn = ctx.open_store()?;
    let mut vector = None;
    if mode != Mode::Keyword {
        let files =
            crate::knowledge::assets::locate(&crate::knowledge::assets::model_dir(ctx.home.root()));
        match files {
            None => eprintln!(
                "searching by keyword only: the embedding model is not set up (`az-os index --fetch-model` adds it)"
            ),
            Some(files) => {
                let e = crate::knowledge::embed::shared(&files)
                    .map_err(|e| eyre!(Exit::usage(e.to_string())))?;
                backfill(ctx, &conn, &e)?;
                vector = e
                    .embed(vec![query.to_owned()])
                    .map_err(|e| eyre!(Exit::usage(e.to_string())))?
                    .pop();
            }
        }
    }
    let found = memory::search::find(
        &conn,
        &Query {
            text: query,
            vector: vector.as_deref(),
            workdir: None,
            k,
            mode,
        },
    )?;
    if ctx.global.json {
        print_json(&found)?;
        return Ok(exit::OK);
    }
    let rows: Vec<Memory> = found.into_iter().map(|f| f.lesson).collect();
    table(ctx, &rows, "no lesson matches")
}

fn clean(ctx: &Ctx, dry_run: bool) -> Result<i32> {
    let settings = ctx.settings()?;
    let conn = ctx.open_store()?;
    let gone = cleanup::run(&conn, &settings.memory, now_unix(), dry_run)?;
    if ctx.global.json {
        let rows: Vec<_> = gone
            .iter()
            .map(|(m, why)| serde_json::json!({"id": m.id, "lesson": m.lesson, "why": why}))
            .collect();
        print_json(&serde_json::json!({"dry_run": dry_run, "removed": rows}))?;
        return Ok(exit::OK);
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    let mut s = String::new();
    for (m, why) in &gone {
        s.push_str(&format!(
            "{verb} {}: {} ({why})\n",
            m.id,
            ellipsize(&strip_control(&m.lesson), 70)
        ));
    }
    s.push_str(&format!("{} lessons {verb}\n", gone.len()));
    print(&s)?;
    Ok(exit::OK)
}
