//! `parley watch [SPACE]`: new posts as they arrive, until Ctrl-C or the node ends the
//! stream. Each post is validated here (the client trusts no node with its own eyes)
//! and printed at once: a few lines for people, or one JSON object per line.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::time::Duration;

use parley_protocol::api::{Event, Request, Response};
use parley_protocol::content::Content;
use parley_protocol::{Post, PostId, SpaceId, Timestamp};

use super::space::resolve;
use super::{Context, Outcome};
use crate::error::ClientError;
use crate::node_client::{Api, Watch, unexpected};
use crate::render::text::{clean_line, short_id};
use crate::render::{Names, Style, json as render_json, lists};

/// How a watch connects again when its node goes away.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reconnect {
    /// The wait before the first attempt; each failed attempt doubles it.
    pub(crate) first: Duration,
    /// The longest wait between attempts.
    pub(crate) max: Duration,
    /// Attempts in a row (with no post between them) before giving up.
    pub(crate) attempts: u32,
}

impl Reconnect {
    /// 1 s, doubling up to 30 s, for about an hour.
    pub(crate) const DEFAULT: Self = Self {
        first: Duration::from_secs(1),
        max: Duration::from_secs(30),
        attempts: 125,
    };

    /// The wait before attempt `n` (from 1).
    fn delay(&self, n: u32) -> Duration {
        self.first
            .saturating_mul(1 << n.saturating_sub(1).min(16))
            .min(self.max)
    }
}

/// Where a watch prints, and how.
struct Sink<'a, W, C> {
    ctx: &'a Context,
    json: bool,
    out: &'a mut W,
    clock: C,
    labels: Labels,
}

/// Streams posts to `out` until `stop` completes (Ok), the node refuses the watch, or
/// it cannot be reached again (errors). `clock` dates validation and relative times as
/// events arrive.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn watch(
    ctx: &Context,
    node: &mut impl Api,
    space: Option<&str>,
    json: bool,
    out: &mut impl Write,
    clock: impl Fn() -> Timestamp,
    stop: impl Future<Output = ()>,
    reconnect: Reconnect,
) -> Result<Outcome, ClientError> {
    let space = match space {
        Some(space) => Some(resolve(node, space).await?),
        None => None,
    };
    let space_id = space.as_ref().map(|s| s.id);
    let mut stream = node.watch(space_id).await?;
    let mut sink = Sink {
        ctx,
        json,
        out,
        clock,
        labels: Labels::default(),
    };
    sink.labels.refresh(node).await;
    if !json {
        let what = space
            .as_ref()
            .map_or_else(|| "your spaces".to_owned(), |s| s.label.clone());
        write_out(sink.out, &format!("Watching {what}; Ctrl-C to stop.\n"))?;
    }
    tokio::pin!(stop);
    // Attempts to connect again since the last post arrived.
    let mut failures = 0u32;
    loop {
        let response = tokio::select! {
            () = &mut stop => break,
            response = stream.next() => response,
        };
        let lost = match response {
            Ok(Some(Response::Event(Event::Post { envelope }))) => {
                failures = 0;
                sink.show(node, &envelope.0).await?;
                continue;
            }
            Ok(Some(Response::Error { code, message })) => {
                return Err(ClientError::Node { code, message });
            }
            Ok(Some(other)) => return Err(unexpected(&other)),
            Ok(None) => "the node ended the stream".to_owned(),
            Err(error @ (ClientError::Unreachable { .. } | ClientError::Disconnected(_))) => {
                error.to_string()
            }
            Err(error) => return Err(error),
        };
        match again(
            node,
            space_id,
            lost,
            &mut failures,
            reconnect,
            &mut sink,
            &mut stop,
        )
        .await?
        {
            Some(again) => stream = again,
            None => break,
        }
    }
    Ok(Outcome {
        success: true,
        text: String::new(),
        json: serde_json::Value::Null,
        printed: true,
    })
}

