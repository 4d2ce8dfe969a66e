//! The node's admin commands: what `parleyd init|run|invite|status|peer` do.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use parley_node::config::{DataDir, Settings};
use parley_node::lock::{DirLock, LockError};
use parley_node::server::{AdminRequest, AdminResponse, PeerRecord};
use parley_node::storage::{OpenOptions, Storage, StorageError};
use parley_node::{clock, keyfile, server, transport};
use parley_protocol::api::{ADMIN_ALPN, NodeAddress};
use parley_protocol::{NodeId, SecretKey, Timestamp};
use serde_json::json;

/// Where the node lives, and how to print.
#[derive(Debug, Args)]
pub(crate) struct DirArgs {
    /// The node's data directory [default: the platform's data directory for parley].
    #[arg(long, value_name = "DIR", env = "PARLEYD_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

/// `parleyd peer …`.
#[derive(Debug, Subcommand)]
pub(crate) enum PeerCommand {
    /// Add a peer node NODE_ID@HOST:PORT.
    Add {
        /// The peer's address.
        address: NodeAddress,
        #[command(flatten)]
        dir: DirArgs,
    },
    /// Remove a peer node.
    Remove {
        /// The peer's node id.
        node: NodeId,
        #[command(flatten)]
        dir: DirArgs,
    },
    /// List peer nodes.
    List {
        #[command(flatten)]
        dir: DirArgs,
    },
}

/// An initialized node's files, loaded.
struct Loaded {
    dir: DataDir,
    key: SecretKey,
    settings: Settings,
}

fn load(args: &DirArgs) -> anyhow::Result<Loaded> {
    let dir = DataDir::resolve(args.data_dir.clone())?;
    if !dir.key().exists() {
        bail!(
            "no node in {}: create one with `parleyd init --data-dir {}`",
            dir.0.display(),
            dir.0.display()
        );
    }
    let key = keyfile::read(&dir.key()).context("reading the node key")?;
    let settings = Settings::load(&dir.config())?;
    // A node's database never disappears by itself: starting an empty one in its place
    // would silently forget every post, user and peer.
    if !dir.db().exists() {
        bail!(
            "the node's database {} is missing, though its key and config are in {} \
             (a disk that is not mounted? a moved folder?): restore it; to start this node \
             over with an empty store instead, create the folder: mkdir {}",
            dir.db().display(),
            dir.0.display(),
            dir.db().display()
        );
    }
    Ok(Loaded { dir, key, settings })
}

/// Opens the node's store (whose lock the caller holds), saying what a rebuild of a
/// lost index could not recover.
fn open_store(loaded: &Loaded) -> anyhow::Result<Storage> {
    let options = OpenOptions {
        index_cache_bytes: loaded.settings.storage.index_cache_bytes(),
    };
    let storage = Storage::open_with(&loaded.dir.db(), options).map_err(|error| match error {
        StorageError::Locked { .. } => anyhow::anyhow!(
            "the database in {} is held by another process that does not take parleyd's lock (an older parleyd?)",
            loaded.dir.db().display()
        ),
        other => anyhow::Error::new(other).context(format!(
            "opening the database in {}",
            loaded.dir.db().display()
        )),
    })?;
    storage.set_min_free_bytes(loaded.settings.storage.min_free_bytes());
    storage.set_post_cache_bytes(loaded.settings.storage.post_cache_bytes());
    if let Some(rebuilt) = storage.rebuilt() {
        eprintln!(
            "warning: the index of {} was missing; rebuilt it from the envelope log ({} posts). {}",
            loaded.dir.db().display(),
            rebuilt.posts,
            rebuilt.what_was_lost()
        );
    }
    Ok(storage)
}

pub(crate) fn init(
    args: &DirArgs,
    listen: Option<SocketAddr>,
    public_address: Option<String>,
) -> anyhow::Result<ExitCode> {
    let dir = DataDir::resolve(args.data_dir.clone())?;
    if dir.key().exists() {
        bail!(
            "{} already holds a node (its key is {}); use another --data-dir",
            dir.0.display(),
            dir.key().display()
        );
    }
    create_private_dir(&dir.0)?;
    let Some(_lock) = DirLock::for_admin(&dir.0, LOCK_PATIENCE)? else {
        bail!("a node is starting in {}", dir.0.display());
    };
    let (key, settings) = create_node(&dir, listen, public_address)?;
    let address = NodeAddress {
        node: key.node_id(),
        host_port: settings.advertised(),
    };
    if args.json {
        println!(
            "{}",
            json!({ "node_id": key.node_id().to_string(), "address": address.to_string(), "data_dir": dir.0 })
        );
    } else {
        println!("created a node in {}", dir.0.display());
        println!("node address: {address}");
        println!(
            "next: `parleyd run{}`, then `parleyd invite` for each teammate",
            data_dir_flag(args)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// How long a node waits for an admin command holding the store, and an admin
/// command for another one or for a starting node to answer.
const LOCK_PATIENCE: Duration = Duration::from_secs(30);

/// Creates the key, config and database of a new node in `dir`, whose lock the caller
/// holds. The key is written last, so a failure leaves no half-made node behind that
/// `load` would accept.
fn create_node(
    dir: &DataDir,
    listen: Option<SocketAddr>,
    public_address: Option<String>,
) -> anyhow::Result<(SecretKey, Settings)> {
    create_private_dir(&dir.0)?;
    let mut settings = Settings::default();
    if let Some(listen) = listen {
        settings.listen = listen;
    }
    settings.public_address = public_address;
    // Validate what was given the same way the file will be read.
    let settings = Settings::parse(&dir.config(), &settings.to_commented_toml())?;
    let key = keyfile::generate().context("reading randomness from the operating system")?;
    let storage = Storage::open(&dir.db())
        .with_context(|| format!("creating the database in {}", dir.db().display()))?;
    storage.flush()?;
    drop(storage);
    std::fs::write(dir.config(), settings.to_commented_toml())
        .with_context(|| format!("writing {}", dir.config().display()))?;
    keyfile::create(&dir.key(), &key)?;
    Ok((key, settings))
}

fn data_dir_flag(args: &DirArgs) -> String {
    args.data_dir
        .as_ref()
        .map(|d| format!(" --data-dir {}", d.display()))
        .unwrap_or_default()
}

fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

pub(crate) fn run(args: &DirArgs, init: bool) -> anyhow::Result<ExitCode> {
    let dir = DataDir::resolve(args.data_dir.clone())?;
    let empty = std::fs::read_dir(&dir.0).map_or(true, |mut entries| entries.next().is_none());
    // Only the platform's own directory, or one named with --init, gets a node made on
    // the spot: a mistyped --data-dir must not start a brand-new node.
    let create = !dir.key().exists() && empty && (args.data_dir.is_none() || init);
    if !dir.key().exists() && empty && !create {
        anyhow::bail!(
            "{} holds no node: create one with `parleyd init --data-dir {}` (or `parleyd run --init --data-dir {}`)",
            dir.0.display(),
            dir.0.display(),
            dir.0.display()
        );
    }
    if create {
        create_private_dir(&dir.0)?;
    }
    // Held until the node has stopped and let go of the store: admin commands then ask
    // the node instead of opening the store, and wait while it starts.
    let lock = if dir.0.is_dir() {
        Some(DirLock::for_node(&dir.0, LOCK_PATIENCE).map_err(|error| match error {
            LockError::NodeRunning { pid, .. } => anyhow::anyhow!(
                "the node in {} is already running (process {pid}): stop it first; `parleyd status{}` talks to it",
                dir.0.display(),
                data_dir_flag(args)
            ),
            other => anyhow::Error::new(other),
        })?)
    } else {
        None
    };
    if create {
        // A first `parleyd run` on a fresh machine sets the node up with the defaults.
        create_node(&dir, None, None)?;
        println!(
            "created a node in {} (settings: {})",
            dir.0.display(),
            dir.config().display()
        );
    }
    let loaded = load(args)?;
    crate::init_tracing(&loaded.settings.log);
    let storage = open_store(&loaded)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let served = runtime.block_on(async {
        let advertised = loaded.settings.advertised();
        let federation = loaded.settings.federation.config();
        let endpoint = server::endpoint(&loaded.key, loaded.settings.listen, &federation)?;
        let address = NodeAddress {
            node: loaded.key.node_id(),
            host_port: advertised.clone(),
        };
        let handle = server::start_with_search(
            loaded.key,
            storage,
            endpoint,
            advertised,
            federation,
            loaded.settings.federation.peer_addresses(),
            loaded.settings.search.settings(),
        )?;
        // Listening for the signals before saying it serves, so a stop sent as soon as
        // the line is read is a clean one.
        let stop = shutdown_signal();
        // Said once the node answers, so whoever waits for this line can use it.
        println!("parleyd {} serving at {address}", env!("CARGO_PKG_VERSION"));
        stop.await;
        // Everything acknowledged is on disk already: a shutdown that hangs (a peer or
        // a client that does not let go) is cut short rather than waited for.
        match tokio::time::timeout(SHUTDOWN_LIMIT, handle.shutdown()).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(
                    "the node did not stop within {}s; exiting anyway (acknowledged posts are on disk)",
                    SHUTDOWN_LIMIT.as_secs()
                );
                Ok(())
            }
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
    drop(lock);
    served?;
    Ok(ExitCode::SUCCESS)
}

/// How long a stopping node may take to close its connections and flush.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(10);

/// Completes on SIGINT or SIGTERM; the handlers are in place when this returns.
fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            let wait = |signal: std::io::Result<tokio::signal::unix::Signal>| async move {
                match signal {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => {}
                () = wait(terminate) => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Runs an admin command: on the store directly when the node is stopped (holding the
/// data directory's lock, so a node starting meanwhile waits), through the running node
/// (its admin ALPN, authenticated by the node key) when a node holds the lock, waiting
/// for a starting node to answer.
fn admin(args: &DirArgs, request: AdminRequest) -> anyhow::Result<AdminResponse> {
    let loaded = load(args)?;
    let advertised = loaded.settings.advertised();
    let dir = &loaded.dir.0;
    let start = std::time::Instant::now();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    loop {
        if let Some(lock) = DirLock::for_admin(dir, LOCK_PATIENCE)? {
            let storage = open_store(&loaded)?;
            let response =
                server::admin_execute(&storage, loaded.key.node_id(), &advertised, None, request);
            storage.flush()?;
            drop(storage);
            drop(lock);
            return Ok(response);
        }
        // A node runs or starts here: ask it, once it answers.
        let mut target = loaded.settings.listen;
        if target.ip().is_unspecified() {
            target.set_ip(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        }
        match runtime.block_on(ask_node(&loaded.key, target, &request)) {
            Ok(response) => return Ok(response),
            Err(error) if start.elapsed() >= LOCK_PATIENCE => {
                return Err(error.context(format!(
                    "the node in {} holds its store but did not answer at {target} within {}s",
                    dir.display(),
                    LOCK_PATIENCE.as_secs()
                )));
            }
            // Still starting (not yet listening), or stopped meanwhile: look again.
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// One admin request to the node listening at `target`.
async fn ask_node(
    key: &SecretKey,
    target: SocketAddr,
    request: &AdminRequest,
) -> anyhow::Result<AdminResponse> {
    let endpoint = transport::client_endpoint(key, target)?;
    let connection = tokio::time::timeout(
        Duration::from_secs(1),
        transport::connect(&endpoint, target, key.node_id(), ADMIN_ALPN),
    )
    .await
    .context(format!("the running node did not answer at {target}"))??;
    let body = serde_json::to_vec(request)?;
    // A node stopping meanwhile may never answer; the caller then looks again.
    let reply = tokio::time::timeout(
        Duration::from_secs(10),
        transport::request(&connection, &body, server::MAX_ADMIN_BYTES),
    )
    .await
    .context(format!("the node at {target} did not answer within 10 s"))??;
    connection.close(0u32.into(), b"done");
    serde_json::from_slice(&reply).context("the node's answer is not an admin response")
}

fn finish(
    args: &DirArgs,
    response: AdminResponse,
    text: impl FnOnce(&AdminResponse) -> String,
) -> anyhow::Result<ExitCode> {
    if let AdminResponse::Error { message } = &response {
        if args.json {
            println!("{}", json!({ "error": "refused", "message": message }));
            return Ok(ExitCode::FAILURE);
        }
        bail!("{message}");
    }
    if args.json {
        let value = match &response {
            AdminResponse::Invite {
                invite,
                uses,
                expires_at,
            } => {
                json!({ "invite": invite, "uses": uses, "expires_at": expires_at.map(Timestamp::as_millis) })
            }
            AdminResponse::Status(status) => serde_json::to_value(status)?,
            AdminResponse::Peers(peers) => json!({ "peers": peers }),
            AdminResponse::Unchanged { message } => {
                json!({ "ok": true, "unchanged": true, "message": message })
            }
            _ => json!({ "ok": true }),
        };
        println!("{value}");
    } else {
        print!("{}", text(&response));
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn invite(args: &DirArgs, uses: u32, expires: Option<&str>) -> anyhow::Result<ExitCode> {
    let expires_at = expires
        .map(parse_duration)
        .transpose()?
        .map(|ms| clock::now().saturating_add_millis(ms));
    let response = admin(args, AdminRequest::Invite { uses, expires_at })?;
    finish(args, response, |response| match response {
        AdminResponse::Invite { invite, uses, .. } => {
            format!(
                "{invite}\n\nGive this to a teammate: `parley join {invite}` ({uses} use{}).\n",
                if *uses == 1 { "" } else { "s" }
            )
        }
        _ => String::new(),
    })
}

pub(crate) fn status(args: &DirArgs) -> anyhow::Result<ExitCode> {
    let response = admin(args, AdminRequest::Status)?;
    finish(args, response, |response| {
        let AdminResponse::Status(status) = response else {
            return String::new();
        };
        let mut out = format!(
            "node     {}\naddress  {}\nstate    {}\nusers    {}\ndisk     {} bytes ({} bytes free)\n",
            status.node_id,
            status.address,
            if status.running { "running" } else { "stopped" },
            status.users,
            status.disk_bytes,
            status.disk_free_bytes
        );
        if status.disk_free_bytes < status.min_free_bytes {
            out.push_str(&format!(
                "writes   refused: less than the {} bytes kept free ([storage] min_free_mb); free space to take posts again\n",
                status.min_free_bytes
            ));
        }
        out.push_str(&format!("peers    {}\n", status.peers.len()));
        let now = clock::now();
        for peer in &status.peers {
            out.push_str(&peer_text(peer, false, now));
        }
        out.push_str(&format!("spaces   {}\n", status.spaces.len()));
        for space in &status.spaces {
            out.push_str(&format!(
                "  {:<20} {:>7} posts  {}\n",
                space.name, space.posts, space.space
            ));
        }
        match (&status.search, &status.search_missing) {
            (Some(search), _) => {
                let state = if search.building {
                    format!("building, {} threads to go", search.waiting)
                } else if search.waiting > 0 {
                    format!("ready, {} threads to index", search.waiting)
                } else {
                    "ready".to_owned()
                };
                out.push_str(&format!(
                    "search   {state}: {} documents, {} bytes\n",
                    search.documents, search.size_bytes
                ));
                if let Some(failure) = &search.failure {
                    out.push_str(&format!("         last write failed: {failure}\n"));
                }
            }
            (None, Some(missing)) => out.push_str(&format!("search   unavailable: {missing}\n")),
            (None, None) => {}
        }
        if !status.quarantined.is_empty() {
            out.push_str(&format!(
                "damaged  {} posts, not held until a peer sends them again\n",
                status.quarantined.len()
            ));
            for damaged in &status.quarantined {
                out.push_str(&format!(
                    "  {}  {}\n",
                    damaged.id,
                    damaged.space.as_deref().unwrap_or("(space unknown)")
                ));
            }
        }
        out
    })
}

pub(crate) fn peer(command: PeerCommand) -> anyhow::Result<ExitCode> {
    match command {
        PeerCommand::Add { address, dir } => {
            let response = admin(
                &dir,
                AdminRequest::PeerAdd {
                    address: address.clone(),
                },
            )?;
            finish(&dir, response, |response| match response {
                AdminResponse::Unchanged { message } => format!("{message}\n"),
                _ => format!("added peer {address}\n"),
            })
        }
        PeerCommand::Remove { node, dir } => {
            let response = admin(&dir, AdminRequest::PeerRemove { node })?;
            finish(&dir, response, |_| format!("removed peer {node}\n"))
        }
        PeerCommand::List { dir } => {
            let response = admin(&dir, AdminRequest::PeerList)?;
            finish(&dir, response, |response| match response {
                AdminResponse::Peers(peers) if peers.is_empty() => "no peers\n".to_owned(),
                AdminResponse::Peers(peers) => {
                    let now = clock::now();
                    peers.iter().map(|p| peer_text(p, true, now)).collect()
                }
                _ => String::new(),
            })
        }
    }
}

/// A peer's lines: its node id (`full`, or short for the status) and address, whether
/// it is connected and since when, then its last sync and post counters, and why the
/// last connection failed or ended while it is not connected.
fn peer_text(peer: &PeerRecord, full: bool, now: Timestamp) -> String {
    let node = if full {
        peer.node_id.clone()
    } else {
        short_id(&peer.node_id)
    };
    let address = match peer.address.split_once('@') {
        Some((_, host_port)) => host_port,
        None if peer.address.is_empty() => "(replica, not a configured peer)",
        None => peer.address.as_str(),
    };
    let state = if peer.connected {
        "connected"
    } else {
        "not connected"
    };
    let since = peer
        .since
        .map(|since| format!(" since {}", ago(now, since)))
        .unwrap_or_default();
    let last_sync = peer
        .last_sync
        .map_or_else(|| "never".to_owned(), |at| ago(now, at));
    let mut out = format!(
        "  {node}  {}  {state}{since}\n    last sync {last_sync}  sent {}  received {}  invalid {}\n",
        terminal_safe(address),
        peer.posts_sent,
        peer.posts_received,
        peer.invalid
    );
    if let (false, Some(error)) = (peer.connected, &peer.last_error) {
        out.push_str(&format!("    last error: {}\n", terminal_safe(error)));
    }
    out
}

/// `node1abcdefgh…`: the prefix and the first 8 characters of the data.
fn short_id(id: &str) -> String {
    match id.split_once('1') {
        Some((prefix, data)) if data.chars().count() > 8 => {
            format!("{prefix}1{}…", data.chars().take(8).collect::<String>())
        }
        _ => id.to_owned(),
    }
}

/// How long before `now` the moment `then` was: "just now", "12s ago", "5m ago",
/// "3h ago", "2d ago" (a moment ahead of the clock reads as "just now").
fn ago(now: Timestamp, then: Timestamp) -> String {
    let seconds = now.as_millis().saturating_sub(then.as_millis()) / 1_000;
    match seconds {
        0 => "just now".to_owned(),
        1..60 => format!("{seconds}s ago"),
        60..3_600 => format!("{}m ago", seconds / 60),
        3_600..86_400 => format!("{}h ago", seconds / 3_600),
        _ => format!("{}d ago", seconds / 86_400),
    }
}

/// `text` on one line with control characters shown as `?` (an error may quote what a
/// peer sent).
fn terminal_safe(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Milliseconds in `30s`, `30m`, `12h`, `7d` or `2w`.
fn parse_duration(text: &str) -> anyhow::Result<u64> {
    let (number, unit) = text.split_at(
        text.trim_end_matches(|c: char| c.is_ascii_alphabetic())
            .len(),
    );
    let number: u64 = number
        .parse()
        .with_context(|| format!("`{text}` is not a duration like 30m, 12h or 7d"))?;
    let unit_ms: u64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => bail!("`{text}`: the unit must be s, m, h, d or w (e.g. 7d)"),
    };
    if number == 0 {
        bail!("`{text}`: an invite must last longer than that");
    }
    number
        .checked_mul(unit_ms)
        .with_context(|| format!("`{text}` is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(connected: bool) -> PeerRecord {
        PeerRecord {
            node_id: "node1qqqqqqqqqqqqqqqqqqqqqqqq".to_owned(),
            address: "node1qqqqqqqqqqqqqqqqqqqqqqqq@127.0.0.1:7448".to_owned(),
            connected,
            since: Some(Timestamp::from_millis(1_000_000 - 120_000)),
            last_sync: connected.then(|| Timestamp::from_millis(1_000_000 - 5_000)),
            posts_sent: 120,
            posts_received: 40,
            invalid: 1,
            last_error: Some("timed out\n\u{1b}[31m".to_owned()),
        }
    }

    #[test]
    fn peers_show_state_counters_and_the_last_error_when_down() {
        let now = Timestamp::from_millis(1_000_000);
        assert_eq!(
            peer_text(&record(true), false, now),
            "  node1qqqqqqqq…  127.0.0.1:7448  connected since 2m ago\n    \
             last sync 5s ago  sent 120  received 40  invalid 1\n"
        );
        assert_eq!(
            peer_text(&record(false), true, now),
            "  node1qqqqqqqqqqqqqqqqqqqqqqqq  127.0.0.1:7448  not connected since 2m ago\n    \
             last sync never  sent 120  received 40  invalid 1\n    last error: timed out??[31m\n"
        );
        let replica = PeerRecord {
            address: String::new(),
            since: None,
            ..record(false)
        };
        assert!(
            peer_text(&replica, false, now)
                .starts_with("  node1qqqqqqqq…  (replica, not a configured peer)  not connected\n")
        );
    }

    #[test]
    fn ages() {
        let now = Timestamp::from_millis(10_000_000_000);
        let before = |ms: u64| Timestamp::from_millis(10_000_000_000 - ms);
        assert_eq!(ago(now, now), "just now");
        assert_eq!(ago(now, Timestamp::from_millis(20_000_000_000)), "just now");
        assert_eq!(ago(now, before(59_000)), "59s ago");
        assert_eq!(ago(now, before(60_000)), "1m ago");
        assert_eq!(ago(now, before(7_200_000)), "2h ago");
        assert_eq!(ago(now, before(3 * 86_400_000)), "3d ago");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d").unwrap(), 7 * 86_400_000);
        assert_eq!(parse_duration("30m").unwrap(), 1_800_000);
        assert!(parse_duration("7").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("0h").is_err());
        assert!(parse_duration("7y").is_err());
    }
}
