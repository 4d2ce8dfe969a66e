//! The client API against users speaking it directly over QUIC on loopback: what a
//! registered user who is a member of nothing, and a key that is not registered, can
//! learn. Every wait is bounded.

use std::future::Future;
use std::time::Duration;

use parley_protocol::api::{ApiErrorCode, CLIENT_ALPN, Request, Response};
use parley_protocol::content::{Content, Genesis, Reply, Thread};
use parley_protocol::encoding::{BoundedVec, ByteString};
use parley_protocol::{Post, PostId, SecretKey, SpaceId, Timestamp};

use crate::clock;
use crate::federation::FederationConfig;
use crate::storage::Storage;
use crate::transport;

use super::NodeHandle;

const WAIT: Duration = Duration::from_secs(10);

async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(WAIT, future).await.expect("timed out")
}

fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed(&[seed; 32])
}

fn at(offset_ms: u64) -> Timestamp {
    Timestamp::from_millis(clock::now().as_millis() - 600_000 + offset_ms)
}

fn thread(title: &str) -> Content {
    Content::Thread(Thread {
        title: title.to_owned(),
        body: "a private matter".to_owned(),
        mentions: BoundedVec::new(),
    })
}

/// A node whose founder (key 2) holds a space with a thread and a reply; keys 2 and 3
/// are registered, key 3 a member of nothing.
struct Fixture {
    _dir: tempfile::TempDir,
    node: NodeHandle,
    space: SpaceId,
    thread: PostId,
    reply: PostId,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (node_key, founder) = (key(1), key(2));
    let now = clock::now();
    let genesis = Genesis {
        name: "board".to_owned(),
        description: String::new(),
        home_node: node_key.node_id(),
        nonce: [1; 16],
    };
    let genesis = Post::sign_genesis(&founder, at(0), genesis, now).unwrap();
    let space = genesis.space();
    let root = Post::sign(&founder, space, at(1), thread("layoffs"), now).unwrap();
    let reply = Post::sign(
        &founder,
        space,
        at(2),
        Content::Reply(Reply {
            root: root.id(),
            parent: root.id(),
            body: "not yet".to_owned(),
            mentions: BoundedVec::new(),
        }),
        now,
    )
    .unwrap();
    let storage = Storage::open(dir.path()).unwrap();
    storage
        .insert(&[genesis, root.clone(), reply.clone()])
        .unwrap();
    storage.register_user(&founder.user_id(), now).unwrap();
    storage.register_user(&key(3).user_id(), now).unwrap();
    let config = FederationConfig::default();
    let node = super::testing::start_on_loopback(node_key, storage, config);
    Fixture {
        _dir: dir,
        node,
        space,
        thread: root.id(),
        reply: reply.id(),
    }
}

/// A user's connection to the node.
struct User(quinn::Connection);

impl User {
    async fn connect(key: &SecretKey, node: &NodeHandle) -> Self {
        let addr = node.local_addr().unwrap();
        let endpoint = transport::client_endpoint(key, addr).unwrap();
        let connection = within(transport::connect(&endpoint, addr, node.id(), CLIENT_ALPN))
            .await
            .unwrap();
        Self(connection)
    }

    async fn ask(&self, request: &Request) -> Response {
        let bytes = within(transport::request(&self.0, &request.encode(), 1 << 22))
            .await
            .unwrap();
        Response::decode(&bytes).unwrap()
    }
}

/// Every request that names a space or a post, about `space`, `thread` and `reply`
/// (the last, a publish, signed by `author` into `space`).
fn requests(space: SpaceId, thread: PostId, reply: PostId, author: &SecretKey) -> Vec<Request> {
    let post = Post::sign(author, space, at(5), thread_content(), clock::now()).unwrap();
    vec![
        Request::threads(space, 50),
        Request::Members { space },
        Request::decisions(space, 50),
        Request::Thread {
            id: thread,
            from: 0,
        },
        Request::Thread { id: reply, from: 0 },
        Request::Locate { id: thread },
        Request::Locate { id: reply },
        Request::MarkRead {
            ids: BoundedVec::try_from_vec(vec![thread, reply]).unwrap(),
        },
        Request::MarkSpaceRead { space },
        Request::Publish {
            envelope: ByteString(post.bytes().to_vec()),
        },
        Request::Watch { space: Some(space) },
    ]
}

fn thread_content() -> Content {
    thread("let me in")
}

