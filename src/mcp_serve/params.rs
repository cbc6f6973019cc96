//! The arguments of the MCP server's tools: their shapes (the JSON schemas clients see
//! come from these types and their doc comments) and the checks that turn them into
//! engine requests. A check fails with a sentence that says what to send instead; the
//! shape itself (a missing field, a wrong type, an unknown field) is the MCP SDK's
//! `invalid params` protocol error.

use std::path::{Path, PathBuf};

use rmcp::schemars;
use serde::Deserialize;

use crate::config::Settings;
use crate::engine::{MAX_TASK_BYTES, TaskSpec};

/// Most turns a task may ask for (as `run --max-turns`).
pub const MAX_TURNS: u32 = 100;
/// `wait_task` waits this long when not told.
pub const DEFAULT_WAIT_S: u32 = 60;
/// The longest one `wait_task` call waits.
pub const MAX_WAIT_S: u32 = 600;
/// `list_tasks` shows this many when not told, and at most [`MAX_LIST`].
pub const DEFAULT_LIST: u32 = 20;
pub const MAX_LIST: u32 = 200;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitTask {
    /// What to do, in plain words.
    pub description: String,
    /// Directory the task works in and is confined to (default: the server's working directory).
    pub workdir: Option<String>,
    /// Hard cap in USD for this task (default: the configured per-task budget).
    pub budget_usd: Option<f64>,
    /// Run on this configured model, skipping the router. Not with critical.
    pub model: Option<String>,
    /// Critical work: only critical-tier models take it.
    #[serde(default)]
    pub critical: bool,
    /// Turns before the task fails, 1-100 (default: the configured max_turns).
    pub max_turns: Option<u32>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskRef {
    /// The task id (or a unique prefix of it).
    pub task_id: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskEvents {
    /// The task id (or a unique prefix of it).
    pub task_id: String,
    /// Cursor: the `next` of the previous call (default 0, the first event).
    pub after: Option<u64>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitTask {
    /// The task id (or a unique prefix of it).
    pub task_id: String,
    /// Seconds to wait, 1-600 (default 60).
    pub timeout_s: Option<u32>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListTasks {
    /// How many, newest first, 1-200 (default 20).
    pub limit: Option<u32>,
}

/// Checks a `submit_task` against the configuration and the filesystem; `cwd` is the
/// server's working directory (the default workdir, and what a relative one is under).
pub fn check_submit(req: SubmitTask, settings: &Settings, cwd: &Path) -> Result<TaskSpec, String> {
    let description = req.description.trim().to_owned();
    if description.is_empty() {
        return Err(
            "description is empty; say what to do, e.g. \"count the lines in data.csv\"".into(),
        );
    }
    if description.len() > MAX_TASK_BYTES {
        return Err(format!(
            "description is {} bytes, over the {MAX_TASK_BYTES}-byte limit; put the details in a \
             file in the workdir and refer to it",
            description.len()
        ));
    }
    if let Some(b) = req.budget_usd
        && (!b.is_finite() || b < 0.0)
    {
        return Err(format!("budget_usd must be 0 or more USD, not {b}"));
    }
    if let Some(t) = req.max_turns
        && !(1..=MAX_TURNS).contains(&t)
    {
        return Err(format!("max_turns must be 1 to {MAX_TURNS}, not {t}"));
    }
    let model = req
        .model
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty());
    if let Some(name) = &model {
        if req.critical {
            return Err(
                "give model or critical, not both: a named model skips the router, critical asks \
                 it for a critical-tier model"
                    .into(),
            );
        }
        check_model(settings, name)?;
    }
    let workdir = resolve_workdir(req.workdir.as_deref(), cwd)?;
    Ok(TaskSpec {
        description,
        workdir,
        max_turns: req.max_turns,
        budget_usd: req.budget_usd,
        model,
        critical: req.critical,
    })
}

/// A model the task may be pinned to: configured, with its key.
fn check_model(settings: &Settings, name: &str) -> Result<(), String> {
    let Some(spec) = settings.models.iter().find(|m| m.name == name) else {
        let known: Vec<&str> = settings.models.iter().map(|m| m.name.as_str()).collect();
        return Err(format!(
            "no model named {name:?}; configured models: {} (or leave model out and the router picks)",
            known.join(", ")
        ));
    };
    spec.api_key().map(|_| ()).map_err(|e| {
        format!("model {name} cannot be used: {e}; leave model out and the router picks another")
    })
}

/// The workdir: `given` (relative to `cwd`), else `cwd`; it must be a directory.
pub fn resolve_workdir(given: Option<&str>, cwd: &Path) -> Result<PathBuf, String> {
    let dir = match given.map(str::trim) {
        None | Some("") => cwd.to_path_buf(),
        Some(d) => cwd.join(d),
    };
    if !dir.is_dir() {
        return Err(format!(
            "workdir {} does not exist or is not a directory; create it or pass an existing one",
            dir.display()
        ));
    }
    Ok(dir.canonicalize().unwrap_or(dir))
}

/// `wait_task`'s timeout in seconds.
pub fn wait_seconds(given: Option<u32>) -> Result<u32, String> {
    match given {
        None => Ok(DEFAULT_WAIT_S),
        Some(s) if (1..=MAX_WAIT_S).contains(&s) => Ok(s),
        Some(s) => Err(format!(
            "timeout_s must be 1 to {MAX_WAIT_S}, not {s}; call wait_task again to wait longer"
        )),
    }
}

/// `list_tasks`'s limit.
pub fn list_limit(given: Option<u32>) -> Result<usize, String> {
    match given {
        None => Ok(DEFAULT_LIST as usize),
        Some(n) if (1..=MAX_LIST).contains(&n) => Ok(n as usize),
        Some(n) => Err(format!("limit must be 1 to {MAX_LIST}, not {n}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Home;

    fn settings(home: &Path) -> Settings {
        std::fs::write(
            home.join("config.toml"),
            "[[models]]\nname = \"fake\"\nprovider = \"openai\"\nmodel = \"m\"\n\
             base_url = \"http://127.0.0.1:9/v1\"\napi_key_env = \"AZ_OS_PARAMS_TEST_KEY_UNSET\"\n\
             tier = \"complex\"\ninput_usd_per_mtok = 1.0\noutput_usd_per_mtok = 2.0\n",
        )
        .unwrap();
        let home = Home::resolve(Some(home), None).unwrap();
        Settings::load(home).unwrap()
    }

    fn submit(description: &str) -> SubmitTask {
        SubmitTask {
            description: description.into(),
            workdir: None,
            budget_usd: None,
            model: None,
            critical: false,
            max_turns: None,
        }
    }

    #[test]
    fn a_plain_task_runs_in_the_servers_directory() {
        let home = tempfile::tempdir().unwrap();
        let cwd = tempfile::tempdir().unwrap();
        let s = settings(home.path());
        let spec = check_submit(submit("  count the lines  "), &s, cwd.path()).unwrap();
        assert_eq!(spec.description, "count the lines");
        assert_eq!(spec.workdir, cwd.path().canonicalize().unwrap());
        assert_eq!(
            (spec.max_turns, spec.budget_usd, spec.critical),
            (None, None, false)
        );
        let sub = cwd.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let spec = check_submit(
            SubmitTask {
                workdir: Some("sub".into()),
                critical: true,
                max_turns: Some(7),
                budget_usd: Some(0.5),
                ..submit("x")
            },
            &s,
            cwd.path(),
        )
        .unwrap();
        assert_eq!(spec.workdir, sub.canonicalize().unwrap());
        assert_eq!(
            (spec.max_turns, spec.budget_usd, spec.critical),
            (Some(7), Some(0.5), true)
        );
    }

    #[test]
    fn bad_arguments_are_refused_with_what_to_send() {
        let home = tempfile::tempdir().unwrap();
        let cwd = tempfile::tempdir().unwrap();
        let s = settings(home.path());
        let err = |req: SubmitTask| check_submit(req, &s, cwd.path()).unwrap_err();
        assert!(err(submit(" \n")).contains("description is empty"));
        assert!(err(submit(&"x".repeat(MAX_TASK_BYTES + 1))).contains("byte limit"));
        for b in [-1.0, f64::NAN, f64::INFINITY] {
            let e = err(SubmitTask {
                budget_usd: Some(b),
                ..submit("x")
            });
            assert!(e.contains("budget_usd must be 0 or more"), "{e}");
        }
        for t in [0, MAX_TURNS + 1] {
            assert!(
                err(SubmitTask {
                    max_turns: Some(t),
                    ..submit("x")
                })
                .contains("max_turns must be 1 to 100")
            );
        }
        let e = err(SubmitTask {
            workdir: Some("nope/missing".into()),
            ..submit("x")
        });
        assert!(
            e.contains("does not exist") && e.contains("nope/missing"),
            "{e}"
        );
        let e = err(SubmitTask {
            model: Some("gpt-9".into()),
            ..submit("x")
        });
        assert!(
            e.contains("no model named \"gpt-9\"") && e.contains("fake"),
            "{e}"
        );
        let e = err(SubmitTask {
            model: Some("fake".into()),
            critical: true,
            ..submit("x")
        });
        assert!(e.contains("not both"), "{e}");
        // The configured model has no key in this environment.
        let e = err(SubmitTask {
            model: Some("fake".into()),
            ..submit("x")
        });
        assert!(e.contains("model fake cannot be used"), "{e}");
    }

    #[test]
    fn waits_and_limits_have_defaults_and_bounds() {
        assert_eq!(wait_seconds(None), Ok(DEFAULT_WAIT_S));
        assert_eq!(wait_seconds(Some(600)), Ok(600));
        assert!(
            wait_seconds(Some(0))
                .unwrap_err()
                .contains("call wait_task again")
        );
        assert!(wait_seconds(Some(601)).is_err());
        assert_eq!(list_limit(None), Ok(20));
        assert_eq!(list_limit(Some(200)), Ok(200));
        assert!(
            list_limit(Some(0))
                .unwrap_err()
                .contains("limit must be 1 to 200")
        );
        assert!(list_limit(Some(201)).is_err());
    }

    #[test]
    fn unknown_fields_and_wrong_types_do_not_parse() {
        let bad = [
            serde_json::json!({"description": "x", "budget": 1}),
            serde_json::json!({"description": 5}),
            serde_json::json!({"workdir": "."}),
        ];
        for v in bad {
            assert!(
                serde_json::from_value::<SubmitTask>(v.clone()).is_err(),
                "{v}"
            );
        }
        let ok: SubmitTask =
            serde_json::from_value(serde_json::json!({"description": "x"})).unwrap();
        assert!(!ok.critical);
    }
}
