//! The PostgreSQL side of [`super::Db`]: one `postgres::Client` (the synchronous
//! rust-postgres driver, used on the store's own thread, never on the async runtime),
//! statements prepared once per connection, `?N` placeholders written as `$N`, and
//! values converted to and from the five kinds both stores share.
//!
//! TLS: `sslmode=require` (or libpq's `verify-ca`, `verify-full`) in the URL connects over
//! rustls and always checks the server's certificate and name, against the URL's
//! `sslrootcert=FILE` (a private CA, as managed servers hand out) or the system's roots;
//! without it the connection is in the clear, as before (`prefer` and `disable` alike).
//!
//! A connection that drops (the server restarted, the network cut) is made again on
//! the next statement, with backoff for up to [`RECONNECT_FOR`]; the statement that
//! met the cut fails and says so, and is never replayed, so nothing runs twice.

use std::collections::HashMap;
use std::error::Error as _;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, Config, NoTls, Statement};

mod tls;

pub use tls::tls_options;
use tls::{Tls, tls_failure};

use super::value::{Param, Value, ValueRef};
use crate::store::StoreError;

/// How long a dropped connection is retried before a statement gives up.
pub const RECONNECT_FOR: Duration = Duration::from_secs(30);

/// The oldest server we support (`SKIP LOCKED`, `ON CONFLICT`, identity columns,
/// `DROP DATABASE … WITH (FORCE)` in the tests).
const MIN_SERVER: i64 = 130_000;

/// A connection to the shared store.
pub struct Pg {
    client: Client,
    config: Config,
    tls: Tls,
    statements: HashMap<String, Statement>,
    /// `host:port/dbname`, for messages (never the password).
    server: String,
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pg({})", self.server)
    }
}

