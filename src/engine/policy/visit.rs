//! The walk through a parsed command line: every command it would run — in lists,
//! pipelines, groups and functions, inside `$(…)`, the scripts of `sh -c` and `eval`,
//! text fed to a shell on standard input, the commands `find -exec` and `xargs` run —
//! with its braces expanded (`braces.rs`), checked by the guard and the rules, in each
//! directory it may run in (`cwd.rs`) and with what it reads (`stdin.rs`).

use super::braces;
use super::cwd::{self, Cwd, Flow};
use super::guard::{self, GuardCtx};
use super::shell::{self, Pipeline, Redirect, Script, Simple, Stage};
use super::stdin::{self, Input};
use super::unwrap;
use super::{Acc, Decision, Policy, Verdict, calls, download_into_shell, has_download};

/// Checks the commands of one line, keeping the strictest verdict.
pub(super) struct Checker<'a> {
    pub policy: &'a Policy,
    pub ctx: &'a GuardCtx,
    pub acc: Acc,
    /// Functions that change directory: calling one leaves the shell somewhere unknown.
    movers: Vec<String>,
    /// Scripts still to be followed from text fed to shells and `xargs` (nesting them
    /// multiplies the work).
    budget: usize,
}

/// Most scripts followed from text fed to shells and `xargs` in one line.
const BUDGET: usize = 256;

impl<'a> Checker<'a> {
    pub fn new(policy: &'a Policy, ctx: &'a GuardCtx) -> Self {
        Self {
            policy,
            ctx,
            acc: Acc::default(),
            movers: Vec::new(),
            budget: BUDGET,
        }
    }

    /// Takes one from the budget; when it is spent, the line is asked about.
    fn spend(&mut self) -> bool {
        if self.budget == 0 {
            self.ask("dynamic", "too many scripts fed to shells to check".into());
            return false;
        }
        self.budget -= 1;
        true
    }

    fn ask(&mut self, rule: &str, reason: String) {
        let decision = Decision::Ask.max(self.policy.default);
        self.acc.add(Verdict::new(decision, rule, reason));
    }

    /// Checks `script` run in `cwd` reading `input`; returns where it leaves the shell.
    pub fn script(&mut self, script: &Script, cwd: &Cwd, input: &Input, depth: usize) -> Flow {
        if depth > shell::MAX_DEPTH {
            self.acc.add(Verdict::new(
                Decision::Ask,
                "parse",
                "commands nested too deeply to check",
            ));
            return Flow::stay(cwd);
        }
        for (name, body) in &script.functions {
            if calls(body, name) {
                self.acc.add(Verdict::new(
                    Decision::Deny,
                    "guard:fork-bomb",
                    format!("function {name} calls itself (a fork bomb)"),
                ));
            }
            if cwd::moves(body) {
                self.movers.push(name.clone());
            }
            self.script(body, cwd, &Input::Inherited, depth + 1);
        }
        let mut flow = Flow::stay(cwd);
        let mut last = cwd.clone();
        for p in &script.pipelines {
            let mut run = flow.next(p.join);
            if run.is_empty() {
                // Only after `exit`, which may have been conditional (the parser flattens
                // `if`): judged where the commands before it ran.
                run = last.clone();
            }
            let then = self.pipeline(p, &run, input, depth);
            flow = flow.then(p.join, then);
            last = run;
        }
        flow
    }

    fn pipeline(&mut self, p: &Pipeline, cwd: &Cwd, input: &Input, depth: usize) -> Flow {
        if let Some(reason) = download_into_shell(&p.stages) {
            self.acc
                .add(Verdict::new(Decision::Deny, "guard:download-exec", reason));
        }
        let mut flow = Flow::stay(cwd);
        let mut piped = input.clone();
        for (i, stage) in p.stages.iter().enumerate() {
            let feeds = i + 1 < p.stages.len();
            let (moved, output) = match stage {
                Stage::Simple(s) => self.simple(s, cwd, piped, feeds, p.looped, depth),
                Stage::Group(g) => {
                    let input = stdin::input(&g.redirects, piped);
                    self.redirects(&g.redirects, cwd, depth);
                    let inner = self.script(&g.body, cwd, &input, depth + 1);
                    let moved = if g.subshell { Flow::stay(cwd) } else { inner };
                    let output = if feeds {
                        Input::Unknown("the output of a group".into())
                    } else {
                        Input::Inherited
                    };
                    (moved, output)
                }
            };
            // Each stage of a longer pipeline runs in a subshell.
            if p.stages.len() == 1 {
                flow = moved;
            }
            piped = output;
        }
        flow
    }

