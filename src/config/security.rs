//! `[policy]`, `[sandbox]` and `[audit]` in `config.toml`: which commands run, ask or are
//! refused, how `execute_command` is confined, and how big the audit log grows.
//!
//! Only the settings live here, checked; the policy itself is `engine::policy`, the
//! sandbox `sandbox`, the log `audit`.

use serde::{Deserialize, Serialize};

/// What happens to a command no rule names (and the decision a rule gives).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyMode {
    /// Run it (inside the sandbox, with the guard on).
    Allow,
    /// Ask the user: the dashboard opens a dialog; batch mode refuses unless `--yes`.
    Ask,
    /// Refuse it; the model is told why.
    Deny,
}

/// `[policy]`: rules on the parsed command. Each rule is words matched one by one against
/// the command's program and arguments (`*` and `?` glob inside a word); a last word `*`
/// matches any remaining arguments. Deny beats ask beats allow; the built-in guard beats
/// every rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    pub default: PolicyMode,
    pub allow: Vec<String>,
    pub ask: Vec<String>,
    pub deny: Vec<String>,
}

/// Commands that leave the machine: asked about unless the user's file says otherwise.
pub const DEFAULT_ASK: [&str; 4] = [
    "git push *",
    "npm publish *",
    "cargo publish *",
    "docker push *",
];

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            default: PolicyMode::Allow,
            allow: Vec::new(),
            ask: DEFAULT_ASK.iter().map(|s| (*s).to_owned()).collect(),
            deny: Vec::new(),
        }
    }
}

impl PolicyConfig {
    /// The first invalid setting as (key, problem, fix).
    pub fn invalid(&self) -> Option<(String, String, &'static str)> {
        for (list, rules) in [
            ("allow", &self.allow),
            ("ask", &self.ask),
            ("deny", &self.deny),
        ] {
            for (i, r) in rules.iter().enumerate() {
                if r.trim().is_empty() {
                    return Some((
                        format!("policy.{list}[{i}]"),
                        "the rule is empty".into(),
                        "write the command's words, e.g. \"cargo *\" or \"git status\", or remove the entry",
                    ));
                }
                if r.len() > 1024 || r.chars().any(char::is_control) {
                    return Some((
                        format!("policy.{list}[{i}]"),
                        format!(
                            "{:?} is not a command pattern",
                            r.chars().take(40).collect::<String>()
                        ),
                        "use words separated by spaces, at most 1024 characters, no control characters",
                    ));
                }
            }
        }
        None
    }
}

/// `[sandbox] mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    /// Writes only to the workdir and a private temp dir; reads everywhere.
    WorkspaceWrite,
    /// No writes at all except the private temp dir.
    ReadOnly,
    /// Commands run unconfined.
    Off,
}

impl SandboxMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WorkspaceWrite => "workspace-write",
            Self::ReadOnly => "read-only",
            Self::Off => "off",
        }
    }
}

/// `[sandbox] unavailable`: what to do where the kernel has no Landlock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unavailable {
    /// Warn once and run commands unconfined.
    Run,
    /// Refuse every command (the model is told why).
    Refuse,
}

/// `[sandbox]`: how `execute_command` is confined.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    pub mode: SandboxMode,
    /// `false` forbids TCP connect and bind (needs Landlock ABI 4, Linux 6.7+).
    pub network: bool,
    pub unavailable: Unavailable,
    /// More directories commands may write (`~/` is the home), e.g. `["~/.cache"]`.
    pub writable: Vec<String>,
    /// Environment variables commands get although their names look like credentials
    /// (`GITHUB_TOKEN` for `gh`, say). Model keys are never passed.
    pub pass_env: Vec<String>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            mode: SandboxMode::WorkspaceWrite,
            network: true,
            unavailable: Unavailable::Run,
            writable: Vec::new(),
            pass_env: Vec::new(),
        }
    }
}

impl SandboxConfig {
    /// The first invalid setting as (key, problem, fix).
    pub fn invalid(&self) -> Option<(String, String, &'static str)> {
        for (i, w) in self.writable.iter().enumerate() {
            let key = format!("sandbox.writable[{i}]");
            let path = w.trim();
            if path.is_empty() || !(path.starts_with('/') || path.starts_with("~/")) {
                return Some((
                    key,
                    format!("{w:?} is not an absolute path"),
                    "write an absolute path, or one under your home as \"~/…\", e.g. \"~/.cache\"",
                ));
            }
            if std::path::Path::new(path).components().count() <= 1 {
                return Some((
                    key,
                    "\"/\" would let commands write anywhere".into(),
                    "list the folders commands need (e.g. \"~/.cache\"); to run commands unconfined on purpose, set mode = \"off\" instead",
                ));
            }
        }
        for (i, name) in self.pass_env.iter().enumerate() {
            if !super::model::valid_env_name(name) {
                return Some((
                    format!("sandbox.pass_env[{i}]"),
                    format!("{name:?} is not an environment variable name"),
                    "list variable names, e.g. [\"GITHUB_TOKEN\"]",
                ));
            }
        }
        None
    }
}

/// `[audit]`: the size at which `audit.log` rotates and how many old files stay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    pub max_bytes: u64,
    pub keep: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            max_bytes: 5 * 1024 * 1024,
            keep: 3,
        }
    }
}

impl AuditConfig {
    /// The first invalid setting as (key, problem, fix).
    pub fn invalid(&self) -> Option<(String, String, &'static str)> {
        if !(4096..=1 << 32).contains(&self.max_bytes) {
            return Some((
                "audit.max_bytes".into(),
                format!("{} is out of range", self.max_bytes),
                "use 4096 bytes to 4 GiB, e.g. 5242880 (5 MiB)",
            ));
        }
        if !(1..=100).contains(&self.keep) {
            return Some((
                "audit.keep".into(),
                format!("{} is out of range", self.keep),
                "keep 1 to 100 rotated files",
            ));
        }
        None
    }
}
