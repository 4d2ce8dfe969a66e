//! A UDP relay on loopback between in-process QUIC nodes, so a scenario can cut,
//! heal, delay or thin out the path between two endpoints without leaving the process.
//!
//! A node dials [`Link::addr`] instead of its peer's address; the link forwards each
//! datagram to the peer from an upstream socket of its own (one per client source
//! address, like a NAT), and forwards the peer's replies back to that client. Both
//! directions pass one egress queue, where cuts, delay and loss apply.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Duration, Instant};

/// The most upstream sockets (distinct client source addresses) one link serves;
/// datagrams from further clients are dropped.
pub const MAX_UPSTREAMS: usize = 64;

/// The largest datagram a link forwards; larger ones are dropped.
pub const MAX_DATAGRAM: usize = 65_535;

/// The most datagrams waiting in a link's egress queue (delayed ones included).
const MAX_QUEUED: usize = 1_024;

/// The most bytes waiting in a link's egress queue.
const MAX_QUEUED_BYTES: usize = 8 << 20;

/// The loss generator's seed: every link thins out the same datagrams in the same order.
const LOSS_SEED: u64 = 0x5eed_0f11_4b1d_0000;

/// A one-way-addressed UDP relay: datagrams sent to [`addr`](Self::addr) are forwarded
/// to the target; replies from the target go back to the original sender (one upstream
/// socket per distinct client source address, like a NAT), so a QUIC connection can run
/// through it. Dropping the link stops its tasks and closes its sockets.
#[derive(Debug)]
pub struct Link {
    addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

/// Datagrams and bytes that went one way through a link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flow {
    /// Datagrams forwarded.
    pub datagrams: u64,
    /// Payload bytes forwarded.
    pub bytes: u64,
}

/// What a link has done since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Forwarded from clients to the target.
    pub to_target: Flow,
    /// Forwarded from the target back to clients.
    pub to_client: Flow,
    /// Datagrams dropped, either way: cut, lost, oversized, queue or upstream limit
    /// reached, or the send failed.
    pub dropped: u64,
}

impl Link {
    /// Binds `127.0.0.1:0` and starts relaying to `target` on the current tokio runtime.
    pub async fn start(target: SocketAddr) -> io::Result<Self> {
        let front = Arc::new(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?);
        let addr = front.local_addr()?;
        let shared = Arc::new(Shared::default());
        let (egress_tx, egress_rx) = mpsc::channel(MAX_QUEUED);
        let ingress = Ingress {
            shared: shared.clone(),
            queue: egress_tx,
        };
        let tasks = vec![
            tokio::spawn(egress(shared.clone(), egress_rx)),
            tokio::spawn(front_loop(front, target, ingress)),
        ];
        Ok(Self {
            addr,
            shared,
            tasks,
        })
    }

