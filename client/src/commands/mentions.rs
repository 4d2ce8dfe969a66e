//! Mentions: `@name` in a body names a member of the space, by display name (spaces
//! and case ignored) or by the start of their id (`@user1tnvsh76d`); the post's
//! `mentions` then list them, and they see the post first when they catch up. An `@`
//! inside a word (an e-mail address) is no mention, and a name no member has is left
//! as text.

use std::collections::BTreeMap;

use parley_protocol::UserId;
use parley_protocol::content::Mentions;
use parley_protocol::limits::MAX_MENTIONS;

use super::lookup::IdRef;

/// The users `body` mentions among `names` (display names keyed by user id text) and
/// `members`, in the order first mentioned, at most [`MAX_MENTIONS`].
pub(crate) fn mentions(
    body: &str,
    names: &BTreeMap<String, String>,
    members: &[UserId],
) -> Vec<UserId> {
    let by_name: BTreeMap<String, Vec<UserId>> =
        names.iter().fold(BTreeMap::new(), |mut map, (id, name)| {
            if let Ok(user) = id.parse::<UserId>() {
                map.entry(fold(name)).or_default().push(user);
            }
            map
        });
    let mut found: Vec<UserId> = Vec::new();
    let mut previous = ' ';
    for (at, c) in body.char_indices() {
        let starts = c == '@' && !previous.is_alphanumeric();
        previous = c;
        if !starts {
            continue;
        }
        let word: String = body[at + 1..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
            .collect();
        let word = word.trim_end_matches('.');
        let user = match by_name.get(&fold(word)).map(Vec::as_slice) {
            Some([one]) => Some(*one),
            _ => word
                .parse::<IdRef<UserId>>()
                .ok()
                .and_then(|short| short.pick(members.iter().copied(), "").ok()),
        };
        if let Some(user) = user
            && !found.contains(&user)
            && found.len() < MAX_MENTIONS
        {
            found.push(user);
        }
    }
    found
}

/// A name as mentions compare it: lower case, without spaces.
fn fold(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// `users` as a post's mention list.
pub(crate) fn bounded(users: Vec<UserId>) -> Mentions {
    let mut users = users;
    users.truncate(MAX_MENTIONS);
    Mentions::try_from_vec(users).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_id_starts_are_mentions_and_addresses_are_not() {
        let (ann, bob, cy) = (UserId([1; 32]), UserId([2; 32]), UserId([3; 32]));
        let names = BTreeMap::from([
            (ann.to_string(), "Ann".to_owned()),
            (bob.to_string(), "Bob Stone".to_owned()),
        ]);
        let members = [ann, bob, cy];
        let cy_short = &cy.to_string()[..13];
        let body = format!(
            "@ann and @BobStone, see mail@ann.example; @nobody. Also @{cy_short}, and @Ann again."
        );
        assert_eq!(mentions(&body, &names, &members), vec![ann, bob, cy]);
        assert!(mentions("no one here", &names, &members).is_empty());
        assert!(mentions("@", &names, &members).is_empty());
    }
}
