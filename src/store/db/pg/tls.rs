//! TLS to the server: `sslmode=require` (or libpq's `verify-ca`, `verify-full`) connects
//! over rustls and always checks the certificate and host name, against the URL's
//! `sslrootcert=FILE` or the system's roots; the libpq options rust-postgres does not
//! read are taken out of the URL first ([`tls_options`]); TLS failures said with the fix.

use std::error::Error as _;

use postgres::Config;
use postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::StoreError;

/// How connections reach the server.
pub(super) enum Tls {
    /// In the clear (no `sslmode=require`).
    Off,
    /// Over TLS, the certificate checked.
    On(MakeRustlsConnect),
}

impl Tls {
    pub(super) fn new(
        config: &Config,
        root: Option<&std::path::Path>,
        server: &str,
    ) -> Result<Self, StoreError> {
        if config.get_ssl_mode() != SslMode::Require {
            if let Some(root) = root {
                return Err(StoreError::BadUrl(format!(
                    "sslrootcert={} is only used with sslmode=require (or verify-full): add it",
                    root.display()
                )));
            }
            return Ok(Self::Off);
        }
        crate::llm::init_tls();
        let fail = |detail: String| StoreError::Tls {
            server: server.to_owned(),
            detail,
        };
        let client = if let Some(path) = root {
            use rustls_pki_types::CertificateDer;
            use rustls_pki_types::pem::PemObject;
            let bad = |e: String| fail(format!("sslrootcert={}: {e}", path.display()));
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
                roots
                    .add(cert.map_err(|e| bad(e.to_string()))?)
                    .map_err(|e| bad(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(bad("holds no PEM certificate".into()));
            }
            rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth()
        } else {
            use rustls_platform_verifier::ConfigVerifierExt;
            rustls::ClientConfig::with_platform_verifier()
                .map_err(|e| fail(format!("cannot load the system's certificates: {e}")))?
        };
        Ok(Self::On(MakeRustlsConnect::new(client)))
    }
}

/// The URL without the TLS options rust-postgres does not read: `sslrootcert=FILE` (taken
/// out and returned) and libpq's `sslmode=verify-ca`/`verify-full` (written as `require`,
/// which here always verifies). Both forms: `postgres://…?k=v&…` and `k=v k=v`.
pub fn tls_options(url: &str) -> Result<(String, Option<std::path::PathBuf>), StoreError> {
    let mut root = None;
    let mut keep = |k: &str, v: &str| -> Option<String> {
        match (k, v) {
            ("sslrootcert", v) => {
                root = Some(std::path::PathBuf::from(v));
                None
            }
            ("sslmode", "verify-ca" | "verify-full") => Some(format!("{k}=require")),
            _ => Some(format!("{k}={v}")),
        }
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_owned(), None));
        };
        let kept: Vec<String> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter_map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                if k == "sslrootcert" {
                    return keep(k, &percent_decoded(v));
                }
                keep(k, v)
            })
            .collect();
        let url = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok((url, root));
    }
    let kept: Vec<String> = url
        .split_whitespace()
        .filter_map(|p| match p.split_once('=') {
            Some((k, v)) => keep(k, v),
            None => Some(p.to_owned()),
        })
        .collect();
    Ok((kept.join(" "), root))
}

/// `%XX` escapes of a URL's query value decoded (as bytes, then UTF-8, lossily).
fn percent_decoded(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(x)) => {
                out.push(x);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What went wrong with TLS while connecting, said with the fix.
pub(super) fn tls_failure(e: &postgres::Error) -> Option<String> {
    let text = std::iter::successors(e.source(), |s| (*s).source())
        .map(ToString::to_string)
        .chain([e.to_string()])
        .collect::<Vec<_>>()
        .join(": ");
    if text.contains("server does not support TLS") {
        return Some(
            "the server does not offer TLS: enable ssl on it, or leave sslmode=require out of the URL"
                .to_owned(),
        );
    }
    if text.contains("certificate") || text.contains("InvalidCertificate") {
        return Some(format!(
            "the server's certificate is not trusted ({text}); give the CA that signed it as \
             sslrootcert=FILE in the URL, and connect by the name the certificate holds"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::tls_options;
    use std::path::PathBuf;

    #[test]
    fn libpq_tls_options_become_what_rust_postgres_reads() {
        let cases = [
            ("postgres://u@h/db", "postgres://u@h/db", None),
            (
                "postgres://u@h/db?sslmode=verify-full&sslrootcert=/etc/ca.pem",
                "postgres://u@h/db?sslmode=require",
                Some("/etc/ca.pem"),
            ),
            (
                "postgresql://u@h/db?sslrootcert=/ca%20x.pem&connect_timeout=3&sslmode=verify-ca",
                "postgresql://u@h/db?connect_timeout=3&sslmode=require",
                Some("/ca x.pem"),
            ),
            (
                "postgres://u@h/db?sslrootcert=/c.pem",
                "postgres://u@h/db",
                Some("/c.pem"),
            ),
            (
                "host=h dbname=db sslmode=verify-full sslrootcert=/c.pem",
                "host=h dbname=db sslmode=require",
                Some("/c.pem"),
            ),
            ("host=h sslmode=prefer", "host=h sslmode=prefer", None),
            (
                "postgres://u@h/d?sslrootcert=/%C3%A9t%2",
                "postgres://u@h/d",
                Some("/ét%2"),
            ),
        ];
        for (url, want, root) in cases {
            let (got, r) = tls_options(url).unwrap();
            assert_eq!(got, want, "{url}");
            assert_eq!(r, root.map(PathBuf::from), "{url}");
            assert!(got.parse::<postgres::Config>().is_ok(), "{got}");
        }
    }
}