impl Pg {
    /// Connects to `url` (`postgres://user[:password]@host[:port]/db`, or libpq's
    /// `key=value` form); `password`, when given, replaces the URL's (a `vault:` key).
    pub fn connect(url: &str, password: Option<&str>) -> Result<Self, StoreError> {
        let (url, root) = tls_options(url)?;
        let mut config: Config = url.parse().map_err(|e: postgres::Error| {
            StoreError::BadUrl(format!(
                "{e}; write it as postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
            ))
        })?;
        if let Some(p) = password {
            config.password(p);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        config.application_name("az-os");
        let server = describe(&config);
        let tls = Tls::new(&config, root.as_deref(), &server)?;
        let client = open(&config, &tls, &server)?;
        let mut pg = Self {
            client,
            config,
            tls,
            statements: HashMap::new(),
            server,
        };
        pg.check_version()?;
        Ok(pg)
    }

    /// `host:port/dbname`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The client itself, connected (LISTEN and other PostgreSQL-only work).
    pub fn client(&mut self) -> Result<&mut Client, StoreError> {
        self.ensure()?;
        Ok(&mut self.client)
    }

    fn check_version(&mut self) -> Result<(), StoreError> {
        let row = self
            .client
            .query_one("SHOW server_version_num", &[])
            .map_err(|e| classify(e, &self.server))?;
        let v: &str = row.get(0);
        let n: i64 = v.trim().parse().unwrap_or(0);
        if n < MIN_SERVER {
            return Err(StoreError::UnsupportedServer {
                server: self.server.clone(),
                version: v.to_owned(),
            });
        }
        Ok(())
    }

    /// Reconnects when the connection has dropped, with backoff.
    fn ensure(&mut self) -> Result<(), StoreError> {
        if !self.client.is_closed() {
            return Ok(());
        }
        self.statements.clear();
        let deadline = Instant::now() + RECONNECT_FOR;
        let mut wait = Duration::from_millis(100);
        loop {
            match open(&self.config, &self.tls, &self.server) {
                Ok(c) => {
                    tracing::info!("store: reconnected to PostgreSQL at {}", self.server);
                    self.client = c;
                    return Ok(());
                }
                Err(e) if Instant::now() + wait < deadline => {
                    tracing::warn!("store: {e}; trying again in {} ms", wait.as_millis());
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        self.ensure()?;
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self
            .client
            .prepare(&placeholders(sql))
            .map_err(|e| classify(e, &self.server))?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    pub fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.ensure()?;
        self.client
            .batch_execute(sql)
            .map_err(|e| classify(e, &self.server))
    }

    pub fn execute(&mut self, sql: &str, params: &[&dyn Param]) -> Result<usize, StoreError> {
        let stmt = self.statement(sql)?;
        let values: Vec<PgParam<'_>> = params.iter().map(|p| PgParam(p.value())).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as _).collect();
        let n = self
            .client
            .execute(&stmt, &refs)
            .map_err(|e| classify(e, &self.server))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub fn query(&mut self, sql: &str, params: &[&dyn Param]) -> Result<Vec<PgRow>, StoreError> {
        let stmt = self.statement(sql)?;
        let values: Vec<PgParam<'_>> = params.iter().map(|p| PgParam(p.value())).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as _).collect();
        let rows = self
            .client
            .query(&stmt, &refs)
            .map_err(|e| classify(e, &self.server))?;
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| {
                        r.try_get::<_, Option<AnyValue>>(i)
                            .map(|v| v.map_or(Value::Null, |a| a.0))
                            .map_err(|e| StoreError::Column {
                                idx: i,
                                detail: e.to_string(),
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(PgRow)
            })
            .collect()
    }
}

fn open(config: &Config, tls: &Tls, server: &str) -> Result<Client, StoreError> {
    match tls {
        Tls::Off => config.connect(NoTls),
        Tls::On(make) => config.connect(make.clone()),
    }
    .map_err(|e| classify(e, server))
}

fn describe(config: &Config) -> String {
    use postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{db}")
}

/// Turns a driver error into one that says what to do.
pub fn classify(e: postgres::Error, server: &str) -> StoreError {
    use postgres::error::SqlState;
    let server = server.to_owned();
    if let Some(code) = e.code() {
        let message = e.as_db_error().map(|d| d.message().to_owned());
        if message
            .as_deref()
            .is_some_and(|m| m.contains("no encryption"))
        {
            return StoreError::Tls {
                server,
                detail: "the server accepts only encrypted connections: add sslmode=require to \
                         the URL (and sslrootcert=FILE when its certificate is from a private CA)"
                    .to_owned(),
            };
        }
        if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            return StoreError::Credentials {
                server,
                detail: e
                    .as_db_error()
                    .map_or_else(|| e.to_string(), |d| d.message().to_owned()),
            };
        }
        if *code == SqlState::INVALID_CATALOG_NAME {
            return StoreError::Unreachable {
                server,
                detail:
                    "the database does not exist; create it (createdb) or fix the name in the URL"
                        .to_owned(),
            };
        }
        return StoreError::Postgres(e);
    }
    if let Some(detail) = tls_failure(&e) {
        return StoreError::Tls { server, detail };
    }
    let io = matches!(e.source(), Some(s) if s.is::<std::io::Error>());
    if e.is_closed() || io || connecting(&e) {
        let detail = e
            .source()
            .map_or_else(|| e.to_string(), std::string::ToString::to_string);
        return StoreError::Unreachable { server, detail };
    }
    StoreError::Postgres(e)
}

fn connecting(e: &postgres::Error) -> bool {
    let s = e.to_string();
    s.contains("error connecting") || s.contains("timeout") || s.contains("connection closed")
}

/// `?N` (and a bare `?`) as PostgreSQL's `$N`, outside quoted text.
pub(crate) fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut next = 1u32;
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                out.push(c);
            }
            (None, '\'' | '"') => {
                quote = Some(c);
                out.push(c);
            }
            (None, '?') => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    digits.push(d);
                    chars.next();
                }
                out.push('$');
                if digits.is_empty() {
                    out.push_str(&next.to_string());
                    next += 1;
                } else {
                    out.push_str(&digits);
                }
            }
            (_, c) => out.push(c),
        }
    }
    out
}

/// A decoded row.
#[derive(Debug)]
pub struct PgRow(Vec<Value>);

impl PgRow {
    pub fn get(&self, idx: usize) -> Result<ValueRef<'_>, StoreError> {
        self.0
            .get(idx)
            .map(Value::as_ref)
            .ok_or(StoreError::Column {
                idx,
                detail: format!("the row has {} columns", self.0.len()),
            })
    }
}

/// A parameter, written as whatever type the server expects for its placeholder.
#[derive(Debug)]
struct PgParam<'a>(ValueRef<'a>);

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for PgParam<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match (self.0, ty) {
            (ValueRef::Null, _) => Ok(IsNull::Yes),
            (ValueRef::Int(i), t) if *t == Type::INT8 => i.to_sql(ty, out),
            (ValueRef::Int(i), t) if *t == Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
            (ValueRef::Int(i), t) if *t == Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
            (ValueRef::Int(i), t) if *t == Type::BOOL => (i != 0).to_sql(ty, out),
            #[expect(clippy::cast_precision_loss, reason = "an integer given for a real")]
            (ValueRef::Int(i), t) if *t == Type::FLOAT8 => (i as f64).to_sql(ty, out),
            (ValueRef::Int(i), t) if is_text(t) => i.to_string().as_str().to_sql(ty, out),
            (ValueRef::Real(f), t) if *t == Type::FLOAT8 => f.to_sql(ty, out),
            #[expect(clippy::cast_possible_truncation, reason = "a real column of 4 bytes")]
            (ValueRef::Real(f), t) if *t == Type::FLOAT4 => (f as f32).to_sql(ty, out),
            // PostgreSQL text cannot hold NUL; it is kept visible as U+2400 (␀).
            (ValueRef::Text(s), t) if is_text(t) && s.contains('\0') => {
                s.replace('\0', "\u{2400}").as_str().to_sql(ty, out)
            }
            (ValueRef::Text(s), t) if is_text(t) => s.to_sql(ty, out),
            (ValueRef::Text(s), t) if *t == Type::BYTEA => s.as_bytes().to_sql(ty, out),
            (ValueRef::Blob(b), t) if *t == Type::BYTEA => b.to_sql(ty, out),
            (v, t) => Err(format!("cannot pass {v:?} where PostgreSQL expects {t}").into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true // decided per value in `to_sql`
    }

    to_sql_checked!();
}

