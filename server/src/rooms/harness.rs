//! The room app without sockets, for single-app tests (STYLE.md §5 rung
//! 2): every room plugin and resource as the server wires them, the real
//! engines on a temporary SQLite store, renet's local clients in place of
//! the UDP transport, and time that moves only when the test steps it
//! (Bevy's `TimeUpdateStrategy::ManualDuration` and a [`ManualClock`], moved
//! together).

use super::{GameContext, RoomSpec, TICK_HZ, parse_rooms, room_app};
use crate::clock::ManualClock;
use crate::commerce::{self, CommerceHandle, EngineSettings, TestGateway};
use crate::config::{RateConfig, ServerConfig};
use crate::console::ChatLogLine;
use crate::directory::RoomDirectory;
use crate::engagement;
use crate::metrics::Metrics;
use crate::moderation::Moderation;
use crate::store::{Account, Store};
use bevy_app::App;
use bevy_renet::RenetServer;
use bevy_time::TimeUpdateStrategy;
use renet::{ClientId, RenetClient};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use vitrine_shared::{
    ClientChannel, ClientMessage, DisplayName, Role, RoomCommand, RoomId, ServerChannel,
    ServerMessage, TokenUserData, decode, encode,
};

/// One room tick at the production rate.
pub const TICK: Duration = Duration::from_nanos(1_000_000_000 / TICK_HZ as u64);

/// The longest a test waits, in real time, for an engine to answer.
const ENGINE_WAIT: Duration = Duration::from_secs(10);

/// The rooms a test gets: two small ones, so capacity and room-scoped news
/// can be checked.
const ROOMS: &str = r#"
[[rooms]]
id = "hall"
name = "Hall"
capacity = 3

[[rooms]]
id = "annex"
name = "Annex"
capacity = 3
"#;

/// What a test may change before the app is built.
pub struct Settings {
    pub rooms: Vec<RoomSpec>,
    pub chat: RateConfig,
    pub reactions: RateConfig,
    pub watch_minute: Duration,
    pub loose_return: Duration,
    /// `None`: the reward rules' own.
    pub idle_after: Option<Duration>,
    /// The host's video; `None` runs without the relay.
    pub stage: Option<Arc<crate::media::StageStream>>,
}

impl Default for Settings {
    fn default() -> Self {
        let server = ServerConfig::local("unused");
        Settings {
            rooms: parse_rooms(ROOMS, 3).expect("the test rooms parse"),
            chat: server.chat,
            reactions: server.reactions,
            watch_minute: server.watch_minute,
            loose_return: server.loose_return,
            idle_after: None,
            stage: None,
        }
    }
}

/// A connected test client and what it has received so far.
struct Visitor {
    client: RenetClient,
    received: Vec<ServerMessage>,
}

pub struct TestRooms {
    pub app: App,
    /// The server's clock; [`TestRooms::step`] moves it with Bevy's time.
    pub time: ManualClock,
    pub store: Store,
    /// The commerce engine the rooms talk to, on [`TestRooms::time`]: for a
    /// test to act as the console does (start a sale, pin a coupon).
    pub commerce: CommerceHandle,
    pub moderation: Arc<Moderation>,
    pub metrics: Arc<Metrics>,
    pub directory: Arc<RoomDirectory>,
    pub chat_log: mpsc::Receiver<ChatLogLine>,
    pub shutdown: Arc<AtomicBool>,
    visitors: BTreeMap<ClientId, Visitor>,
    next_client: ClientId,
    _dir: tempfile::TempDir,
}

impl TestRooms {
    /// The rooms with default settings. Needs a multi-threaded runtime: the
    /// engines answer on its workers while the test steps the app.
    pub async fn start() -> TestRooms {
        TestRooms::start_with(|_| {}).await
    }

