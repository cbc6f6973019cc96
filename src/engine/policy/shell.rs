//! A small, conservative parser of `sh -c` command lines for the policy: words (quotes
//! removed), pipelines, lists (`;`, `&&`, `||`, `&`, newlines), subshells and `{ }`
//! groups, function definitions, redirections, here-documents, and the scripts inside
//! `$(…)`, backticks and `<(…)`. It does not run or expand anything: `$HOME` and `~`
//! become `~`, `$PWD` becomes `.`, any other expansion marks its word dynamic.
//!
//! What it cannot follow (`case`, unbalanced quotes or parentheses) is an error, and the
//! policy asks instead of allowing.

use std::iter::Peekable;
use std::str::CharIndices;

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
}

#[derive(Debug, Clone)]
pub enum Stage {
    Simple(Simple),
    /// `( … )` or `{ …; }`.
    Group(Script, Vec<Redirect>),
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

#[derive(Debug, Clone)]
enum Tok {
    Word(Word),
    Newline,
    /// `;` `&` `&&` `||` `|` `|&` `(` `)` `;;`
    Op(&'static str),
    /// A redirection operator; here-documents carry the index of their body.
    Redir(String, Option<usize>),
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("word {:?}", w.text),
            Tok::Newline => "newline".into(),
            Tok::Op(o) => format!("{o:?}"),
            Tok::Redir(r, _) => format!("{r:?}"),
        }
    }
}

struct Lexer<'a> {
    src: &'a str,
    it: Peekable<CharIndices<'a>>,
    toks: Vec<Tok>,
    heredocs: Vec<String>,
    /// Here-documents whose bodies start after the next newline: (delimiter, strip tabs, index).
    pending: Vec<(String, bool, usize)>,
    depth: usize,
}

fn err<T>(msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(msg.into()))
}

