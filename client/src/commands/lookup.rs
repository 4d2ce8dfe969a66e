//! Posts as people name them: a whole id, or its start (`post1tsmpe33x`), which the
//! node completes from the posts the user may read, as git and `rad` complete hashes.

use std::fmt;
use std::str::FromStr;

use parley_protocol::api::{Request, Response};
use parley_protocol::prefix::MAX_PREFIX_CHARS;
use parley_protocol::{IdParseError, IdPrefix, NodeId, PostId, SpaceId, UserId};

use crate::error::ClientError;
use crate::node_client::{Api, unexpected};

/// An id type people can name by the start of its text.
pub(crate) trait Typed:
    FromStr<Err = IdParseError> + Copy + fmt::Display + PartialEq
{
    /// The type's text prefix (`post`, `user`, `node`).
    const KIND: &'static str;
    /// The id's bytes.
    fn bytes(&self) -> &[u8; 32];
}

macro_rules! typed {
    ($($t:ty),*) => {$(
        impl Typed for $t {
            const KIND: &'static str = <$t>::PREFIX;
            fn bytes(&self) -> &[u8; 32] {
                self.as_bytes()
            }
        }
    )*};
}
typed!(PostId, UserId, NodeId, SpaceId);

/// An id named on the command line: whole, or its start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum IdRef<T> {
    /// A whole id.
    Id(T),
    /// The start of one.
    Prefix(IdPrefix),
}

/// A post named on the command line.
pub(crate) type PostRef = IdRef<PostId>;

impl<T: Typed> FromStr for IdRef<T> {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let whole = match text.parse::<T>() {
            Ok(id) => return Ok(Self::Id(id)),
            Err(error) => error,
        };
        let data = text
            .split_once('1')
            .map_or(0, |(_, data)| data.chars().count());
        if data > MAX_PREFIX_CHARS {
            return Err(whole.to_string());
        }
        IdPrefix::parse(T::KIND, text)
            .map(Self::Prefix)
            .map_err(|error| error.to_string())
    }
}

impl<T: Typed> fmt::Display for IdRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => id.fmt(f),
            Self::Prefix(prefix) => prefix.fmt(f),
        }
    }
}

impl<T: Typed> IdRef<T> {
    /// The one id among `known` that this names (a whole id names itself, known or
    /// not); `what` says what `known` holds, for the errors.
    pub(crate) fn pick(
        &self,
        known: impl IntoIterator<Item = T>,
        what: &str,
    ) -> Result<T, ClientError> {
        let prefix = match self {
            Self::Id(id) => return Ok(*id),
            Self::Prefix(prefix) => prefix,
        };
        let mut found: Vec<T> = Vec::new();
        for id in known {
            if prefix.matches(id.bytes()) && !found.contains(&id) {
                found.push(id);
            }
        }
        match found.as_slice() {
            [id] => Ok(*id),
            [] => Err(ClientError::UnknownId(format!(
                "none of {what} starts with {prefix}; give the whole id"
            ))),
            _ => Err(ambiguous(prefix, &found, false)),
        }
    }
}

/// The error for a prefix that starts several ids.
fn ambiguous<T: fmt::Display>(prefix: &IdPrefix, ids: &[T], more: bool) -> ClientError {
    let mut message = format!(
        "{prefix} is the start of {}{} ids; give more of it:",
        if more { "more than " } else { "" },
        ids.len()
    );
    for id in ids {
        message.push_str("\n  ");
        message.push_str(&id.to_string());
    }
    ClientError::AmbiguousId(message)
}

/// The post `post` names: a whole id as it is, the start of one completed by the node.
pub(crate) async fn resolve_post(
    node: &mut impl Api,
    post: &PostRef,
) -> Result<PostId, ClientError> {
    let prefix = match post {
        PostRef::Id(id) => return Ok(*id),
        PostRef::Prefix(prefix) => prefix,
    };
    let (ids, more) = match node
        .ask(Request::FindPosts {
            prefix: prefix.to_string(),
        })
        .await?
    {
        Response::Found { ids, more } => (ids, more),
        other => return Err(unexpected(&other)),
    };
    match ids.as_slice() {
        [id] if !more => Ok(*id),
        [] => Err(ClientError::UnknownId(format!(
            "no post you can read starts with {prefix}"
        ))),
        _ => Err(ambiguous(prefix, &ids, more)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::text::{SHORT_POST_CHARS, short_post};

    #[test]
    fn whole_ids_prefixes_and_mistakes_read_as_they_should() {
        let id = PostId([9; 32]);
        let text = id.to_string();
        assert_eq!(text.parse::<PostRef>(), Ok(PostRef::Id(id)));
        let short = short_post(&id);
        assert_eq!(short.len(), 5 + SHORT_POST_CHARS);
        assert!(matches!(short.parse::<PostRef>(), Ok(PostRef::Prefix(p)) if p.matches(&id.0)));
        // A whole id with a typo is the checksum's error, not a prefix's.
        let mut typo = text.clone();
        typo.replace_range(10..11, if &text[10..11] == "q" { "p" } else { "q" });
        let error = typo.parse::<PostRef>().unwrap_err();
        assert!(error.contains("not a valid post id"), "{error}");
        let user = UserId([1; 32]).to_string();
        let error = user.parse::<PostRef>().unwrap_err();
        assert!(error.contains("this is a user id"), "{error}");
        let error = "post1qp".parse::<PostRef>().unwrap_err();
        assert!(error.contains("at least 4"), "{error}");
    }
}
