//! Vitrine's server as a library: the binary, the tests, the benchmarks and
//! the demo all run this same code.
//!
//! Threads: one tokio runtime hosts the HTTP API and the store; the room
//! ECS runs its fixed-rate loop on a thread of its own, so a slow request
//! never delays a tick. They share the room directory and the metrics.

pub mod auth;
pub mod calendar;
pub mod catalog;
pub mod clock;
pub mod co_hosts;
pub mod commerce;
pub mod config;
pub mod console;
pub mod directory;
pub mod engagement;
pub mod fair;
pub mod friends;
#[doc(hidden)]
pub mod fuzz_entry;
pub mod http;
pub mod ids;
pub mod keys;
pub mod media;
pub mod metrics;
pub mod moderation;
pub mod rate_limit;
pub mod refused;
pub mod restream;
pub mod reviews;
pub mod rooms;
pub mod sign_in;
pub mod store;
pub mod telemetry;
pub mod views;
pub mod voice;

use crate::config::ServerConfig;
use crate::directory::RoomDirectory;
use crate::keys::Keys;
use crate::metrics::Metrics;
use crate::store::{RoomRow, Store};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;
use thiserror::Error;
use tokio::sync::watch;

#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    #[error(transparent)]
    Rooms(#[from] rooms::RoomsFileError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Catalog(#[from] catalog::CatalogError),
    #[error(transparent)]
    Rewards(#[from] engagement::RulesError),
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Media(#[from] media::MediaError),
    #[error("I/O error while starting: {0}")]
    Io(std::io::Error),
}

/// Asks a running server to stop. Cheap to clone; safe from any thread.
#[derive(Clone)]
pub struct ShutdownHandle(watch::Sender<bool>);

impl ShutdownHandle {
    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }
}

/// A started server: HTTP listening, rooms ticking.
pub struct Server {
    http_addr: SocketAddr,
    udp_addr: SocketAddr,
    public_addr: SocketAddr,
    metrics: Arc<Metrics>,
    directory: Arc<RoomDirectory>,
    shutdown_tx: watch::Sender<bool>,
    room_stop: Arc<AtomicBool>,
    room_thread: Option<std::thread::JoinHandle<()>>,
    http_task: tokio::task::JoinHandle<std::io::Result<()>>,
    store: Store,
    media: Option<media::Media>,
}

/// Starts the commerce engine and engagement's, engagement subscribed to
/// commerce's news before commerce's first sweep: that sweep finishes what
/// a restart left (a full team captured), and its rewards must not be lost.
pub(crate) async fn spawn_engines(
    store: &store::Store,
    clock: &clock::Clock,
    gateway: Arc<dyn commerce::PaymentGateway>,
    settings: commerce::EngineSettings,
    rules: engagement::RewardRules,
) -> Result<(commerce::CommerceHandle, engagement::EngagementHandle), store::StoreError> {
    let (commerce, release) =
        commerce::spawn_held(store.clone(), clock.clone(), gateway, settings).await?;
    let engagement =
        engagement::spawn(store.clone(), clock.clone(), rules, commerce.clone()).await?;
    release.release();
    Ok((commerce, engagement))
}

impl Server {
    /// Opens the store, loads keys and rooms, binds both sockets and starts
    /// the room thread and the HTTP task on the current tokio runtime.
    pub async fn start(config: ServerConfig) -> Result<Server, StartError> {
        config.validate()?;
        let keys = Keys::load_or_create(&config.data_dir)?;
        let specs = rooms::load_rooms_file(&config.rooms_file, config.default_capacity)?;
        let rules = engagement::load_rules_file(&config.rewards_file)?;
        // One clock for the whole server: the store stamps rows by it, the
        // engines and rooms decide deadlines by it.
        let clock = config.clock.clone();
        let store = Store::connect(&config.database_url)
            .await?
            .with_clock(clock.clone());
        let rows: Vec<RoomRow> = specs
            .iter()
            .map(|s| RoomRow {
                id: s.id.clone(),
                name: s.name.clone(),
                capacity: s.capacity,
            })
            .collect();
        store.sync_rooms(&rows).await?;
        if store.catalog_is_empty().await? {
            let products = catalog::load_catalog_file(&config.catalog_file)?;
            let summary = store.import_catalog(&products).await?;
            tracing::info!(
                products = summary.products,
                variants = summary.variants,
                file = %config.catalog_file.display(),
                "seeded the catalog"
            );
        }

        let (gateway, stripe_webhook_secret): (Arc<dyn commerce::PaymentGateway>, _) = match &config
            .payment_provider
        {
            config::PaymentProvider::Test => {
                // No money moves.
                tracing::info!(timeout = ?config.payment_timeout, "payments: built-in test gateway");
                // Its ledger is journaled in the data dir, as a provider's
                // outlives the shop's process: keys used before a restart
                // answer as before (the data dir exists:
                // `Keys::load_or_create` made it).
                let mut gateway =
                    commerce::TestGateway::journaled(&config.data_dir.join("test-gateway.journal"))
                        .map_err(StartError::Io)?;
                // Only the crash tests set this (in their config file):
                // captures then never answer, so the process can be
                // killed between a team filling and its capture.
                if config.test_gateway_stalls_captures {
                    tracing::warn!("payments: the test gateway's captures stall (crash test)");
                    gateway = gateway.stalling_captures();
                }
                if config.test_gateway_stalls_authorizations {
                    tracing::warn!(
                        "payments: the test gateway's authorizations stall (crash test)"
                    );
                    gateway = gateway.stalling_authorizations();
                }
                if config.test_gateway_loses_capture_answers {
                    tracing::warn!(
                        "payments: the test gateway's capture answers are lost (crash test)"
                    );
                    gateway = gateway.losing_capture_answers();
                }
                (Arc::new(gateway), None)
            }
            config::PaymentProvider::Stripe(stripe) => {
                // The base only: the keys are secrets and never logged.
                tracing::info!(api_base = %commerce::stripe::shown_base(&stripe.api_base), timeout = ?config.payment_timeout, "payments: Stripe");
                let gateway = commerce::StripeGateway::new(stripe.clone(), config.payment_timeout)
                    .map_err(|(key, message)| config::ConfigError::Invalid { key, message })?;
                (Arc::new(gateway), Some(stripe.webhook_secret.clone()))
            }
        };
        let settings = commerce::EngineSettings {
            payment_timeout: config.payment_timeout,
            payment_hold: config.payment_hold,
            cart_hold: config.cart_hold,
        };
        let idle_after = rules.idle_after;
        let reward_offers = rules.rewards.clone();
        let (commerce, engagement) =
            spawn_engines(&store, &clock, gateway, settings, rules).await?;

        let commerce_events = commerce.subscribe();
        let open_sales = commerce
            .open_sales()
            .await
            .map_err(|e| StartError::Io(std::io::Error::other(e)))?;
        let pinned_coupon = commerce
            .pinned_coupon()
            .await
            .map_err(|e| StartError::Io(std::io::Error::other(e)))?;
        let engagement_events = engagement.subscribe();
        let engagement_state = engagement
            .open_state()
            .await
            .map_err(|e| StartError::Io(std::io::Error::other(e)))?;
        let (moderation, moderation_actions) =
            moderation::Moderation::load(store.clone(), clock.clone()).await?;
        let (friends, friends_news) = friends::Friends::load(store.clone(), clock.clone()).await?;
        let reviews = Arc::new(reviews::Reviews::new(store.clone(), moderation.clone()));

        let socket = UdpSocket::bind(config.udp).map_err(|source| StartError::Bind {
            what: "UDP",
            addr: config.udp,
            source,
        })?;
        let udp_addr = socket.local_addr().map_err(StartError::Io)?;
        let public_addr = config.public_addr.unwrap_or(udp_addr);
        let listener = tokio::net::TcpListener::bind(config.http)
            .await
            .map_err(|source| StartError::Bind {
                what: "HTTP",
                addr: config.http,
                source,
            })?;
        let http_addr = listener.local_addr().map_err(StartError::Io)?;
        // The relay runs on its own threads (GStreamer's and one watcher);
        // starting it here makes a port in use or a missing plugin a
        // start error, not a surprise later.
        let media = match &config.media {
            Some(media) => Some(media::Media::start(media, &config.data_dir, http_addr)?),
            None => None,
        };
        let media_info = media.as_ref().map(|m| m.info.clone());
        let co_hosts = Arc::new(
            co_hosts::CoHosts::load(
                store.clone(),
                clock.clone(),
                media_info.as_ref().and_then(|m| m.composer.clone()),
            )
            .await
            .map_err(|e| StartError::Io(std::io::Error::other(e)))?,
        );
        let outlets = Arc::new(
            restream::Outlets::load(
                store.clone(),
                clock.clone(),
                media_info.as_ref().and_then(|m| m.restreamer.clone()),
                &config.data_dir,
            )
            .await
            .map_err(|e| StartError::Io(std::io::Error::other(e)))?,
        );

        let metrics = Arc::new(Metrics::default());
        let directory = Arc::new(RoomDirectory::new(
            specs
                .iter()
                .map(|s| (s.id.clone(), s.name.clone(), s.capacity)),
        ));
        let console = console::spawn(
            store.clone(),
            clock.clone(),
            directory.clone(),
            metrics.clone(),
            commerce.clone(),
            engagement.clone(),
        )
        .await;
        let room_stop = Arc::new(AtomicBool::new(false));
        let net = rooms::Network {
            socket,
            public_addr,
            netcode_key: keys.netcode,
        };
        let ctx = rooms::GameContext {
            rooms: specs,
            directory: directory.clone(),
            metrics: metrics.clone(),
            chat: config.chat,
            reactions: config.reactions,
            shutdown: room_stop.clone(),
            commerce: commerce.clone(),
            commerce_events,
            open_sales,
            pinned_coupon,
            engagement: engagement.clone(),
            engagement_events,
            engagement_state,
            idle_after,
            watch_minute: config.watch_minute,
            loose_return: config.loose_return,
            chat_log: console.chat_log.clone(),
            moderation: moderation.clone(),
            moderation_actions,
            friends: friends.clone(),
            friends_news,
            reviews: reviews.clone(),
            runtime: tokio::runtime::Handle::current(),
            stage: media_info.as_ref().map(|m| m.stage.clone()),
            clock: clock.clone(),
        };
        // renetcode's refusals are counted through the server's `log`
        // logger; a no-op when it (or another) is already installed.
        refused::install_log_bridge();
        // The room thread logs where the starting thread does (the
        // process's subscriber, or a test's).
        let dispatch = tracing::dispatcher::get_default(|d| d.clone());
        // The app is built on its own thread; report a failure back here.
        let (built_tx, built_rx) = std::sync::mpsc::channel();
        let room_thread = std::thread::Builder::new()
            .name("rooms".into())
            .spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || match rooms::build_app(net, ctx) {
                    Ok(app) => {
                        let _ = built_tx.send(Ok(()));
                        rooms::run(app);
                    }
                    Err(e) => {
                        let _ = built_tx.send(Err(e));
                    }
                })
            })
            .map_err(StartError::Io)?;
        built_rx
            .recv()
            .map_err(|_| StartError::Io(std::io::Error::other("room thread died")))?
            .map_err(StartError::Io)?;

        let state = http::AppState(Arc::new(http::AppStateInner {
            store: store.clone(),
            clock: clock.clone(),
            commerce,
            engagement,
            reviews,
            co_hosts,
            outlets,
            moderation,
            friends,
            console,
            reward_offers,
            directory: directory.clone(),
            metrics: metrics.clone(),
            keys,
            game_addr: public_addr,
            session_ttl: config.session_ttl,
            guests_per_network_per_day: config.guests_per_network_per_day,
            connect_token_ttl: config.connect_token_ttl,
            client_timeout_secs: config.client_timeout_secs,
            rate: config.http_rate,
            buckets: Mutex::new(Default::default()),
            account_rate: config.account_rate,
            account_buckets: Mutex::new(Default::default()),
            started: Instant::now(),
            sign_in: sign_in::SignInGuard::new(0, clock.clone(), metrics.clone()),
            feed_tickets: console::tickets::FeedTickets::new(clock.clone()),
            http_refusals: Mutex::new(refused::Summary::new("HTTP requests")),
            openapi: OnceLock::new(),
            media: media_info,
            stripe_webhook_secret,
            claims_decided_by: config.claims_decided_by.clone(),
        }));
        let (shutdown_tx, mut shutdown_rx) = watch::channel(false);
        let app = http::router(state).into_make_service_with_connect_info::<SocketAddr>();
        let http_task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = shutdown_rx.wait_for(|stop| *stop).await;
                })
                .await
        });
        tracing::info!(%http_addr, %udp_addr, %public_addr, "vitrine server started");
        Ok(Server {
            http_addr,
            udp_addr,
            public_addr,
            metrics,
            directory,
            shutdown_tx,
            room_stop,
            room_thread: Some(room_thread),
            http_task,
            store,
            media,
        })
    }

    /// The stage's stream (URLs, live), when the relay runs.
    pub fn stream(&self) -> Option<vitrine_shared::protocol::StreamNet> {
        self.media.as_ref().map(|m| m.info.stage.get())
    }

    /// Where and with what key the host publishes, when the relay runs.
    pub fn media_info(&self) -> Option<&media::MediaInfo> {
        self.media.as_ref().map(|m| &m.info)
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    pub fn public_addr(&self) -> SocketAddr {
        self.public_addr
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    pub fn directory(&self) -> Arc<RoomDirectory> {
        self.directory.clone()
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown_tx.clone())
    }

    /// Waits for a shutdown request, then tells the clients, stops the room
    /// loop and the HTTP server, and closes the store.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let mut rx = self.shutdown_tx.subscribe();
        let _ = rx.wait_for(|stop| *stop).await;
        tracing::info!("shutting down");
        self.room_stop.store(true, Ordering::Release);
        if let Some(thread) = self.room_thread.take() {
            tokio::task::spawn_blocking(move || thread.join())
                .await?
                .map_err(|_| anyhow::anyhow!("the room thread panicked"))?;
        }
        (&mut self.http_task).await??;
        // Finalizes the recording of a show still live (EOS through it).
        if let Some(mut media) = self.media.take() {
            tokio::task::spawn_blocking(move || media.stop()).await?;
        }
        self.store.close().await;
        tracing::info!("stopped cleanly");
        Ok(())
    }
}

