//! The harness for cross-crate tests: a real server (the library, on its own
//! runtime thread) on loopback ports chosen by the OS, and helpers to step
//! clients until a condition holds or a cap is hit.

use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vitrine_client::net::{ApiClient, NetClient, local_address};
use vitrine_server::config::ServerConfig;
use vitrine_server::directory::RoomDirectory;
use vitrine_server::metrics::Metrics;
use vitrine_server::{Server, ShutdownHandle};

pub mod bench;
pub mod lossy;
pub mod raw;
pub mod stripe;

/// Rooms for tests: a roomy one and a tiny one for capacity checks.
pub const TEST_ROOMS: &str = r#"
[[rooms]]
id = "hall"
name = "Test Hall"
capacity = 200
size = [40.0, 40.0]

[[rooms]]
id = "tiny"
name = "Tiny Room"
capacity = 2
size = [10.0, 10.0]
"#;

pub struct TestServer {
    pub http: SocketAddr,
    pub udp: SocketAddr,
    pub metrics: Arc<Metrics>,
    pub directory: Arc<RoomDirectory>,
    pub data_dir: PathBuf,
    pub config: ServerConfig,
    shutdown: ShutdownHandle,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with(|_| {})
    }

    /// Starts a server on `127.0.0.1:0` (HTTP and UDP) with a fresh data dir
    /// and the test rooms; `tune` may change any setting first.
    pub fn start_with(tune: impl FnOnce(&mut ServerConfig)) -> TestServer {
        // `RUST_LOG=debug cargo test …` shows the server's log with a test's output.
        // Installed as the server binary does, with its `log` bridge.
        let _ = vitrine_server::telemetry::install(
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .finish(),
        );
        // The server logs where this thread does: a test may set its own
        // subscriber to read the log.
        let dispatch = tracing::dispatcher::get_default(|d| d.clone());
        let dir = tempfile::tempdir().expect("temp dir");
        let rooms = dir.path().join("rooms.toml");
        std::fs::write(&rooms, TEST_ROOMS).expect("write rooms");
        let mut config = ServerConfig::local(dir.path().join("data"));
        config.database_url = test_database(&config.data_dir);
        config.http = "127.0.0.1:0".parse().expect("literal");
        config.udp = "127.0.0.1:0".parse().expect("literal");
        config.rooms_file = rooms;
        // Tests make many requests from one account in a moment; the one
        // test of the per-account limit sets its own.
        config.account_rate = vitrine_server::config::RateConfig {
            per_second: 10_000.0,
            burst: 100_000,
        };
        tune(&mut config);
        let data_dir = config.data_dir.clone();
        let kept = config.clone();

        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || -> anyhow::Result<()> {
            let _logs = tracing::dispatcher::set_default(&dispatch);
            let workers = dispatch.clone();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                // Requests are answered on the runtime's threads: they log
                // where this one does (kept for the thread's life).
                .on_thread_start(move || {
                    std::mem::forget(tracing::dispatcher::set_default(&workers));
                })
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let server = match Server::start(config).await {
                    Ok(server) => server,
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                        return Ok(());
                    }
                };
                let _ = tx.send(Ok((
                    server.http_addr(),
                    server.udp_addr(),
                    server.metrics(),
                    server.directory(),
                    server.shutdown_handle(),
                )));
                server.wait().await
            })
        });
        let (http, udp, metrics, directory, shutdown) = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server thread answers")
            .unwrap_or_else(|e| panic!("server failed to start: {e}"));
        TestServer {
            http,
            udp,
            metrics,
            directory,
            data_dir,
            config: kept,
            shutdown,
            thread: Some(thread),
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// A client whose guests each sign in from a loopback address of their
    /// own, so they stay distinct shoppers to the server's per-network
    /// limits (`vitrine_server::fair`), as people in different homes are.
    pub fn api(&self) -> ApiClient {
        ApiClient::new(&self.url()).with_loopback_guests()
    }

    /// Creates a registered account with `role` (as `vitrine-server admin
    /// create-user` does) and signs it in; returns its bearer token.
    pub fn sign_in_as(&self, username: &str, role: vitrine_shared::Role) -> String {
        let password = "correct horse battery staple";
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime
            .block_on(vitrine_server::create_user(
                &self.config,
                username,
                role,
                None,
                Some(password),
            ))
            .expect("create user");
        self.api()
            .sign_in_with_password(username, password)
            .expect("password sign-in")
            .token
    }

    /// Starts a server with the media relay on free loopback ports (RTMP
    /// too when `rtmp`).
    pub fn start_with_media(rtmp: bool) -> TestServer {
        Self::start_with(|c| {
            c.media = Some(vitrine_server::media::MediaConfig {
                ingest: SocketAddr::from(([127, 0, 0, 1], free_udp_port())),
                viewers: SocketAddr::from(([127, 0, 0, 1], free_udp_port())),
                rtmp: rtmp.then(|| SocketAddr::from(([127, 0, 0, 1], free_tcp_port()))),
                ..Default::default()
            })
        })
    }

    /// Starts a server with the relay and a stage of `co_hosts` co-host
    /// seats, every listener on a free loopback port.
    pub fn start_with_stage(co_hosts: usize) -> TestServer {
        Self::stage_server(co_hosts, false)
    }

    /// As [`TestServer::start_with_stage`], with RTMP on: the host's on a
    /// free port, each co-host's on their seat's port number.
    pub fn start_with_stage_and_rtmp(co_hosts: usize) -> TestServer {
        Self::stage_server(co_hosts, true)
    }

    fn stage_server(co_hosts: usize, rtmp: bool) -> TestServer {
        let free = || SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
        // A seat's RTMP takes its port number over TCP: free on both.
        let free_seat = || loop {
            let addr = free();
            if std::net::TcpListener::bind(addr).is_ok() {
                break addr;
            }
        };
        Self::start_with(|c| {
            c.media = Some(vitrine_server::media::MediaConfig {
                ingest: free(),
                viewers: free(),
                rtmp: rtmp.then(|| SocketAddr::from(([127, 0, 0, 1], free_tcp_port()))),
                co_hosts: (0..co_hosts).map(|_| free_seat()).collect(),
                stage_relay: free(),
                ..Default::default()
            })
        })
    }

    /// The media relay's settings (set by [`TestServer::start_with_media`]).
    pub fn media(&self) -> &vitrine_server::media::MediaConfig {
        self.config.media.as_ref().expect("a server with media")
    }

    /// The show's stream key, as the server made it.
    pub fn stream_key(&self) -> vitrine_media::StreamKey {
        let text = std::fs::read_to_string(self.data_dir.join("stream.key")).expect("stream key");
        vitrine_media::StreamKey::new(text.trim()).expect("valid stream key")
    }

    pub fn netcode_key(&self) -> [u8; 32] {
        let bytes = std::fs::read(self.data_dir.join("netcode.key")).expect("netcode key");
        bytes.try_into().expect("32-byte key")
    }

    /// Asks the server to stop and waits for it; returns its result.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.trigger();
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| anyhow::anyhow!("server thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.trigger();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The database a test server keeps its data in: SQLite in `data_dir`, or,
/// when `VITRINE_TEST_BACKEND=postgres` (as `cargo xtask test`'s second run
/// of these tests sets), a schema of its own on `VITRINE_TEST_POSTGRES`,
/// named for `data_dir` so a restarted server on the same data dir finds
/// its rows. A PostgreSQL run without a PostgreSQL URL fails; it never
/// falls back to SQLite.
pub fn test_database(data_dir: &Path) -> String {
    match std::env::var("VITRINE_TEST_BACKEND").as_deref() {
        Ok("postgres") => {
            let pg = std::env::var("VITRINE_TEST_POSTGRES")
                .expect("VITRINE_TEST_BACKEND=postgres needs VITRINE_TEST_POSTGRES");
            postgres_schema(&pg, data_dir)
        }
        Ok("sqlite") | Err(_) => vitrine_server::config::sqlite_url(data_dir),
        Ok(other) => panic!("VITRINE_TEST_BACKEND={other}: expected sqlite or postgres"),
    }
}

fn postgres_schema(pg: &str, data_dir: &Path) -> String {
    vitrine_server::config::postgres_schema_for(pg, "it", data_dir)
        .unwrap_or_else(|e| panic!("PostgreSQL at VITRINE_TEST_POSTGRES: {e}"))
}

/// A UDP port free on loopback now (SRT listeners cannot report the port
/// they bound, so tests pick one first; the OS does not hand it out again
/// at once).
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free UDP port")
        .port()
}

pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free TCP port")
        .port()
}

