//! `parley`, Parley's command-line client.
//!
//! This file is the edge: argument parsing, the runtime, output and exit codes (0 done,
//! 1 failed, 2 usage). Each command lives in `commands/` and returns a
//! [`commands::Outcome`]; rendering is in `render/`; the node is reached through
//! `node_client`; the key and address live in `home`.

mod cli;
mod clock;
mod commands;
mod entropy;
mod error;
mod home;
mod node_client;
mod pager;
mod render;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use clap::error::ErrorKind;
use serde_json::json;

use crate::cli::{Cli, Command, SpaceCommand};
use crate::commands::lookup::resolve_post;
use crate::commands::space::Change;
use crate::commands::{
    Context, Outcome, account, digest, docs, id_parse, read, search, space, watch, write,
};
use crate::error::ClientError;
use crate::home::Home;
use crate::node_client::NodeClient;
use crate::render::text::{screen_lines, terminal_width};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(&cli));
    report(result, cli.json, !cli.json && !cli.no_pager)
}

/// Runs the command: id-parse needs nothing; join connects to the invite's node;
/// everything else to the stored node with the stored key.
async fn run(cli: &Cli) -> Result<Outcome, ClientError> {
    match &cli.command {
        Command::IdParse { text } => return Ok(id_parse::run(text)),
        Command::Completions { shell } => return Ok(docs::completions(*shell)),
        Command::Man { dir } => return docs::man(dir.as_deref()),
        _ => {}
    }
    let home = Home::locate(cli.home.clone())?;
    let editor = commands::body::EditorSetup::from_env(&home).editor;
    let mut ctx = Context::new(home, terminal_width(), editor, clock::now);
    ctx.screen_lines = screen_lines();
    ctx.style.colour = !cli.json && render::paint::wanted();
    if let Command::Join { invite, move_home } = &cli.command {
        account::may_join(&ctx, invite, *move_home)?;
        let (key, created) = ctx.home.key_or_create()?;
        let timeout = cli.connect_timeout_for(&invite.address.host_port);
        let mut node = NodeClient::new(invite.address.clone(), key, timeout);
        let result = account::join(&ctx, &mut node, invite, created).await;
        node.close().await;
        return result;
    }
    let key = ctx.home.key()?;
    let address = ctx.home.node()?;
    let timeout = cli.connect_timeout_for(&address.host_port);
    let mut node = NodeClient::new(address, key, timeout);
    let result = dispatch(&ctx, &mut node, cli).await;
    node.close().await;
    result
}

