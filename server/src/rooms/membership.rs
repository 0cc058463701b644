//! Who is in which room: admitting a connected client from its token's
//! `user_data`, assigning its slot, welcoming it, and telling the room when
//! members come and go.

use super::products::HeldProducts;
use super::shop::ShopLink;
use super::{Clients, RateSettings, Shared, send_event};
use crate::rate_limit::TokenBucket;
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_renet::{RenetServer, RenetServerEvent};
use bevy_time::prelude::*;
use renet::{ClientId, ServerEvent};
use renetcode::NETCODE_USER_DATA_BYTES;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;
use vitrine_shared::protocol::{ChatLine, MemberInfo, ReactionBurst, RoomEvent};
use vitrine_shared::{MemberSlot, PoseNet, RoomBounds, RoomId, ServerMessage, TokenUserData};

#[derive(Component)]
pub struct Room {
    pub id: RoomId,
    pub name: String,
    pub capacity: usize,
    pub bounds: RoomBounds,
    pub members: BTreeMap<MemberSlot, ClientId>,
    pub chat_seq: u64,
    pub recent_chat: VecDeque<ChatLine>,
    /// The newest snapshot's number; each client's view of the poses is
    /// kept with its avatar (`Avatar::sight`).
    pub snapshot_seq: u32,
    /// Reactions since the last summary went out.
    pub reactions: ReactionBurst,
}

impl Room {
    fn free_slot(&self) -> Option<MemberSlot> {
        (0..=u16::MAX)
            .map(MemberSlot)
            .find(|slot| !self.members.contains_key(slot))
    }

    /// Every member's client, for a broadcast.
    pub fn clients(&self) -> impl Iterator<Item = ClientId> + '_ {
        self.members.values().copied()
    }

    /// Where a member with `slot` appears: in the audience, on the middle
    /// aisle between the product displays (which the showroom lays out on
    /// either side), facing the stage at the north wall; spread on a spiral
    /// so that newcomers do not stand inside each other.
    pub fn spawn_pose(&self, slot: MemberSlot) -> PoseNet {
        let centre = self.bounds.center_floor();
        let depth = self.bounds.max[2] - self.bounds.min[2];
        let audience = [centre[0], centre[1], centre[2] + depth * 0.15];
        let angle = slot.0 as f32 * 2.399_963; // golden angle
        let radius = 0.6 + (slot.0 % 6) as f32 * 0.3;
        let position = self.bounds.clamp([
            audience[0] + (radius * angle.cos()).clamp(-2.0, 2.0),
            audience[1],
            audience[2] + radius * angle.sin(),
        ]);
        // Yaw π faces -Z: the stage.
        let yaw = std::f32::consts::PI;
        PoseNet::at(position, yaw)
    }
}

/// Room id to room entity.
#[derive(Resource, Default)]
pub struct RoomIndex(pub HashMap<RoomId, Entity>);

#[derive(Component)]
pub struct Member {
    pub client: ClientId,
    pub room: Entity,
    pub info: MemberInfo,
}

#[derive(Component)]
pub struct Avatar {
    pub pose: PoseNet,
    pub updated_at: Duration,
    pub last_input_seq: Option<u32>,
    pub acked_snapshot: Option<u32>,
    /// The first snapshot that carried this avatar (set by the snapshots).
    pub seen_from: Option<u32>,
    /// What this member's client holds of the room's poses after each
    /// snapshot sent to it and not yet superseded by an acknowledgement:
    /// its possible delta baselines (at most 16, `avatars::VIEWS_KEPT`).
    pub sight: VecDeque<(u32, super::avatars::View)>,
}

#[derive(Component)]
pub struct Limits {
    pub chat: TokenBucket,
    pub reactions: TokenBucket,
    pub claims: TokenBucket,
    pub last_pose_rejection: Option<Duration>,
    /// When the member's last teleport was accepted (for its cooldown).
    pub last_teleport: Option<Duration>,
}

