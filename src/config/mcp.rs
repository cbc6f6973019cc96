//! `[[mcp_servers]]` and `[mcp]` in `config.toml`: which MCP servers to start, how to
//! reach them (a command on stdio, or a URL speaking streamable HTTP), which of their
//! tools to offer and under which approval policy. Only the settings and their
//! validation live here; the servers themselves are `crate::mcp`.
//!
//! Secrets never sit in the file in clear when the user follows the advice: `env` and
//! `headers` values may be `vault:NAME`, resolved when the server starts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};

use crate::mcp::Approval;

/// One `[[mcp_servers]]` entry, validated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    /// `[a-z0-9_-]{1,24}`; the model sees this server's tools as `{name}__{tool}`.
    pub name: String,
    /// Stdio: the program to run (looked up in PATH).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Added to the child's minimal environment; values may be `vault:NAME`.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        serialize_with = "masked"
    )]
    pub env: BTreeMap<String, String>,
    /// Streamable HTTP: the endpoint, e.g. `http://127.0.0.1:8931/mcp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Sent with every HTTP request; values may be `vault:NAME`.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        serialize_with = "masked"
    )]
    pub headers: BTreeMap<String, String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub tools: ToolFilter,
    /// Seconds for the server to start and answer `initialize` and `tools/list`.
    #[serde(default = "startup_default")]
    pub startup_timeout_s: u64,
    /// Seconds one tool call may take.
    #[serde(default = "tool_timeout_default")]
    pub tool_timeout_s: u64,
    /// The policy of this server's tools; absent: allow read-only tools, ask for the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// Per tool (the server's own name); beats `approval`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub approvals: BTreeMap<String, Approval>,
}

/// Which tools of a server are offered: globs with `*` only; `deny` wins.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolFilter {
    /// Empty: every tool.
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub deny: Vec<String>,
}

impl ToolFilter {
    /// Whether a tool called `name` is offered.
    pub fn admits(&self, name: &str) -> bool {
        let any = |globs: &[String]| globs.iter().any(|g| glob_match(g, name));
        (self.allow.is_empty() || any(&self.allow)) && !any(&self.deny)
    }
}

/// `[mcp]`: knobs for all servers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpConfig {
    /// Above this many MCP tools, a request carries only the ones relevant to the task.
    pub tool_threshold: usize,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self { tool_threshold: 12 }
    }
}

impl McpConfig {
    /// The first invalid setting as (key, problem, fix).
    pub fn invalid(&self) -> Option<(String, String, &'static str)> {
        (self.tool_threshold > 1000).then(|| {
            (
                "mcp.tool_threshold".into(),
                format!("{} is out of range", self.tool_threshold),
                "use 0 (always select) to 1000 tools",
            )
        })
    }
}

fn yes() -> bool {
    true
}
fn startup_default() -> u64 {
    10
}
fn tool_timeout_default() -> u64 {
    60
}

/// `env` and `headers` as `config show` prints them: `vault:` references as written,
/// anything else hidden (it may be a token pasted in clear).
fn masked<S: Serializer>(map: &BTreeMap<String, String>, s: S) -> Result<S::Ok, S::Error> {
    let shown: BTreeMap<&str, &str> = map
        .iter()
        .map(|(k, v)| {
            let v = if v.starts_with("vault:") {
                v.as_str()
            } else {
                "(set)"
            };
            (k.as_str(), v)
        })
        .collect();
    shown.serialize(s)
}

