//! `write_file`: creates or replaces a file inside the workdir, creating parent
//! folders. The content goes to a temporary file first and is renamed into place, so a
//! cancelled or failed write never leaves half a file. The temporary file has a random
//! name and is created exclusively without following links, so nothing a command left
//! in the workdir (a symlink at a predictable name) can redirect the write. A file that
//! is replaced keeps its permissions.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ToolCtx, ToolOutput, parse_args};
use crate::util::ids::random_hex;

/// Largest content accepted in one write.
const MAX_WRITE_BYTES: usize = 10 * 1024 * 1024;

/// Characters of the target's name kept in the temporary file's name.
const NAME_KEPT: usize = 64;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    path: String,
    content: String,
}

pub async fn run(raw: &str, ctx: &ToolCtx<'_>) -> ToolOutput {
    let args: Args = match parse_args("write_file", raw) {
        Ok(a) => a,
        Err(e) => return e,
    };
    if args.content.len() > MAX_WRITE_BYTES {
        return ToolOutput::err(format!(
            "content is {} bytes, over the {MAX_WRITE_BYTES}-byte limit",
            args.content.len()
        ));
    }
    let path = match ctx.confine(&args.path) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let shown = args.path.clone();
    let content = args.content;
    let (bytes, lines) = (content.len(), content.lines().count());
    match tokio::task::spawn_blocking(move || write_atomic(&path, content.as_bytes())).await {
        Ok(Ok(())) => ToolOutput::ok(format!("wrote {bytes} bytes ({lines} lines) to {shown}")),
        Ok(Err(e)) => ToolOutput::err(format!("cannot write {shown}: {e}")),
        Err(e) => ToolOutput::err(format!("cannot write {shown}: {e}")),
    }
}

/// Writes `content` to a fresh temporary file beside `path`, then renames it over `path`.
fn write_atomic(path: &Path, content: &[u8]) -> std::io::Result<()> {
    if path.is_dir() {
        return Err(std::io::Error::other("it is a directory"));
    }
    let parent = path
        .parent()
        .ok_or_else(|| std::io::Error::other("it has no parent folder"))?;
    std::fs::create_dir_all(parent)?;
    // An existing regular file keeps its mode (an executable script stays executable).
    let kept_mode = std::fs::symlink_metadata(path)
        .ok()
        .filter(std::fs::Metadata::is_file)
        .map(|m| m.permissions().mode() & 0o7777);
    let (tmp, mut file) = create_temp(parent, path)?;
    let written = (|| {
        file.write_all(content)?;
        if let Some(mode) = kept_mode {
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        file.sync_data()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// A new file in `dir` at an unguessable name: `O_CREAT | O_EXCL | O_NOFOLLOW`, so an
/// existing file or link there is never opened.
fn create_temp(dir: &Path, target: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let name: String = target
        .file_name()
        .map(|n| n.to_string_lossy().chars().take(NAME_KEPT).collect())
        .unwrap_or_default();
    let mut last = None;
    for _ in 0..8 {
        let tmp = dir.join(format!(".{name}.{}.az-os-tmp", random_hex::<8>()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .mode(0o666)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free temporary name")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planted_link_at_any_temp_name_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("f");
        std::fs::write(&victim, "precious").unwrap();
        // The old, predictable name, and a few guesses.
        for name in [".x.az-os-tmp", ".x.0000000000000000.az-os-tmp"] {
            std::os::unix::fs::symlink(&victim, dir.path().join(name)).unwrap();
        }
        write_atomic(&dir.path().join("x"), b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("x")).unwrap(),
            "new"
        );
        let left = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".az-os-tmp"))
            .count();
        assert_eq!(left, 2, "only the planted links remain");
    }

    #[test]
    fn a_replaced_file_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("run.sh");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o751)).unwrap();
        write_atomic(&p, b"new").unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o751);
    }
}
