//! A lossy link on loopback: a UDP proxy between game clients and the
//! server that delays, jitters, drops, duplicates and reorders datagrams,
//! as `netem` would (this machine's kernel has none).
//!
//! Clients send to the proxy's address (the server advertises it as its
//! public address, so connect tokens name it); the proxy gives each client
//! its own upstream socket, so the server sees one address per client, as
//! it would across the internet. Faults apply to each datagram in each
//! direction on its own, drawn from a seeded generator so a failing run
//! can be repeated.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the link does to each datagram, in each direction.
#[derive(Debug, Clone, Copy)]
pub struct Faults {
    /// One-way delay before jitter.
    pub delay: Duration,
    /// Each datagram's delay is `delay` plus or minus up to this, uniformly.
    pub jitter: Duration,
    /// Share of datagrams dropped.
    pub loss: f64,
    /// Share of datagrams delivered twice (each copy delayed on its own).
    pub duplicate: f64,
    /// Share of datagrams held back long enough that later ones overtake
    /// them (on top of the reordering jitter already causes).
    pub reorder: f64,
    pub seed: u64,
}

impl Faults {
    /// A clean link: nothing delayed, lost or reordered.
    pub fn none() -> Faults {
        Faults {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            seed: 0,
        }
    }

    /// The bad link: 200 ms ± 20 ms each way, 5% lost, 1%
    /// duplicated, 1% reordered.
    pub fn bad_mobile(seed: u64) -> Faults {
        Faults {
            delay: Duration::from_millis(200),
            jitter: Duration::from_millis(20),
            loss: 0.05,
            duplicate: 0.01,
            reorder: 0.01,
            seed,
        }
    }
}

/// What the proxy did in one direction.
#[derive(Debug, Default)]
pub struct DirectionCounts {
    /// Datagrams that reached the proxy.
    pub seen: AtomicU64,
    /// Copies sent on (a duplicated datagram counts twice).
    pub forwarded: AtomicU64,
    pub dropped: AtomicU64,
    pub duplicated: AtomicU64,
    pub reordered: AtomicU64,
    /// Dropped because a blackout was on.
    pub blacked_out: AtomicU64,
}

impl DirectionCounts {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// What the proxy did: client to server (`up`) and back (`down`), and how
/// many copies are on their way now.
#[derive(Debug, Default)]
pub struct LinkCounts {
    pub up: DirectionCounts,
    pub down: DirectionCounts,
    pub in_flight: AtomicU64,
}

/// A running proxy; stops when dropped.
pub struct LossyProxy {
    addr: SocketAddr,
    counts: Arc<LinkCounts>,
    blackout_until: Arc<Mutex<Option<Instant>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A datagram on its way: due time, then a tie-breaker so equal times keep
/// their order of arrival.
struct InFlight {
    due: Instant,
    order: u64,
    /// `None`: to the server, from this client. `Some`: to this client.
    to_client: Option<SocketAddr>,
    from_client: SocketAddr,
    bytes: Vec<u8>,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.order) == (other.due, other.order)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.order).cmp(&(other.due, other.order))
    }
}

impl LossyProxy {
    /// A proxy on a free loopback port forwarding to `server`.
    pub fn start(server: SocketAddr, faults: Faults) -> std::io::Result<LossyProxy> {
        Self::start_dropping(server, faults, |_, _| false)
    }

    /// As [`LossyProxy::start`], and also drops every datagram for which
    /// `chosen(towards_client, bytes)` says so: a test's way to lose one
    /// particular packet.
    pub fn start_dropping(
        server: SocketAddr,
        faults: Faults,
        chosen: impl FnMut(bool, &[u8]) -> bool + Send + 'static,
    ) -> std::io::Result<LossyProxy> {
        let front = UdpSocket::bind("127.0.0.1:0")?;
        front.set_nonblocking(true)?;
        let addr = front.local_addr()?;
        let counts = Arc::new(LinkCounts::default());
        let blackout_until = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let link = Link {
            front,
            server,
            faults,
            rng: StdRng::seed_from_u64(faults.seed),
            upstreams: HashMap::new(),
            queue: BinaryHeap::new(),
            order: 0,
            counts: counts.clone(),
            blackout_until: blackout_until.clone(),
            chosen: Box::new(chosen),
        };
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("lossy-proxy".into())
            .spawn(move || link.run(&stopping))?;
        Ok(LossyProxy {
            addr,
            counts,
            blackout_until,
            stop,
            thread: Some(thread),
        })
    }

