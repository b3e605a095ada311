//! The `confab` binary: parses the command line and hands over to the library,
//! turning errors into a one-line message on stderr and exit status 1.

use std::error::Error;
use std::process::ExitCode;

use clap::Parser;

use confab::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Server(args) => confab::daemon::run(&args),
        Command::Client(args) => return ExitCode::from(confab::client::run(&args)),
        Command::Completions(args) => {
            confab::manual::print_completions(args.shell).map_err(Into::into)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("confab: {}", report(err.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, joined by ": ". A cause whose text the message
/// already holds is skipped: many errors repeat their source in their own text.
fn report(err: &dyn Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::report;

    #[derive(Debug, thiserror::Error)]
    #[error("outer: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Hides(#[source] std::io::Error);

    #[test]
    fn causes_are_reported_once() {
        let io = || std::io::Error::other("disk on fire");
        assert_eq!(report(&Repeats(io())), "outer: disk on fire");
        assert_eq!(report(&Hides(io())), "outer: disk on fire");
    }
}
