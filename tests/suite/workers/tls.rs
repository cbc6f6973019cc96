//! TLS to the shared store, against a real server that accepts only encrypted
//! connections, its certificate from a private CA made here with `openssl`: without
//! `sslmode=require` the message names it, without the CA it says the certificate is not
//! trusted and names `sslrootcert`, and with both (`verify-full`, libpq's name) every
//! command works over TLS.

use std::path::Path;
use std::process::Command;

use az_os::store::{self, Location};

use crate::common::TestEnv;
use crate::common::pg::with_own_server;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("openssl (apt-get install openssl): {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`ca.pem`) and a certificate it signed for 127.0.0.1 and localhost
/// (`server.crt`, `server.key`) in `dir`.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=az-os test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ],
    );
}

/// Runs `az-os ARGS` against `url`: (exit code, stderr).
fn az(env: &TestEnv, url: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = env
        .cmd()
        .env("AZ_OS_DATABASE_URL", url)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_server_that_wants_tls_is_reached_over_tls_with_its_ca() {
    let server = with_own_server();
    let data = server.dir().join("data");
    certificates(&data);
    // The server's files must be its own user's (the cluster runs as `postgres` under root).
    let owner = std::fs::metadata(data.join("PG_VERSION")).unwrap();
    for f in ["server.crt", "server.key"] {
        std::os::unix::fs::chown(
            data.join(f),
            Some(owner_uid(&owner)),
            Some(owner_gid(&owner)),
        )
        .unwrap();
    }
    std::fs::set_permissions(
        data.join("server.key"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let mut conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
    conf.push_str("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
    std::fs::write(data.join("postgresql.conf"), conf).unwrap();
    // Only encrypted connections over TCP.
    let hba = std::fs::read_to_string(data.join("pg_hba.conf")).unwrap();
    std::fs::write(
        data.join("pg_hba.conf"),
        format!("hostnossl all all 0.0.0.0/0 reject\nhostnossl all all ::/0 reject\n{hba}"),
    )
    .unwrap();
    server.stop();
    server.start();

    let env = TestEnv::new();
    let url = server.url_of("postgres");
    let ca = data.join("ca.pem");

    let (code, err) = az(&env, &url, &["tasks", "list"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("add sslmode=require"), "{err}");

    let (code, err) = az(&env, &format!("{url}?sslmode=require"), &["tasks", "list"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("not trusted") && err.contains("sslrootcert=FILE"),
        "{err}"
    );

    let (code, err) = az(
        &env,
        &format!("{url}?sslrootcert={}", ca.display()),
        &["tasks", "list"],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("only used with sslmode=require"), "{err}");

    let good = format!("{url}?sslmode=verify-full&sslrootcert={}", ca.display());
    let (code, err) = az(&env, &good, &["store", "migrate"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = az(&env, &good, &["tasks", "list"]);
    assert_eq!(code, Some(0), "{err}");
    // The connection is encrypted, as the server sees it.
    let at = Location::parse(&good, None).unwrap();
    let on_tls: bool = std::thread::spawn(move || {
        let db = store::open_at(&at).unwrap();
        db.query_row(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            [],
            |r| r.get(0),
        )
        .unwrap()
    })
    .join()
    .unwrap();
    assert!(on_tls, "the store's connection uses TLS");
}

fn owner_uid(m: &std::fs::Metadata) -> u32 {
    std::os::unix::fs::MetadataExt::uid(m)
}

fn owner_gid(m: &std::fs::Metadata) -> u32 {
    std::os::unix::fs::MetadataExt::gid(m)
}