fn is_text(t: &Type) -> bool {
    [
        Type::TEXT,
        Type::VARCHAR,
        Type::BPCHAR,
        Type::NAME,
        Type::UNKNOWN,
    ]
    .contains(t)
}

/// Any column, decoded into one of the five kinds.
struct AnyValue(Value);

impl<'a> FromSql<'a> for AnyValue {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let v = match *ty {
            Type::BOOL => Value::Int(i64::from(bool::from_sql(ty, raw)?)),
            Type::INT2 => Value::Int(i64::from(i16::from_sql(ty, raw)?)),
            Type::INT4 => Value::Int(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::OID => Value::Int(i64::from(u32::from_sql(ty, raw)?)),
            Type::FLOAT4 => Value::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::NUMERIC => numeric(raw)?,
            Type::BYTEA => Value::Blob(raw.to_vec()),
            _ if is_text(ty) || *ty == Type::JSON => {
                Value::Text(<&str as FromSql>::from_sql(ty, raw)?.to_owned())
            }
            _ => return Err(format!("az-os does not read columns of type {ty}").into()),
        };
        Ok(Self(v))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// PostgreSQL's binary `NUMERIC` (what `SUM` of integers returns): a count of
/// base-10000 digits, the weight of the first, a sign, the scale, then the digits. A
/// whole number (scale 0, as a `SUM` of integers) reads as an integer, as in SQLite.
fn numeric(raw: &[u8]) -> Result<Value, BoxError> {
    let v = numeric_f64(raw)?;
    let scale = raw
        .get(6..8)
        .map_or(1, |b| u16::from_be_bytes([b[0], b[1]]));
    #[expect(
        clippy::cast_possible_truncation,
        reason = "checked to be whole and in range"
    )]
    if scale == 0 && v.fract() == 0.0 && v.abs() < 9.0e15 {
        return Ok(Value::Int(v as i64));
    }
    Ok(Value::Real(v))
}

fn numeric_f64(raw: &[u8]) -> Result<f64, BoxError> {
    let word = |i: usize| -> Result<u16, BoxError> {
        raw.get(i..i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "a NUMERIC value is cut short".into())
    };
    let ndigits = word(0)?;
    #[expect(
        clippy::cast_possible_wrap,
        reason = "the weight is a signed 16-bit field"
    )]
    let weight = word(2)? as i16;
    let sign = word(4)?;
    if sign == 0xC000 {
        return Ok(f64::NAN);
    }
    let mut v = 0.0f64;
    for i in 0..usize::from(ndigits) {
        let d = f64::from(word(8 + 2 * i)?);
        let exp = i32::from(weight) - i32::try_from(i).unwrap_or(i32::MAX);
        v += d * 10_000f64.powi(exp);
    }
    Ok(if sign == 0x4000 { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollars_outside_quotes() {
        assert_eq!(
            placeholders("SELECT a FROM t WHERE a = ?1 AND b = '?2' AND c = ?12"),
            "SELECT a FROM t WHERE a = $1 AND b = '?2' AND c = $12"
        );
        assert_eq!(placeholders("VALUES (?, ?)"), "VALUES ($1, $2)");
        assert_eq!(placeholders("'é?' ?3"), "'é?' $3");
    }

    #[test]
    fn numerics_decode() {
        // 12345.678: digits 1, 2345, 6780 with weight 1, dscale 3.
        let raw = [0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c];
        assert!((numeric_f64(&raw).unwrap_or(0.0) - 12_345.678).abs() < 1e-9);
        assert!(matches!(numeric(&raw), Ok(Value::Real(_))));
        let zero = [0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(numeric(&zero).ok(), Some(Value::Int(0)));
        let neg = [0, 1, 0, 0, 0x40, 0, 0, 0, 0, 7];
        assert_eq!(numeric(&neg).ok(), Some(Value::Int(-7)));
        assert!(numeric(&[0, 1]).is_err());
    }
}
