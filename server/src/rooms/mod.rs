//! The authoritative rooms: an ECS on Bevy's app and time crates (the
//! equivalent of `MinimalPlugins`, driven by our own fixed-rate loop so each
//! tick can be timed), with renet over our netcode UDP transport.
//!
//! Each tick: receive (PreUpdate), then validate, simulate, relay and
//! snapshot (Update, chained sets), then send (PostUpdate).

mod avatars;
mod chat;
mod engagement;
mod follow_up;
mod friends;
mod group_deals;
mod inbox;
mod lifecycle;
mod membership;
mod moderation;
mod party;
mod products;
mod shared_cart;
mod shop;
mod spec;
mod stage;
mod transport;
mod voice;

pub(crate) use transport::fuzz_datagrams;

#[cfg(test)]
mod harness;

pub use spec::{RoomSpec, RoomsFileError, load_rooms_file, parse_rooms};

use crate::config::RateConfig;
use crate::directory::RoomDirectory;
use crate::metrics::Metrics;
use bevy_app::TaskPoolPlugin;
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_renet::{RenetServer, RenetServerPlugin};
use bevy_time::TimePlugin;
use renet::ClientId;
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use vitrine_shared::{ServerChannel, ServerMessage, encode};

/// Room ticks and snapshots per second: clients time poses and play
/// snapshots back by the same numbers.
pub use vitrine_shared::protocol::{SNAPSHOT_HZ, TICK_HZ};
/// Netcode's limit on clients per server process.
pub const MAX_CLIENTS_PER_SERVER: usize = 1024;
/// Largest capacity a room may declare.
pub const MAX_ROOM_CAPACITY: usize = 1000;

/// The room loop's UDP side: netcode on this socket.
pub struct Network {
    pub socket: UdpSocket,
    pub public_addr: SocketAddr,
    pub netcode_key: [u8; 32],
}

/// What the room loop needs from the rest of the server.
pub struct GameContext {
    pub rooms: Vec<RoomSpec>,
    pub directory: Arc<RoomDirectory>,
    pub metrics: Arc<Metrics>,
    pub chat: RateConfig,
    pub reactions: RateConfig,
    pub shutdown: Arc<AtomicBool>,
    pub commerce: crate::commerce::CommerceHandle,
    pub commerce_events: tokio::sync::broadcast::Receiver<crate::commerce::CommerceEvent>,
    /// Flash sales open at start (after a restart, say), for welcomes.
    pub open_sales: Vec<crate::commerce::FlashSale>,
    /// The coupon pinned in the show at start, for welcomes.
    pub pinned_coupon: Option<crate::commerce::CouponInfo>,
    pub engagement: crate::engagement::EngagementHandle,
    /// Subscribed before `engagement_state` was read.
    pub engagement_events: tokio::sync::broadcast::Receiver<crate::engagement::EngagementEvent>,
    pub engagement_state: crate::engagement::OpenState,
    /// No movement and no command for this long: idle, no watch points.
    pub idle_after: Duration,
    /// Presence earns watch points per this long (a minute; shorter in tests).
    pub watch_minute: Duration,
    /// A dropped product goes back to its display after this long.
    pub loose_return: Duration,
    /// Where relayed chat lines go to be logged for the console's export.
    pub chat_log: tokio::sync::mpsc::Sender<crate::console::ChatLogLine>,
    /// Mutes, bans and the filter; moderators' actions arrive on the receiver.
    pub moderation: Arc<crate::moderation::Moderation>,
    pub moderation_actions: tokio::sync::mpsc::UnboundedReceiver<crate::moderation::RoomAction>,
    /// The friend graph and presence; changes made over HTTP arrive on the
    /// receiver.
    pub friends: Arc<crate::friends::Friends>,
    pub friends_news: tokio::sync::mpsc::UnboundedReceiver<crate::friends::FriendsNews>,
    /// Reviews, written on `runtime` (the room thread has none of its own).
    pub reviews: Arc<crate::reviews::Reviews>,
    pub runtime: tokio::runtime::Handle,
    /// The host's video, when the relay runs.
    pub stage: Option<Arc<crate::media::StageStream>>,
    /// The server's clock, for instants that leave the room (chat log
    /// stamps, mute ends, watch-minute numbers); cadence runs on Bevy's time.
    pub clock: crate::clock::Clock,
}

/// The stages of a tick, in order (STYLE.md §3).
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServerSystems {
    /// Decode, check role, state and rate limits; emit typed messages.
    ValidateInputs,
    /// Apply poses (and, later, physics).
    Simulate,
    /// Relay chat and reactions.
    Relay,
    /// Snapshots and metrics.
    Publish,
}

/// Handles shared with the HTTP tier.
#[derive(Resource, Clone)]
pub struct Shared {
    pub directory: Arc<RoomDirectory>,
    pub metrics: Arc<Metrics>,
    pub moderation: Arc<crate::moderation::Moderation>,
    /// The host's video, when the relay runs.
    pub stage: Option<Arc<crate::media::StageStream>>,
    /// The friend graph and blocks, which parties consult for invites.
    pub friends: Arc<crate::friends::Friends>,
}

