//! Wall-clock helpers. The database stores times as Unix seconds (`REAL`, as the
//! seed's schema does); events carry RFC 3339 strings.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, with sub-second precision.
pub fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Formats Unix seconds as RFC 3339 in UTC with millisecond precision.
pub fn rfc3339(unix: f64) -> String {
    // Rounded to the millisecond first: f64 seconds cannot hold nanoseconds exactly.
    let nanos = (unix * 1000.0).round() as i128 * 1_000_000;
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
        return String::from("1970-01-01T00:00:00Z");
    };
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}

/// Start of the current UTC day as Unix seconds (for daily budgets and reports).
pub fn start_of_utc_day(unix: f64) -> f64 {
    (unix / 86_400.0).floor() * 86_400.0
}

/// `YYYY-MM-DD` of a Unix time in UTC.
pub fn utc_date(unix: f64) -> String {
    rfc3339(unix).chars().take(10).collect()
}

/// A duration for messages: `300 ms` below a second, else `2s`.
pub fn short_duration(d: std::time::Duration) -> String {
    if d < std::time::Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}

/// A short human age such as `42s`, `7m`, `3h`, `2d`.
pub fn age(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_in_utc() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000.25), "2023-11-14T22:13:20.25Z");
        assert_eq!(utc_date(1_700_000_000.0), "2023-11-14");
    }

    #[test]
    fn ages_are_short() {
        assert_eq!(age(5.0), "5s");
        assert_eq!(age(125.0), "2m");
        assert_eq!(age(7200.0), "2h");
        assert_eq!(age(200_000.0), "2d");
    }
}
