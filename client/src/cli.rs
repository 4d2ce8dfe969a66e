//! The command line: one enum of subcommands (clap derive). Ids and invites are parsed
//! here, so a mistyped one is a usage error naming what is wrong before anything runs.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use parley_protocol::api::Invite;
use parley_protocol::{NodeId, UserId};

use crate::commands::lookup::{IdRef, PostRef};

use crate::commands::body::BodyArgs;

/// Parley's command-line client: join a team node, post, reply, decide.
#[derive(Debug, Parser)]
#[command(
    name = "parley",
    version,
    about,
    long_about = None,
    after_help = "Examples:
  parley join node1…@team.example.org:7447/TOKEN   join with an invite from your admin
  parley space create design                       a space; you are its moderator
  parley post design -t \"Storage engine\" -b \"sled or plain files?\"
  parley threads design                            the thread list, latest activity first
  parley show post1tsmpe33x                        a thread (any unique start of an id works)
  parley unread                                    where the news is, per thread
  parley resolve post1tsmpe33x -d \"We use sled.\"   decide, in writing

Ids print short (post1tsmpe33x35gd); every command takes --json for scripts."
)]
pub(crate) struct Cli {
    /// Print exactly one JSON document (for scripts) instead of text.
    /// `watch` prints one JSON object per line.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// The client's home: user key, node address, drafts. Default: the platform's
    /// config directory.
    #[arg(long, global = true, env = "PARLEY_HOME", value_name = "DIR")]
    pub(crate) home: Option<PathBuf>,
    /// How long to wait for the node to answer a connection attempt, in seconds
    /// [default: 2 for a node on this machine, 10 for others].
    #[arg(
        long,
        global = true,
        env = "PARLEY_CONNECT_TIMEOUT",
        value_name = "SECONDS",
        value_parser = parse_seconds
    )]
    pub(crate) connect_timeout: Option<Duration>,
    /// Print long output directly instead of through a pager ($PARLEY_PAGER, $PAGER or
    /// less) on a terminal.
    #[arg(long, global = true)]
    pub(crate) no_pager: bool,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Join a node with an invite from its admin; makes your key if you have none.
    Join {
        /// The invite, NODE_ID@HOST:PORT/TOKEN.
        invite: Invite,
        /// Move your home to the invite's node when you have joined another one (your
        /// key stays the same).
        #[arg(long = "move")]
        move_home: bool,
    },
    /// Show your user id and your node.
    Whoami,
    /// Create, list and manage spaces.
    Space {
        /// What to do with spaces.
        #[command(subcommand)]
        command: SpaceCommand,
    },
    /// Start a thread in a space.
    #[command(after_help = "Examples:
  parley post design -t \"Release day\" -b \"Thursdays?\"
  parley post design -t \"Notes\" -F notes.md          the body from a file (- reads stdin)
  parley post design -t \"Plan\"                       the body in $EDITOR; kept as a draft
                                                    until the node has it")]
    Post {
        /// The space: its name or id.
        space: String,
        /// The thread's title.
        #[arg(long, short = 't')]
        title: String,
        /// The body (else $EDITOR opens).
        #[command(flatten)]
        body: BodyArgs,
    },
    /// Reply to a thread or a reply.
    #[command(after_help = "Examples:
  parley reply post1tsmpe33x -b \"sled, with group commit\"
  parley reply post1tsmpe33x                 write it in $EDITOR (Ctrl-C keeps the draft)")]
    Reply {
        /// The post replied to.
        post: PostRef,
        /// The body (else $EDITOR opens).
        #[command(flatten)]
        body: BodyArgs,
    },
    /// Edit your own thread or reply.
    Edit {
        /// The post to edit.
        post: PostRef,
        /// A new title (threads only); alone, it keeps the body.
        #[arg(long, short = 't')]
        title: Option<String>,
        /// The new body (else $EDITOR opens on the current one).
        #[command(flatten)]
        body: BodyArgs,
    },
    /// Withdraw a post's content for good.
    Retract {
        /// The post.
        post: PostRef,
    },
    /// React to a thread or reply.
    #[command(after_help = "Examples:
  parley react post1tsmpe33x 👍
  parley react post1tsmpe33x 👍 --undo       take it back")]
    React {
        /// The post.
        post: PostRef,
        /// An emoji or a short word.
        reaction: String,
        /// Take the reaction back.
        #[arg(long)]
        undo: bool,
    },
    /// Resolve a thread with a decision.
    Resolve {
        /// The thread (a reply's id resolves its thread).
        thread: PostRef,
        /// The decision.
        #[arg(long, short = 'd')]
        decision: String,
    },
    /// Reopen a resolved thread.
    Reopen {
        /// The thread.
        thread: PostRef,
    },
    /// List a space's threads, latest activity first: one screen, unless asked for more.
    Threads {
        /// The space: its name or id.
        space: String,
        #[command(flatten)]
        page: PageArgs,
        /// Only threads without a decision.
        #[arg(long, conflicts_with = "resolved")]
        open: bool,
        /// Only threads with a decision.
        #[arg(long)]
        resolved: bool,
    },
    /// Show a thread as a tree (and mark it read).
    Show {
        /// The thread, or any post in it.
        thread: PostRef,
    },
    /// What is new across your spaces: how many new posts in which threads. Marks
    /// nothing; `parley show ID` reads a thread and marks it read.
    #[command(after_help = "Examples:
  parley unread                      counts per thread; marks nothing
  parley show post1tsmpe33x          read one thread (marks it read)
  parley unread --all                every new post, then marked read
  parley unread --all --peek         every new post, nothing marked
  parley mark-read design            everything left in a space, marked read")]
    Unread {
        /// Print every new post here, and mark them read.
        #[arg(long)]
        all: bool,
        /// With --all: mark nothing read.
        #[arg(long, requires = "all")]
        peek: bool,
    },
    /// What happened while you were away, on one screen: per space, the decisions made,
    /// the threads started and the busiest threads since then.
    #[command(after_help = "Examples:
  parley digest                      the last 7 days, every space
  parley digest design --since 2w    one space, two weeks
  parley digest --since 2026-11-30   since a date (UTC)")]
    Digest {
        /// Only this space: its name or id.
        space: Option<String>,
        /// The period: 7d, 24h, 2w, 30m, or a date YYYY-MM-DD (UTC).
        #[arg(long, default_value = "7d", value_name = "PERIOD")]
        since: String,
    },
    /// Search everything you may read: words (all must match), "a phrase", prefix*,
    /// -word, and filters author:NAME space:NAME in:title is:decision is:open
    /// is:resolved before:DATE after:DATE (a date 2026-11-30 or a period like 7d).
    #[command(after_help = "Examples:
  parley search group commit                 both words, best match first
  parley search '\"group commit\"' author:ada   a phrase, by one author
  parley search is:decision space:design     the decisions of a space
  parley search 'replic* -timeout' after:30d --sort new
                                             newest first; quote a query whose
                                             first word leaves something out")]
    Search {
        /// The query.
        #[arg(required = true, num_args = 1.., value_name = "QUERY")]
        query: Vec<String>,
        /// Only this space: its name or id.
        #[arg(long)]
        space: Option<String>,
        /// Show at most N hits (default 10, at most 50).
        #[arg(long, short = 'n', value_name = "N")]
        limit: Option<u32>,
        /// Skip the first N hits (printed as `next` in `--json` output).
        #[arg(long, value_name = "N", default_value_t = 0)]
        offset: u32,
        /// Order: by relevance (best first), or new (newest first).
        #[arg(long, value_enum, default_value_t = SortArg::Relevance)]
        sort: SortArg,
    },
    /// Mark everything new in a space, or in a thread, read without reading it.
    MarkRead {
        /// A space (name or id) or a thread (any post id in it).
        target: String,
    },
    /// Print new posts as they arrive, until Ctrl-C; when the node goes away, connect
    /// again. With --json, one object per post, and `{"event": "lost", …}` then
    /// `{"event": "watching"}` around a reconnection.
    Watch {
        /// Only this space (name or id); default: all your spaces.
        space: Option<String>,
    },
    /// List a space's members, moderators and nodes.
    Members {
        /// The space: its name or id.
        space: String,
    },
    /// List a space's decisions, newest first.
    Decisions {
        /// The space: its name or id.
        space: String,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Say which kind of Parley id a text is, or why it is none (exit 1).
    IdParse {
        /// The text to read, e.g. `user1…`.
        text: String,
    },
    /// Print a shell's completion script: `parley completions bash >
    /// ~/.local/share/bash-completion/completions/parley`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one page per command into a directory.
    Man {
        /// Write `parley.1`, `parley-post.1`, … here instead of printing `parley.1`.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// How much of a long list to show.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct PageArgs {
    /// Show at most N lines (default: one screen on a terminal, else 20).
    #[arg(long, short = 'n', value_name = "N", conflicts_with = "all")]
    pub(crate) limit: Option<u32>,
    /// Show every line.
    #[arg(long)]
    pub(crate) all: bool,
    /// Start after the line this cursor names (printed as `next` in `--json` output).
    #[arg(long, value_name = "CURSOR")]
    pub(crate) before: Option<String>,
}

/// The order of search hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SortArg {
    /// Best match first, newer first among equals.
    Relevance,
    /// Newest first.
    New,
}