    /// Where clients send: the address the server must advertise.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn counts(&self) -> &LinkCounts {
        &self.counts
    }

    /// Drops every datagram, both ways, for `length` from now: a loss
    /// burst (a tunnel, a lift).
    pub fn blackout(&self, length: Duration) {
        *self.blackout_until.lock().unwrap() = Some(Instant::now() + length);
    }

    /// Whether a blackout is still on.
    pub fn blacked_out(&self) -> bool {
        self.blackout_until
            .lock()
            .unwrap()
            .is_some_and(|until| Instant::now() < until)
    }
}

impl Drop for LossyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Link {
    front: UdpSocket,
    server: SocketAddr,
    faults: Faults,
    rng: StdRng,
    /// Each client's own socket towards the server.
    upstreams: HashMap<SocketAddr, UdpSocket>,
    queue: BinaryHeap<Reverse<InFlight>>,
    order: u64,
    counts: Arc<LinkCounts>,
    blackout_until: Arc<Mutex<Option<Instant>>>,
    chosen: Chosen,
}

/// A test's own choice of datagrams to lose: `(towards_client, bytes)`.
type Chosen = Box<dyn FnMut(bool, &[u8]) -> bool + Send>;

/// The proxy's own pacing when nothing is due: the resolution of the
/// simulated link's clock, not a wait in any test.
const IDLE: Duration = Duration::from_millis(1);

impl Link {
    fn run(mut self, stop: &AtomicBool) {
        let mut buf = vec![0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            // Client to server.
            loop {
                match self.front.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        if !self.upstreams.contains_key(&from) {
                            match self.upstream() {
                                Ok(socket) => {
                                    self.upstreams.insert(from, socket);
                                }
                                Err(_) => continue,
                            }
                        }
                        self.admit(None, from, buf[..n].to_vec());
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    // A client's port gone away (ICMP) is not the link's end.
                    Err(_) => break,
                }
            }
            // Server to each client.
            let clients: Vec<SocketAddr> = self.upstreams.keys().copied().collect();
            for client in clients {
                loop {
                    let got = self.upstreams[&client].recv(&mut buf);
                    match got {
                        Ok(n) => self.admit(Some(client), client, buf[..n].to_vec()),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(_) => break,
                    }
                }
            }
            // Deliver what is due.
            let now = Instant::now();
            while self.queue.peek().is_some_and(|Reverse(d)| d.due <= now) {
                let Reverse(datagram) = self.queue.pop().expect("peeked");
                let sent = match datagram.to_client {
                    Some(client) => self.front.send_to(&datagram.bytes, client),
                    None => match self.upstreams.get(&datagram.from_client) {
                        Some(socket) => socket.send(&datagram.bytes),
                        None => continue,
                    },
                };
                if sent.is_ok() {
                    self.direction(datagram.to_client)
                        .forwarded
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
            self.counts
                .in_flight
                .store(self.queue.len() as u64, Ordering::Relaxed);
            std::thread::sleep(IDLE);
        }
    }

    fn upstream(&self) -> std::io::Result<UdpSocket> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.connect(self.server)?;
        socket.set_nonblocking(true)?;
        Ok(socket)
    }

    fn direction(&self, to_client: Option<SocketAddr>) -> &DirectionCounts {
        match to_client {
            Some(_) => &self.counts.down,
            None => &self.counts.up,
        }
    }

