//! Node addresses (`NODE_ID@HOST:PORT`) and invites (`NODE_ID@HOST:PORT/TOKEN`): the
//! text a person copies from `parleyd init` or `parleyd invite` into `parley join`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::encoding::fixed_bytes;
use crate::id::{IdParseError, NodeId};

/// Why an address or invite text could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressParseError {
    /// No `@` between the node id and the host.
    #[error("expected NODE_ID@HOST:PORT, but there is no `@`")]
    MissingAt,
    /// The node id part is not a node id.
    #[error("bad node id: {0}")]
    NodeId(IdParseError),
    /// The host part is empty or holds whitespace.
    #[error("expected HOST:PORT after the `@`, found `{0}`")]
    BadHost(String),
    /// The port is missing or not a number from 1 to 65535.
    #[error("expected a port from 1 to 65535 after the last `:`, found `{0}`")]
    BadPort(String),
    /// An invite without its token.
    #[error("expected an invite NODE_ID@HOST:PORT/TOKEN, but there is no `/TOKEN`")]
    MissingToken,
    /// The token is not 32 lower-case hex digits.
    #[error("the invite token must be 32 lower-case hex digits")]
    BadToken,
}

/// Where a node is and who it is: its id and `host:port`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeAddress {
    /// The node's id (its TLS identity).
    pub node: NodeId,
    /// `host:port`, a DNS name or an IP literal (IPv6 in brackets).
    pub host_port: String,
}

impl NodeAddress {
    /// The port, already validated when parsed.
    pub fn port(&self) -> u16 {
        split_port(&self.host_port).map_or(0, |(_, port)| port)
    }

    /// The host without the port (brackets of an IPv6 literal removed).
    pub fn host(&self) -> &str {
        split_port(&self.host_port)
            .map_or("", |(host, _)| host)
            .trim_start_matches('[')
            .trim_end_matches(']')
    }
}

fn split_port(host_port: &str) -> Option<(&str, u16)> {
    let (host, port) = host_port.rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    if host.is_empty()
        || host
            .chars()
            .any(|c| c.is_whitespace() || c == '/' || c == '@')
    {
        return None;
    }
    Some((host, port))
}

impl fmt::Display for NodeAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.node, self.host_port)
    }
}

impl FromStr for NodeAddress {
    type Err = AddressParseError;
    fn from_str(text: &str) -> Result<Self, AddressParseError> {
        let (node, host_port) = text.split_once('@').ok_or(AddressParseError::MissingAt)?;
        let node: NodeId = node.parse().map_err(AddressParseError::NodeId)?;
        let Some((host, _)) = host_port.rsplit_once(':') else {
            return Err(AddressParseError::BadHost(host_port.to_owned()));
        };
        if split_port(host_port).is_none() {
            return Err(
                if host.is_empty() || host.chars().any(char::is_whitespace) {
                    AddressParseError::BadHost(host_port.to_owned())
                } else {
                    AddressParseError::BadPort(
                        host_port.rsplit(':').next().unwrap_or("").to_owned(),
                    )
                },
            );
        }
        Ok(Self {
            node,
            host_port: host_port.to_owned(),
        })
    }
}

/// A secret that lets one key register with a node: 16 random bytes from the node.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InviteToken(#[serde(with = "fixed_bytes")] pub [u8; 16]);

impl fmt::Debug for InviteToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InviteToken(…redacted)")
    }
}

/// An invite: the node to join and the token to present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invite {
    /// The node.
    pub address: NodeAddress,
    /// The single- or multi-use token.
    pub token: InviteToken,
}

impl fmt::Display for Invite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/", self.address)?;
        for byte in self.token.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl FromStr for Invite {
    type Err = AddressParseError;
    fn from_str(text: &str) -> Result<Self, AddressParseError> {
        let (address, token) = text
            .rsplit_once('/')
            .ok_or(AddressParseError::MissingToken)?;
        let address: NodeAddress = address.parse()?;
        if token.len() != 32
            || !token
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(AddressParseError::BadToken);
        }
        let mut bytes = [0u8; 16];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&token[2 * i..2 * i + 2], 16)
                .map_err(|_| AddressParseError::BadToken)?;
        }
        Ok(Self {
            address,
            token: InviteToken(bytes),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> NodeId {
        NodeId([3; 32])
    }

    #[test]
    fn addresses_round_trip() {
        for host_port in ["127.0.0.1:7447", "example.org:1", "[::1]:65535"] {
            let address = NodeAddress {
                node: node(),
                host_port: host_port.to_owned(),
            };
            assert_eq!(
                address.to_string().parse::<NodeAddress>(),
                Ok(address.clone())
            );
        }
        let v6 = NodeAddress {
            node: node(),
            host_port: "[::1]:9".to_owned(),
        };
        assert_eq!((v6.host(), v6.port()), ("::1", 9));
    }

    #[test]
    fn bad_addresses_say_what_is_wrong() {
        let id = node().to_string();
        assert_eq!(
            "127.0.0.1:1".parse::<NodeAddress>(),
            Err(AddressParseError::MissingAt)
        );
        assert!(matches!(
            format!("{id}@host").parse::<NodeAddress>(),
            Err(AddressParseError::BadHost(_))
        ));
        assert!(matches!(
            format!("{id}@host:0").parse::<NodeAddress>(),
            Err(AddressParseError::BadPort(_))
        ));
        assert!(matches!(
            format!("{id}@host:99999").parse::<NodeAddress>(),
            Err(AddressParseError::BadPort(_))
        ));
        assert!(matches!(
            format!("{id}@:80").parse::<NodeAddress>(),
            Err(AddressParseError::BadHost(_))
        ));
        let post = crate::id::PostId([3; 32]).to_string();
        assert!(matches!(
            format!("{post}@h:1").parse::<NodeAddress>(),
            Err(AddressParseError::NodeId(_))
        ));
    }

    #[test]
    fn invites_round_trip_and_refuse_bad_tokens() {
        let invite = Invite {
            address: NodeAddress {
                node: node(),
                host_port: "127.0.0.1:7447".to_owned(),
            },
            token: InviteToken([0xab; 16]),
        };
        let text = invite.to_string();
        assert_eq!(text.parse::<Invite>(), Ok(invite));
        assert_eq!(
            text.replace("/abab", "/ABAB").parse::<Invite>(),
            Err(AddressParseError::BadToken)
        );
        assert_eq!(
            text[..text.len() - 2].parse::<Invite>(),
            Err(AddressParseError::BadToken)
        );
        let no_token = text
            .rsplit_once('/')
            .map(|(a, _)| a.to_owned())
            .unwrap_or_default();
        assert_eq!(
            no_token.parse::<Invite>(),
            Err(AddressParseError::MissingToken)
        );
        assert!(!format!("{:?}", InviteToken([0xab; 16])).contains("ab"));
    }
}
