//! The document index through the built binary: incremental updates, what is skipped and
//! why, search output, and bad input — a damaged index, two writers at once, binaries,
//! huge and non-UTF-8 files, symlink loops, a folder that is not there.

use std::process::Output;

use serde_json::Value;

use crate::common::TestEnv;

#[path = "knowledge_cache.rs"]
mod cache;
#[path = "knowledge_dense.rs"]
mod dense;

/// The binary without the embedding model: these tests are about the words index (and
/// with `AZ_OS_MODEL_DIR` set, as in CI, each update would start a background pass).
fn cmd(env: &TestEnv) -> assert_cmd::Command {
    let mut c = env.cmd();
    c.env_remove("AZ_OS_MODEL_DIR");
    c
}

fn az(env: &TestEnv, args: &[&str]) -> Output {
    cmd(env).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The final `indexed` record of `--json index`.
fn indexed(env: &TestEnv) -> Value {
    let o = az(env, &["--json", "index"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "indexed")
        .unwrap_or_else(|| panic!("no indexed record: {}", text(&o)))
}

fn write(env: &TestEnv, rel: &str, body: &str) {
    let p = env.work().join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
}

#[test]
fn indexing_is_incremental_and_search_finds_the_right_lines() {
    let env = TestEnv::new();
    write(
        &env,
        "README.md",
        "# Widget\n\nThe widget frobnicates sprockets on Tuesdays.\n",
    );
    write(
        &env,
        "src/retry.rs",
        "/// Decides when a failed request is retried.\nfn backoff(attempt: u32) -> u64 {\n    1 << attempt\n}\n",
    );
    write(&env, "notes/other.txt", "Nothing relevant here at all.\n");
    let first = indexed(&env);
    assert_eq!(
        (first["files"].as_u64(), first["changed"].as_u64()),
        (Some(3), Some(3))
    );

    let again = indexed(&env);
    assert_eq!(again["changed"], 0, "a second run re-reads nothing");

    write(
        &env,
        "src/retry.rs",
        "/// Decides when a failed request is retried, with jitter.\nfn backoff(attempt: u32) -> u64 {\n    1 << attempt\n}\n",
    );
    std::fs::remove_file(env.work().join("notes/other.txt")).unwrap();
    let third = indexed(&env);
    assert_eq!(
        (third["changed"].as_u64(), third["deleted"].as_u64()),
        (Some(1), Some(1))
    );

    let o = az(
        &env,
        &[
            "--json",
            "search",
            "when is a request retried",
            "-k",
            "2",
            "--mode",
            "bm25",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let hits: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(hits[0]["path"], "src/retry.rs");
    assert_eq!(
        (hits[0]["start_line"].as_u64(), hits[0]["end_line"].as_u64()),
        (Some(1), Some(4))
    );
    assert!(hits[0]["score"].as_f64().unwrap() > 0.0);

    // A path given to search comes back under it.
    let o = env
        .cmd()
        .current_dir(env.home())
        .args([
            "--json",
            "search",
            "frobnicates sprockets",
            "--mode",
            "bm25",
        ])
        .arg(env.work())
        .output()
        .unwrap();
    let hits: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        hits[0]["path"],
        env.work().join("README.md").display().to_string()
    );

    // Plain output: path:start-end, score, the snippet.
    let o = az(&env, &["search", "frobnicates", "--mode", "bm25"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("README.md:1-3 "), "{out}");
    assert!(
        out.contains("frobnicates sprockets") && !out.contains('\u{1b}'),
        "{out}"
    );
}

#[test]
fn what_is_not_worth_indexing_is_skipped_with_a_reason() {
    let env = TestEnv::new();
    write(&env, "src/lib.rs", "pub fn real() {}\n");
    write(&env, "Cargo.lock", "# generated\n");
    write(&env, "node_modules/pkg/index.js", "module.exports = 1;\n");
    write(&env, "ignored/x.md", "secret plans\n");
    write(&env, ".gitignore", "ignored/\n");
    std::fs::write(env.work().join("data.txt"), b"bin\0ary\x01\x02").unwrap();
    std::fs::write(
        env.work().join("latin.txt"),
        b"caf\xe9 cr\xe8me br\xfbl\xe9e\n",
    )
    .unwrap();
    // A huge file, sparse: it is never read.
    let big = std::fs::File::create(env.work().join("huge.log.txt")).unwrap();
    big.set_len(2 * 1024 * 1024 * 1024).unwrap();
    std::os::unix::fs::symlink(env.work(), env.work().join("src/loop")).unwrap();
    let o = az(&env, &["-v", "index"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("skipped Cargo.lock: generated"), "{out}");
    assert!(out.contains("skipped huge.log.txt: huge"), "{out}");
    assert!(out.contains("skipped data.txt: binary"), "{out}");
    let o = az(
        &env,
        &["--json", "search", "crème brûlée", "--mode", "bm25"],
    );
    let hits: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        hits[0]["path"], "latin.txt",
        "Latin-1 text is indexed as text"
    );
    let o = az(
        &env,
        &["--json", "search", "secret plans", "--mode", "bm25"],
    );
    let hits: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(hits.is_empty(), "ignored files stay out: {hits:?}");
}

#[test]
fn a_damaged_index_is_rebuilt_and_two_writers_do_not_clash() {
    let env = TestEnv::new();
    for i in 0..300 {
        write(
            &env,
            &format!("src/m{i}.rs"),
            &format!("/// module number {i}\npub fn f{i}() -> u32 {{ {i} }}\n"),
        );
    }
    let first = indexed(&env);
    assert_eq!(first["files"], 300);
    // Damage every file of the index but one.
    let index_root = env.home().join("index");
    let dir = std::fs::read_dir(&index_root)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    std::fs::write(dir.join("manifest.json"), "{ not json").unwrap();
    for e in std::fs::read_dir(dir.join("bm25")).unwrap().flatten() {
        if e.file_name().to_string_lossy().ends_with(".json") {
            std::fs::write(e.path(), "garbage").unwrap();
        }
    }
    let rebuilt = indexed(&env);
    assert_eq!(rebuilt["rebuilt"], true, "{rebuilt}");
    assert_eq!(rebuilt["changed"], 300);
    let o = az(
        &env,
        &[
            "--json",
            "search",
            "module number 17",
            "--mode",
            "bm25",
            "-k",
            "1",
        ],
    );
    let hits: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(hits[0]["path"], "src/m17.rs");

    // Two indexers at once: one writes, the other waits, both finish, nothing is lost.
    write(&env, "src/new.rs", "pub fn brand_new_function() {}\n");
    let spawn = || {
        std::process::Command::new(crate::common::bin())
            .args(["--json", "index"])
            .env("AZ_OS_HOME", env.home())
            .current_dir(env.work())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for c in [a, b] {
        let o = c.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    let o = az(
        &env,
        &[
            "--json",
            "search",
            "brand_new_function",
            "--mode",
            "bm25",
            "-k",
            "1",
        ],
    );
    let hits: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(hits[0]["path"], "src/new.rs");
}

#[test]
fn bad_requests_say_what_to_do() {
    let env = TestEnv::new();
    let o = az(&env, &["search", "anything"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("az-os index"), "{}", text(&o));
    let o = az(&env, &["index", "/nonexistent/folder"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("not a folder"), "{}", text(&o));
}
