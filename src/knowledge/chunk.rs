//! Splitting a file into chunks for the index: a few hundred tokens each, cut where the
//! text has a natural seam — a blank line, or an item that starts at the left margin
//! (`fn`, `class`, `def`, a Markdown heading, …) — with a couple of lines of overlap so a
//! passage cut at a seam is still found whole. Each chunk keeps its path, line range and
//! language. Lines are counted from 1.

/// About this many characters to a chunk (roughly 300 tokens of code or prose).
pub const TARGET_CHARS: usize = 1200;
/// A chunk may grow to this before it is cut mid-run.
const MAX_CHARS: usize = 2400;
/// Lines repeated at the start of the next chunk.
const OVERLAP_LINES: usize = 2;

/// One piece of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub start_line: usize,
    pub end_line: usize,
    pub text: String,
}

/// The language of a file, by its extension (or name), for display and filtering.
pub fn language(rel: &str) -> &'static str {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    match ext.to_ascii_lowercase().as_str() {
        "rs" => "rust",
        "py" | "pyi" => "python",
        "js" | "mjs" | "cjs" | "jsx" => "javascript",
        "ts" | "tsx" => "typescript",
        "go" => "go",
        "java" => "java",
        "kt" | "kts" => "kotlin",
        "c" | "h" => "c",
        "cc" | "cpp" | "cxx" | "hpp" | "hh" => "cpp",
        "cs" => "csharp",
        "rb" => "ruby",
        "sh" | "bash" | "zsh" | "fish" => "shell",
        "md" | "markdown" => "markdown",
        "rst" | "adoc" | "org" | "txt" | "" => "text",
        "toml" | "yaml" | "yml" | "json" | "ini" | "cfg" => "config",
        "sql" => "sql",
        _ => "code",
    }
}

const ITEMS: [&str; 22] = [
    "fn ",
    "pub ",
    "impl",
    "struct ",
    "enum ",
    "trait ",
    "mod ",
    "class ",
    "def ",
    "async ",
    "function ",
    "export ",
    "interface ",
    "type ",
    "func ",
    "package ",
    "public ",
    "private ",
    "#[",
    "@",
    "# ",
    "## ",
];

/// Whether `line` starts an item: a natural place to begin a chunk.
fn starts_item(line: &str) -> bool {
    if line.starts_with([' ', '\t']) {
        return false;
    }

    ITEMS.iter().any(|p| line.starts_with(p)) || line.starts_with("### ")
}

/// Splits `text` into chunks.
pub fn chunks(text: &str) -> Vec<Chunk> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut start = 0;
    while start < lines.len() {
        let mut size = 0;
        let mut end = start;
        // The best place to cut within the target: the last seam seen.
        let mut seam: Option<usize> = None;
        while end < lines.len() {
            let line = lines[end];
            if end > start && size >= TARGET_CHARS / 3 {
                if line.trim().is_empty() || starts_item(line) {
                    seam = Some(end);
                }
                if size >= TARGET_CHARS && seam.is_some() {
                    break;
                }
            }
            if size >= MAX_CHARS {
                break;
            }
            size += line.len() + 1;
            end += 1;
        }
        let cut = if end < lines.len() {
            seam.filter(|s| *s > start).unwrap_or(end)
        } else {
            end
        };
        let body = lines[start..cut].join("\n");
        if !body.trim().is_empty() {
            out.push(Chunk {
                start_line: start + 1,
                end_line: cut,
                text: body,
            });
        }
        if cut >= lines.len() {
            break;
        }
        start = cut.saturating_sub(OVERLAP_LINES).max(start + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_is_cut_at_items_and_every_line_is_covered() {
        let mut src = String::new();
        for i in 0..40 {
            src.push_str(&format!("fn item_{i}() {{\n"));
            for j in 0..6 {
                src.push_str(&format!(
                    "    let v{j} = compute_something_long({i}, {j});\n"
                ));
            }
            src.push_str("}\n\n");
        }
        let cs = chunks(&src);
        assert!(cs.len() > 5, "{}", cs.len());
        let total = src.lines().count();
        assert_eq!(cs[0].start_line, 1);
        assert_eq!(cs.last().unwrap().end_line, total);
        for w in cs.windows(2) {
            assert!(w[1].start_line <= w[0].end_line + 1, "no gap");
            assert!(w[1].start_line > w[0].start_line, "progress");
        }
        // Cuts land on seams: a chunk after the first begins at an item or a blank line
        // (give or take the overlap).
        for c in &cs[1..] {
            assert!(
                c.text
                    .lines()
                    .take(3)
                    .any(|l| l.starts_with("fn ") || l.is_empty())
            );
        }
        for c in &cs {
            assert!(c.text.len() <= MAX_CHARS + 200, "{}", c.text.len());
        }
    }

    #[test]
    fn small_and_odd_inputs() {
        assert!(chunks("").is_empty());
        assert_eq!(chunks("one line").len(), 1);
        let long_line = "x".repeat(10_000);
        let cs = chunks(&format!("{long_line}\n{long_line}\n"));
        assert_eq!(cs.len(), 2);
        assert_eq!(language("src/a.RS"), "rust");
        assert_eq!(language("README"), "text");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any text chunks without a panic, every non-blank line lands in a chunk, and
        /// ranges are within the file.
        #[test]
        fn every_line_is_in_some_chunk(lines in proptest::collection::vec("[a-zé漢 #{}()fn]{0,90}", 0..200)) {
            let text = lines.join("\n");
            let cs = chunks(&text);
            let n = text.lines().count();
            for c in &cs {
                prop_assert!(c.start_line >= 1 && c.end_line <= n && c.start_line <= c.end_line);
            }
            for (i, l) in text.lines().enumerate() {
                if !l.trim().is_empty() {
                    prop_assert!(cs.iter().any(|c| c.start_line <= i + 1 && i < c.end_line), "line {}", i + 1);
                }
            }
        }
    }
}