async fn dispatch(ctx: &Context, node: &mut NodeClient, cli: &Cli) -> Result<Outcome, ClientError> {
    match &cli.command {
        Command::Whoami => account::whoami(ctx, node).await,
        Command::Space { command } => space_command(ctx, node, command).await,
        Command::Post { space, title, body } => write::post(ctx, node, space, title, body).await,
        Command::Reply { post, body } => {
            let post = resolve_post(node, post).await?;
            write::reply(ctx, node, post, body).await
        }
        Command::Edit { post, title, body } => {
            let post = resolve_post(node, post).await?;
            write::edit(ctx, node, post, title.as_deref(), body).await
        }
        Command::Retract { post } => {
            let post = resolve_post(node, post).await?;
            write::retract(ctx, node, post).await
        }
        Command::React {
            post,
            reaction,
            undo,
        } => {
            let post = resolve_post(node, post).await?;
            write::react(ctx, node, post, reaction, *undo).await
        }
        Command::Resolve { thread, decision } => {
            let thread = resolve_post(node, thread).await?;
            write::resolve_thread(ctx, node, thread, decision).await
        }
        Command::Reopen { thread } => {
            let thread = resolve_post(node, thread).await?;
            write::reopen(ctx, node, thread).await
        }
        Command::Threads {
            space,
            page,
            open,
            resolved,
        } => read::threads(ctx, node, space, page, read::filter(*open, *resolved)).await,
        Command::Show { thread } => {
            let thread = resolve_post(node, thread).await?;
            read::show(ctx, node, thread).await
        }
        Command::Unread { all, peek } => read::unread(ctx, node, *all, *peek).await,
        Command::MarkRead { target } => read::mark_read_command(node, target).await,
        Command::Search {
            query,
            space,
            limit,
            offset,
            sort,
        } => {
            let asked = search::Asked {
                words: query,
                space: space.as_deref(),
                limit: *limit,
                offset: *offset,
                newest: *sort == cli::SortArg::New,
            };
            search::search(ctx, node, &asked).await
        }
        Command::Digest { space, since } => {
            let since = digest::parse_since(since, ctx.style.now).map_err(ClientError::Usage)?;
            digest::digest(ctx, node, space.as_deref(), since).await
        }
        Command::Watch { space } => {
            let mut out = std::io::stdout();
            let stop = async {
                if tokio::signal::ctrl_c().await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            watch::watch(
                ctx,
                node,
                space.as_deref(),
                cli.json,
                &mut out,
                clock::now,
                stop,
                watch::Reconnect::DEFAULT,
            )
            .await
        }
        Command::Members { space } => space::members(ctx, node, space).await,
        Command::Decisions { space, page } => space::decisions(ctx, node, space, page).await,
        Command::Join { .. }
        | Command::IdParse { .. }
        | Command::Completions { .. }
        | Command::Man { .. } => Err(ClientError::Usage("handled before connecting".to_owned())),
    }
}

async fn space_command(
    ctx: &Context,
    node: &mut NodeClient,
    command: &SpaceCommand,
) -> Result<Outcome, ClientError> {
    let (space_arg, change) = match command {
        SpaceCommand::Create { name, description } => {
            return space::create(ctx, node, name, description).await;
        }
        SpaceCommand::List => return space::list(ctx, node).await,
        SpaceCommand::AddMember { space, user } => (space, Change::AddMember(user.clone())),
        SpaceCommand::RemoveMember { space, user } => (space, Change::RemoveMember(user.clone())),
        SpaceCommand::GrantModerator { space, user } => {
            (space, Change::GrantModerator(user.clone()))
        }
        SpaceCommand::RevokeModerator { space, user } => {
            (space, Change::RevokeModerator(user.clone()))
        }
        SpaceCommand::Share { space, node } => (space, Change::Share(*node)),
        SpaceCommand::Unshare { space, node } => (space, Change::Unshare(node.clone())),
        SpaceCommand::SetName { space, name } => (space, Change::SetName(name.clone())),
    };
    space::change(ctx, node, space_arg, change).await
}

/// Prints the outcome or the error, and picks the exit code. A closed stdout (`| head`)
/// is not an error worth a panic.
fn report(result: Result<Outcome, ClientError>, json: bool, pager: bool) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match result {
        Ok(outcome) => {
            if !outcome.printed {
                if json {
                    let _ = writeln!(stdout, "{}", outcome.json);
                } else if outcome.success {
                    if !(pager && pager::page(&outcome.text)) {
                        let _ = write!(stdout, "{}", outcome.text);
                    }
                } else {
                    eprint!("{}", outcome.text);
                }
            }
            let _ = stdout.flush();
            if outcome.success {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            if json {
                let _ = writeln!(
                    stdout,
                    "{}",
                    json!({ "error": error.code(), "message": error.to_string() })
                );
            } else {
                eprintln!("error: {error}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Help and version print as usual; a usage error is clap's message (exit 2), or a JSON
/// error document when `--json` is among the arguments.
fn usage_error(error: &clap::Error) -> ExitCode {
    let informational = matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    );
    if !informational && std::env::args_os().any(|arg| arg == "--json") {
        let rendered = error.render().to_string();
        let message = rendered
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ")
            .to_owned();
        println!("{}", json!({ "error": "usage", "message": message }));
        return ExitCode::from(2);
    }
    let _ = error.print();
    if informational {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
