//! The directory commands run in, followed through a script so that relative paths are
//! judged where they point: `cd`, `pushd` and `popd` move it for the commands after
//! them; `( … )`, pipelines, `$(…)` and nested shells keep their moves to themselves.
//!
//! A `cd` can fail, and what runs next depends on the join: after `cd x &&` only `x`,
//! after `cd x ||` only where the shell was, after `cd x;` either. So the policy keeps
//! the few places a command may run in and judges it in each. `cd -`, `popd`, `pushd +N`
//! and targets known only at run time lead to an unknown place, where relative paths
//! cannot be judged: destructive commands on them are asked about. `CDPATH` is not
//! followed (commands run by az-os do not set it).

use std::path::PathBuf;
use std::rc::Rc;

use super::guard::GuardCtx;
use super::shell::{Join, Word};

/// A place a command may run in.
#[derive(Clone, Debug, Eq)]
pub enum Dir {
    /// The task's workdir, where a command line starts.
    Workdir,
    Known(PathBuf),
    /// Only known at run time.
    Unknown,
}

impl PartialEq for Dir {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            // Known places are resolved lexically, so equal places have equal bytes
            // (and comparing bytes is much cheaper than comparing components).
            (Self::Known(a), Self::Known(b)) => a.as_os_str() == b.as_os_str(),
            (Self::Workdir, Self::Workdir) | (Self::Unknown, Self::Unknown) => true,
            _ => false,
        }
    }
}

/// The places a command may run in (shared: most commands run where the one before did).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cwd(Rc<[Dir]>);

/// Most places followed at once; more become an unknown place.
const MAX_PLACES: usize = 4;

impl Cwd {
    pub fn at(dir: PathBuf) -> Self {
        Self(Rc::new([Dir::Known(dir)]))
    }

    pub fn workdir() -> Self {
        Self(Rc::new([Dir::Workdir]))
    }

    pub fn unknown() -> Self {
        Self(Rc::new([Dir::Unknown]))
    }

    /// Nowhere: what follows `exit`.
    pub fn nowhere() -> Self {
        Self(Rc::new([]))
    }

    pub fn dirs(&self) -> &[Dir] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn union(&self, other: &Self) -> Self {
        if Rc::ptr_eq(&self.0, &other.0) || other.0.iter().all(|d| self.0.contains(d)) {
            return self.clone();
        }
        let mut out = self.0.to_vec();
        for d in other.0.iter() {
            add(&mut out, d.clone());
        }
        Self(out.into())
    }

    fn map(&self, f: impl Fn(&Dir) -> Dir) -> Self {
        let mut out = Vec::with_capacity(self.0.len());
        for d in self.0.iter() {
            add(&mut out, f(d));
        }
        Self(out.into())
    }
}

fn add(dirs: &mut Vec<Dir>, d: Dir) {
    if dirs.contains(&d) {
        return;
    }
    if dirs.len() < MAX_PLACES {
        dirs.push(d);
    } else if !dirs.contains(&Dir::Unknown) {
        // Relative paths are then asked about rather than judged in too few places.
        dirs.push(Dir::Unknown);
    }
}

/// Where a list has got to: the places if its last pipeline succeeded, and if it failed.
#[derive(Clone, Debug)]
pub struct Flow {
    pub ok: Cwd,
    pub fail: Cwd,
}

impl Flow {
    /// A command that does not move: it ends where it ran, either way.
    pub fn stay(cwd: &Cwd) -> Self {
        Self {
            ok: cwd.clone(),
            fail: cwd.clone(),
        }
    }

    /// Where the next pipeline runs, joined by `join`.
    pub fn next(&self, join: Join) -> Cwd {
        match join {
            Join::Seq => self.ok.union(&self.fail),
            Join::And => self.ok.clone(),
            Join::Or => self.fail.clone(),
        }
    }