/// A client frame: what the loop below waits between steps, like a game's
/// frame pacing. It is not a wait for any particular event.
pub const FRAME: Duration = Duration::from_millis(10);

/// Calls `step` once per frame until it returns true, for at most `cap`.
/// Returns whether the condition held.
pub fn step_until(cap: Duration, mut step: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + cap;
    loop {
        if step() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(FRAME);
    }
}

/// Moves `c` to `to` on the floor, facing `yaw`, in teleports short
/// enough to be allowed; each hop is waited for (its pose, yaw included,
/// in `c`'s snapshot) or its refusal, and a hop refused for the cooldown
/// is sent again after it. Every other client sees `c` there before it
/// returns. Panics, naming where `c` stands, after `cap`: a test that
/// cannot move its avatar fails rather than spins.
pub fn teleport_to(
    c: &mut NetClient,
    others: &mut [&mut NetClient],
    to: [f32; 2],
    yaw: f32,
    cap: Duration,
) {
    use vitrine_shared::RoomCommand;
    use vitrine_shared::protocol::{CommandKind, RejectReason, Rejection, TELEPORT_COOLDOWN_MS};
    // A teleport's refusal is the pose's; other refusals (a voice frame's)
    // are not answers to it.
    fn refusals(c: &NetClient) -> Vec<&Rejection> {
        let pose = |r: &&Rejection| r.command == CommandKind::Pose;
        c.mirror().rejections.iter().filter(pose).collect()
    }
    let me = c.mirror().you.expect("welcomed");
    let deadline = Instant::now() + cap;
    // Yaw compared on the circle: the server stores it in [0, 2π).
    let turned = |a: f32, b: f32| {
        let d = (a - b).rem_euclid(std::f32::consts::TAU);
        d.min(std::f32::consts::TAU - d) < 0.01
    };
    let close = |p: [f32; 3], q: [f32; 3]| (p[0] - q[0]).abs() < 0.05 && (p[2] - q[2]).abs() < 0.05;
    loop {
        let here = c.mirror().avatars.get(&me).expect("own avatar");
        let (at, facing) = (here.position, here.yaw);
        let (dx, dz) = (to[0] - at[0], to[1] - at[2]);
        let d = (dx * dx + dz * dz).sqrt();
        if d < 0.05 && turned(facing, yaw) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{me:?} never reached {to:?} facing {yaw}: at {at:?} facing {facing}, \
             disconnected: {:?}",
            c.disconnect_reason()
        );
        let step = (8.0 / d.max(f32::EPSILON)).min(1.0);
        let hop = [at[0] + dx * step, 0.0, at[2] + dz * step];
        let refused = refusals(c).len();
        c.send_command(RoomCommand::Teleport { to: hop, yaw });
        let answered = step_until(deadline.saturating_duration_since(Instant::now()), || {
            pump(&mut [&mut *c]);
            pump(others);
            refusals(c).len() > refused
                || c.mirror()
                    .avatars
                    .get(&me)
                    .is_some_and(|p| close(p.position, hop) && turned(p.yaw, yaw))
        });
        assert!(answered, "a hop to {hop:?} was neither made nor refused");
        if let Some(last) = refusals(c).get(refused..).and_then(|r| r.last()) {
            assert!(
                matches!(last.reason, RejectReason::RateLimited { .. }),
                "a hop to {hop:?} was refused: {last:?}"
            );
            // The cooldown: let it pass before the next hop.
            let wait = Instant::now() + Duration::from_millis(TELEPORT_COOLDOWN_MS);
            step_until(Duration::from_millis(TELEPORT_COOLDOWN_MS), || {
                pump(&mut [&mut *c]);
                pump(others);
                Instant::now() >= wait
            });
        }
    }
    let at = c.mirror().avatars[&me].position;
    let seen = step_until(deadline.saturating_duration_since(Instant::now()), || {
        pump(&mut [&mut *c]);
        pump(others);
        others.iter().all(|o| {
            o.mirror()
                .avatars
                .get(&me)
                .is_some_and(|p| close(p.position, at))
        })
    });
    assert!(seen, "the others never saw {me:?} at {at:?}");
}

