//! `parley join INVITE` and `parley whoami`: who the user is, and to which node.

use parley_protocol::api::{Invite, Request, Response};
use serde_json::json;

use super::{Context, Outcome};
use crate::error::ClientError;
use crate::node_client::{Api, unexpected};
use crate::render::text::date;

/// Registers the user's key with the invite's node (the key was made beforehand if
/// there was none, `created_key`), then stores the node's address.
pub(crate) async fn join(
    ctx: &Context,
    node: &mut impl Api,
    invite: &Invite,
    created_key: bool,
) -> Result<Outcome, ClientError> {
    let response = node
        .ask(Request::Join {
            token: invite.token,
        })
        .await?;
    let Response::Joined {
        user,
        node: node_id,
    } = response
    else {
        return Err(unexpected(&response));
    };
    if node_id != invite.address.node {
        return Err(ClientError::Protocol(format!(
            "the node says it is {node_id}, but the invite names {}",
            invite.address.node
        )));
    }
    ctx.home.set_node(&invite.address)?;
    let key_note = if created_key {
        format!(
            "A new key was made in {}; keep it safe.\n",
            ctx.home.dir().display()
        )
    } else {
        String::new()
    };
    let text = format!(
        "Joined {} as {user}.\n{key_note}Next: `parley space list`, or `parley space create NAME`.\n",
        invite.address
    );
    Ok(Outcome::ok(
        text,
        json!({
            "user_id": user.to_string(),
            "node_id": node_id.to_string(),
            "node": invite.address.to_string(),
            "created_key": created_key,
        }),
    ))
}

/// Refuses to move a home that has joined one node to another node's invite, unless
/// asked to (`--move`): a second invite must not silently take the user elsewhere.
pub(crate) fn may_join(ctx: &Context, invite: &Invite, move_home: bool) -> Result<(), ClientError> {
    let Ok(current) = ctx.home.node() else {
        return Ok(());
    };
    if current.node == invite.address.node || move_home {
        return Ok(());
    }
    Err(ClientError::Usage(format!(
        "you have joined {current} already, and this invite is for another node ({}); `parley join --move INVITE` moves your home to it (your key stays the same), or use another home with --home DIR",
        invite.address
    )))
}

/// Asks the node who the user is.
pub(crate) async fn whoami(ctx: &Context, node: &mut impl Api) -> Result<Outcome, ClientError> {
    let address = ctx.home.node()?;
    let response = node.ask(Request::WhoAmI).await?;
    let Response::Me {
        user,
        node: node_id,
        joined_at,
    } = response
    else {
        return Err(unexpected(&response));
    };
    let text = format!("user {user}\nnode {address}\njoined {}\n", date(joined_at));
    Ok(Outcome::ok(
        text,
        json!({
            "user_id": user.to_string(),
            "node_id": node_id.to_string(),
            "node": address.to_string(),
            "joined_at": joined_at.as_millis(),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use parley_protocol::api::{ApiErrorCode, InviteToken};

    use super::*;
    use crate::commands::fake::{FakeNode, context};

    #[tokio::test]
    async fn join_stores_the_address_and_whoami_reads_it_back() {
        let (_dir, ctx) = context();
        let (key, created) = ctx.home.key_or_create().unwrap();
        let mut node = FakeNode::new(key.user_id());
        let invite = Invite {
            address: node.address(),
            token: InviteToken([1; 16]),
        };
        let outcome = join(&ctx, &mut node, &invite, created).await.unwrap();
        assert_eq!(outcome.json["user_id"], key.user_id().to_string());
        assert_eq!(outcome.json["created_key"], true);
        assert!(outcome.text.starts_with(&format!(
            "Joined {} as {}.\n",
            invite.address,
            key.user_id()
        )));
        assert_eq!(ctx.home.node().unwrap(), invite.address);
        let me = whoami(&ctx, &mut node).await.unwrap();
        assert_eq!(me.json["user_id"], key.user_id().to_string());
        assert_eq!(me.json["node"], invite.address.to_string());
        assert!(me.text.starts_with(&format!("user {}\n", key.user_id())));
    }

    #[tokio::test]
    async fn a_used_invite_is_the_nodes_message_and_nothing_is_stored() {
        let (_dir, ctx) = context();
        let (key, _) = ctx.home.key_or_create().unwrap();
        let mut node = FakeNode::new(key.user_id());
        node.refuse_join = true;
        let invite = Invite {
            address: node.address(),
            token: InviteToken([1; 16]),
        };
        let error = join(&ctx, &mut node, &invite, false).await.unwrap_err();
        assert!(matches!(
            error,
            ClientError::Node {
                code: ApiErrorCode::InviteUsed,
                ..
            }
        ));
        assert_eq!(error.code(), "invite_used");
        assert!(error.to_string().contains("used up"), "{error}");
        assert!(ctx.home.node().is_err());
    }

    #[tokio::test]
    async fn whoami_before_join_says_to_join() {
        let (_dir, ctx) = context();
        let (key, _) = ctx.home.key_or_create().unwrap();
        let mut node = FakeNode::new(key.user_id());
        let error = whoami(&ctx, &mut node).await.unwrap_err();
        assert_eq!(error.code(), "not_joined");
        assert!(error.to_string().contains("parley join INVITE"), "{error}");
    }

    #[test]
    fn a_second_node_s_invite_does_not_move_the_home_unless_asked() {
        let (_dir, ctx, node) = crate::commands::fake::joined();
        let same = Invite {
            address: node.address(),
            token: InviteToken([1; 16]),
        };
        assert!(may_join(&ctx, &same, false).is_ok(), "the same node again");
        let mut elsewhere = same.clone();
        elsewhere.address.node = parley_protocol::NodeId([7; 32]);
        let error = may_join(&ctx, &elsewhere, false).unwrap_err();
        assert_eq!(error.code(), "usage");
        assert!(
            error.to_string().contains("parley join --move INVITE"),
            "{error}"
        );
        assert!(may_join(&ctx, &elsewhere, true).is_ok());
        let (_fresh_dir, fresh) = context();
        assert!(
            may_join(&fresh, &elsewhere, false).is_ok(),
            "a home that joined nothing"
        );
    }
}