impl Lexer<'_> {
    fn peek(&mut self) -> Option<char> {
        self.it.peek().map(|&(_, c)| c)
    }

    fn pos(&mut self) -> usize {
        self.it.peek().map_or(self.src.len(), |&(i, _)| i)
    }

    fn run(&mut self) -> Result<(), ParseError> {
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\r' => {
                    self.it.next();
                }
                '\n' => {
                    self.it.next();
                    self.toks.push(Tok::Newline);
                    self.read_heredocs();
                }
                '#' => {
                    while let Some(c) = self.peek() {
                        if c == '\n' {
                            break;
                        }
                        self.it.next();
                    }
                }
                ';' | '&' | '|' | '(' | ')' => self.operator(c),
                '<' | '>' => {
                    // `<(…)` and `>(…)`: process substitution is a word.
                    let rest = &self.src[self.pos()..];
                    if rest.starts_with("<(") || rest.starts_with(">(") {
                        self.word(false)?;
                    } else {
                        self.redirect()?;
                    }
                }
                _ => self.word(true)?,
            }
        }
        if !self.pending.is_empty() {
            self.read_heredocs();
        }
        Ok(())
    }

    fn operator(&mut self, c: char) {
        self.it.next();
        let next = self.peek();
        let op = match (c, next) {
            (';', Some(';')) => {
                self.it.next();
                ";;"
            }
            ('&', Some('&')) => {
                self.it.next();
                "&&"
            }
            ('&', Some('>')) => {
                // `&>` / `&>>`: redirect both streams.
                self.it.next();
                let op = if self.peek() == Some('>') {
                    self.it.next();
                    "&>>"
                } else {
                    "&>"
                };
                self.toks.push(Tok::Redir(op.into(), None));
                return;
            }
            ('|', Some('|')) => {
                self.it.next();
                "||"
            }
            ('|', Some('&')) => {
                self.it.next();
                "|&"
            }
            (';', _) => ";",
            ('&', _) => "&",
            ('|', _) => "|",
            ('(', _) => "(",
            _ => ")",
        };
        self.toks.push(Tok::Op(op));
    }

    fn redirect(&mut self) -> Result<(), ParseError> {
        let rest = &self.src[self.pos()..];
        let op = [
            "<<<", "<<-", "&>>", "<<", ">>", ">|", ">&", "<&", "<>", "<", ">",
        ]
        .into_iter()
        .find(|op| rest.starts_with(op))
        .unwrap_or(">");
        for _ in 0..op.len() {
            self.it.next();
        }
        if op == "<<" || op == "<<-" {
            while matches!(self.peek(), Some(' ' | '\t')) {
                self.it.next();
            }
            let start = self.toks.len();
            self.word(false)?;
            let Some(Tok::Word(delim)) = self.toks.pop() else {
                return err("a here-document needs a delimiter word");
            };
            debug_assert_eq!(self.toks.len(), start);
            let index = self.heredocs.len();
            self.heredocs.push(String::new());
            self.pending.push((delim.text.clone(), op == "<<-", index));
            self.toks.push(Tok::Redir(op.into(), Some(index)));
            self.toks.push(Tok::Word(delim));
            return Ok(());
        }
        self.toks.push(Tok::Redir(op.into(), None));
        Ok(())
    }

    fn read_heredocs(&mut self) {
        for (delim, strip, index) in std::mem::take(&mut self.pending) {
            let mut body = String::new();
            loop {
                let start = self.pos();
                if start >= self.src.len() {
                    // A missing end delimiter ends the body at the end of input, as sh does.
                    break;
                }
                let end = self.src[start..]
                    .find('\n')
                    .map_or(self.src.len(), |i| start + i);
                let line = &self.src[start..end];
                while self.pos() < end.min(self.src.len()) {
                    self.it.next();
                }
                self.it.next(); // the newline
                let cmp = if strip {
                    line.trim_start_matches('\t')
                } else {
                    line
                };
                if cmp == delim {
                    break;
                }
                body.push_str(line);
                body.push('\n');
            }
            self.heredocs[index] = body;
        }
    }

    /// Reads one word. `fd_prefix`: a word of digits directly before `<` or `>` is the
    /// redirection's file descriptor, not a word.
    fn word(&mut self, fd_prefix: bool) -> Result<(), ParseError> {
        let mut w = Word::default();
        let mut quoted = false;
        let at_start = |w: &Word| w.text.is_empty() && !w.dynamic;
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\r' | '\n' | ';' | '&' | '|' | '(' | ')' => break,
                '<' | '>' => {
                    let rest = &self.src[self.pos()..];
                    if at_start(&w) && (rest.starts_with("<(") || rest.starts_with(">(")) {
                        self.it.next();
                        self.it.next();
                        let inner = self.balanced(')')?;
                        w.subs.push(parse_at(&inner, self.depth + 1)?);
                        w.dynamic = true;
                        w.text.push_str("/dev/fd/63");
                        continue;
                    }
                    if fd_prefix
                        && !quoted
                        && !w.text.is_empty()
                        && w.text.bytes().all(|b| b.is_ascii_digit())
                    {
                        // `2>file`: the digits belong to the operator.
                        return Ok(());
                    }
                    break;
                }
                '\'' => {
                    self.it.next();
                    quoted = true;
                    loop {
                        match self.it.next() {
                            Some((_, '\'')) => break,
                            Some((_, c)) => w.text.push(c),
                            None => return err("a single quote is not closed"),
                        }
                    }
                }
                '"' => {
                    self.it.next();
                    quoted = true;
                    self.double_quoted(&mut w)?;
                }
                '\\' => {
                    self.it.next();
                    match self.it.next() {
                        Some((_, '\n')) | None => {}
                        Some((_, c)) => w.text.push(c),
                    }
                }
                '$' => {
                    self.it.next();
                    self.dollar(&mut w)?;
                }
                '`' => {
                    self.it.next();
                    self.backtick(&mut w)?;
                }
                _ => {
                    self.it.next();
                    w.text.push(c);
                }
            }
        }
        if !w.text.is_empty() || w.dynamic || quoted {
            self.toks.push(Tok::Word(w));
        }
        Ok(())
    }

    fn double_quoted(&mut self, w: &mut Word) -> Result<(), ParseError> {
        loop {
            match self.it.next() {
                Some((_, '"')) => return Ok(()),
                Some((_, '\\')) => match self.it.next() {
                    Some((_, c @ ('$' | '`' | '"' | '\\'))) => w.text.push(c),
                    Some((_, '\n')) => {}
                    Some((_, c)) => {
                        w.text.push('\\');
                        w.text.push(c);
                    }
                    None => return err("a double quote is not closed"),
                },
                Some((_, '$')) => self.dollar(w)?,
                Some((_, '`')) => self.backtick(w)?,
                Some((_, c)) => w.text.push(c),
                None => return err("a double quote is not closed"),
            }
        }
    }

    /// After a `$`: command substitution, arithmetic, a parameter or a literal `$`.
    fn dollar(&mut self, w: &mut Word) -> Result<(), ParseError> {
        match self.peek() {
            Some('(') => {
                self.it.next();
                if self.peek() == Some('(') {
                    self.it.next();
                    let inner = self.balanced(')')?;
                    if self.it.next().map(|(_, c)| c) != Some(')') {
                        return err("an arithmetic expansion $(( … )) is not closed");
                    }
                    // `$(( … ))` may itself hold `$( … )`.
                    if inner.contains("$(") || inner.contains('`') {
                        return err("command substitution inside arithmetic is not followed");
                    }
                } else {
                    let inner = self.balanced(')')?;
                    w.subs.push(parse_at(&inner, self.depth + 1)?);
                }
                w.dynamic = true;
                w.text.push('$');
            }
            Some('{') => {
                self.it.next();
                let inner = self.balanced('}')?;
                match inner.as_str() {
                    "HOME" => w.text.push('~'),
                    "PWD" => w.text.push('.'),
                    _ => {
                        if inner.contains("$(") || inner.contains('`') {
                            return err("command substitution inside ${…} is not followed");
                        }
                        w.dynamic = true;
                        w.text.push('$');
                    }
                }
            }
            Some('\'') => {
                // ANSI-C quoting: escapes could spell anything, so it is dynamic if it has one.
                self.it.next();
                loop {
                    match self.it.next() {
                        Some((_, '\'')) => break,
                        Some((_, '\\')) => {
                            w.dynamic = true;
                            self.it.next();
                        }
                        Some((_, c)) => w.text.push(c),
                        None => return err("a $'…' quote is not closed"),
                    }
                }
            }
            Some(c) if c == '_' || c.is_ascii_alphabetic() => {
                let mut name = String::new();
                while let Some(c) = self.peek() {
                    if c == '_' || c.is_ascii_alphanumeric() {
                        name.push(c);
                        self.it.next();
                    } else {
                        break;
                    }
                }
                match name.as_str() {
                    "HOME" => w.text.push('~'),
                    "PWD" => w.text.push('.'),
                    _ => {
                        w.dynamic = true;
                        w.text.push('$');
                        w.text.push_str(&name);
                    }
                }
            }
            Some(c) if c.is_ascii_digit() || "@*#?$!-".contains(c) => {
                self.it.next();
                w.dynamic = true;
                w.text.push('$');
                w.text.push(c);
            }
            _ => w.text.push('$'),
        }
        Ok(())
    }

    fn backtick(&mut self, w: &mut Word) -> Result<(), ParseError> {
        let mut inner = String::new();
        loop {
            match self.it.next() {
                Some((_, '`')) => break,
                Some((_, '\\')) => match self.it.next() {
                    Some((_, c @ ('`' | '\\' | '$'))) => inner.push(c),
                    Some((_, c)) => {
                        inner.push('\\');
                        inner.push(c);
                    }
                    None => return err("a backquote is not closed"),
                },
                Some((_, c)) => inner.push(c),
                None => return err("a backquote is not closed"),
            }
        }
        w.subs.push(parse_at(&inner, self.depth + 1)?);
        w.dynamic = true;
        w.text.push('$');
        Ok(())
    }

    /// The text up to the `close` that balances an opening just read (quotes and nested
    /// parentheses respected); the closer is consumed.
    fn balanced(&mut self, close: char) -> Result<String, ParseError> {
        let open = if close == ')' { '(' } else { '{' };
        let mut depth = 1usize;
        let mut out = String::new();
        while let Some((_, c)) = self.it.next() {
            match c {
                '\\' => {
                    out.push(c);
                    if let Some((_, n)) = self.it.next() {
                        out.push(n);
                    }
                }
                '\'' => {
                    out.push(c);
                    loop {
                        match self.it.next() {
                            Some((_, '\'')) => break,
                            Some((_, q)) => out.push(q),
                            None => return err("a single quote is not closed"),
                        }
                    }
                    out.push('\'');
                }
                '"' => {
                    out.push(c);
                    loop {
                        match self.it.next() {
                            Some((_, '"')) => break,
                            Some((_, '\\')) => {
                                out.push('\\');
                                if let Some((_, n)) = self.it.next() {
                                    out.push(n);
                                }
                            }
                            Some((_, q)) => out.push(q),
                            None => return err("a double quote is not closed"),
                        }
                    }
                    out.push('"');
                }
                c if c == open => {
                    depth += 1;
                    out.push(c);
                }
                c if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(out);
                    }
                    out.push(c);
                }
                c => out.push(c),
            }
        }
        err(format!("a {open} is not closed by {close}"))
    }
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
        loop {
            while matches!(
                self.peek(),
                Some(Tok::Newline | Tok::Op(";" | "&" | "&&" | "||"))
            ) {
                self.pos += 1;
            }
            match (self.peek(), stop) {
                (None, Stop::End) | (Some(Tok::Op(")")), Stop::Paren) => return Ok(script),
                (None, _) => return err("a ( or { group is not closed"),
                (Some(Tok::Op(";;")), _) => return err("case statements are not followed"),
                _ if stop == Stop::Brace && self.at_word("}") => return Ok(script),
                _ => {}
            }
            let pipeline = self.pipeline(&mut script)?;
            if !pipeline.stages.is_empty() {
                script.pipelines.push(pipeline);
            }
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
                Some(Stage::Group(s, _)) => s,
                Some(Stage::Simple(s)) => Script {
                    pipelines: vec![Pipeline {
                        stages: vec![Stage::Simple(s)],
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
            return Ok(Some(Stage::Group(inner, redirects)));
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
            return Ok(Some(Stage::Group(inner, redirects)));
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
mod tests {
    use super::*;

    fn words(s: &Simple) -> Vec<&str> {
        s.words.iter().map(|w| w.text.as_str()).collect()
    }

    fn simples(script: &Script) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for p in &script.pipelines {
            for st in &p.stages {
                match st {
                    Stage::Simple(s) => {
                        out.push(words(s).into_iter().map(str::to_owned).collect());
                    }
                    Stage::Group(g, _) => out.extend(simples(g)),
                }
            }
        }
        out
    }

    #[test]
    fn words_lists_and_pipes() {
        let s = parse(r#"git status && echo "a b" 'c d' e\ f | wc -l; ls -la"#).unwrap();
        assert_eq!(s.pipelines.len(), 3);
        assert_eq!(s.pipelines[1].stages.len(), 2);
        assert_eq!(
            simples(&s),
            vec![
                vec!["git", "status"],
                vec!["echo", "a b", "c d", "e f"],
                vec!["wc", "-l"],
                vec!["ls", "-la"],
            ]
        );
    }

    #[test]
    fn expansions_and_substitutions() {
        let s = parse(r#"rm -rf "$HOME"/x ${HOME} $PWD $FOO "$(echo hi)" `id`"#).unwrap();
        let Stage::Simple(simple) = &s.pipelines[0].stages[0] else {
            panic!()
        };
        assert_eq!(
            words(simple),
            vec!["rm", "-rf", "~/x", "~", ".", "$FOO", "$", "$"]
        );
        assert!(simple.words[5].dynamic);
        assert!(!simple.words[2].dynamic);
        assert_eq!(simples(&simple.words[6].subs[0]), vec![vec!["echo", "hi"]]);
        assert_eq!(simples(&simple.words[7].subs[0]), vec![vec!["id"]]);
    }

    #[test]
    fn groups_functions_redirects_heredocs() {
        let s = parse(":(){ :|:& };:").unwrap();
        assert_eq!(s.functions.len(), 1);
        assert_eq!(s.functions[0].0, ":");
        assert_eq!(simples(&s.functions[0].1), vec![vec![":"], vec![":"]]);
        let s = parse("(cd sub && make) 2>&1 > out.txt").unwrap();
        assert_eq!(simples(&s), vec![vec!["cd", "sub"], vec!["make"]]);
        let s = parse("cat <<'EOF' > f.txt\nrm -rf /\nEOF\necho done").unwrap();
        let Stage::Simple(cat) = &s.pipelines[0].stages[0] else {
            panic!()
        };
        assert_eq!(cat.redirects[0].heredoc.as_deref(), Some("rm -rf /\n"));
        assert_eq!(cat.redirects[1].target.text, "f.txt");
        assert_eq!(simples(&s), vec![vec!["cat"], vec!["echo", "done"]]);
        let s = parse("for f in *.txt; do wc -l \"$f\"; done").unwrap();
        assert_eq!(
            simples(&s),
            vec![
                vec!["for", "f", "in", "*.txt"],
                vec!["wc", "-l", "$f"],
                vec!["done"]
            ]
        );
    }

    #[test]
    fn what_cannot_be_followed_is_an_error() {
        for bad in [
            "echo 'open",
            "echo \"open",
            "echo $(ls",
            "(ls",
            "case $x in a) ls;; esac",
            "echo `ls",
            "{ ls",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let deep = "$(".repeat(40) + &")".repeat(40);
        assert!(parse(&format!("echo {deep}")).is_err());
    }
}
