//! Adding a model to `config.toml` the way a person would: the file's comments, order
//! and layout kept (`toml_edit`), an entry of the same name replaced, the rest of the
//! catalogue kept in use when the file listed no model of its own, and the file
//! replaced atomically (a temp file in the same folder, then a rename), so an error or
//! a kill leaves the old one.

use std::io::Write;
use std::path::Path;

use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, value};

use crate::config::ModelSpec;

/// Adds `spec` under `[[models]]` in `file` (created if missing), replacing an entry of
/// the same name; with `extend_catalogue`, also sets `[routing] extend_catalogue = true`
/// (the file had no model of its own, so the built-in catalogue was in use: it stays).
pub fn add_model(file: &Path, spec: &ModelSpec, extend_catalogue: bool) -> Result<(), String> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
    };
    let mut doc: DocumentMut = text.parse().map_err(|e| {
        format!(
            "{} is not valid TOML ({e}); fix it (or move it aside), then run setup again",
            file.display()
        )
    })?;
    let entry = entry_of(spec);
    let models = doc
        .entry("models")
        .or_insert(Item::ArrayOfTables(ArrayOfTables::new()));
    let Some(models) = models.as_array_of_tables_mut() else {
        return Err(format!(
            "{}: `models` is not a list of [[models]] tables; fix it, then run setup again",
            file.display()
        ));
    };
    let same = models
        .iter()
        .position(|t| t.get("name").and_then(Item::as_str) == Some(spec.name.as_str()));
    match same.and_then(|i| models.get_mut(i)) {
        Some(t) => *t = entry,
        None => models.push(entry),
    }
    if extend_catalogue {
        let routing = doc.entry("routing").or_insert(Item::Table(Table::new()));
        let Some(routing) = routing.as_table_like_mut() else {
            return Err(format!("{}: `routing` is not a table", file.display()));
        };
        routing.insert("extend_catalogue", value(true));
    }
    write_atomically(file, doc.to_string().as_bytes())
}

/// The `[[models]]` table for `spec`: what a person would write (no defaults spelled
/// out beyond what the catalogue entry sets).
fn entry_of(spec: &ModelSpec) -> Table {
    let mut t = Table::new();
    t.insert("name", value(spec.name.as_str()));
    t.insert("provider", value(spec.provider.as_str()));
    t.insert("model", value(spec.model.as_str()));
    t.insert("base_url", value(spec.base_url.as_str()));
    if let Some(k) = &spec.api_key {
        t.insert("api_key", value(k.as_str()));
    }
    if let Some(e) = &spec.api_key_env {
        t.insert("api_key_env", value(e.as_str()));
    }
    t.insert("tier", value(spec.tier.as_str()));
    if spec.input_usd_per_mtok > 0.0 || spec.output_usd_per_mtok > 0.0 {
        t.insert("input_usd_per_mtok", value(spec.input_usd_per_mtok));
        t.insert("output_usd_per_mtok", value(spec.output_usd_per_mtok));
    }
    t.insert("quality", value(spec.quality));
    t.insert(
        "max_output_tokens",
        value(i64::from(spec.max_output_tokens)),
    );
    if let Some(r) = spec.requests_per_minute {
        t.insert("requests_per_minute", value(i64::from(r)));
    }
    if let Some(r) = spec.tokens_per_minute {
        t.insert("tokens_per_minute", value(i64::from(r)));
    }
    t
}

fn write_atomically(file: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let name = file.file_name().map_or_else(
        || "config.toml".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, file));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", file.display()));
    }
    Ok(())
}
