//! `parley space …`, `parley members` and `parley decisions`: spaces, who is in them,
//! and what they decided. Also how a SPACE argument (an id or a name) is resolved.

use std::fmt::Write as _;

use parley_protocol::api::{DecisionCursor, MAX_PAGE_LINES, Request, Response, SpaceSummary};
use parley_protocol::content::{Content, Genesis, Member, Profile, Replica};
use parley_protocol::view;
use parley_protocol::{NodeId, Post, SpaceId, UserId};
use serde_json::json;

use super::lookup::IdRef;
use super::write::{Roster, publish, roster};
use super::{Context, Outcome, read};
use crate::cli::PageArgs;
use crate::error::ClientError;
use crate::node_client::{Api, unexpected};
use crate::render::text::{clean_line, short_id};
use crate::render::{Names, json as render_json, lists};

/// A SPACE argument resolved: the id, and the name to show it by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SpaceRef {
    /// The space.
    pub(crate) id: SpaceId,
    /// Its name (cleaned for the terminal), or a short id when unknown.
    pub(crate) label: String,
    /// Its founder, when it is one of the user's spaces.
    pub(crate) founder: Option<UserId>,
}

/// Resolves a space id (`space1…`) or the name of one of the user's spaces. An id of a
/// space the user is not in passes through, so the node can say why it refuses.
pub(crate) async fn resolve(node: &mut impl Api, arg: &str) -> Result<SpaceRef, ClientError> {
    let spaces = list_spaces(node).await?;
    let named = |s: &&SpaceSummary| s.genesis.name == arg;
    match arg.parse::<SpaceId>() {
        Ok(id) => {
            let known = spaces.iter().find(|s| s.space == id);
            let label = known.map_or_else(|| short_id(arg), |s| clean_line(&s.genesis.name));
            let founder = known.map(|s| s.genesis.founder);
            return Ok(SpaceRef { id, label, founder });
        }
        // Text shaped like an id that is not one is a mistyped id, unless a space of
        // the user's is really named so.
        Err(error) if looks_like_id(arg) && !spaces.iter().any(|s| named(&s)) => {
            // The start of an id, as the client prints ids of spaces without a name.
            if let Ok(short @ IdRef::Prefix(_)) = arg.parse::<IdRef<SpaceId>>() {
                let id = short.pick(spaces.iter().map(|s| s.space), "your spaces")?;
                if let Some(known) = spaces.iter().find(|s| s.space == id) {
                    return Ok(SpaceRef {
                        id,
                        label: clean_line(&known.genesis.name),
                        founder: Some(known.genesis.founder),
                    });
                }
            }
            return Err(ClientError::UnknownSpace(error.to_string()));
        }
        Err(_) => {}
    }
    let matches: Vec<&SpaceSummary> = spaces.iter().filter(named).collect();
    match matches.as_slice() {
        [one] => Ok(SpaceRef {
            id: one.space,
            label: clean_line(&one.genesis.name),
            founder: Some(one.genesis.founder),
        }),
        [] => {
            let names: Vec<String> = spaces.iter().map(|s| clean_line(&s.genesis.name)).collect();
            let yours = if names.is_empty() {
                "you are a member of no space yet".to_owned()
            } else {
                format!("your spaces: {}", names.join(", "))
            };
            Err(ClientError::UnknownSpace(format!(
                "you are a member of no space named \"{}\" ({yours}); pass a space name or id (space1…)",
                clean_line(arg)
            )))
        }
        several => {
            let ids: Vec<String> = several.iter().map(|s| s.space.to_string()).collect();
            Err(ClientError::AmbiguousSpace(format!(
                "{} of your spaces are named \"{}\"; pass one of their ids instead: {}",
                several.len(),
                clean_line(arg),
                ids.join(", ")
            )))
        }
    }
}