    /// Applies the faults to one datagram and queues what survives.
    fn admit(&mut self, to_client: Option<SocketAddr>, from_client: SocketAddr, bytes: Vec<u8>) {
        let now = Instant::now();
        let counts = self.counts.clone();
        let counts = match to_client {
            Some(_) => &counts.down,
            None => &counts.up,
        };
        counts.seen.fetch_add(1, Ordering::Relaxed);
        let blackout = self
            .blackout_until
            .lock()
            .unwrap()
            .is_some_and(|until| now < until);
        if blackout {
            counts.blacked_out.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if (self.chosen)(to_client.is_some(), &bytes) || self.rng.random::<f64>() < self.faults.loss
        {
            counts.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let copies = if self.rng.random::<f64>() < self.faults.duplicate {
            counts.duplicated.fetch_add(1, Ordering::Relaxed);
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut delay = self.delay();
            if self.rng.random::<f64>() < self.faults.reorder {
                // Held back by a few jitters: datagrams sent after it
                // arrive first.
                counts.reordered.fetch_add(1, Ordering::Relaxed);
                delay += self.faults.jitter * 3 + Duration::from_millis(10);
            }
            self.order += 1;
            self.queue.push(Reverse(InFlight {
                due: now + delay,
                order: self.order,
                to_client,
                from_client,
                bytes: bytes.clone(),
            }));
        }
    }

    fn delay(&mut self) -> Duration {
        let jitter = self.faults.jitter.as_secs_f64();
        let offset = if jitter > 0.0 {
            self.rng.random_range(-jitter..=jitter)
        } else {
            0.0
        };
        Duration::from_secs_f64((self.faults.delay.as_secs_f64() + offset).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Datagrams one way through a link with no jitter, paced a frame
    /// apart: the order they arrive in.
    fn arrival_order(reorder: f64) -> Vec<u32> {
        let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
        sink.set_nonblocking(true).unwrap();
        let faults = Faults {
            delay: Duration::from_millis(5),
            reorder,
            seed: 3,
            ..Faults::none()
        };
        let proxy = LossyProxy::start(sink.local_addr().unwrap(), faults).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut got = Vec::new();
        let mut next = 0u32;
        let mut buf = [0u8; 8];
        let all = crate::step_until(Duration::from_secs(10), || {
            for _ in 0..5 {
                if next < 400 {
                    client.send_to(&next.to_be_bytes(), proxy.addr()).unwrap();
                    next += 1;
                }
            }
            while let Ok(n) = sink.recv(&mut buf) {
                got.push(u32::from_be_bytes(buf[..n].try_into().unwrap()));
            }
            got.len() == 400
        });
        assert!(all, "{} of 400 arrived", got.len());
        got
    }

    /// Jitter reorders on its own; this shows the reorder fault does,
    /// without jitter, and that nothing else does.
    #[test]
    fn reordering_is_the_reorder_faults_doing() {
        let plain = arrival_order(0.0);
        assert!(plain.windows(2).all(|w| w[0] < w[1]), "in order without it");
        let shuffled = arrival_order(0.05);
        assert!(
            shuffled.windows(2).any(|w| w[0] > w[1]),
            "some overtaken with it"
        );
    }

    /// An echo server behind the proxy: what comes back shows the faults.
    #[test]
    fn the_link_drops_duplicates_reorders_and_delays() {
        let echo = UdpSocket::bind("127.0.0.1:0").unwrap();
        let echo_addr = echo.local_addr().unwrap();
        echo.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let echoer = std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            while !stopping.load(Ordering::Relaxed) {
                if let Ok((n, from)) = echo.recv_from(&mut buf) {
                    let _ = echo.send_to(&buf[..n], from);
                }
            }
        });
        let faults = Faults {
            delay: Duration::from_millis(30),
            jitter: Duration::from_millis(5),
            loss: 0.1,
            duplicate: 0.05,
            reorder: 0.05,
            seed: 7,
        };
        let proxy = LossyProxy::start(echo_addr, faults).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_nonblocking(true).unwrap();
        let sent_at = Instant::now();
        // Twenty a frame: a burst of a thousand would overflow the
        // sockets' buffers, which is the kernel's loss, not the link's.
        let mut next = 0u32;
        let mut got: Vec<u32> = Vec::new();
        let mut first_at = None;
        let mut buf = [0u8; 64];
        let get = DirectionCounts::get;
        let settled = crate::step_until(Duration::from_secs(10), || {
            for _ in 0..20 {
                if next < 1000 {
                    client.send_to(&next.to_be_bytes(), proxy.addr()).unwrap();
                    next += 1;
                }
            }
            while let Ok(n) = client.recv(&mut buf) {
                first_at.get_or_insert_with(Instant::now);
                got.push(u32::from_be_bytes(buf[..n].try_into().unwrap()));
            }
            // Every datagram went up, the echo answered every copy that
            // reached it, and nothing is on its way.
            let c = proxy.counts();
            get(&c.up.seen) == 1000
                && get(&c.down.seen) == get(&c.up.forwarded)
                && get(&c.in_flight) == 0
        });
        stop.store(true, Ordering::Relaxed);
        echoer.join().unwrap();
        assert!(settled, "the proxy did not settle");
        while let Ok(n) = client.recv(&mut buf) {
            got.push(u32::from_be_bytes(buf[..n].try_into().unwrap()));
        }
        // Two passes through the link: about 19% lost, some twice, some
        // out of order, and nothing early.
        let unique: std::collections::HashSet<u32> = got.iter().copied().collect();
        assert!(
            (700..=880).contains(&unique.len()),
            "{} of 1000 came back",
            unique.len()
        );
        assert!(got.len() > unique.len(), "some came back twice");
        assert!(got.windows(2).any(|w| w[0] > w[1]), "some overtook others");
        assert!(
            first_at.unwrap() - sent_at >= Duration::from_millis(50),
            "the round trip took at least two delays less jitter"
        );
    }
}