/// Connects the watch again after it was `lost`, waiting longer after each failed
/// attempt; `None` when `stop` completes meanwhile.
async fn again<A: Api, W: Write, C>(
    node: &mut A,
    space: Option<SpaceId>,
    mut lost: String,
    failures: &mut u32,
    reconnect: Reconnect,
    sink: &mut Sink<'_, W, C>,
    stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Result<Option<A::Watch>, ClientError> {
    loop {
        *failures += 1;
        if *failures > reconnect.attempts {
            return Err(ClientError::Disconnected(format!(
                "{lost}; gave up after {} attempts to connect again",
                reconnect.attempts
            )));
        }
        let delay = reconnect.delay(*failures);
        let notice = if sink.json {
            format!(
                "{}\n",
                serde_json::json!({
                    "event": "lost",
                    "reason": lost,
                    "retry_in_ms": u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                })
            )
        } else {
            format!(
                "(lost the node: {lost}; trying again in {})\n",
                seconds(delay)
            )
        };
        write_out(sink.out, &notice)?;
        tokio::select! {
            () = stop.as_mut() => return Ok(None),
            () = tokio::time::sleep(delay) => {}
        }
        match node.watch(space).await {
            Ok(stream) => {
                let notice = if sink.json {
                    "{\"event\":\"watching\"}\n"
                } else {
                    "(watching again; what arrived meanwhile is in `parley unread`)\n"
                };
                write_out(sink.out, notice)?;
                return Ok(Some(stream));
            }
            Err(error @ (ClientError::Unreachable { .. } | ClientError::Disconnected(_))) => {
                lost = error.to_string();
            }
            Err(error) => return Err(error),
        }
    }
}

/// A wait for people: `1 s`, `0.5 s`.
fn seconds(delay: Duration) -> String {
    format!("{} s", delay.as_secs_f64())
}

impl<W: Write, C: Fn() -> Timestamp> Sink<'_, W, C> {
    /// Validates and prints one post the node streamed.
    async fn show(&mut self, node: &mut impl Api, envelope: &[u8]) -> Result<(), ClientError> {
        let now = (self.clock)();
        let post = match Post::decode(envelope, now) {
            Ok(post) => post,
            Err(error) => {
                if !self.json {
                    write_out(
                        self.out,
                        &format!("(skipped an invalid post from the node: {error})\n"),
                    )?;
                }
                return Ok(());
            }
        };
        let labels = &mut self.labels;
        labels.learn(node, &post).await;
        let title = labels.thread_title(node, &post).await;
        let space_name = labels.spaces.get(&post.space()).cloned();
        let empty = BTreeMap::new();
        let names = Names(labels.names.get(&post.space()).unwrap_or(&empty));
        let line = if self.json {
            format!(
                "{}\n",
                render_json::envelope(&post, space_name.as_deref(), names)
            )
        } else {
            let label =
                space_name.map_or_else(|| short_id(&post.space().to_string()), |n| clean_line(&n));
            let style = Style {
                now,
                ..self.ctx.style
            };
            lists::event(&post, &label, title.as_deref(), names, style)
        };
        write_out(self.out, &line)
    }
}

/// Thread titles a watch keeps (the oldest are forgotten beyond this).
const MAX_TITLES: usize = 1024;

/// Names of spaces and of their users, and titles of threads, learned as posts arrive.
#[derive(Debug, Default)]
struct Labels {
    spaces: BTreeMap<SpaceId, String>,
    names: BTreeMap<SpaceId, BTreeMap<String, String>>,
    titles: BTreeMap<PostId, String>,
}

