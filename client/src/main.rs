//! `parley`, Parley's command-line client.
//!
//! This milestone delivers the protocol core, so `parley` holds for now only what
//! needs no node: making a key and reading ids. Talking to a node (`post`, `read`,
//! `reply`, …) arrives with the node in the next milestone.
//!
//! This file is the edge: argument parsing, output and exit codes. Each command lives
//! in its own file under `commands/` and returns a [`commands::Outcome`]; nothing there
//! prints.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands::{id_parse, keygen};

/// Parley's command-line client.
#[derive(Debug, Parser)]
#[command(name = "parley", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make a new key and print its user id.
    ///
    /// Nothing is stored yet: the secret is discarded unless `--show-seed` prints it.
    Keygen {
        /// Derive the key from this 32-byte seed (64 hex digits) instead of fresh
        /// randomness, e.g. to see the user id of a key you hold.
        #[arg(long, value_name = "HEX", value_parser = keygen::parse_seed)]
        seed_hex: Option<[u8; 32]>,
        /// Also print the secret seed. Anyone who sees it can post as you.
        #[arg(long)]
        show_seed: bool,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Say which kind of Parley id a text is, or why it is none.
    ///
    /// The kinds are user, node, post and space. Exit code 1 when the text is none.
    IdParse {
        /// The text to read, e.g. `user1…`.
        text: String,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (outcome, json) = match cli.command {
        Command::Keygen {
            seed_hex,
            show_seed,
            json,
        } => (keygen::run(seed_hex, show_seed), json),
        Command::IdParse { text, json } => (Ok(id_parse::run(&text)), json),
    };
    match outcome {
        Ok(outcome) => {
            if json {
                println!("{}", outcome.json);
            } else if outcome.success {
                print!("{}", outcome.text);
            } else {
                eprint!("{}", outcome.text);
            }
            if outcome.success {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            if json {
                println!("{}", serde_json::json!({ "error": format!("{error:#}") }));
            } else {
                eprintln!("error: {error:#}");
            }
            ExitCode::FAILURE
        }
    }
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