/// `parley space create NAME [--description D]`: signs a genesis naming the user's
/// node as home, with a random nonce, and publishes it.
pub(crate) async fn create(
    ctx: &Context,
    node: &mut impl Api,
    name: &str,
    description: &str,
) -> Result<Outcome, ClientError> {
    let home_node = ctx.home.node()?.node;
    let key = ctx.home.key()?;
    let mut nonce = [0u8; 16];
    crate::entropy::fill(&format!("space nonce {name}"), &mut nonce).map_err(|error| {
        ClientError::Usage(format!("no randomness from the operating system: {error}"))
    })?;
    let genesis = Genesis {
        name: name.to_owned(),
        description: description.to_owned(),
        home_node,
        nonce,
    };
    let now = ctx.now();
    let post = Post::sign_genesis(&key, now, genesis, now)?;
    super::write::send(node, &post).await?;
    let space = post.space();
    Ok(Outcome::ok(
        format!(
            "Created space {} ({space}).\nAdd people: parley space add-member {} USER_ID\n",
            clean_line(name),
            clean_line(name)
        ),
        json!({
            "id": space.to_string(),
            "name": name,
            "description": description,
            "genesis": post.id().to_string(),
            "home_node": home_node.to_string(),
        }),
    ))
}

/// `parley space list`.
pub(crate) async fn list(ctx: &Context, node: &mut impl Api) -> Result<Outcome, ClientError> {
    let spaces = list_spaces(node).await?;
    let json: Vec<_> = spaces.iter().map(render_json::space).collect();
    Ok(Outcome::ok(
        lists::spaces(&spaces, ctx.style),
        json!({ "spaces": json }),
    ))
}

/// A membership, moderator, replica or profile change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// Add a member.
    AddMember(IdRef<UserId>),
    /// Remove a member.
    RemoveMember(IdRef<UserId>),
    /// Make a member a moderator.
    GrantModerator(IdRef<UserId>),
    /// Take moderator rights away.
    RevokeModerator(IdRef<UserId>),
    /// Let a node hold a replica.
    Share(NodeId),
    /// Stop a node from holding a replica.
    Unshare(IdRef<NodeId>),
    /// Set the user's display name in the space.
    SetName(String),
}

/// Publishes one [`Change`] to the space `space`.
pub(crate) async fn change(
    ctx: &Context,
    node: &mut impl Api,
    space: &str,
    change: Change,
) -> Result<Outcome, ClientError> {
    let space = resolve(node, space).await?;
    let label = &space.label;
    let roster = roster(node, space.id).await?;
    // Users a shortened id may name: everyone the member list mentions.
    let known_users = || {
        let r = &roster;
        r.members
            .iter()
            .chain(&r.moderators)
            .chain(&r.former_moderators)
            .copied()
            .collect::<Vec<_>>()
    };
    let members_of = format!("the members of {label}");
    let (content, subject, text) = match change {
        Change::AddMember(user) => {
            let user = user.pick(known_users(), &members_of)?;
            (
                Content::AddMember(Member { user }),
                user.to_string(),
                format!("Added {user} to {label}."),
            )
        }
        Change::RemoveMember(user) => {
            let user = user.pick(known_users(), &members_of)?;
            (
                Content::RemoveMember(Member { user }),
                user.to_string(),
                format!("Removed {user} from {label}."),
            )
        }
        Change::GrantModerator(user) => {
            let user = user.pick(known_users(), &members_of)?;
            (
                Content::GrantModerator(Member { user }),
                user.to_string(),
                format!("{user} is now a moderator of {label}."),
            )
        }
        Change::RevokeModerator(user) => {
            let user = user.pick(known_users(), &members_of)?;
            (
                Content::RevokeModerator(Member { user }),
                user.to_string(),
                format!("{user} is no longer a moderator of {label}."),
            )
        }
        Change::Share(node) => (
            Content::ShareReplica(Replica { node }),
            node.to_string(),
            format!(
                "{label} is now shared with node {node}.\nIts posts flow there once the two nodes are peers: each admin runs `parleyd peer add NODE_ID@HOST:PORT` with the other's address."
            ),
        ),
        Change::Unshare(node) => {
            let node = node.pick(
                roster.replicas.iter().copied(),
                &format!("the nodes {label} is shared with"),
            )?;
            (
                Content::UnshareReplica(Replica { node }),
                node.to_string(),
                format!("{label} is no longer shared with node {node}."),
            )
        }
        Change::SetName(display_name) => {
            let text = format!("Your name in {label} is now {}.", clean_line(&display_name));
            (
                Content::Profile(Profile {
                    display_name: display_name.clone(),
                }),
                display_name,
                text,
            )
        }
    };
    let kind = content.kind_name();
    if let Some(unchanged) = no_change(&roster, &space.label, &content) {
        return Ok(Outcome::ok(
            format!("{unchanged}; nothing was sent.\n"),
            json!({ "id": null, "space": space.id.to_string(), "kind": kind, "subject": subject, "unchanged": true }),
        ));
    }
    let me = ctx.home.key()?.user_id();
    let standing = roster.standing(&me, space.founder);
    if let Some(why) = view::ignored(&standing, &me, &content, None) {
        return Err(why.into());
    }
    let id = publish(ctx, node, space.id, content).await?;
    Ok(Outcome::ok(
        format!("{text}\n"),
        json!({ "id": id.to_string(), "space": space.id.to_string(), "kind": kind, "subject": subject }),
    ))
}