/// `parley space …`.
#[derive(Debug, Subcommand)]
pub(crate) enum SpaceCommand {
    /// Create a space hosted by your node; you are its founder and moderator.
    Create {
        /// Its name.
        name: String,
        /// What it is for.
        #[arg(long, short = 'd', default_value = "")]
        description: String,
    },
    /// List the spaces you are a member of.
    List,
    /// Add a member (moderators only).
    AddMember {
        /// The space: its name or id.
        space: String,
        /// The user to add. (a member's id may be shortened to its start)
        user: IdRef<UserId>,
    },
    /// Remove a member (moderators only).
    RemoveMember {
        /// The space: its name or id.
        space: String,
        /// The user to remove. (a member's id may be shortened to its start)
        user: IdRef<UserId>,
    },
    /// Make a member a moderator.
    GrantModerator {
        /// The space: its name or id.
        space: String,
        /// The member. (a member's id may be shortened to its start)
        user: IdRef<UserId>,
    },
    /// Take a member's moderator rights away.
    RevokeModerator {
        /// The space: its name or id.
        space: String,
        /// The member. (a member's id may be shortened to its start)
        user: IdRef<UserId>,
    },
    /// Let another node hold a replica of the space.
    Share {
        /// The space: its name or id.
        space: String,
        /// The node: its id, or the NODE_ID@HOST:PORT its admin gives out.
        #[arg(value_parser = parse_node)]
        node: NodeId,
    },
    /// Stop a node from holding a replica of the space.
    Unshare {
        /// The space: its name or id.
        space: String,
        /// The node: its id (or its start), or NODE_ID@HOST:PORT.
        #[arg(value_parser = parse_node_ref)]
        node: IdRef<NodeId>,
    },
    /// Set your display name in a space.
    SetName {
        /// The space: its name or id.
        space: String,
        /// The name others see beside your posts.
        name: String,
    },
}

