//! `az-os setup`: adds a model from a plain terminal (an SSH session without a full
//! screen, a script). On a terminal it asks: which provider (the catalogue, an
//! OpenAI-compatible server, the models a local Ollama has pulled), the key (hidden),
//! where the key lives (the vault, or the environment). From a script: `--provider`,
//! `--store`, the key on stdin, the master password in `AZ_OS_MASTER_PASSWORD`.
//! The key is checked with the provider before anything is written (`crate::setup`).

use std::io::{BufRead, IsTerminal, Read, Write};
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, eyre};
use zeroize::Zeroizing;

use super::{Ctx, Exit, exit};
use crate::setup::{self, Offer, Storage};
use crate::vault::{MasterPassword, path_in};

/// What `az-os setup` was asked to do.
pub struct SetupArgs {
    pub provider: Option<String>,
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub store: Option<Storage>,
}

/// Tries a person gets at a key before setup gives up.
const TRIES: usize = 3;

pub fn run(ctx: &Ctx, args: &SetupArgs) -> Result<i32> {
    let usage = |m: String| eyre!(Exit::usage(m));
    let settings = ctx.settings()?;
    let asking = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let offer = choose(args, asking)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .wrap_err("cannot start the async runtime")?;
    let http = crate::llm::http_client(crate::llm::Timeouts {
        connect: Duration::from_secs(10),
        stream_idle: Duration::from_secs(15),
        request: Duration::from_secs(15),
    })
    .map_err(|e| usage(e.to_string()))?;
    let key = if asking {
        let mut tries = 0;
        loop {
            tries += 1;
            match ask_key(&offer).and_then(|key| checked(&runtime, &http, &offer, key)) {
                Ok(key) => break key,
                Err(why) if tries < TRIES => eprintln!("az-os: {why}"),
                Err(why) => return Err(usage(why)),
            }
        }
    } else {
        let key = read_key(&offer).map_err(usage)?;
        checked(&runtime, &http, &offer, key).map_err(usage)?
    };
    let storage = match (&key, args.store) {
        (None, _) => Storage::Env,
        (Some(_), Some(s)) => s,
        (Some(_), None) if asking => ask_storage()?,
        (Some(_), None) => Storage::Vault,
    };
    let password = if key.is_some() && storage == Storage::Vault {
        let path = path_in(settings.home.root());
        Some(
            MasterPassword::obtain(&path, !path.exists(), asking)
                .map_err(|e| usage(format!("{e}")))?,
        )
    } else {
        None
    };
    let saved = setup::save(&settings, &offer, key.as_ref(), storage, password.as_ref())
        .map_err(|e| usage(e.to_string()))?;
    if ctx.global.json {
        let v = serde_json::json!({
            "model": saved.model,
            "provider": offer.id,
            "config": saved.config.as_ref().map(|p| p.display().to_string()),
            "vault_entry": saved.vault_entry,
            "export_line": saved.export_line,
        });
        println!("{v}");
        return Ok(exit::OK);
    }
    let mut out = format!("{} is ready", saved.model);
    if let Some(entry) = &saved.vault_entry {
        out.push_str(&format!("; its key is in the vault as {entry}"));
    }
    if let Some(cfg) = &saved.config {
        out.push_str(&format!("; {} lists it", cfg.display()));
    }
    out.push_str(".\n");
    if let Some(line) = &saved.export_line {
        out.push_str(&format!(
            "The key is not stored. Add this line to your shell profile (~/.bashrc, ~/.zshrc), \
             your key in place of <your key>, and open a new shell:\n  {line}\n"
        ));
    }
    out.push_str(&format!(
        "Try it: az-os --batch run --model {} \"say hello\"\n",
        saved.model
    ));
    print!("{out}");
    Ok(exit::OK)
}

