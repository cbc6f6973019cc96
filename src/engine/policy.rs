//! The command policy: decides whether `execute_command` may run a command line —
//! allow, ask the user, or deny — and says which rule decided and why.
//!
//! The line is parsed (`policy/shell.rs`) and walked (`policy/visit.rs`) into every
//! command it would run, including those inside `$(…)`, subshells, functions, text fed
//! to a shell on standard input and the scripts of `sh -c`/`eval`; braces are expanded
//! (`policy/braces.rs`), wrappers peeled (`policy/unwrap.rs`), options read as GNU
//! programs read them (`policy/options.rs`), and `cd` followed (`policy/cwd.rs`). Each
//! command goes through the built-in guard (`policy/guard.rs`, not overridable), then the
//! `[policy]` rules: deny beats ask beats allow, a rule on any layer (`sudo *`) counts for
//! deny and ask, and only a rule on the real program counts for allow. The line's
//! verdict is the strictest of its commands'. What cannot be parsed is asked about.
//!
//! It does not run anything, and it is not the last line: the sandbox confines what an
//! allowed command can write.

mod braces;
mod cwd;
mod guard;
mod options;
pub mod shell;
mod stdin;
mod unwrap;
mod visit;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use guard::GuardCtx;
use shell::{Script, Stage, Word};

use crate::config::{PolicyConfig, PolicyMode};

/// What to do with a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Ask,
    Deny,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Ask => "ask",
            Self::Deny => "deny",
        }
    }
}

impl From<PolicyMode> for Decision {
    fn from(m: PolicyMode) -> Self {
        match m {
            PolicyMode::Allow => Self::Allow,
            PolicyMode::Ask => Self::Ask,
            PolicyMode::Deny => Self::Deny,
        }
    }
}

/// The decision on a command line, the rule that made it and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub decision: Decision,
    /// `guard:<name>`, `policy.deny[2]`, `policy.default`, `parse`, …
    pub rule: String,
    pub reason: String,
}

impl Verdict {
    fn new(decision: Decision, rule: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            decision,
            rule: rule.into(),
            reason: reason.into(),
        }
    }

    /// What the model reads when the user denied the command when asked: it was the
    /// user, not a rule (whatever rule asked).
    pub fn denied_by_user(&self) -> String {
        format!(
            "command refused: the user denied it when asked ({}; {}). Do not run it again; \
             find another way, or say in your answer what you needed it for.",
            self.reason, self.rule
        )
    }

    /// What the model reads when the command is refused: why, and what would change it.
    pub fn refusal(&self, asked_in_batch: bool) -> String {
        let fix = if self.rule.starts_with("guard:") {
            "The built-in guard cannot be turned off; find a safer command, or tell the user to run it themselves."
                .to_owned()
        } else if asked_in_batch {
            format!(
                "Batch mode refuses commands that policy asks about: the user can rerun with --yes, or add a matching rule to policy.allow in config.toml (rule: {}).",
                self.rule
            )
        } else if self.decision == Decision::Ask {
            "The user declined it; do not retry the same command.".to_owned()
        } else {
            format!(
                "Decided by {} in config.toml ([policy]); the user can change it there.",
                self.rule
            )
        };
        format!("command refused: {} ({}). {fix}", self.reason, self.rule)
    }
}

/// One `[policy]` rule: words with `*`/`?` globs; a last word `*` takes any rest.
#[derive(Clone, Debug)]
struct Rule {
    index: usize,
    words: Vec<String>,
    open_end: bool,
}

impl Rule {
    fn new(index: usize, text: &str) -> Self {
        let mut words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
        let open_end = words.len() > 1 && words.last().is_some_and(|w| w == "*");
        if open_end {
            words.pop();
        }
        Self {
            index,
            words,
            open_end,
        }
    }

    fn matches(&self, cmd: &[Word]) -> bool {
        if cmd.len() < self.words.len() || (!self.open_end && cmd.len() != self.words.len()) {
            return false;
        }
        self.words.iter().zip(cmd).enumerate().all(|(i, (pat, w))| {
            let text = if i == 0 {
                unwrap::base(&w.text)
            } else {
                &w.text
            };
            glob(pat.as_bytes(), text.as_bytes())
        })
    }
}