#[derive(Resource, Clone, Copy)]
pub struct RateSettings {
    pub chat: RateConfig,
    pub reactions: RateConfig,
}

/// Connected clients and their member entity.
#[derive(Resource, Default)]
pub struct Clients(pub HashMap<ClientId, Entity>);

#[derive(Resource)]
pub struct ShutdownSignal(pub Arc<AtomicBool>);

/// Sends one event-channel message, counting none of it as an error: a full
/// channel means the client is hopelessly behind, and renet disconnects it.
pub(crate) fn send_event(server: &mut RenetServer, client: ClientId, message: &ServerMessage) {
    // A client that left in this same tick has no connection to queue on.
    if !server.is_connected(client) {
        return;
    }
    match encode(message) {
        Ok(bytes) => server.send_message(client, ServerChannel::Events, bytes),
        Err(e) => tracing::error!(%e, "cannot encode event"),
    }
}

/// Builds the room app on `net`. It runs no loop; call [`run`] or
/// `update()` it.
pub fn build_app(net: Network, ctx: GameContext) -> std::io::Result<App> {
    let max_clients = ctx
        .rooms
        .iter()
        .map(|r| r.capacity)
        .sum::<usize>()
        .min(MAX_CLIENTS_PER_SERVER);
    let transport = transport::UdpTransport::new(
        net.socket,
        net.public_addr,
        net.netcode_key,
        max_clients.max(1),
    )?;
    let mut app = room_app(ctx);
    app.insert_resource(transport)
        .add_plugins(transport::plugin);
    app.finish();
    app.cleanup();
    Ok(app)
}

/// The rooms without a transport: every plugin and resource but the
/// socket. Tests connect renet's local clients to it instead.
fn room_app(ctx: GameContext) -> App {
    ctx.metrics
        .rooms
        .store(ctx.rooms.len() as u64, Ordering::Relaxed);

    let mut app = App::new();
    app.add_plugins((TaskPoolPlugin::default(), TimePlugin, RenetServerPlugin))
        .insert_resource(RenetServer::new(vitrine_shared::connection_config()))
        .insert_resource(Shared {
            directory: ctx.directory,
            metrics: ctx.metrics,
            moderation: ctx.moderation.clone(),
            stage: ctx.stage,
            friends: ctx.friends.clone(),
        })
        .insert_resource(RateSettings {
            chat: ctx.chat,
            reactions: ctx.reactions,
        })
        .insert_resource(ShutdownSignal(ctx.shutdown))
        .insert_resource(ctx.clock)
        .insert_resource(shop::ShopLink::new(
            ctx.commerce.clone(),
            ctx.commerce_events,
            &ctx.open_sales,
            ctx.pinned_coupon,
        ))
        .insert_resource(engagement::EngagementLink::new(
            ctx.engagement,
            ctx.engagement_events,
            ctx.engagement_state,
            ctx.idle_after,
            ctx.watch_minute,
            ctx.chat_log,
        ))
        .insert_resource(moderation::ModerationLink::new(
            ctx.moderation,
            ctx.moderation_actions,
        ))
        .insert_resource(shared_cart::SharedCartLink::new(ctx.commerce.clone()))
        .insert_resource(products::ProductDesk::new(ctx.loose_return))
        .insert_resource(friends::FriendsLink::new(ctx.friends, ctx.friends_news))
        .insert_resource(follow_up::FollowUpLink::new(
            ctx.reviews,
            ctx.commerce,
            ctx.runtime,
        ))
        .init_resource::<Clients>()
        .configure_sets(
            Update,
            (
                ServerSystems::ValidateInputs,
                ServerSystems::Simulate,
                ServerSystems::Relay,
                ServerSystems::Publish,
            )
                .chain(),
        )
        .add_plugins((
            membership::plugin,
            inbox::plugin,
            avatars::plugin,
            chat::plugin,
            shop::plugin,
            engagement::plugin,
            products::plugin,
            moderation::plugin,
            stage::plugin,
            lifecycle::plugin,
            group_deals::plugin,
            friends::plugin,
            party::plugin,
            shared_cart::plugin,
            voice::plugin,
        ))
        .add_plugins(follow_up::plugin);
    membership::spawn_rooms(app.world_mut(), ctx.rooms);
    app
}

/// Runs the room loop at [`TICK_HZ`] until the shutdown signal is handled.
/// Each `update()` is timed into the metrics.
pub fn run(mut app: App) {
    let period = Duration::from_secs_f64(1.0 / TICK_HZ as f64);
    let metrics = app.world().resource::<Shared>().metrics.clone();
    let mut next = Instant::now();
    loop {
        let start = Instant::now();
        app.update();
        let took = start.elapsed();
        metrics.record_tick(took);
        crate::telemetry::warn_if_over_budget(took, period);
        if app.should_exit().is_some() {
            break;
        }
        next += period;
        let now = Instant::now();
        if next > now {
            // Not a plain sleep: voice is forwarded as it arrives.
            voice::between_ticks(&mut app, next);
        } else {
            // Fell behind (a stall): skip ahead rather than burst to catch up.
            next = now;
        }
    }
}