/// Parses a positive number of seconds, fractions allowed (`0.5`), at most a day.
impl Cli {
    /// How long to wait for the node at `host_port` to answer: as given, else 2 s for a
    /// node on this machine (it answers at once or not at all) and 10 s for others.
    pub(crate) fn connect_timeout_for(&self, host_port: &str) -> Duration {
        self.connect_timeout.unwrap_or_else(|| {
            let host = host_port
                .rsplit_once(':')
                .map_or(host_port, |(host, _)| host)
                .trim_start_matches('[')
                .trim_end_matches(']');
            let local = host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            Duration::from_secs(if local { 2 } else { 10 })
        })
    }
}

/// A node id, alone or in the `NODE_ID@HOST:PORT` form admins exchange.
fn parse_node(text: &str) -> Result<NodeId, String> {
    let id = text.split_once('@').map_or(text, |(id, _)| id);
    id.parse::<NodeId>().map_err(|error| {
        format!("expected a node id (node1…) or NODE_ID@HOST:PORT, not `{text}`: {error}")
    })
}

/// A node id (or the start of one), alone or in the `NODE_ID@HOST:PORT` form.
fn parse_node_ref(text: &str) -> Result<IdRef<NodeId>, String> {
    let id = text.split_once('@').map_or(text, |(id, _)| id);
    id.parse::<IdRef<NodeId>>().map_err(|error| {
        format!("expected a node id (node1…) or NODE_ID@HOST:PORT, not `{text}`: {error}")
    })
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("expected a number of seconds, like 10 or 0.5, not `{text}`"))?;
    if !(seconds > 0.0 && seconds <= 86_400.0) {
        return Err(format!(
            "expected more than 0 and at most 86400 seconds, not {text}"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;
    use parley_protocol::PostId;
    use parley_protocol::api::{InviteToken, NodeAddress};

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("parley").chain(args.iter().copied()))
    }

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_anywhere() {
        let cli = parse(&["--json", "whoami"]).unwrap();
        assert!(cli.json);
        let cli = parse(&["whoami", "--json", "--home", "/tmp/h"]).unwrap();
        assert!(cli.json);
        assert_eq!(cli.home, Some(PathBuf::from("/tmp/h")));
    }

    #[test]
    fn the_connect_timeout_is_seconds() {
        let cli = parse(&["whoami"]).unwrap();
        assert_eq!(
            cli.connect_timeout_for("127.0.0.1:7447"),
            Duration::from_secs(2)
        );
        assert_eq!(
            cli.connect_timeout_for("[::1]:7447"),
            Duration::from_secs(2)
        );
        assert_eq!(
            cli.connect_timeout_for("localhost:7447"),
            Duration::from_secs(2)
        );
        assert_eq!(
            cli.connect_timeout_for("example.org:7447"),
            Duration::from_secs(10)
        );
        let cli = parse(&["whoami", "--connect-timeout", "0.25"]).unwrap();
        assert_eq!(
            cli.connect_timeout_for("127.0.0.1:7447"),
            Duration::from_millis(250)
        );
        for bad in ["0", "-1", "soon", "NaN", "1e9"] {
            assert!(
                parse(&["whoami", "--connect-timeout", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn invites_and_ids_are_parsed_up_front() {
        let invite = Invite {
            address: NodeAddress {
                node: NodeId([3; 32]),
                host_port: "127.0.0.1:7447".to_owned(),
            },
            token: InviteToken([0xab; 16]),
        };
        let cli = parse(&["join", &invite.to_string()]).unwrap();
        assert!(matches!(cli.command, Command::Join { invite: parsed, .. } if parsed == invite));
        let error = parse(&["join", "nonsense"]).unwrap_err().to_string();
        assert!(error.contains("/TOKEN"), "{error}");
        let user = UserId([1; 32]).to_string();
        let error = parse(&["reply", &user]).unwrap_err().to_string();
        assert!(error.contains("expected a post id"), "{error}");
        let error = parse(&["space", "add-member", "team", &PostId([1; 32]).to_string()])
            .unwrap_err()
            .to_string();
        assert!(error.contains("expected a user id"), "{error}");
    }

    #[test]
    fn body_options_exclude_each_other() {
        let post = PostId([1; 32]).to_string();
        let cli = parse(&["post", "team", "--title", "T", "--body", "B"]).unwrap();
        let Command::Post { space, title, body } = cli.command else {
            panic!()
        };
        assert_eq!((space.as_str(), title.as_str()), ("team", "T"));
        assert_eq!(body.body.as_deref(), Some("B"));
        let cli = parse(&["reply", &post, "--body-file", "-"]).unwrap();
        assert!(
            matches!(cli.command, Command::Reply { body, .. } if body.body_file == Some(PathBuf::from("-")))
        );
        assert!(parse(&["reply", &post, "-b", "x", "-F", "f"]).is_err());
        assert!(parse(&["post", "team"]).is_err(), "a title is required");
        let cli = parse(&["edit", &post, "-t", "New"]).unwrap();
        assert!(
            matches!(cli.command, Command::Edit { title: Some(t), body, .. } if t == "New" && body == BodyArgs::default())
        );
    }

    #[test]
    fn every_command_of_the_issue_parses() {
        let post = PostId([1; 32]).to_string();
        let user = UserId([2; 32]).to_string();
        let node = NodeId([3; 32]).to_string();
        for args in [
            vec!["whoami"],
            vec!["space", "create", "team", "--description", "D"],
            vec!["space", "list"],
            vec!["space", "add-member", "team", &user],
            vec!["space", "remove-member", "team", &user],
            vec!["space", "share", "team", &node],
            vec!["react", &post, "👍"],
            vec!["resolve", &post, "--decision", "ship it"],
            vec!["reopen", &post],
            vec!["retract", &post],
            vec!["threads", "team"],
            vec!["show", &post],
            vec!["unread"],
            vec!["watch"],
            vec!["watch", "team"],
            vec!["members", "team"],
            vec!["decisions", "team"],
        ] {
            assert!(parse(&args).is_ok(), "{args:?}");
        }
        assert!(
            parse(&["resolve", &post]).is_err(),
            "a decision is required"
        );
    }

    #[test]
    fn a_node_is_named_by_its_id_or_its_address() {
        let node = NodeId([3; 32]);
        for given in [node.to_string(), format!("{node}@example.org:7447")] {
            let cli = parse(&["space", "share", "team", &given]).unwrap();
            let Command::Space {
                command: SpaceCommand::Share { node: parsed, .. },
            } = cli.command
            else {
                panic!("{given}");
            };
            assert_eq!(parsed, node);
        }
        let error = parse(&["space", "share", "team", "example.org:7447"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("NODE_ID@HOST:PORT"), "{error}");
    }
}