    /// The list after a pipeline joined by `join` ended as `then`. When it did not run
    /// (`a && b` with `a` failing) the list ends as before it.
    pub fn then(self, join: Join, then: Self) -> Self {
        match join {
            Join::Seq => then,
            Join::And => Self {
                ok: then.ok,
                fail: self.fail.union(&then.fail),
            },
            Join::Or => Self {
                ok: self.ok.union(&then.ok),
                fail: then.fail,
            },
        }
    }
}

/// The shell builtin a command runs, if it changes directory or ends the shell:
/// `cd`, `pushd`, `popd`, `exit` (possibly after assignments, `builtin` or `command`).
fn builtin(words: &[Word]) -> Option<(&str, &[Word])> {
    let mut i = 0;
    while words
        .get(i)
        .is_some_and(|w| !w.dynamic && w.text.split_once('=').is_some_and(|(n, _)| is_name(n)))
    {
        i += 1;
    }
    if words
        .get(i)
        .is_some_and(|w| !w.dynamic && matches!(w.text.as_str(), "builtin" | "command"))
    {
        i += 1;
    }
    let w = words.get(i)?;
    if w.dynamic {
        return None;
    }
    matches!(w.text.as_str(), "cd" | "pushd" | "popd" | "exit")
        .then(|| (w.text.as_str(), &words[i + 1..]))
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// How a command run in `cwd` moves the shell, or `None` when it is no `cd`, `pushd`,
/// `popd` or `exit`. In a loop (`repeats`) a relative move may be made many times, so
/// it leads somewhere unknown.
pub fn change(words: &[Word], ctx: &GuardCtx, cwd: &Cwd, repeats: bool) -> Option<Flow> {
    let (prog, args) = builtin(words)?;
    if prog == "exit" {
        return Some(Flow {
            ok: Cwd::nowhere(),
            fail: Cwd::nowhere(),
        });
    }
    let (mut target, mut from_stack, mut no_move, mut options) = (None, false, false, true);
    for w in args {
        let t = w.text.as_str();
        if options && !w.dynamic && t.len() > 1 {
            let numbered = t
                .strip_prefix(['+', '-'])
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
            if t == "--" {
                options = false;
                continue;
            }
            if prog != "cd" && t == "-n" {
                no_move = true;
                continue;
            }
            if prog != "cd" && numbered {
                // `pushd +N`, `popd -N`: a place from the stack.
                from_stack = true;
                break;
            }
            if t.starts_with('-') {
                continue; // -L, -P, -e, -@
            }
        }
        target = Some(w);
        break;
    }
    if no_move {
        return Some(Flow::stay(cwd));
    }
    let moved = match target {
        // `popd` and `pushd` alone take a place from the stack.
        _ if prog == "popd" || from_stack => Cwd::unknown(),
        None if prog == "cd" => ctx.home.clone().map_or_else(Cwd::unknown, Cwd::at),
        None => Cwd::unknown(),
        Some(w) if w.dynamic || w.text == "-" => Cwd::unknown(),
        Some(w) if repeats && !w.text.starts_with(['/', '~']) => Cwd::unknown(),
        Some(w) => enter(w, ctx, cwd),
    };
    Some(Flow {
        ok: moved,
        fail: cwd.clone(),
    })
}

/// Whether a script moves the shell anywhere (a function calling `cd`).
pub fn moves(script: &super::shell::Script) -> bool {
    use super::shell::Stage;
    script.functions.iter().any(|(_, b)| moves(b))
        || script.pipelines.iter().any(|p| {
            p.stages.iter().any(|st| match st {
                Stage::Simple(s) => builtin(&s.words).is_some_and(|(prog, _)| prog != "exit"),
                Stage::Group(g) => moves(&g.body),
            })
        })
}

/// Where a command started in `word` (`env -C DIR`, `sudo -D DIR`) runs, from `cwd`.
pub fn enter(word: &Word, ctx: &GuardCtx, cwd: &Cwd) -> Cwd {
    if word.dynamic {
        return Cwd::unknown();
    }
    cwd.map(|d| ctx.resolve(&word.text, d).map_or(Dir::Unknown, Dir::Known))
}
