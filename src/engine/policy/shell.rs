//! A small, conservative parser of `sh -c` command lines for the policy: words (quotes
//! removed), pipelines, lists (`;`, `&&`, `||`, `&`, newlines), subshells and `{ }`
//! groups, function definitions, redirections, here-documents, and the scripts inside
//! `$(…)`, backticks and `<(…)`. It does not run or expand anything: `$HOME` and `~`
//! become `~`, `$PWD` becomes `.`, any other expansion marks its word dynamic.
//!
//! What it cannot follow (`case`, unbalanced quotes or parentheses) is an error, and the
//! policy asks instead of allowing.

mod lexer;

use lexer::{Lexer, Tok, err};

/// A parsed command line: pipelines joined by `;`, `&&`, `||`, `&` or newlines.
#[derive(Debug, Default, Clone)]
pub struct Script {
    pub pipelines: Vec<Pipeline>,
    /// Functions defined here: name and body.
    pub functions: Vec<(String, Script)>,
}

/// Stages joined by `|`.
#[derive(Debug, Default, Clone)]
pub struct Pipeline {
    pub stages: Vec<Stage>,
    /// How it follows the pipeline before it.
    pub join: Join,
    /// It is inside a loop (the parser flattens `while …; do …; done`): it may run
    /// many times.
    pub looped: bool,
}

/// What joins a pipeline to the one before: whether it runs depends on how that one
/// ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Join {
    /// `;`, `&`, a newline, or the first pipeline: it runs either way.
    #[default]
    Seq,
    /// `&&`: only when the one before succeeded.
    And,
    /// `||`: only when the one before failed.
    Or,
}

#[derive(Debug, Clone)]
pub enum Stage {
    Simple(Simple),
    Group(Group),
}

/// `( … )` or `{ …; }` with the redirections after it.
#[derive(Debug, Clone)]
pub struct Group {
    pub body: Script,
    pub redirects: Vec<Redirect>,
    /// `( … )`: runs in a subshell, so a `cd` inside stays inside.
    pub subshell: bool,
}

/// One command: its words and redirections.
#[derive(Debug, Default, Clone)]
pub struct Simple {
    pub words: Vec<Word>,
    pub redirects: Vec<Redirect>,
}

/// A word with quotes removed.
#[derive(Debug, Default, Clone)]
pub struct Word {
    pub text: String,
    /// Part of it is only known when the shell runs (`$X`, `$(…)`, backticks).
    pub dynamic: bool,
    /// Scripts run to produce it (`$(…)`, backticks, `<(…)`).
    pub subs: Vec<Script>,
    /// It has an unquoted `{`: brace expansion may apply.
    pub brace: bool,
}

#[derive(Debug, Clone)]
pub struct Redirect {
    /// `>`, `>>`, `<`, `<<`, `&>`, `>&`, … (any fd number dropped).
    pub op: String,
    pub target: Word,
    /// The body of a here-document.
    pub heredoc: Option<String>,
}

/// Why a command line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// Deepest nesting of `$(…)`, `sh -c` and groups followed.
pub const MAX_DEPTH: usize = 16;

pub fn parse(src: &str) -> Result<Script, ParseError> {
    parse_at(src, 0)
}

pub(super) fn parse_at(src: &str, depth: usize) -> Result<Script, ParseError> {
    if depth > MAX_DEPTH {
        return Err(ParseError("commands nested too deeply".into()));
    }
    let mut lx = Lexer {
        src,
        it: src.char_indices().peekable(),
        toks: Vec::new(),
        heredocs: Vec::new(),
        pending: Vec::new(),
        depth,
    };
    lx.run()?;
    let Lexer { toks, heredocs, .. } = lx;
    let mut p = Parser {
        toks,
        heredocs,
        pos: 0,
        depth,
        loops: 0,
    };
    let script = p.script(Stop::End)?;
    if p.pos < p.toks.len() {
        return Err(ParseError(format!(
            "unexpected {}",
            p.toks[p.pos].describe()
        )));
    }
    Ok(script)
}

/// Where a nested script ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    End,
    Paren,
    Brace,
}

struct Parser {
    toks: Vec<Tok>,
    heredocs: Vec<String>,
    pos: usize,
    depth: usize,
    /// Loops open here (`while`, `until`, `for`, `select` not yet closed by `done`).
    loops: usize,
}