/// Each connected client's token user data (account, role, room, name):
/// the transport files it when netcode accepts the token, and a client is
/// admitted from it. Tests without sockets file it themselves.
#[derive(Resource, Default)]
pub struct Tokens(pub HashMap<ClientId, [u8; NETCODE_USER_DATA_BYTES]>);

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<RoomIndex>()
        .init_resource::<Tokens>()
        .add_observer(on_server_event);
}

pub(super) fn spawn_rooms(world: &mut World, rooms: Vec<super::RoomSpec>) {
    for spec in rooms {
        let entity = world
            .spawn(Room {
                id: spec.id.clone(),
                name: spec.name,
                capacity: spec.capacity,
                bounds: spec.bounds,
                members: BTreeMap::new(),
                chat_seq: 0,
                recent_chat: VecDeque::new(),
                snapshot_seq: 0,
                reactions: ReactionBurst::default(),
            })
            .id();
        world.resource_mut::<RoomIndex>().0.insert(spec.id, entity);
    }
}

#[allow(clippy::too_many_arguments)]
fn on_server_event(
    event: On<RenetServerEvent>,
    mut commands: Commands,
    mut server: ResMut<RenetServer>,
    mut tokens: ResMut<Tokens>,
    mut clients: ResMut<Clients>,
    index: Res<RoomIndex>,
    mut rooms: Query<&mut Room>,
    held: Query<&HeldProducts>,
    members: Query<&Member>,
    shared: Res<Shared>,
    rates: Res<RateSettings>,
    shop: Res<ShopLink>,
    time: Res<Time<Real>>,
) {
    match &event.event().0 {
        ServerEvent::ClientConnected { client_id } => {
            let client = *client_id;
            // The join's events ("joined", "refused") carry the client; the
            // span says how it ended.
            let join = tracing::info_span!(
                crate::telemetry::ROOM_JOIN,
                client,
                outcome = tracing::field::Empty
            )
            .entered();
            let admitted = admit(
                client,
                &mut commands,
                &mut server,
                &tokens,
                &mut clients,
                &index,
                &mut rooms,
                &held,
                &members,
                &shared,
                &rates,
                &shop,
                time.elapsed(),
            );
            join.record("outcome", admitted.err().unwrap_or("joined"));
            if let Err(reason) = admitted {
                tracing::info!(client, reason, "refused a client at connect");
                shared.metrics.reject(reason);
                server.disconnect(client);
            }
        }
        ServerEvent::ClientDisconnected { client_id, reason } => {
            tokens.0.remove(client_id);
            let Some(entity) = clients.0.remove(client_id) else {
                return;
            };
            let Ok(member) = members.get(entity) else {
                return;
            };
            tracing::info!(client = client_id, account = %member.info.account, %reason, "left");
            if let Ok(mut room) = rooms.get_mut(member.room) {
                room.members.remove(&member.info.slot);
                // A later member given this slot is sent whole first: its
                // `Avatar::seen_from` is newer than any baseline holding
                // this one's pose.
                let slot = member.info.slot;
                // Unless the same account is back on a newer connection.
                let account = member.info.account;
                if !members
                    .iter()
                    .any(|m| m.info.account == account && m.client != *client_id)
                {
                    shared.directory.leave(&room.id, account);
                }
                let left = ServerMessage::Room(RoomEvent::MemberLeft { slot });
                for other in room.clients().collect::<Vec<_>>() {
                    send_event(&mut server, other, &left);
                }
            }
            commands.entity(entity).despawn();
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn admit(
    client: ClientId,
    commands: &mut Commands,
    server: &mut RenetServer,
    tokens: &Tokens,
    clients: &mut Clients,
    index: &RoomIndex,
    rooms: &mut Query<&mut Room>,
    held: &Query<&HeldProducts>,
    members: &Query<&Member>,
    shared: &Shared,
    rates: &RateSettings,
    shop: &ShopLink,
    now: Duration,
) -> Result<(), &'static str> {
    let raw = tokens.0.get(&client).ok_or("no_user_data")?;
    let who = TokenUserData::from_bytes(raw).map_err(|_| "bad_user_data")?;
    let room_entity = *index.0.get(&who.room).ok_or("unknown_room")?;
    // A token issued before a ban is still refused.
    if shared.moderation.is_banned(who.account) {
        return Err("banned");
    }

    // One live connection per account: a second sign-in replaces the first.
    let stale: Vec<ClientId> = members
        .iter()
        .filter(|m| m.info.account == who.account)
        .map(|m| m.client)
        .collect();
    for old in stale {
        tracing::info!(account = %who.account, old, "replacing an older connection");
        server.disconnect(old);
    }

    let mut room = rooms.get_mut(room_entity).map_err(|_| "unknown_room")?;
    if room.members.len() >= room.capacity {
        return Err("room_full");
    }
    shared
        .directory
        .enter(&room.id, who.account)
        .map_err(|_| "room_full")?;
    let slot = room.free_slot().ok_or("room_full")?;
    let info = MemberInfo {
        slot,
        account: who.account,
        name: who.name,
        role: who.role,
    };
    let spawn = room.spawn_pose(slot);

    let mut roster: Vec<MemberInfo> = members
        .iter()
        .filter(|m| m.room == room_entity && m.client != client)
        .map(|m| m.info.clone())
        .collect();
    roster.push(info.clone());

    let joined = ServerMessage::Room(RoomEvent::MemberJoined(info.clone()));
    for other in room.clients().collect::<Vec<_>>() {
        send_event(server, other, &joined);
    }
    room.members.insert(slot, client);
    send_event(
        server,
        client,
        &ServerMessage::Room(RoomEvent::Welcome {
            room: room.id.clone(),
            room_name: room.name.clone(),
            you: slot,
            spawn: Box::new(spawn),
            bounds: room.bounds,
            members: roster,
            recent_chat: room.recent_chat.iter().cloned().collect(),
            flash_sales: shop.sales.values().cloned().collect(),
            pinned_coupon: shop.pinned.clone().map(Box::new),
            products: held
                .get(room_entity)
                .map(|held| held.net(&room.members))
                .unwrap_or_default(),
        }),
    );
    if let Some(stage) = &shared.stage {
        send_event(
            server,
            client,
            &ServerMessage::Room(RoomEvent::Stream(stage.get())),
        );
    }
    tracing::info!(client, account = %info.account, name = %info.name, room = %room.id, "joined");

    let entity = commands
        .spawn((
            Member {
                client,
                room: room_entity,
                info,
            },
            Avatar {
                pose: spawn,
                updated_at: now,
                last_input_seq: None,
                acked_snapshot: None,
                seen_from: None,
                sight: VecDeque::new(),
            },
            Limits {
                chat: TokenBucket::new(rates.chat, now),
                reactions: TokenBucket::new(rates.reactions, now),
                claims: TokenBucket::new(super::shop::CLAIM_RATE, now),
                last_pose_rejection: None,
                last_teleport: None,
            },
        ))
        .id();
    clients.0.insert(client, entity);
    Ok(())
}

/// The connections of one account: for news meant for that shopper alone.
/// (A server keeps one per account; the list covers the moment a newer one
/// replaces it.)
pub fn clients_of(members: &Query<&Member>, account: vitrine_shared::AccountId) -> Vec<ClientId> {
    members
        .iter()
        .filter(|m| m.info.account == account)
        .map(|m| m.client)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rooms::harness::{TICK, TestRooms};
    use vitrine_shared::Role;

    fn joined(rooms: &TestRooms, client: ClientId) -> Vec<String> {
        rooms
            .received(client)
            .iter()
            .filter_map(|m| match m {
                ServerMessage::Room(RoomEvent::MemberJoined(info)) => Some(info.name.to_string()),
                _ => None,
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn members_are_admitted_from_their_token_until_the_room_is_full() {
        let mut rooms = TestRooms::start().await;
        let (_, ada) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (_, _bob) = rooms.join("Bob", Role::Shopper, "hall").await;
        let (_, _cy) = rooms.join("Cy", Role::Shopper, "hall").await;
        assert_eq!(joined(&rooms, ada), ["Bob", "Cy"]);
        // The hall holds three.
        let dee = rooms.account("Dee", Role::Shopper).await;
        let refused = rooms.connect(&dee, "hall");
        rooms.step(TICK);
        assert!(!rooms.is_connected(refused));
        assert_eq!(rooms.metrics.rejected("room_full"), 1);
        // A room nobody declared.
        let lost = rooms.connect(&dee, "attic");
        rooms.step(TICK);
        assert!(!rooms.is_connected(lost));
        assert_eq!(rooms.metrics.rejected("unknown_room"), 1);
        // The annex has room.
        let dee_client = rooms.connect(&dee, "annex");
        rooms.step(TICK);
        assert!(rooms.is_connected(dee_client));
        assert_eq!(
            joined(&rooms, ada),
            ["Bob", "Cy"],
            "other rooms' joins are not news"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_join_has_a_span_with_its_client_and_how_it_ended() {
        use crate::telemetry::{ROOM_JOIN, capture::Capture};
        let mut rooms = TestRooms::start().await;
        rooms.on_this_thread();
        let ada = rooms.account("Ada", Role::Shopper).await;
        let capture = Capture::default();
        let (admitted, lost) = tracing::dispatcher::with_default(&capture.dispatch(), || {
            let admitted = rooms.connect(&ada, "hall");
            rooms.step(TICK);
            // A room nobody declared: the join fails.
            let lost = rooms.connect(&ada, "attic");
            rooms.step(TICK);
            (admitted, lost)
        });
        assert!(rooms.is_connected(admitted) && !rooms.is_connected(lost));

        let joins = capture.spans(ROOM_JOIN);
        let outcome = |client: ClientId| {
            let client = client.to_string();
            let ours: Vec<_> = joins
                .iter()
                .filter(|s| s.field("client") == Some(client.as_str()))
                .collect();
            assert_eq!(ours.len(), 1, "one span per join: {joins:?}");
            assert_eq!(ours[0].level, tracing::Level::INFO);
            ours[0].field("outcome").map(str::to_owned)
        };
        assert_eq!(outcome(admitted).as_deref(), Some("joined"));
        assert_eq!(outcome(lost).as_deref(), Some("unknown_room"));
        // The join's events are inside its span.
        let events = capture.events();
        for message in ["joined", "refused a client at connect"] {
            let event = events
                .iter()
                .find(|e| e.field("message") == Some(message))
                .unwrap_or_else(|| panic!("no {message:?} event: {events:?}"));
            assert_eq!(event.span, Some(ROOM_JOIN), "{event:?}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_second_connection_replaces_the_first_and_the_room_hears_who_left() {
        let mut rooms = TestRooms::start().await;
        let (ada, first) = rooms.join("Ada", Role::Shopper, "hall").await;
        let (_, bob) = rooms.join("Bob", Role::Shopper, "hall").await;
        let second = rooms.connect(&ada, "hall");
        // Admitted on this tick, the old one dropped, the room told next.
        rooms.ticks(3);
        assert!(rooms.is_connected(second));
        assert!(
            !rooms.is_connected(first),
            "one live connection per account"
        );
        let left = rooms
            .received(bob)
            .iter()
            .filter(|m| matches!(m, ServerMessage::Room(RoomEvent::MemberLeft { .. })))
            .count();
        assert_eq!(left, 1, "{:?}", rooms.received(bob));
        assert_eq!(rooms.directory.members().len(), 2, "the seat is kept");
    }
}