/// The offer `--provider` names, or the one the person picks from a list.
fn choose(args: &SetupArgs, asking: bool) -> Result<Offer> {
    let usage = |m: String| eyre!(Exit::usage(m));
    let compatible = |base: Option<&str>, model: Option<&str>| -> Result<Offer> {
        let base = match base {
            Some(b) => b.to_owned(),
            None if asking => ask_line("Server URL (like http://127.0.0.1:8080/v1): ")?,
            None => {
                return Err(usage(
                    "--provider openai-compatible needs --base-url URL".to_owned(),
                ));
            }
        };
        if let Err(e) = setup::server_url(&base) {
            return Err(usage(format!("--base-url {base}: {e}")));
        }
        let model = match model {
            Some(m) => m.to_owned(),
            None if asking => ask_line("Model id on that server: ")?,
            None => {
                return Err(usage(
                    "--provider openai-compatible needs --model ID".to_owned(),
                ));
            }
        };
        setup::server_offer(&base, &model).map_err(|e| usage(e.to_string()))
    };
    if let Some(p) = &args.provider {
        let p = p.trim().to_lowercase();
        if p == "openai-compatible" {
            return compatible(args.base_url.as_deref(), args.model.as_deref());
        }
        let mut offers = setup::catalogue_offers();
        if p.starts_with("ollama") {
            offers = setup::ollama_offers();
            if offers.is_empty() {
                return Err(usage(
                    "no Ollama answers on 127.0.0.1:11434 (or OLLAMA_HOST) with a pulled model: start it and `ollama pull llama3.2`".into(),
                ));
            }
            if p == "ollama" {
                return Ok(offers.swap_remove(0));
            }
        }
        return offers.into_iter().find(|o| o.id == p).ok_or_else(|| {
            usage(format!(
                "--provider {p}: not one az-os knows; use one of: {}",
                provider_names().join(", ")
            ))
        });
    }
    if !asking {
        return Err(usage(format!(
            "not on a terminal: say what to add with --provider (one of: {}), the key on stdin",
            provider_names().join(", ")
        )));
    }
    let mut offers = setup::catalogue_offers();
    offers.extend(setup::ollama_offers());
    let mut list = String::from("Add a model. Which provider?\n");
    for (i, o) in offers.iter().enumerate() {
        list.push_str(&format!("  {}) {:<22} {}\n", i + 1, o.label, o.note));
    }
    list.push_str(&format!(
        "  {}) {:<22} LiteLLM, llama.cpp, vLLM, a gateway: its URL and a model id\n",
        offers.len() + 1,
        "OpenAI-compatible"
    ));
    eprint!("{list}");
    loop {
        let answer = ask_line(&format!("Choose 1-{}: ", offers.len() + 1))?;
        match answer.trim().parse::<usize>() {
            Ok(n) if (1..=offers.len()).contains(&n) => return Ok(offers.swap_remove(n - 1)),
            Ok(n) if n == offers.len() + 1 => return compatible(None, None),
            _ => eprintln!("az-os: type a number from 1 to {}", offers.len() + 1),
        }
    }
}

fn provider_names() -> Vec<String> {
    let mut names: Vec<String> = setup::catalogue_offers()
        .into_iter()
        .map(|o| o.id)
        .collect();
    names.extend(["openai-compatible".to_owned(), "ollama[:MODEL]".to_owned()]);
    names
}

/// One line from the terminal, after `prompt` on stderr; Ctrl-D is leaving.
fn ask_line(prompt: &str) -> Result<String> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let n = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .wrap_err("cannot read the terminal")?;
    if n == 0 {
        return Err(eyre!(Exit::usage(
            "setup left; nothing was written".to_owned()
        )));
    }
    Ok(line.trim().to_owned())
}

/// The key, typed or pasted without echo. `None` for a server that may need none and
/// got an empty answer.
fn ask_key(offer: &Offer) -> Result<Option<Zeroizing<String>>, String> {
    let optional = offer.id == "openai-compatible";
    let prompt = if optional {
        format!(
            "Key for {} (input hidden; empty if it needs none): ",
            offer.label
        )
    } else {
        format!(
            "Key for {} from {} (input hidden): ",
            offer.label,
            offer.key_url.unwrap_or("the provider")
        )
    };
    if !offer.needs_key() {
        return Ok(None);
    }
    let raw = Zeroizing::new(
        rpassword::prompt_password(prompt).map_err(|e| format!("cannot read the key: {e}"))?,
    );
    if optional && raw.trim().is_empty() {
        return Ok(None);
    }
    setup::clean_key(&raw).map(Some).map_err(|e| e.to_string())
}

/// The key from stdin (a script): all of it, one piece.
fn read_key(offer: &Offer) -> Result<Option<Zeroizing<String>>, String> {
    if !offer.needs_key() {
        return Ok(None);
    }
    let mut raw = Zeroizing::new(String::new());
    std::io::stdin()
        .read_to_string(&mut raw)
        .map_err(|e| format!("cannot read the key from stdin: {e}"))?;
    if offer.id == "openai-compatible" && raw.trim().is_empty() {
        return Ok(None);
    }
    setup::clean_key(&raw)
        .map(Some)
        .map_err(|e| format!("{e} (on stdin)"))
}

/// `key` once the provider accepted it, else the provider's reason.
fn checked(
    runtime: &tokio::runtime::Runtime,
    http: &reqwest::Client,
    offer: &Offer,
    key: Option<Zeroizing<String>>,
) -> Result<Option<Zeroizing<String>>, String> {
    eprintln!(
        "az-os: checking with {} at {} …",
        offer.label, offer.spec.base_url
    );
    let k = key.as_ref().map(|k| k.as_str());
    match runtime.block_on(setup::check(http, offer, k)) {
        Ok(detail) => {
            eprintln!("az-os: {} answered: {detail}", offer.label);
            Ok(key)
        }
        Err(why) => Err(format!(
            "{} did not accept it: {why}; nothing was written",
            offer.label
        )),
    }
}

fn ask_storage() -> Result<Storage> {
    loop {
        let a = ask_line(
            "Keep the key in the [v]ault (encrypted; asks for the master password) or the [e]nvironment (you add it to your shell profile)? [v]: ",
        )?;
        match a.to_lowercase().as_str() {
            "" | "v" | "vault" => return Ok(Storage::Vault),
            "e" | "env" | "environment" => return Ok(Storage::Env),
            _ => eprintln!("az-os: type v or e"),
        }
    }
}
