//! `parleyd`, Parley's team node.
//!
//! `parleyd init` creates a node (key, config, database) and prints its address;
//! `parleyd run` serves it; `invite`, `status` and `peer` administer it, whether it runs
//! or not; `inspect` decodes and validates envelopes as the node does.
//!
//! This file is the edge: argument parsing, logging, exit codes and `anyhow`. What the
//! commands do lives in the modules below and in the `parley_node` library.

mod commands;
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
    /// Create a node: its key (mode 0600), a commented parleyd.toml and the database.
    /// Prints the node's address NODE_ID@HOST:PORT.
    Init {
        #[command(flatten)]
        dir: commands::DirArgs,
        /// Address and UDP port to listen on [default: 0.0.0.0:7447].
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// HOST:PORT people and peers reach this node at [default: the listen address].
        #[arg(long, value_name = "HOST:PORT")]
        public_address: Option<String>,
    },
    /// Serve the node in the foreground until SIGINT or SIGTERM. The first run in the
    /// platform's data directory creates the node there; a `--data-dir` must hold one
    /// made by `parleyd init`, unless `--init` is given.
    Run {
        #[command(flatten)]
        dir: commands::DirArgs,
        /// Create a node with the defaults if the data directory holds none.
        #[arg(long)]
        init: bool,
    },
    /// Create an invite: a code a teammate gives to `parley join`.
    Invite {
        #[command(flatten)]
        dir: commands::DirArgs,
        /// How many people may join with it.
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// How long it works, e.g. 30m, 12h, 7d [default: forever].
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
    },
    /// Show the node's id, address, peers, spaces, post counts and disk use.
    Status {
        #[command(flatten)]
        dir: commands::DirArgs,
    },
    /// Manage peer nodes (federation).
    Peer {
        #[command(subcommand)]
        command: commands::PeerCommand,
    },
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
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Run { .. }) {
        init_tracing("warn");
    }
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
        Command::Init {
            dir,
            listen,
            public_address,
        } => commands::init(&dir, listen, public_address),
        Command::Run { dir, init } => commands::run(&dir, init),
        Command::Invite { dir, uses, expires } => commands::invite(&dir, uses, expires.as_deref()),
        Command::Status { dir } => commands::status(&dir),
        Command::Peer { command } => commands::peer(command),
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

/// Logs to standard error, filtered by `RUST_LOG`, else by `default`.
pub(crate) fn init_tracing(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only on a terminal, and not when NO_COLOR is set (no-color.org): a log
    // written to a file or a pipe is plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
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