/// What is so already, when a membership or replica change would change nothing.
fn no_change(roster: &Roster, label: &str, content: &Content) -> Option<String> {
    let Roster {
        members,
        moderators,
        replicas,
        ..
    } = roster;
    match content {
        Content::AddMember(Member { user }) if members.contains(user) => {
            Some(format!("{user} is a member of {label} already"))
        }
        Content::RemoveMember(Member { user }) if !members.contains(user) => {
            Some(format!("{user} is not a member of {label}"))
        }
        Content::GrantModerator(Member { user }) if moderators.contains(user) => {
            Some(format!("{user} is a moderator of {label} already"))
        }
        Content::RevokeModerator(Member { user }) if !moderators.contains(user) => {
            Some(format!("{user} is not a moderator of {label}"))
        }
        Content::ShareReplica(Replica { node }) if replicas.contains(node) => {
            Some(format!("{label} is shared with node {node} already"))
        }
        Content::UnshareReplica(Replica { node }) if !replicas.contains(node) => {
            Some(format!("{label} is not shared with node {node}"))
        }
        _ => None,
    }
}

/// `parley members SPACE`.
pub(crate) async fn members(
    _ctx: &Context,
    node: &mut impl Api,
    space: &str,
) -> Result<Outcome, ClientError> {
    let space = resolve(node, space).await?;
    let response = node.ask(Request::Members { space: space.id }).await?;
    let Response::Members {
        members,
        moderators,
        replicas,
        names,
        ..
    } = response
    else {
        return Err(unexpected(&response));
    };
    let names = Names(&names);
    let text = lists::members(&space.label, &members, &moderators, &replicas, names);
    let members_json: Vec<_> = members
        .iter()
        .map(|user| {
            json!({
                "id": user.to_string(),
                "name": names.name(user),
                "moderator": moderators.contains(user),
            })
        })
        .collect();
    let strings = |ids: Vec<String>| json!(ids);
    Ok(Outcome::ok(
        text,
        json!({
            "space": space.id.to_string(),
            "members": members_json,
            "moderators": strings(moderators.iter().map(ToString::to_string).collect()),
            "replicas": strings(replicas.iter().map(ToString::to_string).collect()),
        }),
    ))
}

