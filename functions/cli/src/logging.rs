//! Log set-up: `tracing` to stderr, as text for people or JSON for log collectors.

use std::io::IsTerminal;

/// Installs the global subscriber. `RUST_LOG` filters; the default is `info` for JSON
/// (collectors want the record) and `warn` for text (people want quiet). Text is
/// coloured only when stderr is a terminal, so redirected logs hold no escape codes.
pub fn init(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| if json { "info" } else { "warn" }.into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder
            .compact()
            .with_ansi(std::io::stderr().is_terminal())
            .init();
    }
}