/// Updates and flushes every client once.
pub fn pump(clients: &mut [&mut NetClient]) {
    for client in clients.iter_mut() {
        let _ = client.update(FRAME);
        let _ = client.flush();
    }
}

/// [`pump`] for clients held in a `Vec` or array.
pub fn pump_all(clients: &mut [NetClient]) {
    let mut refs: Vec<&mut NetClient> = clients.iter_mut().collect();
    pump(&mut refs);
}

/// Each of `names` signed in and joined to `room`, each welcomed (they may
/// not see each other yet).
pub fn joined_all(server: &TestServer, names: &[&str], room: &str) -> Vec<NetClient> {
    names
        .iter()
        .map(|name| joined_client(server, name, room))
        .collect()
}

/// Signs in and joins as `name`, then steps until welcomed.
pub fn joined_client(server: &TestServer, name: &str, room: &str) -> NetClient {
    let client = NetClient::sign_in_and_join(&server.api(), name, room).expect("join");
    welcomed(client, name)
}

/// Joins `room` as an account already signed in, then steps until welcomed.
pub fn joined_as(
    server: &TestServer,
    session: &vitrine_client::net::SignedIn,
    room: &str,
) -> NetClient {
    let ticket = server.api().join(session, room).expect("join ticket");
    let client = NetClient::connect(&ticket).expect("connect");
    welcomed(client, &session.display_name)
}