/// `parley decisions SPACE`, a page at a time.
pub(crate) async fn decisions(
    ctx: &Context,
    node: &mut impl Api,
    space_arg: &str,
    page: &PageArgs,
) -> Result<Outcome, ClientError> {
    let space = resolve(node, space_arg).await?;
    let mut before: Option<DecisionCursor> = read::parse_cursor(page.before.as_deref())?;
    let want = ctx.lines_wanted(page);
    let mut decisions = Vec::new();
    let mut next = None;
    for _ in 0..read::MAX_PAGES {
        let limit = want.map_or(MAX_PAGE_LINES, |want| {
            read::remaining(want, decisions.len())
        });
        let response = node
            .ask(Request::Decisions {
                space: space.id,
                limit,
                before,
            })
            .await?;
        let Response::Decisions {
            decisions: lines,
            next: page_next,
            ..
        } = response
        else {
            return Err(unexpected(&response));
        };
        decisions.extend(lines);
        next = page_next;
        match next {
            Some(cursor) if want.is_none_or(|want| decisions.len() < want) => {
                before = Some(cursor);
            }
            _ => break,
        }
    }
    // Decided-by names come from the member list; without it, short ids.
    let names = match node.ask(Request::Members { space: space.id }).await {
        Ok(Response::Members { names, .. }) => names,
        _ => Default::default(),
    };
    let names = Names(&names);
    let json: Vec<_> = decisions
        .iter()
        .map(|d| render_json::decision(d, names))
        .collect();
    let mut text = lists::decisions(&space.label, &decisions, names, ctx.style);
    if let Some(cursor) = next {
        let _ = writeln!(
            text,
            "\nMore: parley decisions {space_arg} --before {cursor}   (or --all)"
        );
    }
    Ok(Outcome::ok(
        text,
        json!({
            "space": space.id.to_string(),
            "decisions": json,
            "next": next.map(|cursor| cursor.to_string()),
        }),
    ))
}

/// Whether `arg` reads as a space id (`space1…`) rather than a name.
fn looks_like_id(arg: &str) -> bool {
    arg.strip_prefix(SpaceId::PREFIX)
        .is_some_and(|rest| rest.starts_with('1'))
}

pub(crate) async fn list_spaces(node: &mut impl Api) -> Result<Vec<SpaceSummary>, ClientError> {
    let response = node.ask(Request::Spaces).await?;
    match response {
        Response::Spaces { spaces } => Ok(spaces),
        other => Err(unexpected(&other)),
    }
}

#[cfg(test)]
mod tests {
    use parley_protocol::SecretKey;
    use parley_protocol::api::ApiErrorCode;

    use super::*;
    use crate::commands::fake::joined;
    use crate::render::fixtures::NOW;

