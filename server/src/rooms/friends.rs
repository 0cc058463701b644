//! Friends in the rooms: presence follows members as they are admitted and
//! leave (online means in a room here), and each tick sends friends what
//! changed: a newcomer its list (right after `Welcome`), each friend of an
//! account that moved its new presence, and what HTTP changed (a request,
//! a friendship added or removed).

use super::engagement::EngagementLink;
use super::membership::{Member, Room};
use super::{ServerSystems, send_event};
use crate::friends::{Friends, FriendsNews};
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_renet::RenetServer;
use renet::ClientId;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;
use vitrine_shared::protocol::{FriendEventNet, FriendNet, PresenceNet};
use vitrine_shared::{AccountId, RoomId, ServerMessage};

/// The room side of friends.
#[derive(Resource)]
pub struct FriendsLink {
    pub state: Arc<Friends>,
    news: UnboundedReceiver<FriendsNews>,
    /// Each member entity's account, to know whose connection a despawn
    /// ended.
    tracked: HashMap<Entity, AccountId>,
}

impl FriendsLink {
    pub fn new(state: Arc<Friends>, news: UnboundedReceiver<FriendsNews>) -> Self {
        FriendsLink {
            state,
            news,
            tracked: HashMap::new(),
        }
    }
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Update, publish.in_set(ServerSystems::Publish));
}

/// Turns a room id into what members are shown.
struct Places {
    names: HashMap<RoomId, String>,
    show: Option<String>,
}

impl Places {
    fn presence(&self, room: Option<RoomId>) -> Option<PresenceNet> {
        let room = room?;
        let room_name = self.names.get(&room).cloned().unwrap_or_default();
        Some(PresenceNet {
            room,
            room_name,
            show: self.show.clone(),
        })
    }

    fn friend(&self, state: &Friends, account: AccountId) -> Option<FriendNet> {
        Some(FriendNet {
            account,
            name: state.name_of(account)?,
            presence: self.presence(state.presence(account)),
        })
    }
}

#[allow(clippy::too_many_arguments)]
fn publish(
    mut link: ResMut<FriendsLink>,
    added: Query<(Entity, &Member), Added<Member>>,
    mut removed: RemovedComponents<Member>,
    members: Query<&Member>,
    rooms: Query<&Room>,
    engagement: Res<EngagementLink>,
    mut server: ResMut<RenetServer>,
) {
    let link = &mut *link;
    // Accounts whose presence may have changed, with the room of a
    // connection admitted this tick (the newest one wins over one it
    // replaces, which leaves on a later tick).
    let mut touched: HashMap<AccountId, Option<Entity>> = HashMap::new();
    let mut newcomers: Vec<(ClientId, AccountId)> = Vec::new();
    for (entity, member) in &added {
        link.tracked.insert(entity, member.info.account);
        touched.insert(member.info.account, Some(member.room));
        newcomers.push((member.client, member.info.account));
    }
    for entity in removed.read() {
        if let Some(account) = link.tracked.remove(&entity) {
            touched.entry(account).or_insert(None);
        }
    }
    let news: Vec<FriendsNews> = std::iter::from_fn(|| link.news.try_recv().ok()).collect();
    if touched.is_empty() && news.is_empty() {
        return;
    }

    let state = link.state.clone();
    let places = Places {
        names: rooms
            .iter()
            .map(|r| (r.id.clone(), r.name.clone()))
            .collect(),
        show: engagement.show_live().map(str::to_owned),
    };
    let mut clients: HashMap<AccountId, Vec<ClientId>> = HashMap::new();
    for member in &members {
        clients
            .entry(member.info.account)
            .or_default()
            .push(member.client);
    }
    let send = |server: &mut RenetServer, to: AccountId, event: FriendEventNet| {
        if let Some(clients) = clients.get(&to) {
            let message = ServerMessage::Friends(event);
            for client in clients {
                send_event(server, *client, &message);
            }
        }
    };

    for (account, admitted_to) in touched {
        let room_entity = admitted_to.or_else(|| {
            members
                .iter()
                .find(|m| m.info.account == account)
                .map(|m| m.room)
        });
        let room = room_entity
            .and_then(|e| rooms.get(e).ok())
            .map(|r| r.id.clone());
        if !state.set_presence(account, room.clone()) {
            continue;
        }
        let friends = state.friends_of(account);
        if friends.is_empty() {
            continue;
        }
        let presence = places.presence(room);
        for friend in friends {
            send(
                &mut server,
                friend,
                FriendEventNet::Presence {
                    account,
                    presence: presence.clone(),
                },
            );
        }
    }

    for (client, account) in newcomers {
        let list = state
            .list(account)
            .into_iter()
            .map(|f| FriendNet {
                account: f.account,
                name: f.name,
                presence: places.presence(f.room),
            })
            .collect();
        send_event(
            &mut server,
            client,
            &ServerMessage::Friends(FriendEventNet::List(list)),
        );
    }

    for item in news {
        match item {
            FriendsNews::RequestArrived { to, from, name } => send(
                &mut server,
                to,
                FriendEventNet::RequestArrived {
                    account: from,
                    name,
                },
            ),
            FriendsNews::Added { a, b } => {
                for (to, other) in [(a, b), (b, a)] {
                    if let Some(friend) = places.friend(&state, other) {
                        send(&mut server, to, FriendEventNet::Added(friend));
                    }
                }
            }
            FriendsNews::Removed { a, b } => {
                send(&mut server, a, FriendEventNet::Removed { account: b });
                send(&mut server, b, FriendEventNet::Removed { account: a });
            }
        }
    }
}
