//! Diagnostic logs: to stderr for commands, to `logs/az-os.log` in the home for task
//! runs (batch and dashboard; the dashboard never writes to the screen). Everything
//! passes through redaction on the way out.
//!
//! Verbosity: warnings by default; `-v` says what az-os does; `-vv` adds the wire in
//! summary (each model request and response: endpoint, status, headers without
//! credentials, stream events, finish reason, usage, timings; target `az_os::wire`);
//! `-vvv` adds the request and reply bodies, redacted. The file keeps at least `info`.
//! `AZ_OS_LOG` (a tracing filter such as `az_os=debug`) overrides both.

use std::path::Path;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Keeps the file writer running; drop it last (it flushes).
pub struct Guard(#[allow(dead_code)] Option<tracing_appender::non_blocking::WorkerGuard>);

/// The filter for a verbosity, or `AZ_OS_LOG`.
fn filter(quiet: bool, verbose: u8, floor_info: bool) -> EnvFilter {
    if let Ok(f) = EnvFilter::try_from_env("AZ_OS_LOG") {
        return f;
    }
    // The MCP SDK's own warnings (a server that echoes requests, a message it does not
    // expect) quote whole JSON-RPC messages: our own failure messages say what matters,
    // so the SDK speaks on the terminal only from -vv, and in the log file from warnings.
    let level = match (quiet, verbose, floor_info) {
        (true, _, false) => "error",
        (true, _, true) | (false, 0 | 1, true) | (false, 1, false) => "info,rmcp=warn",
        (false, 0, false) => "warn,rmcp=error",
        (false, 2, _) => "warn,az_os=debug",
        (false, _, _) => "warn,az_os=trace",
    };
    EnvFilter::new(level)
}

/// Starts logging: to stderr when `stderr`, and to `dir/az-os.log` when `dir` is given.
pub fn init(verbose: u8, quiet: bool, stderr: bool, dir: Option<&Path>) -> Guard {
    let err_layer = stderr.then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(|| crate::redact::RedactingWriter(std::io::stderr()))
            .with_target(false)
            .without_time()
            .with_filter(filter(quiet, verbose, false))
    });
    let (file_layer, guard) = match dir {
        Some(dir) if std::fs::create_dir_all(dir).is_ok() => {
            let appender = tracing_appender::rolling::never(dir, "az-os.log");
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(move || crate::redact::RedactingWriter(writer.clone()))
                .with_ansi(false)
                .with_filter(filter(quiet, verbose, true));
            (Some(layer), Some(guard))
        }
        _ => (None, None),
    };
    let _ = tracing_subscriber::registry()
        .with(err_layer)
        .with(file_layer)
        .try_init();
    Guard(guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_maps_to_levels() {
        let show = |q, v, floor| filter(q, v, floor).to_string();
        assert_eq!(show(false, 0, false), "rmcp=error,warn");
        assert_eq!(show(true, 3, false), "error");
        assert_eq!(show(false, 2, false), "az_os=debug,warn");
        assert_eq!(show(false, 3, false), "az_os=trace,warn");
        assert_eq!(show(false, 0, true), "rmcp=warn,info");
        assert_eq!(show(true, 0, true), "rmcp=warn,info");
        assert_eq!(show(false, 3, true), "az_os=trace,warn");
    }
}
