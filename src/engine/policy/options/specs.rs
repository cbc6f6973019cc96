//! The options of the programs the guard and the wrapper peeler read: each one's long
//! options (GNU coreutils 9, findutils 4.9 for xargs, git 2.4x, sudo 1.9, util-linux,
//! procps) and which short ones take a value. They decide abbreviations and which words
//! are option values.

use super::{Arg, Spec};
use Arg::{No, Optional, Required};

const fn spec(short_arg: &'static str, long: &'static [(&'static str, Arg)]) -> Spec {
    Spec {
        short_arg,
        short_optional: "",
        long,
        permute: true,
    }
}

const fn wrapper(short_arg: &'static str, long: &'static [(&'static str, Arg)]) -> Spec {
    Spec {
        short_arg,
        short_optional: "",
        long,
        permute: false,
    }
}

const HELP: [(&str, Arg); 2] = [("help", No), ("version", No)];

pub const RM: Spec = spec(
    "",
    &[
        ("force", No),
        ("interactive", Optional),
        ("one-file-system", No),
        ("no-preserve-root", No),
        ("preserve-root", Optional),
        ("-presume-input-tty", No),
        ("recursive", No),
        ("dir", No),
        ("verbose", No),
        HELP[0],
        HELP[1],
    ],
);

pub const RMDIR: Spec = spec(
    "",
    &[
        ("ignore-fail-on-non-empty", No),
        ("parents", No),
        ("verbose", No),
        HELP[0],
        HELP[1],
    ],
);

pub const CHMOD: Spec = spec(
    "",
    &[
        ("changes", No),
        ("dereference", No),
        ("no-dereference", No),
        ("no-preserve-root", No),
        ("preserve-root", No),
        ("quiet", No),
        ("recursive", No),
        ("reference", Required),
        ("silent", No),
        ("verbose", No),
        HELP[0],
        HELP[1],
    ],
);

/// `chown`; `chgrp` has the same options but `--from`, which does not matter here.
pub const CHOWN: Spec = spec(
    "",
    &[
        ("changes", No),
        ("dereference", No),
        ("no-dereference", No),
        ("from", Required),
        ("no-preserve-root", No),
        ("preserve-root", No),
        ("quiet", No),
        ("recursive", No),
        ("reference", Required),
        ("silent", No),
        ("verbose", No),
        HELP[0],
        HELP[1],
    ],
);

pub const GIT_CLEAN: Spec = spec(
    "e",
    &[
        ("dry-run", No),
        ("quiet", No),
        ("interactive", No),
        ("force", No),
        ("exclude", Required),
    ],
);

pub const GIT_RESET: Spec = spec(
    "",
    &[
        ("quiet", No),
        ("no-quiet", No),
        ("refresh", No),
        ("no-refresh", No),
        ("mixed", No),
        ("soft", No),
        ("hard", No),
        ("merge", No),
        ("keep", No),
        ("recurse-submodules", Optional),
        ("no-recurse-submodules", No),
        ("intent-to-add", No),
        ("pathspec-from-file", Required),
        ("pathspec-file-nul", No),
        ("patch", No),
    ],
);

pub const GIT_PUSH: Spec = spec(
    "o",
    &[
        ("verbose", No),
        ("quiet", No),
        ("repo", Required),
        ("all", No),
        ("branches", No),
        ("mirror", No),
        ("delete", No),
        ("tags", No),
        ("dry-run", No),
        ("porcelain", No),
        ("force", No),
        ("force-with-lease", Optional),
        ("force-if-includes", No),
        ("recurse-submodules", Required),
        ("thin", No),
        ("receive-pack", Required),
        ("exec", Required),
        ("set-upstream", No),
        ("progress", No),
        ("prune", No),
        ("no-verify", No),
        ("verify", No),
        ("follow-tags", No),
        ("signed", Optional),
        ("atomic", No),
        ("push-option", Required),
        ("ipv4", No),
        ("ipv6", No),
    ],
);

pub const SUDO: Spec = wrapper(
    "aCcDgpRrTtUu",
    &[
        ("askpass", No),
        ("auth-type", Required),
        ("background", No),
        ("bell", No),
        ("close-from", Required),
        ("login-class", Required),
        ("chdir", Required),
        ("preserve-env", Optional),
        ("edit", No),
        ("group", Required),
        ("set-home", No),
        ("help", No),
        ("host", Required),
        ("login", No),
        ("remove-timestamp", No),
        ("reset-timestamp", No),
        ("list", No),
        ("non-interactive", No),
        ("preserve-groups", No),
        ("prompt", Required),
        ("chroot", Required),
        ("role", Required),
        ("stdin", No),
        ("shell", No),
        ("type", Required),
        ("command-timeout", Required),
        ("other-user", Required),
        ("user", Required),
        ("version", No),
        ("validate", No),
    ],
);

pub const DOAS: Spec = wrapper("aCu", &[]);

pub const NICE: Spec = wrapper("n", &[("adjustment", Required), HELP[0], HELP[1]]);

pub const IONICE: Spec = wrapper(
    "cnpPu",
    &[
        ("class", Required),
        ("classdata", Required),
        ("pid", Required),
        ("pgid", Required),
        ("uid", Required),
        ("ignore", No),
        HELP[0],
        HELP[1],
    ],
);

pub const SETSID: Spec = wrapper(
    "",
    &[("ctty", No), ("fork", No), ("wait", No), HELP[0], HELP[1]],
);

pub const STDBUF: Spec = wrapper(
    "ioe",
    &[
        ("input", Required),
        ("output", Required),
        ("error", Required),
        HELP[0],
        HELP[1],
    ],
);

pub const TIME: Spec = wrapper(
    "fo",
    &[
        ("append", No),
        ("format", Required),
        ("output", Required),
        ("portability", No),
        ("quiet", No),
        ("verbose", No),
        HELP[0],
        HELP[1],
    ],
);

pub const EXEC: Spec = wrapper("a", &[]);

pub const COMMAND: Spec = wrapper("", &[]);

pub const TIMEOUT: Spec = wrapper(
    "ks",
    &[
        ("foreground", No),
        ("kill-after", Required),
        ("preserve-status", No),
        ("signal", Required),
        ("verbose", No),
        HELP[0],
        HELP[1],
    ],
);

pub const XARGS: Spec = Spec {
    short_arg: "aEILnsPd",
    short_optional: "eil",
    permute: false,
    long: &[
        ("null", No),
        ("arg-file", Required),
        ("delimiter", Required),
        ("eof", Optional),
        ("replace", Optional),
        ("max-lines", Optional),
        ("max-args", Required),
        ("open-tty", No),
        ("interactive", No),
        ("no-run-if-empty", No),
        ("max-chars", Required),
        ("show-limits", No),
        ("verbose", No),
        ("exit", No),
        ("max-procs", Required),
        ("process-slot-var", Required),
        HELP[0],
        HELP[1],
    ],
};

pub const ENV: Spec = wrapper(
    "uCS",
    &[
        ("ignore-environment", No),
        ("null", No),
        ("unset", Required),
        ("chdir", Required),
        ("split-string", Required),
        ("block-signal", Optional),
        ("default-signal", Optional),
        ("ignore-signal", Optional),
        ("list-signal-handling", No),
        ("debug", No),
        HELP[0],
        HELP[1],
    ],
);

pub const WATCH: Spec = wrapper(
    "nq",
    &[
        ("beep", No),
        ("color", No),
        ("no-color", No),
        ("differences", Optional),
        ("errexit", No),
        ("chgexit", No),
        ("equexit", Required),
        ("exec", No),
        ("interval", Required),
        ("no-linewrap", No),
        ("no-title", No),
        ("precise", No),
        ("no-rerun", No),
        HELP[0],
        HELP[1],
    ],
);