/// `vitrine-server admin create-user`: returns the line to print.
pub async fn create_user(
    config: &ServerConfig,
    username: &str,
    role: vitrine_shared::Role,
    display_name: Option<&str>,
    password: Option<&str>,
) -> anyhow::Result<String> {
    auth::check_username(username).map_err(anyhow::Error::msg)?;
    let name = vitrine_shared::DisplayName::new(display_name.unwrap_or(username))?;
    let (password, generated) = match password {
        Some(p) => (p.to_owned(), false),
        None => (auth::generate_password(), true),
    };
    auth::check_password(&password).map_err(anyhow::Error::msg)?;
    let hash = auth::hash_password(&password).map_err(anyhow::Error::msg)?;
    // The embedded database lives in the data dir, which may not exist yet.
    std::fs::create_dir_all(&config.data_dir)?;
    let store = Store::connect(&config.database_url).await?;
    let account = store.create_user(username, &name, role, &hash).await?;
    store.close().await;
    let account = account.ok_or_else(|| anyhow::anyhow!("the username {username:?} is taken"))?;
    let mut line = format!("created {role} {username:?} (account {})", account.id);
    if generated {
        line.push_str(&format!("; password: {password}"));
    }
    Ok(line)
}

/// Gives the account with `username` another role (`vitrine-server admin
/// set-role`): a host who leaves, a moderator stood down. Their console
/// feeds close within a few seconds.
pub async fn set_role(
    config: &ServerConfig,
    username: &str,
    role: vitrine_shared::Role,
) -> anyhow::Result<String> {
    let store = Store::connect(&config.database_url).await?;
    let changed = store.set_role(username, role).await;
    store.close().await;
    if changed? {
        Ok(format!("{username:?} is now {role}"))
    } else {
        Err(anyhow::anyhow!("no account has the username {username:?}"))
    }
}

/// Runs until SIGINT or SIGTERM, then shuts down cleanly.
pub async fn run(config: ServerConfig) -> anyhow::Result<()> {
    // Handlers go in before anything starts: a signal that arrives while the
    // server is starting must still mean "shut down cleanly", not "die".
    let signals = Signals::install()?;
    let server = Server::start(config).await?;
    let handle = server.shutdown_handle();
    tokio::spawn(async move {
        signals.wait().await;
        handle.trigger();
    });
    server.wait().await
}

/// SIGINT and SIGTERM, registered at once.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