    #[tokio::test]
    async fn a_created_space_is_listed_and_resolved_by_name() {
        let (_dir, ctx, mut node) = joined();
        let created = create(&ctx, &mut node, "team", "Where we decide")
            .await
            .unwrap();
        let id = created.json["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("space1"));
        assert_eq!(created.json["home_node"], node.id.to_string());
        let listed = list(&ctx, &mut node).await.unwrap();
        assert_eq!(listed.json["spaces"][0]["id"], id);
        assert_eq!(listed.json["spaces"][0]["name"], "team");
        assert!(
            listed.text.starts_with(&format!("team  {id}\n")),
            "{}",
            listed.text
        );
        let by_name = resolve(&mut node, "team").await.unwrap();
        assert_eq!(by_name.id.to_string(), id);
        let by_id = resolve(&mut node, &id).await.unwrap();
        assert_eq!(by_id, by_name);
    }

    #[tokio::test]
    async fn two_spaces_of_one_name_are_ambiguous_and_list_their_ids() {
        let (_dir, ctx, mut node) = joined();
        let a = create(&ctx, &mut node, "team", "").await.unwrap();
        let b = create(&ctx, &mut node, "team", "").await.unwrap();
        assert_ne!(
            a.json["id"], b.json["id"],
            "random nonces make distinct spaces"
        );
        let error = resolve(&mut node, "team").await.unwrap_err();
        assert_eq!(error.code(), "ambiguous_space");
        let message = error.to_string();
        for id in [&a.json["id"], &b.json["id"]] {
            assert!(message.contains(id.as_str().unwrap()), "{message}");
        }
    }

    #[tokio::test]
    async fn an_unknown_name_lists_the_users_spaces() {
        let (_dir, ctx, mut node) = joined();
        create(&ctx, &mut node, "team", "").await.unwrap();
        let error = resolve(&mut node, "nope").await.unwrap_err();
        assert_eq!(error.code(), "unknown_space");
        assert!(
            error
                .to_string()
                .contains("no space named \"nope\" (your spaces: team)"),
            "{error}"
        );
        let error = resolve(&mut node, "space1xyz").await.unwrap_err();
        assert!(error.to_string().contains("space id"), "{error}");
    }

    #[tokio::test]
    async fn a_name_shaped_like_an_id_still_finds_its_space() {
        let (_dir, ctx, mut node) = joined();
        create(&ctx, &mut node, "space1st", "").await.unwrap();
        let found = resolve(&mut node, "space1st").await.unwrap();
        assert_eq!(found.label, "space1st");
        let error = resolve(&mut node, "space1nd").await.unwrap_err();
        assert!(
            error.to_string().starts_with("not a valid space id"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn members_are_added_named_and_listed() {
        let (_dir, ctx, mut node) = joined();
        create(&ctx, &mut node, "team", "").await.unwrap();
        let bob = SecretKey::from_seed(&[2; 32]).user_id();
        let added = change(&ctx, &mut node, "team", Change::AddMember(IdRef::Id(bob)))
            .await
            .unwrap();
        assert_eq!(added.json["kind"], "add_member");
        assert_eq!(added.text, format!("Added {bob} to team.\n"));
        change(&ctx, &mut node, "team", Change::SetName("Alice".to_owned()))
            .await
            .unwrap();
        change(&ctx, &mut node, "team", Change::Share(NodeId([9; 32])))
            .await
            .unwrap();
        let shown = members(&ctx, &mut node, "team").await.unwrap();
        let me = ctx.home.key().unwrap().user_id();
        let listed: Vec<_> = shown.json["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].clone())
            .collect();
        assert!(
            listed.contains(&json!(me.to_string())) && listed.contains(&json!(bob.to_string()))
        );
        assert!(shown.text.contains("  Alice  "), "{}", shown.text);
        assert!(shown.text.contains("moderator"), "{}", shown.text);
        assert_eq!(shown.json["replicas"].as_array().unwrap().len(), 2);
        change(
            &ctx,
            &mut node,
            "team",
            Change::RemoveMember(IdRef::Id(bob)),
        )
        .await
        .unwrap();
        let shown = members(&ctx, &mut node, "team").await.unwrap();
        assert_eq!(shown.json["members"].as_array().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_space_the_user_is_not_in_is_refused_by_the_node() {
        let (_dir, ctx, mut node) = joined();
        let other = SecretKey::from_seed(&[3; 32]);
        let genesis = Genesis {
            name: "theirs".to_owned(),
            description: String::new(),
            home_node: node.id,
            nonce: [0; 16],
        };
        let post = Post::sign_genesis(&other, NOW, genesis, NOW).unwrap();
        let space = post.space().to_string();
        node.insert(post);
        let error = members(&ctx, &mut node, &space).await.unwrap_err();
        assert!(matches!(
            error,
            ClientError::Node {
                code: ApiErrorCode::Unknown,
                ..
            }
        ));
        assert!(
            error.to_string().contains("that you are a member of"),
            "{error}"
        );
        // By name it is not even found: it is not one of the user's spaces.
        assert_eq!(
            resolve(&mut node, "theirs").await.unwrap_err().code(),
            "unknown_space"
        );
    }

    #[tokio::test]
    async fn an_invalid_name_fails_before_anything_is_sent() {
        let (_dir, ctx, mut node) = joined();
        let error = create(&ctx, &mut node, &"n".repeat(101), "")
            .await
            .unwrap_err();
        assert_eq!(error.code(), "too_large");
        assert!(error.to_string().contains("limit is 100 bytes"), "{error}");
        assert!(node.requests.is_empty());
    }
}
