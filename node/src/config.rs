//! `parleyd.toml`: the node's settings, their defaults, and the data directory layout.
//!
//! Everything has a working default, so `parleyd init` followed by `parleyd run` needs no
//! edits. A corrupt or mistyped file is a clear error naming the file, the line and the
//! setting, never a panic.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use std::time::Duration;

use parley_protocol::api::NodeAddress;
use serde::{Deserialize, Serialize};

use crate::federation::FederationConfig;

/// The UDP port a node listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 7447;
/// The config file's name inside the data directory.
pub const CONFIG_FILE: &str = "parleyd.toml";
/// The node key's file name inside the data directory.
pub const KEY_FILE: &str = "node.key";
/// The database directory's name inside the data directory.
pub const DB_DIR: &str = "db";

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped settings.
    #[error("{path} is not a valid parleyd configuration: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser says, with the line.
        message: String,
    },
    /// A setting has an unusable value.
    #[error("{path}: `{setting}` {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The setting.
        setting: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// No data directory was given and the platform has none.
    #[error("no data directory: pass --data-dir DIR")]
    NoDataDir,
}

/// The settings of `parleyd.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address and UDP port to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// `host:port` people and peers use to reach this node (printed in addresses and
    /// invites). Defaults to the listen address, with 127.0.0.1 for an unspecified IP.
    #[serde(default)]
    pub public_address: Option<String>,
    /// Log filter (`error`, `warn`, `info`, `debug`, or a tracing directive).
    #[serde(default = "default_log")]
    pub log: String,
    /// Peer nodes and replication.
    #[serde(default)]
    pub federation: FederationSettings,
    /// The store.
    #[serde(default)]
    pub storage: StorageSettings,
    /// Full-text search.
    #[serde(default)]
    pub search: SearchConfig,
}

/// The `[search]` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchConfig {
    /// Whether the node keeps a full-text index and answers searches.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The language words are stemmed for (`english`, `german`, … or `none`).
    /// Changing it rebuilds the index at the next start.
    #[serde(default)]
    pub language: crate::search::Language,
    /// Megabytes the indexer may buffer before writing a segment (at least 15).
    #[serde(default = "default_writer_mb")]
    pub writer_mb: u64,
}

fn default_true() -> bool {
    true
}

fn default_writer_mb() -> u64 {
    crate::search::DEFAULT_WRITER_BYTES / (1024 * 1024)
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            language: crate::search::Language::default(),
            writer_mb: default_writer_mb(),
        }
    }
}

impl SearchConfig {
    /// The settings the node keeps its index with.
    pub fn settings(&self) -> crate::search::SearchSettings {
        crate::search::SearchSettings {
            enabled: self.enabled,
            language: self.language,
            writer_bytes: self.writer_mb.max(15).saturating_mul(1024 * 1024),
        }
    }
}

/// The `[storage]` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// Megabytes kept free on the disk holding the store: below that, posts are refused
    /// (reads go on) until space is freed.
    #[serde(default = "default_min_free_mb")]
    pub min_free_mb: u64,
    /// Megabytes of posts read back from the log kept in memory (0: none).
    #[serde(default = "default_post_cache_mb")]
    pub post_cache_mb: u64,
    /// Megabytes of sled's page cache for the index (pages take about three times this
    /// in memory once read).
    #[serde(default = "default_index_cache_mb")]
    pub index_cache_mb: u64,
}

fn default_index_cache_mb() -> u64 {
    crate::storage::DEFAULT_INDEX_CACHE_BYTES / (1024 * 1024)
}

fn default_min_free_mb() -> u64 {
    crate::storage::DEFAULT_MIN_FREE_BYTES / (1024 * 1024)
}

fn default_post_cache_mb() -> u64 {
    crate::storage::DEFAULT_POST_CACHE_BYTES / (1024 * 1024)
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            min_free_mb: default_min_free_mb(),
            post_cache_mb: default_post_cache_mb(),
            index_cache_mb: default_index_cache_mb(),
        }
    }
}

impl StorageSettings {
    /// The bytes kept free.
    pub fn min_free_bytes(&self) -> u64 {
        self.min_free_mb.saturating_mul(1024 * 1024)
    }

    /// The bytes of sled's page cache (at least 1 MiB).
    pub fn index_cache_bytes(&self) -> u64 {
        self.index_cache_mb.max(1).saturating_mul(1024 * 1024)
    }

    /// The bytes of posts kept in memory.
    pub fn post_cache_bytes(&self) -> u64 {
        self.post_cache_mb.saturating_mul(1024 * 1024)
    }
}

