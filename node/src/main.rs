//! `parleyd`, Parley's team node.
//!
//! This milestone delivers the protocol core, so `parleyd` is for now a protocol tool
//! that works without a network: `parleyd inspect` decodes and validates one envelope
//! exactly as a node will before it stores anything. The node service (`init`, `run`,
//! peers, invites) replaces this surface in the next milestone.
//!
//! This file is the edge: argument parsing, logging, the system clock, exit codes and
//! `anyhow`. What the commands do lives in the modules below.

mod inspect;
mod render;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use parley_protocol::Timestamp;
use tracing_subscriber::EnvFilter;

/// Parley's team node. For now: protocol tools that need no network.
#[derive(Debug, Parser)]
#[command(name = "parleyd", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode and validate envelopes, as a node does before storing them.
    ///
    /// The input is one envelope's canonical bytes, raw or as hexadecimal text
    /// (whitespace allowed), or a spec vector file (`spec/vectors/*.json`), whose every
    /// `bytes_hex` is inspected at the file's `now`. Prints each post's id, kind,
    /// author, space, date and fields, or the reason it is invalid. Exit code 1 when
    /// any envelope is invalid.
    Inspect {
        /// File holding the envelope or vectors, or `-` for standard input.
        input: PathBuf,
        /// Validate against this time (milliseconds since the Unix epoch) instead of
        /// the vector file's `now` or the system clock.
        #[arg(long, value_name = "MS")]
        now_ms: Option<u64>,
        /// Print JSON instead of text: one object, or an array for a vector file.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Inspect {
            input,
            now_ms,
            json,
        } => {
            let envelopes = inspect::read_input(&input)
                .with_context(|| format!("reading {}", input.display()))?;
            let file_now = match &envelopes {
                inspect::Input::Vectors { now, .. } => *now,
                inspect::Input::Envelope(_) => None,
            };
            let now = match now_ms.map(Timestamp::from_millis).or(file_now) {
                Some(now) => now,
                None => system_now()?,
            };
            tracing::debug!(%now, "inspecting envelopes");
            let reports = inspect::inspect(envelopes, now);
            print!(
                "{}",
                if json {
                    render::json(&reports)
                } else {
                    render::text(&reports)
                }
            );
            let all_valid = reports.iter().all(|r| r.outcome.is_ok());
            Ok(if all_valid {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// The system clock as a protocol timestamp. The only clock read in `parleyd`.
fn system_now() -> anyhow::Result<Timestamp> {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the system clock is set before 1970")?;
    let ms = u64::try_from(since_epoch.as_millis())
        .context("the system clock is past year 500 million")?;
    Ok(Timestamp::from_millis(ms))
}

/// Logs to standard error, filtered by `RUST_LOG` (default: warnings and errors).
fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