    /// The address clients send to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every datagram, both ways, from now on (queued ones included).
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
    }

    /// Forwards datagrams again after [`cut`](Self::cut).
    pub fn heal(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
    }

    /// Holds each datagram arriving from now on for `ms` milliseconds, each way.
    /// Datagrams still leave in arrival order, so after lowering the delay new ones
    /// wait behind those held longer.
    pub fn set_delay(&self, ms: u64) {
        self.shared.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Drops each datagram arriving from now on with probability `per_mille`/1000
    /// (capped at 1000), each way, as decided by a fixed-seed generator.
    pub fn set_loss(&self, per_mille: u32) {
        self.shared
            .loss_per_mille
            .store(per_mille.min(1_000), Ordering::SeqCst);
    }

    /// What the link has forwarded and dropped so far.
    pub fn stats(&self) -> LinkStats {
        let s = &self.shared;
        let load = |a: &AtomicU64| a.load(Ordering::SeqCst);
        LinkStats {
            to_target: Flow {
                datagrams: load(&s.to_target_datagrams),
                bytes: load(&s.to_target_bytes),
            },
            to_client: Flow {
                datagrams: load(&s.to_client_datagrams),
                bytes: load(&s.to_client_bytes),
            },
            dropped: load(&s.dropped),
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Aborting the front task drops its `JoinSet`, which aborts the upstream tasks.
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// State the handle and the tasks share.
#[derive(Debug)]
struct Shared {
    cut: AtomicBool,
    delay_ms: AtomicU64,
    loss_per_mille: AtomicU32,
    rng: AtomicU64,
    queued_bytes: AtomicUsize,
    to_target_datagrams: AtomicU64,
    to_target_bytes: AtomicU64,
    to_client_datagrams: AtomicU64,
    to_client_bytes: AtomicU64,
    dropped: AtomicU64,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            cut: AtomicBool::new(false),
            delay_ms: AtomicU64::new(0),
            loss_per_mille: AtomicU32::new(0),
            rng: AtomicU64::new(LOSS_SEED),
            queued_bytes: AtomicUsize::new(0),
            to_target_datagrams: AtomicU64::new(0),
            to_target_bytes: AtomicU64::new(0),
            to_client_datagrams: AtomicU64::new(0),
            to_client_bytes: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }
}

impl Shared {
    fn drop_one(&self) {
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether the loss setting drops the next datagram (splitmix64 over a shared
    /// counter).
    fn lose(&self) -> bool {
        let per_mille = self.loss_per_mille.load(Ordering::SeqCst);
        if per_mille == 0 {
            return false;
        }
        let mut z = self
            .rng
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::SeqCst)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        z % 1_000 < u64::from(per_mille)
    }
}

/// Which way a datagram goes.
#[derive(Clone, Copy, Debug)]
enum Direction {
    ToTarget,
    ToClient,
}

/// A datagram waiting to leave.
#[derive(Debug)]
struct Outgoing {
    due: Instant,
    data: Vec<u8>,
    via: Arc<UdpSocket>,
    /// `None` when `via` is connected to its destination.
    to: Option<SocketAddr>,
    direction: Direction,
}

/// The receiving side's door into the egress queue.
#[derive(Clone, Debug)]
struct Ingress {
    shared: Arc<Shared>,
    queue: mpsc::Sender<Outgoing>,
}

impl Ingress {
    /// Queues a received datagram, or drops it (cut, loss, oversized, queue full).
    fn admit(
        &self,
        data: &[u8],
        via: &Arc<UdpSocket>,
        to: Option<SocketAddr>,
        direction: Direction,
    ) {
        let shared = &self.shared;
        if data.len() > MAX_DATAGRAM || shared.cut.load(Ordering::SeqCst) || shared.lose() {
            shared.drop_one();
            return;
        }
        let queued = shared.queued_bytes.fetch_add(data.len(), Ordering::SeqCst);
        if queued + data.len() > MAX_QUEUED_BYTES {
            shared.queued_bytes.fetch_sub(data.len(), Ordering::SeqCst);
            shared.drop_one();
            return;
        }
        let delay = Duration::from_millis(shared.delay_ms.load(Ordering::SeqCst));
        let outgoing = Outgoing {
            due: Instant::now() + delay,
            data: data.to_vec(),
            via: via.clone(),
            to,
            direction,
        };
        if self.queue.try_send(outgoing).is_err() {
            shared.queued_bytes.fetch_sub(data.len(), Ordering::SeqCst);
            shared.drop_one();
        }
    }
}

/// Receives from clients, giving each new source address an upstream socket.
async fn front_loop(front: Arc<UdpSocket>, target: SocketAddr, ingress: Ingress) {
    let mut upstreams: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    // Dropped with this task (when the link drops): aborts every upstream task.
    let mut tasks = JoinSet::new();
    // One byte spare, so an oversized datagram shows as longer than the limit.
    let mut buf = vec![0; MAX_DATAGRAM + 1];
    loop {
        let (len, client) = match front.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(error) if transient(&error) => continue,
            Err(_) => return,
        };
        let upstream = match upstreams.get(&client) {
            Some(upstream) => upstream.clone(),
            None if upstreams.len() >= MAX_UPSTREAMS => {
                ingress.shared.drop_one();
                continue;
            }
            None => match connect_upstream(target).await {
                Ok(upstream) => {
                    tasks.spawn(upstream_loop(
                        upstream.clone(),
                        front.clone(),
                        client,
                        ingress.clone(),
                    ));
                    upstreams.insert(client, upstream.clone());
                    upstream
                }
                Err(_) => {
                    ingress.shared.drop_one();
                    continue;
                }
            },
        };
        ingress.admit(&buf[..len], &upstream, None, Direction::ToTarget);
    }
}

/// A socket of the link's own, connected to the target, for one client.
async fn connect_upstream(target: SocketAddr) -> io::Result<Arc<UdpSocket>> {
    let ip = match (target.ip(), target.ip().is_loopback()) {
        (IpAddr::V4(_), true) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        (IpAddr::V4(_), false) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (IpAddr::V6(_), true) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        (IpAddr::V6(_), false) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let socket = UdpSocket::bind((ip, 0)).await?;
    socket.connect(target).await?;
    Ok(Arc::new(socket))
}

/// Receives the target's replies for one client and sends them back from the front.
async fn upstream_loop(
    upstream: Arc<UdpSocket>,
    front: Arc<UdpSocket>,
    client: SocketAddr,
    ingress: Ingress,
) {
    let mut buf = vec![0; MAX_DATAGRAM + 1];
    loop {
        match upstream.recv(&mut buf).await {
            Ok(len) => ingress.admit(&buf[..len], &front, Some(client), Direction::ToClient),
            Err(error) if transient(&error) => {}
            Err(_) => return,
        }
    }
}

/// Sends queued datagrams when due, in arrival order.
async fn egress(shared: Arc<Shared>, mut queue: mpsc::Receiver<Outgoing>) {
    while let Some(out) = queue.recv().await {
        tokio::time::sleep_until(out.due).await;
        shared
            .queued_bytes
            .fetch_sub(out.data.len(), Ordering::SeqCst);
        if shared.cut.load(Ordering::SeqCst) {
            shared.drop_one();
            continue;
        }
        let sent = match out.to {
            Some(to) => out.via.send_to(&out.data, to).await,
            None => out.via.send(&out.data).await,
        };
        if sent.is_err() {
            shared.drop_one();
            continue;
        }
        let bytes = out.data.len() as u64;
        let (datagrams, total) = match out.direction {
            Direction::ToTarget => (&shared.to_target_datagrams, &shared.to_target_bytes),
            Direction::ToClient => (&shared.to_client_datagrams, &shared.to_client_bytes),
        };
        datagrams.fetch_add(1, Ordering::SeqCst);
        total.fetch_add(bytes, Ordering::SeqCst);
    }
}

/// Errors a UDP socket reports for one datagram (an ICMP unreachable for an earlier
/// send, say) after which it keeps working.
fn transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEADLINE: Duration = Duration::from_secs(10);

    /// Polls `condition` every few milliseconds until it holds, or panics at the deadline.
    async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + DEADLINE;
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    async fn socket() -> UdpSocket {
        UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap()
    }

    /// Receives one datagram within the deadline, with its source.
    async fn recv(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
        let mut buf = vec![0; MAX_DATAGRAM];
        let (len, from) = tokio::time::timeout(DEADLINE, socket.recv_from(&mut buf))
            .await
            .expect("a datagram before the deadline")
            .unwrap();
        buf.truncate(len);
        (buf, from)
    }

    /// A target that echoes every datagram to its sender.
    async fn echo_server() -> (SocketAddr, JoinHandle<()>) {
        let server = socket().await;
        let addr = server.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut buf = vec![0; MAX_DATAGRAM];
            while let Ok((len, from)) = server.recv_from(&mut buf).await {
                let _ = server.send_to(&buf[..len], from).await;
            }
        });
        (addr, task)
    }

    #[tokio::test]
    async fn echoes_through_the_link_and_counts() {
        let (target, server) = echo_server().await;
        let link = Link::start(target).await.unwrap();
        let client = socket().await;
        for message in [&b"hello"[..], b"quic datagram"] {
            client.send_to(message, link.addr()).await.unwrap();
            let (reply, from) = recv(&client).await;
            assert_eq!(reply, message);
            assert_eq!(from, link.addr(), "replies come from the link's address");
        }
        let expected = Flow {
            datagrams: 2,
            bytes: 18,
        };
        wait_until("both replies counted", || {
            link.stats().to_client == expected
        })
        .await;
        assert_eq!(
            link.stats(),
            LinkStats {
                to_target: expected,
                to_client: expected,
                dropped: 0,
            }
        );
        server.abort();
    }

    #[tokio::test]
    async fn each_client_gets_its_own_upstream() {
        let target = socket().await;
        let link = Link::start(target.local_addr().unwrap()).await.unwrap();
        let (a, b) = (socket().await, socket().await);
        a.send_to(b"from a", link.addr()).await.unwrap();
        let (_, upstream_a) = recv(&target).await;
        b.send_to(b"from b", link.addr()).await.unwrap();
        let (_, upstream_b) = recv(&target).await;
        assert_ne!(upstream_a, upstream_b);
        target.send_to(b"to b", upstream_b).await.unwrap();
        target.send_to(b"to a", upstream_a).await.unwrap();
        assert_eq!(recv(&a).await.0, b"to a");
        assert_eq!(recv(&b).await.0, b"to b");
    }

    #[tokio::test]
    async fn cut_drops_both_directions_and_heal_restores() {
        let target = socket().await;
        let link = Link::start(target.local_addr().unwrap()).await.unwrap();
        let client = socket().await;
        client.send_to(b"before", link.addr()).await.unwrap();
        let (_, upstream) = recv(&target).await;

        link.cut();
        client.send_to(b"to target", link.addr()).await.unwrap();
        wait_until("the client's datagram dropped", || {
            link.stats().dropped == 1
        })
        .await;
        target.send_to(b"to client", upstream).await.unwrap();
        wait_until("the target's datagram dropped", || {
            link.stats().dropped == 2
        })
        .await;
        // A dropped datagram is never queued, so nothing can still be on its way.
        let mut buf = [0; 64];
        assert!(
            target.try_recv_from(&mut buf).is_err(),
            "target got nothing"
        );
        assert!(
            client.try_recv_from(&mut buf).is_err(),
            "client got nothing"
        );

        link.heal();
        client.send_to(b"healed up", link.addr()).await.unwrap();
        let (data, from) = recv(&target).await;
        assert_eq!((data.as_slice(), from), (&b"healed up"[..], upstream));
        target.send_to(b"healed down", upstream).await.unwrap();
        assert_eq!(recv(&client).await.0, b"healed down");
        wait_until("both ways counted after the heal", || {
            let stats = link.stats();
            (stats.to_target.datagrams, stats.to_client.datagrams) == (2, 1)
        })
        .await;
        assert_eq!(link.stats().dropped, 2);
    }

    #[tokio::test]
    async fn delay_holds_each_direction() {
        let (target, server) = echo_server().await;
        let link = Link::start(target).await.unwrap();
        link.set_delay(100);
        let client = socket().await;
        let start = Instant::now();
        client.send_to(b"slow", link.addr()).await.unwrap();
        assert_eq!(recv(&client).await.0, b"slow");
        assert!(
            start.elapsed() >= Duration::from_millis(200),
            "two delayed hops took {:?}",
            start.elapsed()
        );
        server.abort();
    }

    #[tokio::test]
    async fn loss_drops_about_the_set_share() {
        let target = socket().await;
        let link = Link::start(target.local_addr().unwrap()).await.unwrap();
        let client = socket().await;
        link.set_loss(1_000);
        for _ in 0..10 {
            client.send_to(b"lost", link.addr()).await.unwrap();
        }
        wait_until("all ten dropped", || link.stats().dropped == 10).await;
        assert_eq!(link.stats().to_target.datagrams, 0);

        link.set_loss(300);
        let sent = 400;
        for _ in 0..sent {
            client.send_to(b"maybe", link.addr()).await.unwrap();
            // One at a time, so no datagram is lost to socket buffers.
            let stats = link.stats();
            let decided = stats.dropped + stats.to_target.datagrams;
            wait_until("the datagram decided", || {
                let s = link.stats();
                s.dropped + s.to_target.datagrams > decided
            })
            .await;
        }
        let stats = link.stats();
        let lost = stats.dropped - 10;
        assert_eq!(lost + stats.to_target.datagrams, sent);
        assert!((80..=160).contains(&lost), "{lost} of {sent} lost at 30 %");
    }

    #[tokio::test]
    async fn upstreams_are_bounded() {
        let target = socket().await;
        let link = Link::start(target.local_addr().unwrap()).await.unwrap();
        let mut clients = Vec::new();
        for _ in 0..MAX_UPSTREAMS {
            let client = socket().await;
            client.send_to(b"hi", link.addr()).await.unwrap();
            recv(&target).await;
            clients.push(client);
        }
        let extra = socket().await;
        extra.send_to(b"one too many", link.addr()).await.unwrap();
        wait_until("the extra client's datagram dropped", || {
            link.stats().dropped == 1
        })
        .await;
        // Known clients still pass.
        clients[0]
            .send_to(b"still here", link.addr())
            .await
            .unwrap();
        assert_eq!(recv(&target).await.0, b"still here");
    }

    #[tokio::test]
    async fn drop_closes_the_front_socket() {
        let target = socket().await;
        let link = Link::start(target.local_addr().unwrap()).await.unwrap();
        let addr = link.addr();
        drop(link);
        let deadline = Instant::now() + DEADLINE;
        while UdpSocket::bind(addr).await.is_err() {
            assert!(Instant::now() < deadline, "the link's port stays bound");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}
