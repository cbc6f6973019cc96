//! The setup dialog's work, off the loop's thread: the look for a local Ollama and the
//! vault, the provider's check of a key, and the save (the vault's key derivation takes
//! a while: it runs on a blocking thread). Each answers with a message; all of it is
//! `crate::setup`'s, the same `az-os setup` uses.

use std::time::Duration;

use tokio::sync::mpsc;
use zeroize::Zeroizing;

use crate::config::{Home, Settings};
use crate::setup;
use crate::tui::msg::Msg;
use crate::tui::panes::setup::{CheckJob, SaveJob, VaultInfo};
use crate::util::hidden::Hidden;
use crate::vault::{self, MasterPassword};

type Tx = mpsc::UnboundedSender<Msg>;

pub fn probe(home: Home, tx: Tx) {
    tokio::task::spawn_blocking(move || {
        let path = vault::path_in(home.root());
        let vault = VaultInfo {
            path: path.display().to_string(),
            exists: path.exists(),
            env_password: MasterPassword::from_env().is_some(),
        };
        let _ = tx.send(Msg::SetupProbed {
            ollama: setup::ollama_offers(),
            vault,
        });
    });
}

pub fn check(tx: Tx, job: CheckJob) {
    tokio::spawn(async move {
        let http = crate::llm::http_client(crate::llm::Timeouts {
            connect: Duration::from_secs(10),
            stream_idle: Duration::from_secs(15),
            request: Duration::from_secs(15),
        });
        let result = match http {
            Ok(http) => setup::check(&http, &job.offer, job.key.as_ref().map(Hidden::expose)).await,
            Err(e) => Err(e.to_string()),
        };
        let _ = tx.send(Msg::SetupChecked {
            attempt: job.attempt,
            result,
        });
    });
}

pub fn save(home: Home, tx: Tx, job: SaveJob) {
    tokio::task::spawn_blocking(move || {
        let result = save_now(home, &job);
        let _ = tx.send(Msg::SetupSaved {
            attempt: job.attempt,
            result,
        });
    });
}

fn save_now(home: Home, job: &SaveJob) -> Result<setup::Saved, String> {
    // The file as it is now: a model added meanwhile (by hand, by `az-os setup`) stays.
    let settings = Settings::load(home).map_err(|e| e.to_string())?;
    let password = match &job.password {
        Some(p) => Some(
            MasterPassword::new(Zeroizing::new(p.expose().to_owned()))
                .map_err(|e| e.to_string())?,
        ),
        None => MasterPassword::from_env(),
    };
    let key = job
        .key
        .as_ref()
        .map(|k| Zeroizing::new(k.expose().to_owned()));
    setup::save(
        &settings,
        &job.offer,
        key.as_ref(),
        job.storage,
        password.as_ref(),
    )
    .map_err(|e| e.to_string())
}
