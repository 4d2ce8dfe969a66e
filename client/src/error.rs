//! What can go wrong in a command, each with a stable code for `--json` and a message
//! that says what to do about it.

use parley_protocol::InvalidPost;
use parley_protocol::api::ApiErrorCode;

use crate::commands::body::BodyError;
use crate::home::HomeError;

/// A failed command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ClientError {
    /// The home directory: no key, not joined, corrupt files.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The node could not be reached or the connection broke.
    #[error("node unreachable at {address} ({reason})")]
    Unreachable {
        /// `NODE_ID@HOST:PORT`.
        address: String,
        /// What failed.
        reason: String,
    },
    /// The node refused the request.
    #[error("{message}")]
    Node {
        /// The node's code.
        code: ApiErrorCode,
        /// The node's message.
        message: String,
    },
    /// The node answered something this client does not understand.
    #[error("unexpected answer from the node: {0}")]
    Protocol(String),
    /// The body could not be had.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// The post would be invalid; nothing was sent.
    #[error("{0}; nothing was sent")]
    InvalidPost(#[from] InvalidPost),
    /// A SPACE argument names no space of the user's.
    #[error("{0}")]
    UnknownSpace(String),
    /// A SPACE argument names several spaces.
    #[error("{0}")]
    AmbiguousSpace(String),
    /// The start of an id names no post the user may read, or no one of those known.
    #[error("{0}")]
    UnknownId(String),
    /// The start of an id names several posts.
    #[error("{0}")]
    AmbiguousId(String),
    /// The arguments do not make sense together or for the post they name.
    #[error("{0}")]
    Usage(String),
    /// Publishing failed; the body written in the editor is kept in a draft.
    #[error("{error}\nyour text is kept in {}: send it again with --body-file {}", draft.display(), draft.display())]
    DraftKept {
        /// Why publishing failed.
        error: Box<Self>,
        /// The draft.
        draft: std::path::PathBuf,
    },
    /// The space's rules would ignore the post; nothing was signed or sent.
    #[error("{0}; nothing was sent")]
    Ignored(#[from] parley_protocol::view::Ignored),
    /// A watch ended because the node closed it.
    #[error("the node closed the watch: {0}")]
    Disconnected(String),
}

impl ClientError {
    /// A stable snake_case name for `--json` errors.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::Home(error) => error.code(),
            Self::Unreachable { .. } => "node_unreachable",
            Self::Node { code, .. } => code.name(),
            Self::Protocol(_) => "protocol",
            Self::Body(error) => error.code(),
            Self::InvalidPost(InvalidPost::FieldTooLong { .. }) => "too_large",
            Self::InvalidPost(_) => "invalid_post",
            Self::UnknownSpace(_) => "unknown_space",
            Self::AmbiguousSpace(_) => "ambiguous_space",
            Self::UnknownId(_) => "unknown",
            Self::AmbiguousId(_) => "ambiguous_id",
            Self::Usage(_) => "usage",
            Self::DraftKept { error, .. } => error.code(),
            Self::Disconnected(_) => "disconnected",
            Self::Ignored(_) => "forbidden",
        }
    }
}
