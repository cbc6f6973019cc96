//! The lexer of the policy's shell parser: quotes, escapes, expansions, operators,
//! here-documents and nested scripts (`$(…)`, backticks, `<(…)`) into tokens.

use std::iter::Peekable;
use std::str::CharIndices;

use super::{ParseError, Word, parse_at};

#[derive(Debug, Clone)]
pub(super) enum Tok {
    Word(Word),
    Newline,
    /// `;` `&` `&&` `||` `|` `|&` `(` `)` `;;`
    Op(&'static str),
    /// A redirection operator; here-documents carry the index of their body.
    Redir(String, Option<usize>),
}

impl Tok {
    pub(super) fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("word {:?}", w.text),
            Tok::Newline => "newline".into(),
            Tok::Op(o) => format!("{o:?}"),
            Tok::Redir(r, _) => format!("{r:?}"),
        }
    }
}

pub(super) struct Lexer<'a> {
    pub(super) src: &'a str,
    pub(super) it: Peekable<CharIndices<'a>>,
    pub(super) toks: Vec<Tok>,
    pub(super) heredocs: Vec<String>,
    /// Here-documents whose bodies start after the next newline: (delimiter, strip tabs, index).
    pub(super) pending: Vec<(String, bool, usize)>,
    pub(super) depth: usize,
}

pub(super) fn err<T>(msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(msg.into()))
}

impl Lexer<'_> {
    fn peek(&mut self) -> Option<char> {
        self.it.peek().map(|&(_, c)| c)
    }

    fn pos(&mut self) -> usize {
        self.it.peek().map_or(self.src.len(), |&(i, _)| i)
    }

    pub(super) fn run(&mut self) -> Result<(), ParseError> {
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
            // `word` pushes nothing at the end of the line (`cat <<`, `<<\`).
            let delim = if self.toks.len() > start {
                self.toks.pop()
            } else {
                None
            };
            let Some(Tok::Word(delim)) = delim else {
                return err("a here-document needs a delimiter word");
            };
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
                    w.brace |= c == '{';
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