/// The `[federation]` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationSettings {
    /// Peer nodes to keep connections to, as `NODE_ID@HOST:PORT`, besides those added
    /// with `parleyd peer add`.
    #[serde(default)]
    pub peers: Vec<String>,
    /// Seconds between reconciliations of every shared space with each peer.
    #[serde(default = "default_sync_interval")]
    pub sync_interval_secs: u64,
    /// Posts per second this node accepts from one peer.
    #[serde(default = "default_posts_per_second")]
    pub posts_per_second: u64,
}

fn default_sync_interval() -> u64 {
    60
}

fn default_posts_per_second() -> u64 {
    50_000
}

impl Default for FederationSettings {
    fn default() -> Self {
        Self {
            peers: Vec::new(),
            sync_interval_secs: default_sync_interval(),
            posts_per_second: default_posts_per_second(),
        }
    }
}

impl FederationSettings {
    /// The peers of the file, parsed (checked when the file is loaded).
    pub fn peer_addresses(&self) -> Vec<NodeAddress> {
        self.peers.iter().filter_map(|p| p.parse().ok()).collect()
    }

    /// The federation configuration these settings give.
    pub fn config(&self) -> FederationConfig {
        FederationConfig::default()
            .with_sync_interval(Duration::from_secs(self.sync_interval_secs))
            .with_posts_per_second(self.posts_per_second)
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), DEFAULT_PORT)
}

fn default_log() -> String {
    "info".to_owned()
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            public_address: None,
            log: default_log(),
            federation: FederationSettings::default(),
            storage: StorageSettings::default(),
            search: SearchConfig::default(),
        }
    }
}

impl Settings {
    /// The `host:port` this node is reached at.
    pub fn advertised(&self) -> String {
        if let Some(address) = &self.public_address {
            return address.clone();
        }
        let ip = match self.listen.ip() {
            ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            ip => ip,
        };
        SocketAddr::new(ip, self.listen.port()).to_string()
    }

