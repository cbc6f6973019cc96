//! Where the store is: `AZ_OS_DATABASE_URL`, else `[store] url`, else the home's
//! SQLite file. A PostgreSQL password may come from the vault (`vault:NAME`, as
//! `[store] password` or as the URL's password); it is resolved here, kept in memory
//! wiped on drop, and never printed: messages name the server as `host:port/db`.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::StoreError;
use crate::config::StoreConfig;

/// The variable that overrides `[store] url`.
pub const URL_ENV: &str = "AZ_OS_DATABASE_URL";

/// A store to open.
#[derive(Clone)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres {
        url: String,
        /// From the vault, replacing the URL's password.
        password: Option<Zeroizing<String>>,
    },
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Location {
    /// The store for a home whose config says `config` (the environment first).
    pub fn resolve(database: &Path, config: &StoreConfig) -> Result<Self, StoreError> {
        let from_env = std::env::var(URL_ENV).ok().filter(|u| !u.trim().is_empty());
        let Some(url) = from_env.or_else(|| config.url.clone()) else {
            return Ok(Self::Sqlite(database.to_path_buf()));
        };
        Self::parse(&url, config.password.as_deref())
    }

    /// `sqlite:PATH` or a PostgreSQL URL; `password` is a `vault:NAME` reference.
    pub fn parse(url: &str, password: Option<&str>) -> Result<Self, StoreError> {
        let url = url.trim();
        if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(StoreError::BadUrl(
                    "sqlite: needs a path, e.g. sqlite:/home/me/.az-os/az-os.db".into(),
                ));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::BadUrl(format!(
                "{} is neither postgres://… nor sqlite:PATH",
                Self::redact_url(url)
            )));
        }
        let (plain, _) = super::db::tls_options(url)?;
        let config: postgres::Config = plain.parse().map_err(|e: postgres::Error| {
            StoreError::BadUrl(format!(
                "{e}; write it as postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
            ))
        })?;
        let in_url = config
            .get_password()
            .and_then(|p| std::str::from_utf8(p).ok())
            .and_then(|p| p.strip_prefix("vault:"))
            .map(str::to_owned);
        let reference = password
            .map(|p| p.strip_prefix("vault:").unwrap_or(p).to_owned())
            .or(in_url);
        let password = match reference {
            Some(name) => Some(crate::vault::key(&name).map_err(|e| {
                StoreError::BadUrl(format!("the store's password (vault:{name}): {e}"))
            })?),
            None => None,
        };
        Ok(Self::Postgres {
            url: url.to_owned(),
            password,
        })
    }

    /// Whether this is the shared PostgreSQL store.
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Postgres { .. })
    }

    /// For messages: the SQLite path, or `postgres://user@host:port/db` without a password.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(p) => p.display().to_string(),
            Self::Postgres { url, .. } => Self::redact_url(url),
        }
    }

    /// `url` with any password written in it replaced by `***`.
    pub fn redact_url(url: &str) -> String {
        let Some((scheme, rest)) = url.split_once("://") else {
            return url.to_owned();
        };
        // The authority ends at the first `/`, `?` or `#`; its user info at the last `@`.
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let Some(at) = authority.rfind('@') else {
            return url.to_owned();
        };
        let (userinfo, host) = authority.split_at(at);
        let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
        let masked = if userinfo.contains(':') { ":***" } else { "" };
        let mut out = format!("{scheme}://{user}{masked}{host}{tail}");
        // libpq also takes `?password=…`.
        if let Some(i) = out.find("password=") {
            let from = i + "password=".len();
            let to = out[from..].find('&').map_or(out.len(), |j| from + j);
            out.replace_range(from..to, "***");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_passwords() {
        assert_eq!(
            Location::redact_url("postgres://az:s3cret@db:5432/azos"),
            "postgres://az:***@db:5432/azos"
        );
        assert_eq!(
            Location::redact_url("postgres://az@db/azos?password=x&sslmode=disable"),
            "postgres://az@db/azos?password=***&sslmode=disable"
        );
        assert_eq!(
            Location::redact_url("postgres://a:b@c@host/db"),
            "postgres://a:***@host/db"
        );
        assert_eq!(Location::redact_url("sqlite:/x"), "sqlite:/x");
    }

    #[test]
    fn sqlite_urls_are_paths_and_others_are_refused() {
        assert!(matches!(
            Location::parse("sqlite:/tmp/a.db", None),
            Ok(Location::Sqlite(p)) if p == Path::new("/tmp/a.db")
        ));
        assert!(matches!(
            Location::parse("mysql://x", None),
            Err(StoreError::BadUrl(_))
        ));
        assert!(matches!(
            Location::parse("sqlite:", None),
            Err(StoreError::BadUrl(_))
        ));
    }
}