impl Labels {
    /// The title of the thread `post` is about (a reply's, a decision's, an edit's,
    /// a reaction's or a retraction's), asking the node once per thread; `None` for
    /// posts about no thread, or when the node cannot say.
    async fn thread_title(&mut self, node: &mut impl Api, post: &Post) -> Option<String> {
        let thread = match post.content() {
            Content::Thread(thread) => {
                self.remember(post.id(), thread.title.clone());
                return None;
            }
            Content::Reply(reply) => reply.root,
            Content::Resolve(resolve) => resolve.thread,
            Content::Reopen(reopen) => reopen.thread,
            Content::Edit(_) | Content::Reaction(_) | Content::Retraction(_) => {
                let target = post.content().target()?;
                match node.ask(Request::Locate { id: target }).await {
                    Ok(Response::Located {
                        thread: Some(thread),
                        ..
                    }) => thread,
                    _ => return None,
                }
            }
            _ => return None,
        };
        if let Some(title) = self.titles.get(&thread) {
            return Some(title.clone());
        }
        match node
            .ask(Request::Thread {
                id: thread,
                from: 0,
            })
            .await
        {
            Ok(Response::Thread { thread: view, .. }) => {
                self.remember(thread, view.title.clone());
                Some(view.title)
            }
            _ => None,
        }
    }

    fn remember(&mut self, thread: PostId, title: String) {
        if self.titles.len() >= MAX_TITLES {
            self.titles.pop_first();
        }
        self.titles.insert(thread, title);
    }

    /// Asks the node for the user's spaces (best effort).
    async fn refresh(&mut self, node: &mut impl Api) {
        if let Ok(Response::Spaces { spaces }) = node.ask(Request::Spaces).await {
            for space in spaces {
                self.spaces.insert(space.space, space.genesis.name);
            }
        }
    }

    /// Updates names from `post`, asking the node about a space seen for the first time.
    async fn learn(&mut self, node: &mut impl Api, post: &Post) {
        let space = post.space();
        if let Content::Genesis(genesis) = post.content() {
            self.spaces.insert(space, genesis.name.clone());
        }
        if !self.spaces.contains_key(&space) {
            self.refresh(node).await;
        }
        if let std::collections::btree_map::Entry::Vacant(entry) = self.names.entry(space) {
            let names = match node.ask(Request::Members { space }).await {
                Ok(Response::Members { names, .. }) => names,
                _ => BTreeMap::new(),
            };
            entry.insert(names);
        }
        if let Content::Profile(profile) = post.content() {
            self.names
                .entry(space)
                .or_default()
                .insert(post.author().to_string(), profile.display_name.clone());
        }
    }
}

fn write_out(out: &mut impl Write, text: &str) -> Result<(), ClientError> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|error| ClientError::Disconnected(format!("cannot write the output: {error}")))
}

#[cfg(test)]
mod tests {
    use parley_protocol::api::ApiErrorCode;
    use parley_protocol::content::{Profile, Thread};
    use parley_protocol::encoding::ByteString;

    use super::*;
    use crate::commands::fake::joined;
    use crate::commands::space;
    use crate::render::fixtures::NOW;
    use crate::render::text::short_post;

    fn event(post: &Post) -> Response {
        Response::Event(Event::Post {
            envelope: ByteString(post.bytes().to_vec()),
        })
    }

    /// Reconnecting at once, three times.
    const QUICK: Reconnect = Reconnect {
        first: Duration::from_millis(1),
        max: Duration::from_millis(2),
        attempts: 3,
    };

