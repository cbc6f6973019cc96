//! A task's chain: the commits on `refs/az-os/checkpoints/{task}`, one per checkpoint,
//! oldest first. Each commit's message carries the id, task and turn as trailers.

use git2::{Commit, Oid, Repository};

use super::CheckpointError;
use super::id::CheckpointId;
use super::repo::ref_name;

/// One checkpoint as listed.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Checkpoint {
    pub id: String,
    pub task_id: String,
    pub turn: u32,
    /// Unix seconds.
    pub created_at: i64,
    /// The commit (in the user's repository or the private one).
    pub commit: String,
}

/// The commit message of checkpoint `id`.
pub fn message(id: &CheckpointId) -> String {
    format!(
        "az-os checkpoint {id}\n\nAz-Os-Checkpoint: {id}\nAz-Os-Task: {}\nAz-Os-Turn: {}\n",
        id.task_id, id.turn
    )
}

/// The turn a checkpoint commit records.
pub fn turn_of(commit: &Commit<'_>) -> Option<u32> {
    commit
        .message()?
        .lines()
        .find_map(|l| l.strip_prefix("Az-Os-Turn: "))
        .and_then(|t| t.trim().parse().ok())
}

/// The newest commit of `task_id`'s chain, if it has one.
pub fn head(repo: &Repository, task_id: &str) -> Result<Option<Oid>, git2::Error> {
    match repo.find_reference(&ref_name(task_id)) {
        Ok(r) => Ok(r.target()),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The chain's commits, oldest first, with their turns.
pub fn commits<'r>(
    repo: &'r Repository,
    task_id: &str,
) -> Result<Vec<(u32, Commit<'r>)>, CheckpointError> {
    let git = |e: git2::Error| CheckpointError::git(repo.path(), &e);
    let mut out = Vec::new();
    let mut next = head(repo, task_id).map_err(git)?;
    while let Some(oid) = next {
        let c = repo.find_commit(oid).map_err(git)?;
        next = c.parent_id(0).ok();
        let turn = turn_of(&c).ok_or_else(|| CheckpointError::Corrupt {
            path: repo.path().to_path_buf(),
            detail: format!("commit {oid} on {} names no turn", ref_name(task_id)),
        })?;
        out.push((turn, c));
    }
    out.reverse();
    Ok(out)
}

/// The listing of a chain.
pub fn listed(repo: &Repository, task_id: &str) -> Result<Vec<Checkpoint>, CheckpointError> {
    Ok(commits(repo, task_id)?
        .into_iter()
        .map(|(turn, c)| Checkpoint {
            id: CheckpointId::new(task_id, turn).to_string(),
            task_id: task_id.to_owned(),
            turn,
            created_at: c.time().seconds(),
            commit: c.id().to_string(),
        })
        .collect())
}