/// Words that start or continue compound commands; they run nothing themselves.
const PREFIX_WORDS: [&str; 9] = [
    "!", "if", "then", "else", "elif", "do", "while", "until", "time",
];

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn at_word(&self, text: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.text == text && !w.dynamic && w.subs.is_empty())
    }

    fn script(&mut self, stop: Stop) -> Result<Script, ParseError> {
        if self.depth > MAX_DEPTH {
            return err("commands nested too deeply");
        }
        let mut script = Script::default();
        let mut join = Join::Seq;
        loop {
            loop {
                match self.peek() {
                    Some(Tok::Op(";" | "&")) => join = Join::Seq,
                    Some(Tok::Op("&&")) => join = Join::And,
                    Some(Tok::Op("||")) => join = Join::Or,
                    // `a &&` may continue on the next line.
                    Some(Tok::Newline) => {}
                    _ => break,
                }
                self.pos += 1;
            }
            match (self.peek(), stop) {
                (None, Stop::End) | (Some(Tok::Op(")")), Stop::Paren) => return Ok(script),
                (None, _) => return err("a ( or { group is not closed"),
                (Some(Tok::Op(";;")), _) => return err("case statements are not followed"),
                _ if stop == Stop::Brace && self.at_word("}") => return Ok(script),
                _ => {}
            }
            let start = self.pos;
            let mut pipeline = self.pipeline(&mut script)?;
            if self.pos == start {
                // Nothing a command can start with (a stray `)`): stop, do not spin.
                let what = self.peek().map_or_else(|| "end".into(), Tok::describe);
                return err(format!("unexpected {what}"));
            }
            if !pipeline.stages.is_empty() {
                pipeline.join = join;
                pipeline.looped = self.loops > 0;
                script.pipelines.push(pipeline);
            }
            join = Join::Seq;
        }
    }

    fn pipeline(&mut self, script: &mut Script) -> Result<Pipeline, ParseError> {
        let mut p = Pipeline::default();
        loop {
            if let Some(stage) = self.stage(script)? {
                p.stages.push(stage);
            }
            if matches!(self.peek(), Some(Tok::Op("|" | "|&"))) {
                self.pos += 1;
                while matches!(self.peek(), Some(Tok::Newline)) {
                    self.pos += 1;
                }
            } else {
                return Ok(p);
            }
        }
    }

    fn stage(&mut self, script: &mut Script) -> Result<Option<Stage>, ParseError> {
        while let Some(Tok::Word(w)) = self.peek() {
            if PREFIX_WORDS.contains(&w.text.as_str()) && !w.dynamic {
                if matches!(w.text.as_str(), "while" | "until") {
                    self.loops += 1;
                }
                self.pos += 1;
            } else {
                break;
            }
        }
        if let Some(Tok::Word(w)) = self.peek()
            && w.text == "case"
        {
            return err("case statements are not followed");
        }
        // `function name { … }`, `name() { … }`
        let is_def = match (self.toks.get(self.pos), self.toks.get(self.pos + 1)) {
            (Some(Tok::Word(w)), Some(Tok::Word(n))) if w.text == "function" => {
                let name = n.text.clone();
                self.pos += 2;
                if matches!(self.peek(), Some(Tok::Op("("))) {
                    self.pos += 1;
                    self.expect_op(")")?;
                }
                Some(name)
            }
            (Some(Tok::Word(n)), Some(Tok::Op("("))) => {
                if matches!(self.toks.get(self.pos + 2), Some(Tok::Op(")"))) {
                    let name = n.text.clone();
                    self.pos += 3;
                    Some(name)
                } else {
                    return err(format!("unexpected ( after {:?}", n.text));
                }
            }
            _ => None,
        };
        if let Some(name) = is_def {
            while matches!(self.peek(), Some(Tok::Newline)) {
                self.pos += 1;
            }
            let body = match self.stage(script)? {
                Some(Stage::Group(g)) => g.body,
                Some(Stage::Simple(s)) => Script {
                    pipelines: vec![Pipeline {
                        stages: vec![Stage::Simple(s)],
                        join: Join::Seq,
                        looped: false,
                    }],
                    functions: Vec::new(),
                },
                None => Script::default(),
            };
            script.functions.push((name, body));
            return Ok(None);
        }
        if matches!(self.peek(), Some(Tok::Op("("))) {
            self.pos += 1;
            self.depth += 1;
            let inner = self.script(Stop::Paren)?;
            self.depth -= 1;
            self.expect_op(")")?;
            let redirects = self.trailing_redirects()?;
            return Ok(Some(Stage::Group(Group {
                body: inner,
                redirects,
                subshell: true,
            })));
        }
        if self.at_word("{") {
            self.pos += 1;
            self.depth += 1;
            let inner = self.script(Stop::Brace)?;
            self.depth -= 1;
            if !self.at_word("}") {
                return err("a { group is not closed by }");
            }
            self.pos += 1;
            let redirects = self.trailing_redirects()?;
            return Ok(Some(Stage::Group(Group {
                body: inner,
                redirects,
                subshell: false,
            })));
        }
        let mut simple = Simple::default();
        loop {
            match self.peek() {
                Some(Tok::Word(w)) => {
                    simple.words.push(w.clone());
                    self.pos += 1;
                }
                Some(Tok::Redir(..)) => simple.redirects.push(self.redirect()?),
                Some(Tok::Op("(")) => return err("unexpected ( inside a command"),
                _ => break,
            }
        }
        match simple.words.first() {
            Some(w) if w.dynamic => {}
            Some(w) if matches!(w.text.as_str(), "for" | "select") => self.loops += 1,
            Some(w) if w.text == "done" => self.loops = self.loops.saturating_sub(1),
            _ => {}
        }
        if simple.words.is_empty() && simple.redirects.is_empty() {
            return Ok(None);
        }
        Ok(Some(Stage::Simple(simple)))
    }

    fn trailing_redirects(&mut self) -> Result<Vec<Redirect>, ParseError> {
        let mut out = Vec::new();
        while matches!(self.peek(), Some(Tok::Redir(..))) {
            out.push(self.redirect()?);
        }
        Ok(out)
    }

    fn redirect(&mut self) -> Result<Redirect, ParseError> {
        let Some(Tok::Redir(op, doc)) = self.peek().cloned() else {
            return err("expected a redirection");
        };
        self.pos += 1;
        let Some(Tok::Word(target)) = self.peek().cloned() else {
            return err(format!("{op} needs a target"));
        };
        self.pos += 1;
        Ok(Redirect {
            op,
            target,
            heredoc: doc.and_then(|i| self.heredocs.get(i).cloned()),
        })
    }

    fn expect_op(&mut self, op: &str) -> Result<(), ParseError> {
        match self.peek() {
            Some(Tok::Op(o)) if *o == op => {
                self.pos += 1;
                Ok(())
            }
            Some(t) => err(format!("expected {op}, found {}", t.describe())),
            None => err(format!("expected {op} at the end")),
        }
    }
}

#[cfg(test)]
mod tests;