fn welcomed(mut client: NetClient, name: &str) -> NetClient {
    let welcomed = step_until(Duration::from_secs(10), || {
        pump(&mut [&mut client]);
        client.mirror().is_welcomed()
    });
    assert!(
        welcomed,
        "{name} was not welcomed: {:?}",
        client.disconnect_reason()
    );
    client
}

/// A plain JSON-over-HTTP caller for tests: every status is an answer, not
/// an error.
pub struct Http {
    base: String,
    agent: ureq::Agent,
}

impl Http {
    pub fn new(server: &TestServer) -> Self {
        Self::at(&server.url())
    }

    /// A caller of its own (one per thread) for the server at `base`.
    pub fn at(base: &str) -> Self {
        Http {
            base: base.to_owned(),
            agent: Self::config().into(),
        }
    }

    fn config() -> ureq::config::Config {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
    }

    /// The same server, called from `local` (any 127.x.y.z reaches a server
    /// on loopback): a shopper on a network of its own.
    pub fn from_address(&self, local: std::net::IpAddr) -> Http {
        Http {
            base: self.base.clone(),
            agent: local_address::agent_from(local, Self::config()),
        }
    }

    /// (status, body as JSON)
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.try_call(method, path, token, key, body)
            .expect("HTTP exchange")
    }

    /// Like [`Http::call`], with a failed exchange (a server gone) as an error.
    pub fn try_call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Result<(u16, Value), ureq::Error> {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let text = body.map(|b| b.to_string()).unwrap_or_default();
        if !text.is_empty() {
            req = req.header("Content-Type", "application/json");
        }
        let mut response = self.agent.run(req.body(text).map_err(ureq::Error::from)?)?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        Ok((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
    }
}

/// Signs in a guest from a loopback address of its own (a distinct shopper
/// to the server's per-network limits); returns its bearer token.
pub fn guest(http: &Http, name: &str) -> String {
    let (status, body) = http.from_address(local_address::next_loopback()).call(
        "POST",
        "/api/v1/sessions",
        None,
        None,
        Some(json!({ "display_name": name })),
    );
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// A variant's stock as the catalog shows it.
pub fn stock_of(http: &Http, product: &str, sku: &str) -> i64 {
    let (_, body) = http.call(
        "GET",
        &format!("/api/v1/products/{product}"),
        None,
        None,
        None,
    );
    let product: vitrine_shared::api::ProductView = serde_json::from_value(body).unwrap();
    product
        .variants
        .iter()
        .find(|v| v.sku == sku)
        .unwrap()
        .stock
}

/// Now in milliseconds since the Unix epoch, the unit of the API's times.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Copies a picture a test saved at `taken` to `docs/name` when
/// `VITRINE_UPDATE_SCREENSHOTS` is set: how the pictures in the README are
/// refreshed.
pub fn update_docs_picture(taken: &Path, name: &str) {
    if std::env::var_os("VITRINE_UPDATE_SCREENSHOTS").is_some() {
        let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../docs")
            .join(name);
        std::fs::copy(taken, docs).expect("copied to docs/");
    }
}