    #[tokio::test]
    async fn posts_stream_as_text_then_the_end_is_an_error() {
        let (_dir, ctx, mut node) = joined();
        space::create(&ctx, &mut node, "team", "").await.unwrap();
        let key = ctx.home.key().unwrap();
        let space = node.posts[0].space();
        let name = Post::sign(
            &key,
            space,
            NOW,
            Content::Profile(Profile {
                display_name: "Ann".to_owned(),
            }),
            NOW,
        )
        .unwrap();
        let thread = Post::sign(
            &key,
            space,
            NOW,
            Content::Thread(Thread {
                title: "Hi".to_owned(),
                body: "there".to_owned(),
                mentions: Default::default(),
            }),
            NOW,
        )
        .unwrap();
        let reply = Post::sign(
            &key,
            space,
            NOW,
            Content::Reply(parley_protocol::content::Reply {
                root: thread.id(),
                parent: thread.id(),
                body: "hello".to_owned(),
                mentions: Default::default(),
            }),
            NOW,
        )
        .unwrap();
        node.events = vec![
            event(&name),
            event(&thread),
            event(&reply),
            Response::Event(Event::Post {
                envelope: ByteString(vec![1, 2]),
            }),
        ];
        let mut out = Vec::new();
        let error = watch(
            &ctx,
            &mut node,
            Some("team"),
            false,
            &mut out,
            || NOW,
            std::future::pending(),
            QUICK,
        )
        .await
        .unwrap_err();
        assert_eq!(error.code(), "disconnected");
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Watching team; Ctrl-C to stop.");
        assert_eq!(lines[1], "[team] Ann is now called Ann · just now");
        assert_eq!(
            lines[2],
            format!(
                "[team] Ann started \"Hi\" · {} · just now",
                short_post(&thread.id())
            )
        );
        assert_eq!(lines[3], "  there");
        assert_eq!(
            lines[4],
            format!(
                "[team] Ann replied in \"Hi\" · {} · just now",
                short_post(&reply.id())
            ),
            "a reply names its thread"
        );
        assert_eq!(lines[5], "  hello");
        assert!(
            lines[6].starts_with("(skipped an invalid post from the node"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_json_watch_says_when_it_lost_the_node_and_when_it_watches_again() {
        let (_dir, ctx, mut node) = joined();
        space::create(&ctx, &mut node, "team", "").await.unwrap();
        node.events = vec![event(&node.posts[0].clone())];
        let mut out = Vec::new();
        let error = watch(
            &ctx,
            &mut node,
            None,
            true,
            &mut out,
            || NOW,
            std::future::pending(),
            QUICK,
        )
        .await
        .unwrap_err();
        assert!(
            error.to_string().contains("gave up after 3 attempts"),
            "{error}"
        );
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines[0]["kind"], "genesis");
        assert_eq!(lines[1]["event"], "lost");
        assert_eq!(lines[1]["retry_in_ms"], 1);
        assert_eq!(lines[2]["event"], "watching");
        assert_eq!(lines.len(), 1 + 2 * 3, "three attempts, each lost again");
    }

    #[tokio::test]
    async fn json_watch_prints_one_object_per_line_and_stops_cleanly() {
        let (_dir, ctx, mut node) = joined();
        space::create(&ctx, &mut node, "team", "").await.unwrap();
        let genesis = node.posts[0].clone();
        node.events = vec![event(&genesis)];
        node.hold_open = true;
        let mut out = Vec::new();
        let stop = tokio::time::sleep(Duration::from_millis(50));
        let outcome = watch(&ctx, &mut node, None, true, &mut out, || NOW, stop, QUICK)
            .await
            .unwrap();
        assert!(outcome.printed && outcome.success);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        let first: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(first["id"], genesis.id().to_string());
        assert_eq!(first["kind"], "genesis");
        assert_eq!(first["space_name"], "team");
        assert_eq!(first["author"], genesis.author().to_string());
    }

    #[tokio::test]
    async fn watching_a_space_of_others_is_refused() {
        let (_dir, ctx, mut node) = joined();
        let other = parley_protocol::SecretKey::from_seed(&[4; 32]);
        let genesis = parley_protocol::content::Genesis {
            name: "x".to_owned(),
            description: String::new(),
            home_node: node.id,
            nonce: [0; 16],
        };
        let post = Post::sign_genesis(&other, NOW, genesis, NOW).unwrap();
        let space = post.space().to_string();
        node.insert(post);
        let mut out = Vec::new();
        let error = watch(
            &ctx,
            &mut node,
            Some(&space),
            false,
            &mut out,
            || NOW,
            std::future::pending(),
            QUICK,
        )
        .await
        .unwrap_err();
        assert!(matches!(
            error,
            ClientError::Node {
                code: ApiErrorCode::Unknown,
                ..
            }
        ));
    }
}
