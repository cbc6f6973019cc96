//! A fresh database on the test PostgreSQL server (`AZ_OS_TEST_PG_URL`).

use std::sync::atomic::{AtomicU32, Ordering};

/// A database that is dropped with this value.
pub struct PgDb {
    pub url: String,
    name: String,
    admin: String,
}

pub fn server_url() -> String {
    std::env::var("AZ_OS_TEST_PG_URL").unwrap_or_else(|_| {
        panic!("set AZ_OS_TEST_PG_URL (scripts/pg-server.sh start DIR prints it)")
    })
}

pub fn fresh_db() -> PgDb {
    static N: AtomicU32 = AtomicU32::new(0);
    let admin = server_url();
    let name = format!(
        "az_os_t_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let mut c = postgres::Client::connect(&admin, postgres::NoTls)
        .unwrap_or_else(|e| panic!("connect {admin}: {e}"));
    c.batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap_or_else(|e| panic!("create database: {e}"));
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    PgDb {
        url: format!("{base}/{name}"),
        name,
        admin,
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
