//! Logging setup: tracing events go to stderr, filtered by `RUST_LOG` when it is
//! set and by the configured level otherwise; as plain text (for a terminal, a
//! file, or journald) or as JSON lines (for log shippers). The level can be
//! changed later (a config reload) through the [`LevelHandle`] `init` returns.

use std::fmt;
use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use tracing::{Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

use crate::config::LogFormat;

/// Changes the level of the installed subscriber.
pub struct LevelHandle {
    handle: reload::Handle<EnvFilter, Registry>,
    /// `RUST_LOG` was set at start: it keeps winning over the config.
    from_environment: bool,
}

impl LevelHandle {
    /// Applies the configured level or filter (unless `RUST_LOG` decided it).
    pub fn set(&self, level: &str) {
        if self.from_environment {
            return;
        }
        if let Err(e) = self.handle.reload(EnvFilter::builder().parse_lossy(level)) {
            tracing::warn!("could not change the log level: {e}");
        }
    }
}

/// Installs the global subscriber. `default_filter` (an `EnvFilter` directive such
/// as "info" or "confab=debug") applies when `RUST_LOG` is unset or empty.
/// Returns `None` when a subscriber was installed already (a second call, as in
/// tests): the first one stays.
pub fn init(default_filter: &str, format: LogFormat) -> Option<LevelHandle> {
    let environment = std::env::var("RUST_LOG")
        .ok()
        .filter(|directives| !directives.trim().is_empty());
    let filter = EnvFilter::builder().parse_lossy(environment.as_deref().unwrap_or(default_filter));
    let (filter, handle) = reload::Layer::new(filter);
    let output = match (format, Destination::of_stderr()) {
        (LogFormat::Json, _) => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed(),
        (LogFormat::Text, Destination::Journal) => tracing_subscriber::fmt::layer()
            .event_format(SyslogPriority(
                tracing_subscriber::fmt::format()
                    .without_time()
                    .with_ansi(false),
            ))
            .with_writer(std::io::stderr)
            .boxed(),
        (LogFormat::Text, destination) => tracing_subscriber::fmt::layer()
            .with_ansi(destination == Destination::Terminal)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .try_init()
        .ok()?;
    Some(LevelHandle {
        handle,
        from_environment: environment.is_some(),
    })
}

/// Where stderr goes, as far as the log format cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Destination {
    /// A terminal: colours help.
    Terminal,
    /// systemd connected stderr to the journal, which timestamps every line and
    /// reads a `<N>` priority prefix.
    Journal,
    /// A file or a pipe: plain lines with timestamps.
    Other,
}

impl Destination {
    fn of_stderr() -> Destination {
        let stderr = std::io::stderr();
        if stderr.is_terminal() {
            return Destination::Terminal;
        }
        let identity = stderr
            .as_fd()
            .try_clone_to_owned()
            .map(std::fs::File::from)
            .and_then(|file| file.metadata())
            .map(|meta| (meta.dev(), meta.ino()));
        match (std::env::var("JOURNAL_STREAM"), identity) {
            (Ok(stream), Ok((dev, ino))) if is_journal_stream(&stream, dev, ino) => {
                Destination::Journal
            }
            _ => Destination::Other,
        }
    }
}

/// systemd sets `JOURNAL_STREAM` to "DEV:INODE" of the stream it connected to
/// the journal. It is inherited by children whose stderr may be redirected
/// elsewhere, so it only counts when it names our own stderr.
fn is_journal_stream(value: &str, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = value.trim().split_once(':') else {
        return false;
    };
    d.parse() == Ok(dev) && i.parse() == Ok(ino)
}

/// The syslog priority journald reads from a line's `<N>` prefix.
fn syslog_priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Puts the event's syslog priority in front of the line another format writes.
struct SyslogPriority<F>(F);

impl<S, N, F> FormatEvent<S, N> for SyslogPriority<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", syslog_priority(*event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_init_is_refused_harmlessly() {
        // "off", so the subscriber this installs for the whole test binary does
        // not spill other tests' logs onto the terminal.
        let first = init("off", LogFormat::Text);
        assert!(init("off", LogFormat::Json).is_none());
        drop(first);
    }

    #[test]
    fn the_journal_stream_must_name_our_stderr() {
        assert!(is_journal_stream("8:12345", 8, 12345));
        assert!(is_journal_stream("8:12345\n", 8, 12345));
        assert!(!is_journal_stream("8:12346", 8, 12345));
        assert!(!is_journal_stream("9:12345", 8, 12345));
        assert!(!is_journal_stream("", 8, 12345));
        assert!(!is_journal_stream("8", 8, 12345));
        assert!(!is_journal_stream("x:y", 8, 12345));
    }

    #[test]
    fn levels_map_to_syslog_priorities() {
        let priorities = [
            Level::ERROR,
            Level::WARN,
            Level::INFO,
            Level::DEBUG,
            Level::TRACE,
        ]
        .map(syslog_priority);
        assert_eq!(priorities, [3, 4, 6, 7, 7]);
    }
}
