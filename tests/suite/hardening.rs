//! The audit's sandbox escapes, each reproduced against the built binary with the real
//! sandbox and real processes: secrets read by a command (as root and as an ordinary
//! user), az-os's home written from a workdir that holds it, the terminal reached from a
//! command, signals and sockets outside the sandbox, and processes outliving their task.
//! What the command finds is written to a file in the workdir, where redaction never
//! looks, so only the sandbox can keep a secret out of it.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::fake_provider::{FakeProvider, Reply};
use crate::common::{TestEnv, bin, json_lines, of_type};

fn landlock() -> bool {
    let ok = az_os::sandbox::support().filesystem;
    if !ok {
        eprintln!("skipped: Landlock is not available on this kernel");
    }
    ok
}

fn command(cmd: &str) -> Reply {
    Reply::Tools {
        text: String::new(),
        calls: vec![(
            "execute_command".into(),
            serde_json::json!({ "command": cmd }).to_string(),
        )],
    }
}

fn tool(name: &str, args: &Value) -> Reply {
    Reply::Tools {
        text: String::new(),
        calls: vec![(name.into(), args.to_string())],
    }
}

fn observations(events: &[Value]) -> Vec<(bool, String)> {
    of_type(events, "observation")
        .iter()
        .map(|o| {
            (
                o["ok"].as_bool().unwrap_or(false),
                o["output"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

const TEST_KEY: &str = "sk-test-secret-0123456789";
const OTHER_KEY: &str = "otherkey-Zx81-plain-shape";
const VAULT_KEY: &str = "vaultkey-Qm44-plain-shape";
const PASSWORD: &str = "master-pw-Lk29-for-tests";

/// A home with a vault holding `VAULT_KEY`, and three models: `fake` (the one that runs,
/// `--model fake`), `other` on `OTHER_SECRET_KEY`, and `vaulted` on the vault entry.
fn secret_home(env: &TestEnv, base_url: &str) {
    let out = env
        .cmd()
        .env("AZ_OS_MASTER_PASSWORD", PASSWORD)
        .args(["keys", "set", "extra"])
        .write_stdin(format!("{VAULT_KEY}\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let models = format!(
        "[[models]]\nname = \"other\"\nprovider = \"openai\"\nmodel = \"m2\"\n\
         base_url = \"{base_url}\"\napi_key_env = \"OTHER_SECRET_KEY\"\ntier = \"simple\"\n\
         [[models]]\nname = \"vaulted\"\nprovider = \"openai\"\nmodel = \"m3\"\n\
         base_url = \"{base_url}\"\napi_key = \"vault:extra\"\ntier = \"simple\"\n"
    );
    env.config("openai", base_url, "");
    let path = env.home().join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap() + &models;
    std::fs::write(path, text).unwrap();
}

/// A shell script that tries every route to a secret and writes what it got to `loot`:
/// the environment and memory of every ancestor (az-os among them), the environment of
/// every process it can see, the home's files, and its own environment.
fn looting(home: &Path) -> String {
    let h = home.display();
    format!(
        "{{ p=$PPID; for i in 1 2 3 4 5; do cat /proc/$p/environ; head -c 1000000 /proc/$p/mem; \
         ls -l /proc/$p/fd; p=$(awk '/^PPid/{{print $2}}' /proc/$p/status); done; \
         for f in /proc/[0-9]*/environ; do cat \"$f\"; done; env; \
         cat {h}/vault.json {h}/config.toml {h}/az-os.db {h}/audit.log {h}/logs/*; \
         cat /etc/hostname; }} > loot 2>&1; echo looted"
    )
}

/// Runs one batch task with the secrets in az-os's environment, `--model fake`.
fn run_with_secrets(env: &TestEnv, exe: &Path, user: Option<u32>) -> Vec<Value> {
    let mut c = std::process::Command::new(match user {
        Some(_) => Path::new("setpriv"),
        None => exe,
    });
    if let Some(uid) = user {
        c.args([
            format!("--reuid={uid}"),
            format!("--regid={uid}"),
            "--clear-groups".into(),
            "--".into(),
        ])
        .arg(exe);
    }
    let out = c
        .args(["--batch", "--json", "run", "--model", "fake", "look around"])
        .env("AZ_OS_HOME", env.home())
        .env("AZ_OS_TEST_KEY", TEST_KEY)
        .env("OTHER_SECRET_KEY", OTHER_KEY)
        .env("AZ_OS_MASTER_PASSWORD", PASSWORD)
        .env("HOME", env.work())
        .env("NO_COLOR", "1")
        .current_dir(env.work())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    json_lines(&out.stdout)
}

fn assert_no_secret_in_loot(env: &TestEnv, who: &str) {
    let loot = std::fs::read(env.work().join("loot")).unwrap();
    let loot = String::from_utf8_lossy(&loot);
    assert!(
        loot.contains(std::fs::read_to_string("/etc/hostname").unwrap().trim()),
        "{who}: the command could not even read an ordinary file, so the test proves nothing"
    );
    let vault: Value =
        serde_json::from_slice(&std::fs::read(env.home().join("vault.json")).unwrap()).unwrap();
    let sealed = vault.to_string();
    for secret in [TEST_KEY, OTHER_KEY, VAULT_KEY, PASSWORD] {
        assert!(!loot.contains(secret), "{who}: the command read {secret}");
    }
    for field in ["salt", "nonce", "ciphertext"] {
        if let Some(v) = vault.get(field).and_then(Value::as_str) {
            assert!(
                !loot.contains(v),
                "{who}: the command read vault.json ({field})"
            );
        }
    }
    assert!(
        !loot.contains(&sealed),
        "{who}: the command read vault.json"
    );
    assert!(
        !loot.contains("api_key_env"),
        "{who}: the command read config.toml"
    );
}

#[test]
fn no_command_reads_a_secret_as_root_or_as_an_ordinary_user() {
    if !landlock() {
        return;
    }
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    // As root, the same again as an ordinary user (`setpriv`, from util-linux).
    let users: &[Option<u32>] = if root && which("setpriv").is_some() {
        &[None, Some(65534)]
    } else {
        &[None]
    };
    for &user in users {
        let env = TestEnv::new();
        let fake = FakeProvider::start(vec![
            command(&looting(env.home())),
            Reply::Text("done".into()),
        ]);
        secret_home(&env, &fake.base_url());
        let exe = match user {
            None => bin(),
            Some(uid) => {
                // An ordinary user runs their own copy, in dirs they own.
                let exe = env.work().join("az-os");
                std::fs::copy(bin(), &exe).unwrap();
                for p in [env.home(), env.work()] {
                    for entry in walk(p) {
                        let _ = std::os::unix::fs::chown(&entry, Some(uid), Some(uid));
                    }
                }
                std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
                exe
            }
        };
        let events = run_with_secrets(&env, &exe, user);
        let obs = observations(&events);
        assert!(obs[0].1.contains("looted"), "{obs:?}");
        assert_no_secret_in_loot(&env, if user.is_some() { "nobody" } else { "root" });
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn other_models_keys_never_reach_commands_with_model() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![command("env > seen"), Reply::Text("done".into())]);
    secret_home(&env, &fake.base_url());
    let events = run_with_secrets(&env, &bin(), None);
    assert!(observations(&events)[0].0);
    let seen = std::fs::read_to_string(env.work().join("seen")).unwrap();
    for var in [
        "AZ_OS_TEST_KEY",
        "OTHER_SECRET_KEY",
        "AZ_OS_MASTER_PASSWORD",
    ] {
        assert!(!seen.contains(var), "{var} reached the command");
    }
    assert!(seen.contains("PATH="), "the environment is otherwise kept");
}

/// A home inside the workdir (az-os run in `~`).
struct Nested {
    _dir: tempfile::TempDir,
    work: PathBuf,
    home: PathBuf,
}

fn nested() -> Nested {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().canonicalize().unwrap();
    let home = work.join(".az-os");
    std::fs::create_dir(&home).unwrap();
    Nested {
        _dir: dir,
        work,
        home,
    }
}

fn run_in(work: &Path, home: &Path, base_url: &str) -> std::process::Output {
    std::fs::write(
        home.join("config.toml"),
        format!(
            "[[models]]\nname = \"fake\"\nprovider = \"openai\"\nmodel = \"m\"\n\
             base_url = \"{base_url}\"\napi_key_env = \"AZ_OS_TEST_KEY\"\n"
        ),
    )
    .unwrap();
    std::process::Command::new(bin())
        .args(["--batch", "--json", "run", "tidy up"])
        .env("AZ_OS_HOME", home)
        .env("AZ_OS_TEST_KEY", TEST_KEY)
        .current_dir(work)
        .output()
        .unwrap()
}

#[test]
fn the_home_inside_the_workdir_stays_out_of_reach() {
    if !landlock() {
        return;
    }
    let n = nested();
    std::fs::create_dir(n.work.join("sub")).unwrap();
    let fake = FakeProvider::start(vec![
        command(
            "printf '[sandbox]\\nmode = \"off\"\\n' >> .az-os/config.toml; \
             truncate -s 0 .az-os/audit.log; touch .az-os/keymap.toml; rm -rf .az-os/logs; \
             mv .az-os gone; cat .az-os/config.toml; echo ok > sub/made",
        ),
        tool(
            "write_file",
            &serde_json::json!({"path": ".az-os/theme.toml", "content": "x"}),
        ),
        tool(
            "read_file",
            &serde_json::json!({"path": ".az-os/config.toml"}),
        ),
        Reply::Text("done".into()),
    ]);
    let out = run_in(&n.work, &n.home, &fake.base_url());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let events = json_lines(&out.stdout);
    let obs = observations(&events);
    assert!(obs[0].1.contains("Permission denied"), "{obs:?}");
    assert!(
        !obs[1].0 && obs[1].1.contains("az-os's own files"),
        "{obs:?}"
    );
    assert!(
        !obs[2].0 && obs[2].1.contains("az-os's own files"),
        "{obs:?}"
    );
    let config = std::fs::read_to_string(n.home.join("config.toml")).unwrap();
    assert!(!config.contains("[sandbox]"), "the config was rewritten");
    assert!(!n.home.join("keymap.toml").exists() && !n.home.join("theme.toml").exists());
    assert!(n.home.join("logs").is_dir() && !n.work.join("gone").exists());
    let audit = std::fs::read_to_string(n.home.join("audit.log")).unwrap();
    assert!(audit.lines().count() >= 3, "the audit log was truncated");
    assert_eq!(
        std::fs::read_to_string(n.work.join("sub/made")).unwrap(),
        "ok\n",
        "the rest of the workdir stays writable"
    );

    // The next run is still confined.
    let fake = FakeProvider::start(vec![
        command("touch .az-os/after"),
        Reply::Text("done".into()),
    ]);
    run_in(&n.work, &n.home, &fake.base_url());
    assert!(!n.home.join("after").exists());
}

#[test]
fn a_workdir_inside_the_home_is_refused_with_the_fix() {
    let n = nested();
    let inner = n.home.join("project");
    std::fs::create_dir(&inner).unwrap();
    let fake = FakeProvider::start(vec![command("touch x"), Reply::Text("done".into())]);
    let out = run_in(&inner, &n.home, &fake.base_url());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let events = json_lines(&out.stdout);
    let fin = of_type(&events, "task_finished")[0];
    let error = fin["error"].as_str().unwrap();
    assert!(
        error.contains("inside az-os's own") && error.contains("AZ_OS_HOME"),
        "{error}"
    );
    assert!(!inner.join("x").exists());
}

/// Tries to type into every terminal it can open (TIOCSTI).
const TIOCSTI_PY: &str = r#"import fcntl, termios, glob
for p in ["/dev/tty"] + glob.glob("/dev/pts/[0-9]*"):
    try:
        fcntl.ioctl(open(p, "w"), termios.TIOCSTI, b"x")
        print("TIOCSTI went through on", p)
    except OSError as e:
        print("refused", p, e.errno)
"#;

/// Connects to a pathname Unix socket (`SOCKET_PATH`) and sends UDP.
const SOCKETS_PY: &str = r#"import socket
for fam, kind, addr in [(socket.AF_UNIX, socket.SOCK_STREAM, "SOCKET_PATH"), (socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", 9))]:
    try:
        s = socket.socket(fam, kind); s.connect(addr); s.send(b"x"); print("reached", addr)
    except OSError as e:
        print("refused", addr, e.errno)
"#;

#[test]
fn commands_have_no_terminal_and_no_device_ioctls() {
    if !landlock() || which("script").is_none() || which("python3").is_none() {
        eprintln!("skipped: needs Landlock, script(1) and python3");
        return;
    }
    let env = TestEnv::new();
    let probe = format!(
        "tty; python3 -c '{TIOCSTI_PY}'; printf '\\033]52;c;UFdORUQ=\\007' > /dev/tty || echo no-tty-write"
    );
    let fake = FakeProvider::start(vec![command(&probe), Reply::Text("done".into())]);
    env.config("openai", &fake.base_url(), "");
    // az-os on a real pseudo-terminal, as at a desk.
    let line = format!("{} --batch --json run probe", bin().display());
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("AZ_OS_HOME", env.home())
        .env("AZ_OS_TEST_KEY", TEST_KEY)
        .current_dir(env.work())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        !screen.contains("\u{1b}]52"),
        "a command wrote OSC 52 to the terminal"
    );
    let obs: Vec<String> = screen
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .filter(|v| v["type"] == "observation")
        .map(|v| v["output"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(obs.len(), 1, "{screen}");
    assert!(obs[0].contains("not a tty"), "{}", obs[0]);
    assert!(!obs[0].contains("went through"), "{}", obs[0]);
    assert!(obs[0].contains("refused /dev/tty"), "{}", obs[0]);
    assert!(obs[0].contains("no-tty-write"), "{}", obs[0]);
}

fn which(prog: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(prog))
        .find(|p| p.is_file())
}

#[test]
fn commands_cannot_signal_az_os_or_reach_sockets_outside() {
    if !landlock() || which("python3").is_none() {
        eprintln!("skipped: needs Landlock and python3");
        return;
    }
    let env = TestEnv::new();
    let outside = tempfile::tempdir().unwrap();
    let sock = outside.path().join("s");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let script = format!(
        "kill -STOP $PPID; kill -STOP $(awk '/^PPid/{{print $2}}' /proc/$PPID/status); python3 -c '{}'",
        SOCKETS_PY.replace("SOCKET_PATH", &sock.display().to_string())
    );
    let fake = FakeProvider::start(vec![command(&script), Reply::Text("done".into())]);
    env.config("openai", &fake.base_url(), "[sandbox]\nnetwork = false\n");
    let mut child = std::process::Command::new(bin())
        .args(["--batch", "--json", "run", "probe"])
        .env("AZ_OS_HOME", env.home())
        .env("AZ_OS_TEST_KEY", TEST_KEY)
        .current_dir(env.work())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_at_most(&mut child, Duration::from_secs(60));
    let Some(status) = status else {
        let _ = child.kill();
        panic!("az-os hung: a command stopped it");
    };
    assert_eq!(status.code(), Some(0));
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    let events = json_lines(out.as_bytes());
    let obs = &observations(&events)[0].1;
    assert!(obs.contains("Operation not permitted"), "{obs}");
    assert!(!obs.contains("reached"), "{obs}");
    assert_eq!(obs.matches("refused").count(), 2, "{obs}");
}

fn wait_at_most(
    child: &mut std::process::Child,
    limit: Duration,
) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Processes whose command line holds `marker`.
fn alive(marker: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(marker) && !c.contains("pgrep"))
        .collect()
}

/// Waits (bounded) until `f` holds; the test fails if it never does.
fn eventually(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(30), "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn nothing_a_command_starts_outlives_its_task() {
    let env = TestEnv::new();
    let fake = FakeProvider::start(vec![
        command(
            "setsid sleep 3141.11 & (sleep 3141.12 &); nohup sleep 3141.13 >/dev/null 2>&1 & \
             setsid sh -c 'sleep 3141.14; echo late > late.txt' & echo started",
        ),
        Reply::Text("done".into()),
    ]);
    env.config("openai", &fake.base_url(), "");
    let out = env
        .cmd()
        .args(["--batch", "run", "spawn"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // The supervisor reaped them before az-os went on, so none is left by now.
    assert_eq!(alive("3141.1"), Vec::<String>::new());
}

/// Starts a batch run whose command sleeps with `marker`, and waits for it to run.
fn running_command(env: &TestEnv, marker: &str) -> std::process::Child {
    let fake = FakeProvider::start(vec![command(&format!("sleep {marker}"))]);
    env.config("openai", &fake.base_url(), "");
    let mut child = std::process::Command::new(bin())
        .args(["--batch", "--json", "run", "wait"])
        .env("AZ_OS_HOME", env.home())
        .env("AZ_OS_TEST_KEY", TEST_KEY)
        .current_dir(env.work())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("\"type\":\"action\"") {
            break;
        }
    }
    // Keep reading in the background so the pipe never fills.
    std::thread::spawn(move || lines.for_each(drop));
    eventually("the command never started", || !alive(marker).is_empty());
    std::mem::forget(fake);
    child
}

#[test]
fn sigterm_and_sighup_record_the_task_and_kill_its_command() {
    use nix::sys::signal::Signal;
    for (signal, code, marker) in [
        (Signal::SIGTERM, 143, "3141.21"),
        (Signal::SIGHUP, 129, "3141.22"),
    ] {
        let env = TestEnv::new();
        let mut child = running_command(&env, marker);
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
        nix::sys::signal::kill(pid, signal).unwrap();
        let status = wait_at_most(&mut child, Duration::from_secs(30)).expect("az-os kept running");
        assert_eq!(status.code(), Some(code), "{signal}");
        let db: String = env
            .conn()
            .query_row("SELECT status FROM tasks", [], |r| r.get(0))
            .unwrap();
        assert_eq!(db, "cancelled", "{signal}");
        assert_eq!(alive(marker), Vec::<String>::new(), "{signal}");
    }
}

#[test]
fn a_killed_az_os_takes_its_commands_with_it() {
    let env = TestEnv::new();
    let marker = "3141.31";
    let mut child = running_command(&env, marker);
    child.kill().unwrap(); // SIGKILL: no handler runs
    let _ = child.wait();
    let start = Instant::now();
    while !alive(marker).is_empty() {
        // Which processes (supervisor, helper, shell, command) outlived it, if any.
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the command outlived a killed az-os: {:?}",
            alive(marker)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