    pub async fn start_with(edit: impl FnOnce(&mut Settings)) -> TestRooms {
        let mut settings = Settings::default();
        edit(&mut settings);
        let dir = tempfile::tempdir().expect("a temp dir");
        let time = ManualClock::starting_now();
        let clock = time.clock();
        let store = Store::connect(&crate::config::sqlite_url(dir.path()))
            .await
            .expect("a test store")
            .with_clock(clock.clone());
        let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets");
        let catalog = crate::catalog::load_catalog_file(&assets.join("catalog.toml")).unwrap();
        store.import_catalog(&catalog).await.unwrap();
        let rules = engagement::load_rules_file(&assets.join("rewards.toml")).unwrap();
        let idle_after = settings.idle_after.unwrap_or(rules.idle_after);

        let commerce = commerce::spawn(
            store.clone(),
            clock.clone(),
            Arc::new(TestGateway::default()),
            EngineSettings::default(),
        )
        .await
        .unwrap();
        let commerce_events = commerce.subscribe();
        let open_sales = commerce.open_sales().await.unwrap();
        let pinned_coupon = commerce.pinned_coupon().await.unwrap();
        let engagement = engagement::spawn(store.clone(), clock.clone(), rules, commerce.clone())
            .await
            .unwrap();
        let engagement_events = engagement.subscribe();
        let engagement_state = engagement.open_state().await.unwrap();
        let (moderation, moderation_actions) = Moderation::load(store.clone(), clock.clone())
            .await
            .unwrap();
        let (friends, friends_news) = crate::friends::Friends::load(store.clone(), clock.clone())
            .await
            .unwrap();
        let metrics = Arc::new(Metrics::default());
        let directory = Arc::new(RoomDirectory::new(
            settings
                .rooms
                .iter()
                .map(|s| (s.id.clone(), s.name.clone(), s.capacity)),
        ));
        let (chat_log_tx, chat_log) = mpsc::channel(1024);
        let shutdown = Arc::new(AtomicBool::new(false));
        let mut app = room_app(GameContext {
            rooms: settings.rooms,
            directory: directory.clone(),
            metrics: metrics.clone(),
            chat: settings.chat,
            reactions: settings.reactions,
            shutdown: shutdown.clone(),
            commerce: commerce.clone(),
            commerce_events,
            open_sales,
            pinned_coupon,
            engagement: engagement.clone(),
            engagement_events,
            engagement_state,
            idle_after,
            watch_minute: settings.watch_minute,
            loose_return: settings.loose_return,
            chat_log: chat_log_tx,
            moderation: moderation.clone(),
            moderation_actions,
            friends,
            friends_news,
            reviews: Arc::new(crate::reviews::Reviews::new(
                store.clone(),
                moderation.clone(),
            )),
            runtime: tokio::runtime::Handle::current(),
            stage: settings.stage,
            clock,
        });
        app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::ZERO));
        app.finish();
        app.cleanup();
        let mut rooms = TestRooms {
            app,
            time,
            store,
            commerce,
            moderation,
            metrics,
            directory,
            chat_log,
            shutdown,
            visitors: BTreeMap::new(),
            next_client: 1,
            _dir: dir,
        };
        // Bevy's first update only starts its clock.
        rooms.step(Duration::ZERO);
        rooms
    }

    /// Runs every system on the test's thread from now on, so that a
    /// thread-local `tracing` subscriber (`telemetry::capture`) sees what
    /// the systems and observers record even where Bevy would spread them
    /// over its task pool.
    pub fn on_this_thread(&mut self) {
        let mut schedules = self
            .app
            .world_mut()
            .resource_mut::<bevy_ecs::schedule::Schedules>();
        for (_, schedule) in schedules.iter_mut() {
            schedule.set_executor(bevy_ecs::schedule::SingleThreadedExecutor::new());
        }
    }

    /// A new account in the store, for [`TestRooms::connect`].
    pub async fn account(&self, name: &str, role: Role) -> Account {
        self.store
            .create_account(&DisplayName::new(name).unwrap(), role, "guest")
            .await
            .unwrap()
    }

    /// Connects a client carrying `account`'s token for `room`; it is
    /// admitted (or refused) on the next step.
    pub fn connect(&mut self, account: &Account, room: &str) -> ClientId {
        let id = self.next_client;
        self.next_client += 1;
        let data = TokenUserData {
            account: account.id,
            role: account.role,
            room: RoomId::new(room).unwrap(),
            name: account.name.clone(),
        }
        .to_bytes()
        .unwrap();
        let world = self.app.world_mut();
        world
            .resource_mut::<super::membership::Tokens>()
            .0
            .insert(id, data);
        let client = world.resource_mut::<RenetServer>().new_local_client(id);
        self.visitors.insert(
            id,
            Visitor {
                client,
                received: Vec::new(),
            },
        );
        id
    }

    /// A new account, connected to `room` and welcomed.
    pub async fn join(&mut self, name: &str, role: Role, room: &str) -> (Account, ClientId) {
        let account = self.account(name, role).await;
        let client = self.connect(&account, room);
        self.step(TICK);
        assert!(
            self.received(client).iter().any(|m| matches!(
                m,
                ServerMessage::Room(vitrine_shared::protocol::RoomEvent::Welcome { .. })
            )),
            "{name} was welcomed"
        );
        (account, client)
    }

    /// Sends a room command from `client` (it arrives on the next step).
    pub fn send(&mut self, client: ClientId, command: RoomCommand) {
        let bytes = encode(&ClientMessage::Room(command)).unwrap();
        self.visitor(client)
            .client
            .send_message(ClientChannel::Commands, bytes);
    }

    /// Sends raw bytes on a channel, as a broken or hostile client would.
    pub fn send_raw(&mut self, client: ClientId, channel: ClientChannel, bytes: Vec<u8>) {
        self.visitor(client).client.send_message(channel, bytes);
    }

    /// The connection of `client` ends, as when a shopper closes the app
    /// or loses the network (the rooms hear it on the next step).
    pub fn drop_connection(&mut self, client: ClientId) {
        self.app
            .world_mut()
            .resource_mut::<RenetServer>()
            .disconnect(client);
    }

    /// Whether the server still has `client`.
    pub fn is_connected(&self, client: ClientId) -> bool {
        self.app
            .world()
            .resource::<RenetServer>()
            .is_connected(client)
    }

    /// Moves both clocks by `dt` and runs one tick; clients' packets go in
    /// before it and the server's come out after it.
    pub fn step(&mut self, dt: Duration) {
        self.exchange();
        self.time.advance(dt);
        self.app
            .insert_resource(TimeUpdateStrategy::ManualDuration(dt));
        self.app.update();
        self.exchange();
        for visitor in self.visitors.values_mut() {
            visitor.client.update(dt);
        }
    }

    /// Runs `n` ticks of [`TICK`].
    pub fn ticks(&mut self, n: u32) {
        for _ in 0..n {
            self.step(TICK);
        }
    }

    /// Runs ticks that take no time until `done` holds: for an engine to
    /// answer on its own thread. Gives up after [`ENGINE_WAIT`] of real
    /// time, returning false.
    pub fn settle(&mut self, mut done: impl FnMut(&mut TestRooms) -> bool) -> bool {
        let start = Instant::now();
        loop {
            self.step(Duration::ZERO);
            if done(self) {
                return true;
            }
            if start.elapsed() > ENGINE_WAIT {
                return false;
            }
            std::thread::yield_now();
        }
    }

    /// Everything `client` has received so far, oldest first.
    pub fn received(&self, client: ClientId) -> &[ServerMessage] {
        &self.visitors[&client].received
    }

    /// Forgets what `client` received so far.
    pub fn clear(&mut self, client: ClientId) {
        self.visitor(client).received.clear();
    }

    fn visitor(&mut self, client: ClientId) -> &mut Visitor {
        self.visitors
            .get_mut(&client)
            .expect("a connected test client")
    }

    /// Moves packets both ways between the server and each local client,
    /// and reads what arrived.
    fn exchange(&mut self) {
        let mut server = self.app.world_mut().resource_mut::<RenetServer>();
        // What the transport does for a connection the server dropped.
        for id in server.disconnections_id() {
            server.remove_connection(id);
        }
        for (id, visitor) in self.visitors.iter_mut() {
            // A client the server dropped has nothing more to exchange.
            let _ = server.process_local_client(*id, &mut visitor.client);
            for channel in [ServerChannel::Events, ServerChannel::Snapshots] {
                while let Some(bytes) = visitor.client.receive_message(channel) {
                    visitor
                        .received
                        .push(decode(&bytes).expect("the server sends what clients decode"));
                }
            }
        }
    }
}