    /// Checks one command; returns how it moves the shell and what it writes (when it
    /// `feeds` a pipe).
    fn simple(
        &mut self,
        s: &Simple,
        cwd: &Cwd,
        piped: Input,
        feeds: bool,
        looped: bool,
        depth: usize,
    ) -> (Flow, Input) {
        let input = stdin::input(&s.redirects, piped);
        for w in &s.words {
            for sub in &w.subs {
                self.script(sub, cwd, &input, depth + 1);
            }
        }
        self.redirects(&s.redirects, cwd, depth);
        let unknown = || Input::Unknown("a command's output".into());
        let Some(words) = braces::expand_words(&s.words) else {
            self.ask(
                "braces",
                format!(
                    "the braces expand to more than {} words, too many to check",
                    braces::MAX_WORDS
                ),
            );
            return (Flow::stay(cwd), unknown());
        };
        if words.is_empty() {
            return (Flow::stay(cwd), unknown());
        }
        let flow = cwd::change(&words, self.ctx, cwd, looped).unwrap_or_else(|| {
            let calls_mover = !words[0].dynamic && self.movers.contains(&words[0].text);
            if calls_mover {
                Flow::stay(&cwd.union(&Cwd::unknown()))
            } else {
                Flow::stay(cwd)
            }
        });
        let layers = unwrap::layers(&words);
        let inner = layers.starts.last().map_or(&words[..0], |&i| &words[i..]);
        let output = if feeds {
            stdin::output(inner, &input)
        } else {
            Input::Inherited
        };
        if layers.inert {
            return (flow, output);
        }
        let prog = inner.first().map_or("", |w| unwrap::base(&w.text));
        // `bash <(curl …)`, `sh < <(wget …)`: a download run as the script.
        let downloads = |w: &shell::Word| w.subs.iter().any(has_download);
        if super::interpreter(prog)
            && (words.iter().any(downloads)
                || s.redirects
                    .iter()
                    .any(|r| r.op == "<" && downloads(&r.target)))
        {
            self.acc.add(Verdict::new(
                Decision::Deny,
                "guard:download-exec",
                format!("{prog} would run code downloaded by curl or wget"),
            ));
        }
        if inner.first().is_some_and(|w| w.dynamic) {
            self.ask(
                "dynamic",
                format!("the program ({}) is only known at run time", inner[0].text),
            );
            return (flow, output);
        }
        if matches!(prog, "for" | "select" | "done" | "fi" | "esac" | "}") {
            return (flow, output);
        }
        // `env -C DIR`, `sudo -D DIR`: the command runs there.
        let run = layers
            .chdir
            .as_ref()
            .map_or_else(|| cwd.clone(), |w| cwd::enter(w, self.ctx, cwd));
        match &layers.script {
            Some(unwrap::Script::Text(t)) => match shell::parse_at(t, depth + 1) {
                Ok(sc) => {
                    self.script(&sc, &run, &input, depth + 1);
                }
                Err(e) => self.ask(
                    "parse",
                    format!("the script given to {prog} cannot be checked: {e}"),
                ),
            },
            Some(unwrap::Script::Dynamic) => {
                self.ask(
                    "dynamic",
                    format!("{prog} runs a script only known at run time"),
                );
            }
            None => {}
        }
        if unwrap::SHELLS.contains(&prog) {
            self.shell_input(prog, &input, layers.reads_stdin, &run, depth);
        }
        if let (Input::Text(texts), true) = (&input, layers.stdin_args) {
            // `xargs` fed known text: the commands it would run.
            for text in texts {
                if !self.spend() {
                    break;
                }
                match stdin::xargs(inner, layers.replace.as_deref(), text) {
                    Some(cmds) => {
                        for words in cmds {
                            let cmd = Simple {
                                words,
                                redirects: Vec::new(),
                            };
                            self.simple(&cmd, &run, Input::Inherited, false, false, depth + 1);
                        }
                    }
                    None => self.ask(
                        "dynamic",
                        format!("xargs would run {prog} too many times to check"),
                    ),
                }
            }
        } else {
            if let (Some(r), Some(unwrap::Script::Text(t))) = (&layers.replace, &layers.script)
                && t.contains(r.as_str())
            {
                self.ask(
                    "dynamic",
                    format!("xargs builds the script {prog} runs from its input ({r})"),
                );
            }
            self.guard(inner, layers.stdin_args, &run);
        }
        // `find … -exec CMD … ;` runs CMD: here, or in each found file's directory.
        if prog == "find" {
            for (action, cmd) in guard::exec_commands(&inner[1..]) {
                let at = if action.ends_with("dir") {
                    Cwd::unknown()
                } else {
                    run.clone()
                };
                let cmd = Simple {
                    words: cmd.to_vec(),
                    redirects: Vec::new(),
                };
                self.simple(&cmd, &at, Input::Inherited, false, false, depth + 1);
            }
        }
        self.acc.add(self.policy.rules(&words, &layers.starts));
        (flow, output)
    }

    fn guard(&mut self, inner: &[shell::Word], stdin_args: bool, cwd: &Cwd) {
        if let Some(f) = guard::check(inner, stdin_args, self.ctx, cwd) {
            self.acc.add(match f {
                guard::Finding::Deny(name, why) => {
                    Verdict::new(Decision::Deny, format!("guard:{name}"), why)
                }
                guard::Finding::Ask(name, why) => {
                    Verdict::new(Decision::Ask, format!("guard:{name}"), why)
                }
            });
        }
    }

    /// A shell given text on standard input runs it when it reads its script from there
    /// (and may anyway: known text is checked for every shell).
    fn shell_input(
        &mut self,
        prog: &str,
        input: &Input,
        reads_stdin: bool,
        cwd: &Cwd,
        depth: usize,
    ) {
        match input {
            Input::Text(texts) => {
                for text in texts {
                    if !self.spend() {
                        break;
                    }
                    match shell::parse_at(text, depth + 1) {
                        Ok(sc) => {
                            self.script(&sc, cwd, &Input::Inherited, depth + 1);
                        }
                        Err(e) if reads_stdin => self.ask(
                            "parse",
                            format!("the script fed to {prog} cannot be checked: {e}"),
                        ),
                        Err(_) => {}
                    }
                }
            }
            Input::Unknown(from) if reads_stdin => self.ask(
                "dynamic",
                format!("{prog} would run a script read from {from}, which cannot be checked"),
            ),
            _ => {}
        }
    }

    fn redirects(&mut self, redirects: &[Redirect], cwd: &Cwd, depth: usize) {
        for r in redirects {
            for sub in &r.target.subs {
                self.script(sub, cwd, &Input::Inherited, depth + 1);
            }
            if r.op.contains('>') && guard::is_device(&r.target.text, true) {
                self.acc.add(Verdict::new(
                    Decision::Deny,
                    "guard:device",
                    format!("{} {} would write to a device", r.op, r.target.text),
                ));
            }
        }
    }
}
