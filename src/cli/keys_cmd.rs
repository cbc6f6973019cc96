//! `az-os keys [set NAME | list | remove NAME]`: the encrypted key vault from the command
//! line.
//!
//! Every vault failure (wrong password, tampered or truncated file, no password) is a
//! setup error: exit 2 with the message of [`crate::vault::VaultError`], which names the
//! file and the fix. Values are never printed; only names.

use color_eyre::eyre::{Result, WrapErr, eyre};
use serde_json::json;

use super::args::KeysCmd;
use super::{Ctx, Exit, exit};
use crate::vault::{self, MasterPassword, Vault, VaultError};

pub fn run(ctx: &Ctx, action: Option<KeysCmd>) -> Result<i32> {
    match action.unwrap_or(KeysCmd::List) {
        KeysCmd::Set { name } => set(ctx, &name),
        KeysCmd::List => list(ctx),
        KeysCmd::Remove { name } => remove(ctx, &name),
    }
}

/// Every vault failure is a setup error: exit 2.
impl From<VaultError> for Exit {
    fn from(e: VaultError) -> Self {
        Exit::usage(e.to_string())
    }
}

fn set(ctx: &Ctx, name: &str) -> Result<i32> {
    ctx.home
        .ensure()
        .wrap_err_with(|| format!("cannot create {}", ctx.home.root().display()))?;
    let path = vault::path_in(ctx.home.root());
    let _lock = Vault::lock(&path).map_err(Exit::from)?;
    let creating = !path.exists();
    // The password first: a typo is caught before the key is typed.
    let password = MasterPassword::obtain(&path, creating, true).map_err(Exit::from)?;
    let mut vault = if creating {
        Vault::new(&path)
    } else {
        Vault::open(&path, &password).map_err(Exit::from)?
    };
    let value = vault::read_value(name).map_err(Exit::from)?;
    let replaced = vault.set(name, value).map_err(Exit::from)?;
    vault.save(&password).map_err(Exit::from)?;
    let action = if replaced { "replaced" } else { "stored" };
    if ctx.global.json {
        super::print_json(&json!({"action": action, "name": name, "file": path}))?;
    } else if !ctx.global.quiet {
        let mut msg = format!("{action} key {name} in {}\n", path.display());
        if !replaced {
            msg.push_str(&format!(
                "use it with api_key = \"vault:{name}\" under [[models]] in {}\n",
                ctx.home.config_file().display()
            ));
        }
        super::print(&msg)?;
    }
    Ok(exit::OK)
}

fn list(ctx: &Ctx) -> Result<i32> {
    let path = vault::path_in(ctx.home.root());
    let names: Vec<String> = if path.exists() {
        let password = MasterPassword::obtain(&path, false, true).map_err(Exit::from)?;
        let vault = Vault::open(&path, &password).map_err(Exit::from)?;
        vault.names().map(str::to_owned).collect()
    } else {
        Vec::new()
    };
    if ctx.global.json {
        super::print_json(&json!({"file": path, "names": names}))?;
    } else if names.is_empty() {
        if !ctx.global.quiet {
            eprintln!(
                "az-os: no keys stored in {}; add one with `az-os keys set NAME`",
                path.display()
            );
        }
    } else {
        super::print(&(names.join("\n") + "\n"))?;
    }
    Ok(exit::OK)
}

fn remove(ctx: &Ctx, name: &str) -> Result<i32> {
    let path = vault::path_in(ctx.home.root());
    if !path.exists() {
        return Err(Exit::from(VaultError::NotFound(path)).into());
    }
    let _lock = Vault::lock(&path).map_err(Exit::from)?;
    let password = MasterPassword::obtain(&path, false, true).map_err(Exit::from)?;
    let mut vault = Vault::open(&path, &password).map_err(Exit::from)?;
    if !vault.remove(name) {
        let stored: Vec<&str> = vault.names().collect();
        let stored = if stored.is_empty() {
            "none".to_owned()
        } else {
            stored.join(", ")
        };
        return Err(eyre!(Exit::usage(format!(
            "no key {name} in {}; stored: {stored}",
            path.display()
        ))));
    }
    vault.save(&password).map_err(Exit::from)?;
    if ctx.global.json {
        super::print_json(&json!({"action": "removed", "name": name, "file": path}))?;
    } else if !ctx.global.quiet {
        super::print(&format!("removed key {name} from {}\n", path.display()))?;
    }
    Ok(exit::OK)
}