/// `*` matches any run of characters (none included); everything else is literal.
pub fn glob_match(glob: &str, name: &str) -> bool {
    let parts: Vec<&str> = glob.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return glob == name;
    };
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Whether `name` is a valid server name: `[a-z0-9_-]{1,24}`.
pub fn valid_server_name(name: &str) -> bool {
    (1..=24).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn valid_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

type Bad = (String, String, &'static str);

/// Checks every server, in file order, and their names against each other.
pub fn validate_servers(servers: &[McpServerConfig]) -> Result<(), Bad> {
    for (i, s) in servers.iter().enumerate() {
        s.invalid(i)?;
        if let Some(j) = servers[..i].iter().position(|o| o.name == s.name) {
            return Err((
                format!("mcp_servers[{i}].name"),
                format!("\"{}\" is already the name of mcp_servers[{j}]", s.name),
                "give every server its own name (it prefixes its tools: name__tool)",
            ));
        }
    }
    Ok(())
}

impl McpServerConfig {
    /// What the hub shows as the transport: `stdio: cmd args…` or the URL.
    pub fn transport(&self) -> String {
        match (&self.command, &self.url) {
            (Some(cmd), _) => {
                let mut s = format!("stdio: {cmd}");
                for a in &self.args {
                    s.push(' ');
                    s.push_str(a);
                }
                s
            }
            (None, Some(url)) => url.clone(),
            (None, None) => String::new(),
        }
    }

    fn invalid(&self, i: usize) -> Result<(), Bad> {
        let key = |k: &str| format!("mcp_servers[{i}].{k}");
        if !valid_server_name(&self.name) {
            return Err((
                key("name"),
                format!("{:?} is not a valid server name", self.name),
                "use 1 to 24 characters from a-z, 0-9, `_` and `-` (it prefixes the tools the model sees)",
            ));
        }
        match (&self.command, &self.url) {
            (Some(_), Some(_)) => {
                return Err((
                    key("url"),
                    format!("server \"{}\" has both command and url", self.name),
                    "keep `command` (+ args, env) for a local server on stdio, or `url` (+ headers) for streamable HTTP, not both",
                ));
            }
            (None, None) => {
                return Err((
                    key("command"),
                    format!("server \"{}\" has neither command nor url", self.name),
                    "add command = \"npx\" (+ args) for a local server on stdio, or url = \"http://host:port/mcp\" for streamable HTTP",
                ));
            }
            (Some(cmd), None) => {
                if cmd.trim().is_empty() {
                    return Err((
                        key("command"),
                        "is empty".into(),
                        "name the program to run, e.g. command = \"npx\"",
                    ));
                }
                if !self.headers.is_empty() {
                    return Err((
                        key("headers"),
                        "headers only apply to a server reached by url".into(),
                        "remove headers, or pass what the program needs in env",
                    ));
                }
            }
            (None, Some(url)) => {
                if !(url.starts_with("http://") || url.starts_with("https://"))
                    || reqwest::Url::parse(url).is_err()
                {
                    return Err((
                        key("url"),
                        format!("{url:?} is not an http(s) URL"),
                        "use the server's streamable HTTP endpoint, e.g. url = \"http://127.0.0.1:8931/mcp\"",
                    ));
                }
                if !self.args.is_empty() || !self.env.is_empty() {
                    return Err((
                        key(if self.args.is_empty() { "env" } else { "args" }),
                        "args and env only apply to a server started by command".into(),
                        "remove them, or use command instead of url",
                    ));
                }
            }
        }
        for (k, v) in &self.env {
            if !valid_env_name(k) {
                return Err((
                    key(&format!("env.{k}")),
                    format!("{k:?} is not a valid environment variable name"),
                    "use letters, digits and `_`, not starting with a digit",
                ));
            }
            vault_ref_ok(v).map_err(|()| (key(&format!("env.{k}")), bad_vault(v), VAULT_FIX))?;
        }
        for (k, v) in &self.headers {
            if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
                return Err((
                    key(&format!("headers.{k}")),
                    format!("{k:?} is not a valid HTTP header name"),
                    "use a header name such as Authorization or X-Api-Key",
                ));
            }
            vault_ref_ok(v)
                .map_err(|()| (key(&format!("headers.{k}")), bad_vault(v), VAULT_FIX))?;
            if !v.starts_with("vault:") && reqwest::header::HeaderValue::from_str(v).is_err() {
                return Err((
                    key(&format!("headers.{k}")),
                    "is not a valid HTTP header value".into(),
                    "use visible ASCII characters only, or a vault:NAME reference",
                ));
            }
        }
        for (list, globs) in [("allow", &self.tools.allow), ("deny", &self.tools.deny)] {
            if let Some(g) = globs.iter().find(|g| {
                g.is_empty() || g.chars().any(|c| matches!(c, '?' | '[' | ']' | '{' | '}'))
            }) {
                return Err((
                    key(&format!("tools.{list}")),
                    format!("{g:?} is not a supported pattern"),
                    "use tool names, with `*` for any run of characters (e.g. \"read_*\")",
                ));
            }
        }
        if !(1..=600).contains(&self.startup_timeout_s) {
            return Err((
                key("startup_timeout_s"),
                format!("{} is out of range", self.startup_timeout_s),
                "use 1 to 600 seconds",
            ));
        }
        if !(1..=86_400).contains(&self.tool_timeout_s) {
            return Err((
                key("tool_timeout_s"),
                format!("{} is out of range", self.tool_timeout_s),
                "use 1 to 86400 seconds",
            ));
        }
        if self.approvals.keys().any(String::is_empty) {
            return Err((
                key("approvals"),
                "has an empty tool name".into(),
                "name each tool as the server does, e.g. approvals = { write_file = \"deny\" }",
            ));
        }
        Ok(())
    }
}

const VAULT_FIX: &str = "use \"vault:NAME\" with NAME made of letters, digits, `_`, `.` or `-` (at most 64), as stored by `az-os keys set NAME`";

fn bad_vault(v: &str) -> String {
    format!(
        "{:?} is not a valid vault reference",
        v.get(..v.len().min(70)).unwrap_or("")
    )
}

fn vault_ref_ok(v: &str) -> Result<(), ()> {
    match v.strip_prefix("vault:") {
        Some(name) if !crate::vault::valid_name(name) => Err(()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(toml_text: &str) -> Result<(), Bad> {
        #[derive(Deserialize)]
        struct F {
            mcp_servers: Vec<McpServerConfig>,
        }
        let f: F = toml::from_str(toml_text).map_err(|e| ("toml".into(), e.to_string(), ""))?;
        validate_servers(&f.mcp_servers)
    }

    #[test]
    fn globs_match_stars_only() {
        assert!(glob_match("read_*", "read_file"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("*_file", "write_file"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(!glob_match("read_*", "write_file"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("ab*ba", "aba"), "overlapping ends do not match");
        let f = ToolFilter {
            allow: vec!["read_*".into()],
            deny: vec!["read_secret".into()],
        };
        assert!(f.admits("read_file"));
        assert!(!f.admits("read_secret"), "deny wins");
        assert!(!f.admits("write_file"));
    }

    #[test]
    fn good_servers_pass_with_defaults() {
        server(
            r#"
            [[mcp_servers]]
            name = "fs"
            command = "npx"
            args = ["-y", "pkg"]
            env = { TOKEN = "vault:GITHUB" }
            [[mcp_servers]]
            name = "web-2"
            url = "http://127.0.0.1:8931/mcp"
            headers = { Authorization = "vault:TOKEN" }
            approvals = { write_file = "deny" }
            "#,
        )
        .unwrap();
    }

    #[test]
    fn bad_servers_name_the_key_and_the_fix() {
        let cases = [
            (
                "name = \"Bad Name\"\ncommand = \"x\"",
                "mcp_servers[0].name",
            ),
            ("name = \"a\"", "mcp_servers[0].command"),
            (
                "name = \"a\"\ncommand = \"x\"\nurl = \"http://h/\"",
                "mcp_servers[0].url",
            ),
            ("name = \"a\"\nurl = \"ftp://h/\"", "mcp_servers[0].url"),
            (
                "name = \"a\"\ncommand = \"x\"\nenv = { T = \"vault:bad name\" }",
                "mcp_servers[0].env.T",
            ),
            (
                "name = \"a\"\ncommand = \"x\"\ntool_timeout_s = 0",
                "mcp_servers[0].tool_timeout_s",
            ),
            (
                "name = \"a\"\ncommand = \"x\"\ntools = { allow = [\"re?d\"] }",
                "mcp_servers[0].tools.allow",
            ),
            (
                "name = \"a\"\ncommand = \"x\"\nheaders = { A = \"b\" }",
                "mcp_servers[0].headers",
            ),
        ];
        for (body, key) in cases {
            let err = server(&format!("[[mcp_servers]]\n{body}\n")).unwrap_err();
            assert_eq!(err.0, key, "{body}: {err:?}");
            assert!(!err.2.is_empty());
        }
        let err = server(
            "[[mcp_servers]]\nname = \"a\"\ncommand = \"x\"\n[[mcp_servers]]\nname = \"a\"\ncommand = \"y\"\n",
        )
        .unwrap_err();
        assert_eq!(err.0, "mcp_servers[1].name");
        assert!(err.1.contains("mcp_servers[0]"), "{}", err.1);
        let err = server("[[mcp_servers]]\nname = \"a\"\ncommand = \"x\"\napproval = \"maybe\"\n")
            .unwrap_err();
        assert!(err.1.contains("maybe"), "{}", err.1);
    }
}
