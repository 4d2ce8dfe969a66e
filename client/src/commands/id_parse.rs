//! `parley id-parse`: which kind of id a text is, or why it is none.

use std::str::FromStr;

use parley_protocol::{IdParseError, NodeId, PostId, SpaceId, UserId};
use serde_json::json;

use super::Outcome;

/// The id kinds by text prefix.
const KINDS: [&str; 4] = [
    UserId::PREFIX,
    NodeId::PREFIX,
    PostId::PREFIX,
    SpaceId::PREFIX,
];

/// Reads `text` as the id kind its prefix names and reports the kind and the id's
/// bytes, or the parse error of that kind.
pub(crate) fn run(text: &str) -> Outcome {
    match classify(text) {
        Ok((kind, bytes)) => Outcome::ok(
            format!("{kind} id\nbytes: {}\n", hex::encode(bytes)),
            json!({ "text": text, "kind": kind, "bytes_hex": hex::encode(bytes) }),
        ),
        Err(reason) => Outcome {
            success: false,
            text: format!("not a Parley id: {reason}\n"),
            json: json!({ "text": text, "error": "not_an_id", "message": reason }),
            printed: false,
        },
    }
}

/// The kind and bytes of the id `text`, or why it is none. The prefix (compared in
/// lower case, so an upper-case id is named and then refused for its case) picks the
/// kind whose parser explains what is wrong.
fn classify(text: &str) -> Result<(&'static str, [u8; 32]), String> {
    let prefix = text
        .rsplit_once('1')
        .map_or(text, |(prefix, _)| prefix)
        .to_ascii_lowercase();
    let Some(kind) = KINDS.into_iter().find(|kind| *kind == prefix) else {
        let shown: String = prefix.chars().take(16).collect();
        return Err(format!(
            "unknown prefix `{shown}`; ids start with user1, node1, post1 or space1"
        ));
    };
    let bytes = match kind {
        UserId::PREFIX => parse::<UserId>(text).map(|id| id.0),
        NodeId::PREFIX => parse::<NodeId>(text).map(|id| id.0),
        PostId::PREFIX => parse::<PostId>(text).map(|id| id.0),
        _ => parse::<SpaceId>(text).map(|id| id.0),
    };
    bytes
        .map(|bytes| (kind, bytes))
        .map_err(|error| error.to_string())
}

fn parse<T: FromStr<Err = IdParseError>>(text: &str) -> Result<T, IdParseError> {
    text.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_named() {
        assert_eq!(
            classify(&UserId([1; 32]).to_string()),
            Ok(("user", [1; 32]))
        );
        assert_eq!(
            classify(&NodeId([2; 32]).to_string()),
            Ok(("node", [2; 32]))
        );
        assert_eq!(
            classify(&PostId([3; 32]).to_string()),
            Ok(("post", [3; 32]))
        );
        assert_eq!(
            classify(&SpaceId([4; 32]).to_string()),
            Ok(("space", [4; 32]))
        );
    }

    #[test]
    fn failures_say_why() {
        let unknown = classify("foo1qqqq").unwrap_err();
        assert!(unknown.contains("unknown prefix `foo`"), "{unknown}");
        let upper = classify(&PostId([3; 32]).to_string().to_uppercase()).unwrap_err();
        assert!(
            upper.contains("post id") && upper.contains("lower case"),
            "{upper}"
        );
        let mut typo = PostId([3; 32]).to_string();
        typo.pop();
        typo.push(if typo.ends_with('q') { 'p' } else { 'q' });
        assert!(classify(&typo).unwrap_err().contains("not a valid post id"));
        assert!(classify("").is_err());
        assert!(classify("ñ1ü").is_err());
    }

    #[test]
    fn outcome_has_both_forms() {
        let outcome = run(&SpaceId([4; 32]).to_string());
        assert!(outcome.success);
        assert!(outcome.text.starts_with("space id\n"));
        assert_eq!(outcome.json["kind"], json!("space"));
        let outcome = run("nope");
        assert!(!outcome.success);
        assert!(
            outcome.json["message"]
                .as_str()
                .is_some_and(|e| e.contains("unknown prefix"))
        );
    }
}
