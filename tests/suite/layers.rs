//! The engine must not know the terminal: nothing under src/engine, src/llm or
//! src/store may use ratatui, crossterm or the text-area crate.

use std::path::Path;

fn scan(dir: &Path, hits: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            scan(&path, hits);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for word in ["ratatui", "crossterm", "textarea"] {
                if text.contains(word) {
                    hits.push(format!("{} uses {word}", path.display()));
                }
            }
        }
    }
}

#[test]
fn engine_llm_and_store_never_import_the_terminal() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut hits = Vec::new();
    for layer in ["engine", "llm", "store", "engine.rs", "llm.rs", "store.rs"] {
        let p = root.join(layer);
        if p.is_dir() {
            scan(&p, &mut hits);
        } else if p.is_file() {
            let text = std::fs::read_to_string(&p).unwrap();
            if ["ratatui", "crossterm", "textarea"]
                .iter()
                .any(|w| text.contains(w))
            {
                hits.push(p.display().to_string());
            }
        }
    }
    assert!(hits.is_empty(), "{hits:#?}");
}