#[tokio::test]
async fn a_member_of_nothing_gets_the_answers_given_for_what_does_not_exist() {
    let fx = within(fixture()).await;
    let outsider = key(3);
    let user = User::connect(&outsider, &fx.node).await;
    let (space, thread, reply) = (fx.space, fx.thread, fx.reply);
    let (no_space, no_thread, no_reply) = (
        SpaceId::from_bytes([0x77; 32]),
        PostId::from_bytes([0x66; 32]),
        PostId::from_bytes([0x65; 32]),
    );
    let held = requests(space, thread, reply, &outsider);
    let unknown = requests(no_space, no_thread, no_reply, &outsider);
    for (asked, control) in held.iter().zip(&unknown) {
        let answer = user.ask(asked).await;
        let expected = user.ask(control).await;
        let Response::Error { code, message } = answer else {
            panic!("{asked:?} was answered {answer:?}")
        };
        // Named by the ids asked about, the two answers are the same.
        let renamed = message
            .replace(&space.to_string(), &no_space.to_string())
            .replace(&thread.to_string(), &no_thread.to_string())
            .replace(&reply.to_string(), &no_reply.to_string());
        assert_eq!(
            Response::Error {
                code,
                message: renamed
            },
            expected,
            "{asked:?}"
        );
        assert_eq!(code, ApiErrorCode::Unknown, "{asked:?}");
    }

    // The founder, a member, is answered in full: the requests above do reach the space.
    let founder = User::connect(&key(2), &fx.node).await;
    assert!(matches!(
        founder.ask(&Request::Locate { id: reply }).await,
        Response::Located { space: s, .. } if s == space
    ));
    assert!(matches!(
        founder
            .ask(&Request::MarkRead {
                ids: BoundedVec::try_from_vec(vec![thread]).unwrap()
            })
            .await,
        Response::Done
    ));

    // The start of an id finds the post for a member, and nothing for anyone else.
    let short = |id: PostId| Request::FindPosts {
        prefix: id.to_string()[..5 + 6].to_owned(),
    };
    for id in [thread, reply] {
        assert_eq!(
            founder.ask(&short(id)).await,
            Response::Found {
                ids: vec![id],
                more: false
            }
        );
        assert_eq!(
            user.ask(&short(id)).await,
            Response::Found {
                ids: Vec::new(),
                more: false
            }
        );
    }
    let Response::Error { code, message } = founder
        .ask(&Request::FindPosts {
            prefix: "post1qp".to_owned(),
        })
        .await
    else {
        panic!("a malformed prefix is refused");
    };
    assert_eq!(code, ApiErrorCode::Malformed);
    assert!(message.contains("at least 4"), "{message}");
    fx.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_key_that_is_not_registered_may_only_join() {
    let fx = within(fixture()).await;
    let stranger = User::connect(&key(4), &fx.node).await;
    for request in [
        Request::Watch { space: None },
        Request::Watch {
            space: Some(fx.space),
        },
        Request::Spaces,
        Request::threads(fx.space, 50),
    ] {
        match stranger.ask(&request).await {
            Response::Error { code, .. } => {
                assert_eq!(code, ApiErrorCode::NotRegistered, "{request:?}")
            }
            other => panic!("{request:?} was answered {other:?}"),
        }
    }
    fx.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_key_that_is_not_registered_cannot_make_the_node_wait_for_a_large_request() {
    let fx = within(fixture()).await;
    let stranger = User::connect(&SecretKey::from_seed(&[40; 32]), &fx.node).await;
    // Claims a 4 MiB request and sends none of it: refused at the length.
    let (mut send, mut recv) = stranger.0.open_bi().await.unwrap();
    send.write_all(&(4_194_304u32).to_le_bytes()).await.unwrap();
    let answer = within(transport::read_frame(&mut recv, 1 << 20))
        .await
        .unwrap()
        .expect("an answer");
    match Response::decode(&answer).unwrap() {
        Response::Error { code, .. } => assert_eq!(code, ApiErrorCode::NotRegistered),
        other => panic!("{other:?}"),
    }
    fx.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn keys_that_are_not_registered_get_few_connections_from_one_address() {
    use super::limits::MAX_UNREGISTERED_PER_ADDRESS;

    let fx = within(fixture()).await;
    let mut served = Vec::new();
    let mut refused = 0;
    for seed in 0..MAX_UNREGISTERED_PER_ADDRESS + 3 {
        let user = User::connect(&SecretKey::from_seed(&[100 + seed as u8; 32]), &fx.node).await;
        let asked = tokio::time::timeout(
            WAIT,
            transport::request(&user.0, &Request::WhoAmI.encode(), 1 << 20),
        )
        .await
        .expect("answered or refused in time");
        match asked {
            Ok(bytes) => {
                assert!(matches!(
                    Response::decode(&bytes).unwrap(),
                    Response::Error {
                        code: ApiErrorCode::NotRegistered,
                        ..
                    }
                ));
                served.push(user);
            }
            Err(_) => refused += 1,
        }
    }
    assert_eq!(served.len(), MAX_UNREGISTERED_PER_ADDRESS);
    assert_eq!(refused, 3);
    // A user of the node is served all the same.
    let founder = User::connect(&key(2), &fx.node).await;
    assert!(matches!(
        founder.ask(&Request::WhoAmI).await,
        Response::Me { .. }
    ));
    // Strangers that leave give their places back.
    drop(served);
    let mut answered = false;
    for _ in 0..50 {
        let again = User::connect(&SecretKey::from_seed(&[99; 32]), &fx.node).await;
        if let Ok(Ok(_)) = tokio::time::timeout(
            Duration::from_secs(1),
            transport::request(&again.0, &Request::WhoAmI.encode(), 1 << 20),
        )
        .await
        {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        answered,
        "a place freed by a closed connection is given again"
    );
    fx.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn listing_spaces_reads_none_of_the_spaces_a_user_is_not_in() {
    let fx = within(fixture()).await;
    let outsider = User::connect(&key(3), &fx.node).await;
    for request in [Request::Spaces, Request::Unread { mark_read: false }] {
        let answer = outsider.ask(&request).await;
        assert!(
            matches!(
                answer,
                Response::Spaces { ref spaces } if spaces.is_empty()
            ) || matches!(answer, Response::Unread { ref threads, .. } if threads.is_empty()),
            "{answer:?}"
        );
    }
    let founder = User::connect(&key(2), &fx.node).await;
    assert!(matches!(
        founder.ask(&Request::Spaces).await,
        Response::Spaces { ref spaces } if spaces.len() == 1
    ));
    fx.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_full_disk_refuses_posts_clearly_while_reads_go_on() {
    let fx = within(fixture()).await;
    let founder_key = key(2);
    let founder = User::connect(&founder_key, &fx.node).await;
    let publish = |title: &str| {
        let post = Post::sign(&founder_key, fx.space, at(50), thread(title), clock::now()).unwrap();
        Request::Publish {
            envelope: ByteString(post.bytes().to_vec()),
        }
    };
    // As if the disk were full: less free than the node keeps.
    fx.node.node.storage.set_min_free_bytes(u64::MAX);
    match founder.ask(&publish("while full")).await {
        Response::Error { code, message } => {
            assert_eq!(code, ApiErrorCode::DiskFull);
            assert!(
                message.contains("posts are refused until space is freed"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        founder.ask(&Request::threads(fx.space, 50)).await,
        Response::Threads { ref threads, .. } if threads.len() == 1
    ));
    // Space freed: taken again, no restart.
    fx.node.node.storage.set_min_free_bytes(0);
    assert!(matches!(
        founder.ask(&publish("after")).await,
        Response::Published { .. }
    ));
    fx.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_user_who_does_not_read_answers_holds_at_most_its_budget() {
    use super::limits::USER_ANSWER_BYTES;
    let fx = within(fixture()).await;
    let founder = key(2);
    // A thread whose first page is about 1 MiB.
    let now = clock::now();
    let replies: Vec<Post> = (0..5u64)
        .map(|n| {
            let reply = Content::Reply(Reply {
                root: fx.thread,
                parent: fx.thread,
                body: "x".repeat(200 * 1024),
                mentions: BoundedVec::new(),
            });
            Post::sign(&founder, fx.space, at(10 + n), reply, now).unwrap()
        })
        .collect();
    fx.node.node.storage.insert(&replies).unwrap();
    let reader = User::connect(&founder, &fx.node).await;
    // Forty requests whose answers are never read.
    let mut streams = Vec::new();
    for _ in 0..40 {
        let (mut send, recv) = reader.0.open_bi().await.unwrap();
        let request = Request::Thread {
            id: fx.thread,
            from: 0,
        };
        transport::write_frame(&mut send, &request.encode())
            .await
            .unwrap();
        send.finish().unwrap();
        streams.push(recv);
    }
    // The node holds answers up to the user's budget, and no more.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut held = 0;
    while tokio::time::Instant::now() < deadline {
        held = fx.node.node.answers.held();
        if held > USER_ANSWER_BYTES / 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(held > USER_ANSWER_BYTES / 2, "answers are held: {held}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held = fx.node.node.answers.held();
    assert!(held <= USER_ANSWER_BYTES, "{held} bytes of answers held");
    // Others are answered meanwhile.
    let other = User::connect(&key(3), &fx.node).await;
    assert!(matches!(
        other.ask(&Request::Spaces).await,
        Response::Spaces { .. }
    ));
    // Once the reader goes away, its answers are let go.
    reader.0.close(0u32.into(), b"bye");
    drop(streams);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while fx.node.node.answers.held() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fx.node.node.answers.held(), 0);
    fx.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_post_the_views_would_ignore_is_refused_and_not_stored() {
    use parley_protocol::content::{Member, Resolve, Retraction};
    let fx = within(fixture()).await;
    let (founder, member) = (key(2), key(3));
    let now = clock::now();
    let add = Content::AddMember(Member {
        user: member.user_id(),
    });
    let added = Post::sign(&founder, fx.space, at(3), add, now).unwrap();
    fx.node
        .node
        .storage
        .insert(std::slice::from_ref(&added))
        .unwrap();
    fx.node.node.spaces().record(&added);
    let user = User::connect(&member, &fx.node).await;
    let refused = [
        (
            Content::AddMember(Member {
                user: key(4).user_id(),
            }),
            "only a moderator of the space can add members",
        ),
        (
            Content::Resolve(Resolve {
                thread: fx.thread,
                decision: "mine now".to_owned(),
            }),
            "only the thread's author or a moderator can resolve it",
        ),
        (
            Content::Retraction(Retraction { target: fx.reply }),
            "only its author or a moderator can retract a post",
        ),
    ];
    for (content, why) in refused {
        let post = Post::sign(&member, fx.space, at(10), content, clock::now()).unwrap();
        let answer = user
            .ask(&Request::Publish {
                envelope: ByteString(post.bytes().to_vec()),
            })
            .await;
        match answer {
            Response::Error { code, message } => {
                assert_eq!(code, ApiErrorCode::Forbidden);
                assert_eq!(message, format!("{why}: the post was not stored"));
            }
            other => panic!("{other:?}"),
        }
        assert!(fx.node.node.storage.get(&post.id()).unwrap().is_none());
    }
    // What would count is taken.
    let reply = Content::Reply(Reply {
        root: fx.thread,
        parent: fx.thread,
        body: "agreed".to_owned(),
        mentions: BoundedVec::new(),
    });
    let post = Post::sign(&member, fx.space, at(11), reply, clock::now()).unwrap();
    let answer = user
        .ask(&Request::Publish {
            envelope: ByteString(post.bytes().to_vec()),
        })
        .await;
    assert!(matches!(answer, Response::Published { .. }), "{answer:?}");
    fx.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_retracted_post_is_said_to_be_retracted_to_members_only() {
    let fx = within(fixture()).await;
    let dropped = fx
        .node
        .node
        .storage
        .drop_retracted(&fx.space, &std::collections::BTreeSet::from([fx.reply]))
        .unwrap();
    assert_eq!(dropped, 1);
    let member = User::connect(&key(2), &fx.node).await;
    match member.ask(&Request::Locate { id: fx.reply }).await {
        Response::Error { code, message } => {
            assert_eq!(code, ApiErrorCode::Unknown);
            assert_eq!(
                message,
                format!("{} was retracted: it is gone for good", fx.reply)
            );
        }
        other => panic!("{other:?}"),
    }
    // Someone who may not read the space learns nothing of it.
    let stranger = User::connect(&key(3), &fx.node).await;
    match stranger.ask(&Request::Locate { id: fx.reply }).await {
        Response::Error { code, message } => {
            assert_eq!(code, ApiErrorCode::Unknown);
            assert!(message.contains("holds no post"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    fx.node.shutdown().await.unwrap();
}

/// Searches as `user` until `done` holds of the answer, or the deadline passes.
async fn search_until(
    user: &User,
    text: &str,
    done: impl Fn(&[parley_protocol::api::search::SearchHit], u64) -> bool,
) -> Vec<parley_protocol::api::search::SearchHit> {
    use parley_protocol::api::search::{SearchQuery, SearchSort};
    let query = SearchQuery::parse(text, clock::now()).unwrap();
    let request = Request::Search {
        query,
        sort: SearchSort::Relevance,
        limit: 20,
        offset: 0,
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let answer = user.ask(&request).await;
        let Response::Hits { hits, total, .. } = answer else {
            panic!("`{text}` was answered {answer:?}");
        };
        if done(&hits, total) {
            return hits;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "`{text}`: still {hits:?} after {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn publish(
    user: &User,
    author: &SecretKey,
    space: SpaceId,
    offset: u64,
    content: Content,
) -> PostId {
    let post = Post::sign(author, space, at(offset), content, clock::now()).unwrap();
    let answer = user
        .ask(&Request::Publish {
            envelope: ByteString(post.bytes().to_vec()),
        })
        .await;
    assert!(matches!(answer, Response::Published { .. }), "{answer:?}");
    post.id()
}

#[tokio::test]
async fn search_finds_what_the_views_show_to_members_only() {
    use parley_protocol::content::{Edit, Resolve, Retraction};
    let fx = within(fixture()).await;
    let founder_key = key(2);
    let founder = User::connect(&founder_key, &fx.node).await;
    let stranger = User::connect(&key(3), &fx.node).await;

    // The thread and its reply are indexed from the store at start-up.
    let hits = search_until(&founder, "private", |hits, _| !hits.is_empty()).await;
    assert_eq!(hits[0].post, fx.thread);
    assert_eq!(hits[0].title, "layoffs");
    assert_eq!(hits[0].space_name, "board");
    let (start, end) = hits[0].highlights[0];
    assert_eq!(&hits[0].snippet[start as usize..end as usize], "private");
    search_until(&founder, "layoffs in:title", |hits, _| hits.len() == 1).await;

    // Someone who may not read the space finds nothing, not even a count, and naming
    // the space is answered as for a space that does not exist.
    let hits = search_until(&stranger, "private", |_, _| true).await;
    assert!(hits.is_empty());
    let Response::Hits { total, .. } = stranger
        .ask(&Request::Search {
            query: parley_protocol::api::search::SearchQuery::parse("private", clock::now())
                .unwrap(),
            sort: Default::default(),
            limit: 5,
            offset: 0,
        })
        .await
    else {
        panic!()
    };
    assert_eq!(total, 0);
    for space in ["board", "nowhere"] {
        let query = parley_protocol::api::search::SearchQuery::parse(
            &format!("private space:{space}"),
            clock::now(),
        )
        .unwrap();
        let answer = stranger
            .ask(&Request::Search {
                query,
                sort: Default::default(),
                limit: 5,
                offset: 0,
            })
            .await;
        let Response::Error { code, message } = answer else {
            panic!("{answer:?}")
        };
        assert_eq!(code, ApiErrorCode::Unknown);
        assert_eq!(
            message,
            format!("you are a member of no space named `{space}`")
        );
    }

    // An edit replaces its target's text; a decision is found as a decision.
    publish(
        &founder,
        &founder_key,
        fx.space,
        10,
        Content::Edit(Edit {
            target: fx.reply,
            title: None,
            body: "postponed indefinitely".into(),
        }),
    )
    .await;
    let hits = search_until(&founder, "postponed", |hits, _| !hits.is_empty()).await;
    assert_eq!(hits[0].post, fx.reply);
    search_until(&founder, "yet", |hits, _| hits.is_empty()).await;
    publish(
        &founder,
        &founder_key,
        fx.space,
        11,
        Content::Resolve(Resolve {
            thread: fx.thread,
            decision: "we wait for spring".into(),
        }),
    )
    .await;
    let hits = search_until(&founder, "is:decision spring", |hits, _| !hits.is_empty()).await;
    assert_eq!(
        hits[0].kind,
        parley_protocol::api::search::HitKind::Decision
    );
    assert!(hits[0].resolved);
    search_until(&founder, "private is:resolved", |hits, _| hits.len() == 1).await;
    search_until(&founder, "private is:open", |hits, _| hits.is_empty()).await;

    // A retraction takes the text out of every hit, and it stays out after a restart.
    publish(
        &founder,
        &founder_key,
        fx.space,
        12,
        Content::Retraction(Retraction { target: fx.thread }),
    )
    .await;
    // With its root, the whole thread is gone: its reply and decision too.
    for gone in ["private", "postponed", "spring"] {
        search_until(&founder, gone, |hits, total| hits.is_empty() && total == 0).await;
    }
    let kept = publish(&founder, &founder_key, fx.space, 13, thread("budget")).await;
    search_until(&founder, "budget", |hits, _| hits.len() == 1).await;
    let Fixture {
        _dir: dir, node, ..
    } = fx;
    node.shutdown().await.unwrap();
    let storage = crate::storage::testing::reopen(dir.path());
    let node = super::testing::start_on_loopback(key(1), storage, FederationConfig::default());
    let founder = User::connect(&founder_key, &node).await;
    let hits = search_until(&founder, "budget", |hits, _| !hits.is_empty()).await;
    assert_eq!(hits[0].post, kept);
    for gone in ["layoffs", "postponed", "spring"] {
        search_until(&founder, gone, |hits, total| hits.is_empty() && total == 0).await;
    }
    node.shutdown().await.unwrap();
}
