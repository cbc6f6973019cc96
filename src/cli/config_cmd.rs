//! `az-os config path|show|init`.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use color_eyre::eyre::{Result, WrapErr, eyre};

use super::args::ConfigCmd;
use super::{Ctx, Exit, exit, print};
use crate::config::DEFAULT_CONFIG_TOML;

pub fn run(ctx: &Ctx, action: Option<ConfigCmd>) -> Result<i32> {
    match action.unwrap_or(ConfigCmd::Show) {
        ConfigCmd::Path => {
            print(&format!("{}\n", ctx.home.config_file().display()))?;
        }
        ConfigCmd::Show => {
            let s = ctx.settings()?;
            let mut out = format!(
                "# {} ({})\n",
                ctx.home.config_file().display(),
                if s.file_loaded {
                    "loaded"
                } else {
                    "absent: built-in defaults"
                }
            );
            if ctx.global.json {
                let v = serde_json::json!({
                    "file": ctx.home.config_file(),
                    "loaded": s.file_loaded,
                    "defaults": s.defaults,
                    "models": s.models.iter().map(|m| serde_json::json!({
                        "name": m.name, "provider": m.provider, "model": m.model,
                        "base_url": m.base_url, "key": m.key_source(), "key_present": m.has_key(),
                        "tier": m.tier, "input_usd_per_mtok": m.input_usd_per_mtok,
                        "output_usd_per_mtok": m.output_usd_per_mtok, "quality": m.quality,
                    })).collect::<Vec<_>>(),
                });
                return super::print_json(&v).map(|()| exit::OK);
            }
            out.push_str(&s.to_toml());
            print(&out)?;
        }
        ConfigCmd::Init { force } => {
            let path = ctx.home.config_file();
            ctx.home
                .ensure()
                .wrap_err("cannot create the home directory")?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .wrap_err_with(|| format!("cannot create {}", dir.display()))?;
            }
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).mode(0o600);
            if force {
                opts.create(true).truncate(true);
            } else {
                opts.create_new(true);
            }
            let mut f = opts.open(path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    eyre!(Exit::usage(format!(
                        "{} already exists; use `az-os config init --force` to replace it",
                        path.display()
                    )))
                } else {
                    eyre!("cannot write {}: {e}", path.display())
                }
            })?;
            f.write_all(DEFAULT_CONFIG_TOML.as_bytes())
                .wrap_err_with(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(exit::OK)
}