/// `*` any run of characters, `?` one; everything else literal.
fn glob(pat: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pat.len() && (pat[p] == b'?' || pat[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pat.len() && pat[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// The policy of one engine: rules and default from `[policy]`.
#[derive(Clone, Debug)]
pub struct Policy {
    default: Decision,
    allow: Vec<Rule>,
    ask: Vec<Rule>,
    deny: Vec<Rule>,
}

impl Policy {
    pub fn new(config: &PolicyConfig) -> Self {
        let rules = |list: &[String]| {
            list.iter()
                .enumerate()
                .map(|(i, r)| Rule::new(i, r))
                .collect()
        };
        Self {
            default: config.default.into(),
            allow: rules(&config.allow),
            ask: rules(&config.ask),
            deny: rules(&config.deny),
        }
    }

    /// Decides on `command`, run by `sh -c` in `ctx.workdir`.
    pub fn check(&self, command: &str, ctx: &GuardCtx) -> Verdict {
        let mut checker = visit::Checker::new(self, ctx);
        match shell::parse(command) {
            Ok(script) => {
                checker.script(&script, &cwd::Cwd::workdir(), &stdin::Input::Inherited, 0);
            }
            Err(e) => checker.acc.add(Verdict::new(
                Decision::Ask.max(self.default),
                "parse",
                format!("the command line cannot be checked: {e}"),
            )),
        }
        checker
            .acc
            .worst
            .unwrap_or_else(|| Verdict::new(self.default, "policy.default", "no command to run"))
    }

    /// The `[policy]` rules on each layer: deny and ask count on any layer, allow only on
    /// the innermost.
    fn rules(&self, words: &[Word], starts: &[usize]) -> Verdict {
        for &i in starts {
            if let Some(r) = self.deny.iter().find(|r| r.matches(&words[i..])) {
                return Verdict::new(
                    Decision::Deny,
                    format!("policy.deny[{}]", r.index),
                    format!("\"{}\" is denied by config", r.words.join(" ")),
                );
            }
        }
        for &i in starts {
            if let Some(r) = self.ask.iter().find(|r| r.matches(&words[i..])) {
                return Verdict::new(
                    Decision::Ask,
                    format!("policy.ask[{}]", r.index),
                    format!("{} needs the user's approval", show(&words[i..])),
                );
            }
        }
        if let Some(&i) = starts.last()
            && let Some(r) = self.allow.iter().find(|r| r.matches(&words[i..]))
        {
            return Verdict::new(
                Decision::Allow,
                format!("policy.allow[{}]", r.index),
                "allowed by config",
            );
        }
        let reason = match self.default {
            Decision::Allow => "no rule names it; policy.default is allow".to_owned(),
            Decision::Ask => format!(
                "{} is not in policy.allow and policy.default is ask",
                show(words)
            ),
            Decision::Deny => format!(
                "{} is not in policy.allow and policy.default is deny",
                show(words)
            ),
        };
        Verdict::new(self.default, "policy.default", reason)
    }
}

fn show(words: &[Word]) -> String {
    let s: Vec<&str> = words.iter().take(6).map(|w| w.text.as_str()).collect();
    let mut out = s.join(" ");
    if words.len() > 6 {
        out.push_str(" …");
    }
    out
}

/// The strictest verdict so far (the first one of that strictness).
#[derive(Default)]
struct Acc {
    worst: Option<Verdict>,
}

impl Acc {
    fn add(&mut self, v: Verdict) {
        match &self.worst {
            Some(w) if w.decision >= v.decision => {}
            _ => self.worst = Some(v),
        }
    }
}

const DOWNLOADERS: [&str; 5] = ["curl", "wget", "fetch", "aria2c", "http"];

fn interpreter(prog: &str) -> bool {
    unwrap::SHELLS.contains(&prog)
        || matches!(
            prog,
            "python"
                | "python2"
                | "python3"
                | "perl"
                | "ruby"
                | "node"
                | "php"
                | "pwsh"
                | "eval"
                | "source"
                | "."
                | "sudo"
                | "doas"
        )
}

/// Innermost program names of every command in a stage.
fn programs(stage: &Stage, out: &mut Vec<String>) {
    match stage {
        Stage::Simple(s) => {
            let layers = unwrap::layers(&s.words);
            if let Some(&i) = layers.starts.last()
                && let Some(w) = s.words.get(i)
            {
                out.push(unwrap::base(&w.text).to_owned());
            }
        }
        Stage::Group(g) => {
            for p in &g.body.pipelines {
                for st in &p.stages {
                    programs(st, out);
                }
            }
        }
    }
}

/// `curl … | sh`: a download piped into an interpreter later in the pipeline.
fn download_into_shell(stages: &[Stage]) -> Option<String> {
    let mut downloaded: Option<String> = None;
    for stage in stages {
        let mut progs = Vec::new();
        programs(stage, &mut progs);
        if let Some(d) = &downloaded
            && let Some(sh) = progs.iter().find(|p| interpreter(p))
        {
            return Some(format!("{d} output piped into {sh} runs downloaded code"));
        }
        if let Some(d) = progs.iter().find(|p| DOWNLOADERS.contains(&p.as_str())) {
            downloaded = Some(d.clone());
        }
    }
    None
}

fn has_download(script: &Script) -> bool {
    script.pipelines.iter().any(|p| {
        p.stages.iter().any(|st| {
            let mut progs = Vec::new();
            programs(st, &mut progs);
            progs.iter().any(|p| DOWNLOADERS.contains(&p.as_str()))
                || matches!(st, Stage::Simple(s) if s.words.iter().any(|w| w.subs.iter().any(has_download)))
        })
    })
}

/// Whether `script` runs a command called `name`.
fn calls(script: &Script, name: &str) -> bool {
    script.pipelines.iter().any(|p| {
        p.stages.iter().any(|st| {
            let mut progs = Vec::new();
            programs(st, &mut progs);
            progs.iter().any(|p| p == name)
        })
    })
}

/// The guard's context for a task: its workdir and the user's home.
pub fn guard_ctx(workdir: PathBuf) -> GuardCtx {
    GuardCtx {
        workdir,
        home: std::env::var_os("HOME")
            .map(PathBuf::from)
            .filter(|h| h.is_absolute()),
    }
}
