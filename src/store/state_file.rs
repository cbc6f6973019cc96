//! `checkpoints/{task_id}.json` in the home: a task's saved loop state, replaced after
//! every completed turn. Written atomically (a temp file in the same folder, fsync,
//! rename over the old one, fsync of the folder), so a kill or a power cut leaves the
//! previous complete state or the new one, never half of one. Blocking: call it off
//! the async runtime.
//!
//! What it does not hold: the workdir's files (the checkpoint's snapshot of them is kept
//! apart) and anything but the one latest state per task. It does not know the state's
//! format (`engine::agent::state`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::util::ids::TaskId;

/// Where task `id`'s state lives under the `checkpoints/` folder `dir`.
pub fn path(dir: &Path, id: &TaskId) -> PathBuf {
    dir.join(format!("{}.json", id.as_str()))
}

/// Replaces task `id`'s saved state with `json`, atomically and durably.
pub fn write(dir: &Path, id: &TaskId, json: &str) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let target = path(dir, id);
    // One name per task: only the task's owner writes it, and a temp file a crash left
    // behind is simply overwritten by the next turn's write.
    let tmp = dir.join(format!(".{}.json.tmp", id.as_str()));
    let written = (|| {
        // Owner only: the conversation is redacted, but it is still the user's work.
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(json.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, &target)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    // The rename is durable once the folder's entry is on disk.
    File::open(dir)?.sync_all()
}

/// Task `id`'s saved state, or `None` if there is none.
pub fn read(dir: &Path, id: &TaskId) -> io::Result<Option<String>> {
    match fs::read_to_string(path(dir, id)) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Forgets task `id`'s saved state (a retry starts over).
pub fn remove(dir: &Path, id: &TaskId) -> io::Result<()> {
    match fs::remove_file(path(dir, id)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_whole_and_leave_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let id = TaskId::from("0123456789ab");
        assert_eq!(read(dir.path(), &id).unwrap(), None);
        // Left by a crash between the write and the rename.
        fs::write(dir.path().join(".0123456789ab.json.tmp"), "half a st").unwrap();
        write(dir.path(), &id, r#"{"turns":1}"#).unwrap();
        write(dir.path(), &id, r#"{"turns":2}"#).unwrap();
        assert_eq!(
            read(dir.path(), &id).unwrap().as_deref(),
            Some(r#"{"turns":2}"#)
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("0123456789ab.json")]);
        let mode = fs::metadata(path(dir.path(), &id)).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        remove(dir.path(), &id).unwrap();
        remove(dir.path(), &id).unwrap();
        assert_eq!(read(dir.path(), &id).unwrap(), None);
    }
}