    /// The file's text, commented, for `parleyd init`.
    pub fn to_commented_toml(&self) -> String {
        let public = match &self.public_address {
            Some(address) => format!("public_address = \"{address}\""),
            None => "# public_address = \"parley.example.org:7447\"".to_owned(),
        };
        format!(
            "# parleyd configuration. Every setting is optional: the values below are the\n\
             # ones this node uses. Restart the node after a change.\n\
             \n\
             # Address and UDP port the node listens on (QUIC).\n\
             listen = \"{listen}\"\n\
             \n\
             # The host:port people and peer nodes use to reach this node, printed in its\n\
             # address and in invites. Default: the listen address (127.0.0.1 when it\n\
             # listens on every interface). Set it to the public name of the machine.\n\
             {public}\n\
             \n\
             # Log filter: error, warn, info, debug, trace, or tracing directives such as\n\
             # \"info,parley_node=debug\".\n\
             log = \"{log}\"\n\
             \n\
             [federation]\n\
             # Peer nodes to keep connections to, as NODE_ID@HOST:PORT (besides those\n\
             # added with `parleyd peer add`). Spaces are replicated only to the nodes a\n\
             # space is shared with (`parley space share`), and a peer's node must add\n\
             # this node too.\n\
             peers = [{peers}]\n\
             # Seconds between reconciliations of every shared space with each peer\n\
             # (new posts are pushed at once; this repairs what pushes missed).\n\
             sync_interval_secs = {interval}\n\
             # Posts per second this node accepts from one peer.\n\
             posts_per_second = {rate}\n\
             \n\
             [storage]\n\
             # Megabytes kept free on the disk holding the store: below that the node\n\
             # refuses posts (reads go on) until space is freed.\n\
             min_free_mb = {min_free}\n\
             # Megabytes of posts read back from the store kept in memory (0: none).\n\
             post_cache_mb = {post_cache}\n\
             # Megabytes of the index's page cache (pages take about three times this\n\
             # in memory once read).\n\
             index_cache_mb = {index_cache}\n\
             \n\
             [search]\n\
             # Keep a full-text index of the posts (`parley search`). It lives in the\n\
             # store's search/ folder and is rebuilt from the store when missing.\n\
             enabled = {search_enabled}\n\
             # The language words are stemmed for: english, danish, dutch, finnish,\n\
             # french, german, hungarian, italian, norwegian, portuguese, romanian,\n\
             # russian, spanish, swedish, turkish, or none. A change rebuilds the index.\n\
             language = \"{language}\"\n\
             # Megabytes the indexer buffers before writing (at least 15).\n\
             writer_mb = {writer_mb}\n",
            listen = self.listen,
            log = self.log,
            peers = self
                .federation
                .peers
                .iter()
                .map(|p| format!("\"{p}\""))
                .collect::<Vec<_>>()
                .join(", "),
            interval = self.federation.sync_interval_secs,
            rate = self.federation.posts_per_second,
            min_free = self.storage.min_free_mb,
            post_cache = self.storage.post_cache_mb,
            index_cache = self.storage.index_cache_mb,
            search_enabled = self.search.enabled,
            language = serde_json::to_value(self.search.language)
                .ok()
                .and_then(|value| value.as_str().map(str::to_owned))
                .unwrap_or_default(),
            writer_mb = self.search.writer_mb,
        )
    }

    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses and validates the text of `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let settings: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        for peer in &settings.federation.peers {
            if let Err(error) = peer.parse::<NodeAddress>() {
                return Err(ConfigError::Invalid {
                    path: path.to_owned(),
                    setting: "federation.peers",
                    reason: format!("has \"{peer}\", which is not NODE_ID@HOST:PORT: {error}"),
                });
            }
        }
        if settings.federation.sync_interval_secs == 0 {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                setting: "federation.sync_interval_secs",
                reason: "must be at least 1".to_owned(),
            });
        }
        if settings.federation.posts_per_second == 0 {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                setting: "federation.posts_per_second",
                reason: "must be at least 1".to_owned(),
            });
        }
        if let Some(address) = &settings.public_address {
            let valid = address.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0)
            });
            if !valid {
                return Err(ConfigError::Invalid {
                    path: path.to_owned(),
                    setting: "public_address",
                    reason: format!("must be HOST:PORT, not \"{address}\""),
                });
            }
        }
        Ok(settings)
    }
}

/// Where a node keeps its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataDir(pub PathBuf);

impl DataDir {
    /// `dir`, or the platform's data directory for parley (e.g. `~/.local/share/parley`).
    pub fn resolve(dir: Option<PathBuf>) -> Result<Self, ConfigError> {
        match dir {
            Some(dir) => Ok(Self(dir)),
            None => directories::ProjectDirs::from("", "", "parley")
                .map(|dirs| Self(dirs.data_dir().to_owned()))
                .ok_or(ConfigError::NoDataDir),
        }
    }

    /// The config file.
    pub fn config(&self) -> PathBuf {
        self.0.join(CONFIG_FILE)
    }

    /// The node key.
    pub fn key(&self) -> PathBuf {
        self.0.join(KEY_FILE)
    }

    /// The database.
    pub fn db(&self) -> PathBuf {
        self.0.join(DB_DIR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commented_file_parses_to_itself() {
        let settings = Settings::default();
        let text = settings.to_commented_toml();
        assert_eq!(
            Settings::parse(Path::new("x.toml"), &text).unwrap(),
            settings
        );
        let public = Settings {
            public_address: Some("n.example:1".into()),
            ..Settings::default()
        };
        let text = public.to_commented_toml();
        assert_eq!(Settings::parse(Path::new("x.toml"), &text).unwrap(), public);
        // The index's cache is written out and read back.
        let mut small = Settings::default();
        small.storage.index_cache_mb = 4;
        let text = small.to_commented_toml();
        assert!(text.contains("index_cache_mb = 4"), "{text}");
        let parsed = Settings::parse(Path::new("x.toml"), &text).unwrap();
        assert_eq!(parsed.storage.index_cache_bytes(), 4 * 1024 * 1024);
    }

    #[test]
    fn an_empty_file_means_the_defaults() {
        assert_eq!(
            Settings::parse(Path::new("x"), "").unwrap(),
            Settings::default()
        );
        assert_eq!(
            Settings::default().advertised(),
            format!("127.0.0.1:{DEFAULT_PORT}")
        );
    }

    #[test]
    fn mistakes_are_named() {
        let typo = Settings::parse(Path::new("p.toml"), "lisen = \"1.2.3.4:5\"").unwrap_err();
        assert!(typo.to_string().contains("lisen"), "{typo}");
        let bad = Settings::parse(Path::new("p.toml"), "listen = \"nowhere\"").unwrap_err();
        assert!(bad.to_string().contains("p.toml"), "{bad}");
        let garbage = Settings::parse(Path::new("p.toml"), "\u{0}\u{1}[[[").unwrap_err();
        assert!(matches!(garbage, ConfigError::Parse { .. }));
        let public = Settings::parse(Path::new("p.toml"), "public_address = \"host\"").unwrap_err();
        assert!(matches!(
            public,
            ConfigError::Invalid {
                setting: "public_address",
                ..
            }
        ));
    }
}
