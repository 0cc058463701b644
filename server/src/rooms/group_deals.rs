//! Group deals in the room: every room hears each deal's open teams and
//! places left, a newcomer gets the open deals after `Welcome`, a member's
//! `StartTeam` and `JoinTeam` go to the commerce engine (with the payment
//! method they carry, as a checkout's does), and a member hears when their
//! team completes or is voided. The room loop never waits: requests are
//! queued and their answers polled, as the shop's are.

use super::inbox::CommandReceived;
use super::membership::{Member, clients_of};
use super::shop::ShopLink;
use super::{ServerSystems, send_event};
use crate::commerce::{
    CommerceError, CommerceEvent, CommerceHandle, GroupDeal, Joined, TeamInfo, TeamStatus,
    TeamTarget,
};
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_renet::RenetServer;
use renet::ClientId;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::{broadcast, oneshot};
use vitrine_shared::limits::group_deals::MAX_TEAMS_SHOWN;
use vitrine_shared::protocol::{GroupDealEventNet, GroupDealNet, TeamNet};
use vitrine_shared::{DealId, PaymentMethod, RoomCommand, ServerMessage, encode};

/// A join the room is waiting for: whose, and their request id.
struct Awaited {
    client: ClientId,
    request_id: u32,
    answer: oneshot::Receiver<Result<Joined, CommerceError>>,
}

#[derive(Resource)]
pub struct DealDesk {
    commerce: CommerceHandle,
    events: broadcast::Receiver<CommerceEvent>,
    /// Deals open now, for newcomers.
    pub deals: BTreeMap<DealId, GroupDealNet>,
    /// The open deals asked for at start (after subscribing, so that no
    /// news falls between).
    loading: Option<oneshot::Receiver<Vec<GroupDeal>>>,
    joins: Vec<Awaited>,
}

pub(super) fn plugin(app: &mut App) {
    let commerce = app.world().resource::<ShopLink>().commerce().clone();
    let events = commerce.subscribe();
    let loading = commerce.try_open_group_deals().ok();
    app.insert_resource(DealDesk {
        commerce,
        events,
        deals: BTreeMap::new(),
        loading,
        joins: Vec::new(),
    })
    .add_systems(
        Update,
        (queue_team_commands, tell_newcomers).in_set(ServerSystems::Relay),
    )
    .add_systems(
        Update,
        (deliver_joins, relay_deal_news).in_set(ServerSystems::Publish),
    );
}

pub(crate) fn deal_net(deal: &GroupDeal) -> GroupDealNet {
    GroupDealNet {
        id: deal.id,
        product: deal.product.clone(),
        sku: deal.sku.clone(),
        team_size: deal.team_size.clamp(0, 255) as u8,
        team_price: deal.team_price,
        regular_price: deal.regular_price,
        units_left: deal.units_left(),
        ends_at_ms: deal.ends_at_ms,
        teams: closest_to_full(&deal.teams)
            .map(|t| TeamNet {
                id: t.id,
                members: t.members.clamp(0, 255) as u8,
                places_left: t.places_left.clamp(0, 255) as u8,
                started_by: t.started_by.clone(),
            })
            .collect(),
        open_teams: deal
            .teams
            .iter()
            .filter(|t| t.status == TeamStatus::Open)
            .count()
            .min(u32::MAX as usize) as u32,
    }
}

/// The teams a room's news lists: those closest to full (the ones a
/// shopper's join completes soonest), oldest first among equals, at most
/// `MAX_TEAMS_SHOWN`, so the news stays small however many teams form.
fn closest_to_full(teams: &[TeamInfo]) -> impl Iterator<Item = &TeamInfo> {
    let mut shown: Vec<&TeamInfo> = teams
        .iter()
        .filter(|t| t.status == TeamStatus::Open)
        .collect();
    shown.sort_by_key(|t| (t.places_left, t.id));
    shown.into_iter().take(MAX_TEAMS_SHOWN)
}

/// The key a room's team command is remembered by: its request id, and a
/// hash of what it asks, so a repeat joins once and a reuse for another
/// team is refused.
fn idempotency(target: TeamTarget, request_id: u32, payment: &PaymentMethod) -> (String, u64) {
    let what = match target {
        TeamTarget::Start(deal) => format!("start:{deal}"),
        TeamTarget::Join(team) => format!("join:{team}"),
    };
    let body = encode(&(what, payment)).unwrap_or_default();
    let digest = Sha256::digest(&body);
    let hash = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    (format!("room-team:{request_id}"), hash)
}

fn queue_team_commands(
    mut received: MessageReader<CommandReceived>,
    members: Query<&Member>,
    mut desk: ResMut<DealDesk>,
    mut server: ResMut<RenetServer>,
) {
    for CommandReceived { member, command } in received.read() {
        let (target, request_id, payment) = match command {
            RoomCommand::StartTeam {
                deal,
                request_id,
                payment,
            } => (TeamTarget::Start(*deal), *request_id, payment),
            RoomCommand::JoinTeam {
                team,
                request_id,
                payment,
            } => (TeamTarget::Join(*team), *request_id, payment),
            _ => continue,
        };
        let Ok(member) = members.get(*member) else {
            continue;
        };
        // Identity from the transport: the member's account, never the payload.
        let (buyer, client) = (member.info.account, member.client);
        let key = idempotency(target, request_id, payment);
        match desk
            .commerce
            .try_join_team(buyer, target, payment.clone(), key)
        {
            Ok(answer) => desk.joins.push(Awaited {
                client,
                request_id,
                answer,
            }),
            Err(e) => {
                let failed = GroupDealEventNet::JoinFailed {
                    request_id,
                    reason: e.group_refusal(),
                };
                send_event(&mut server, client, &ServerMessage::GroupDeals(failed));
            }
        }
    }
}

/// A member who just joined hears the open deals, after `Welcome`.
fn tell_newcomers(
    joined: Query<&Member, Added<Member>>,
    desk: Res<DealDesk>,
    mut server: ResMut<RenetServer>,
) {
    for member in &joined {
        let open = GroupDealEventNet::Open(desk.deals.values().cloned().collect());
        send_event(&mut server, member.client, &ServerMessage::GroupDeals(open));
    }
}

fn deliver_joins(mut desk: ResMut<DealDesk>, mut server: ResMut<RenetServer>) {
    let desk = &mut *desk;
    if let Some(loading) = &mut desk.loading {
        match loading.try_recv() {
            Err(oneshot::error::TryRecvError::Empty) => {}
            Err(oneshot::error::TryRecvError::Closed) => desk.loading = None,
            Ok(open) => {
                // News heard meanwhile is newer than this answer: keep it.
                for deal in open {
                    desk.deals.entry(deal.id).or_insert_with(|| deal_net(&deal));
                }
                desk.loading = None;
            }
        }
    }
    desk.joins.retain_mut(|awaited| {
        let result = match awaited.answer.try_recv() {
            Err(oneshot::error::TryRecvError::Empty) => return true,
            Err(oneshot::error::TryRecvError::Closed) => Err(CommerceError::Unavailable),
            Ok(answer) => answer,
        };
        let event = match result {
            Ok(joined) => GroupDealEventNet::Joined {
                request_id: awaited.request_id,
                deal: joined.team.deal,
                team: TeamNet {
                    id: joined.team.id,
                    members: joined.team.members.clamp(0, 255) as u8,
                    places_left: joined.team.places_left.clamp(0, 255) as u8,
                    started_by: joined.team.started_by.clone(),
                },
                order_id: joined.order_id,
                price: joined.price,
            },
            Err(e) => GroupDealEventNet::JoinFailed {
                request_id: awaited.request_id,
                reason: e.group_refusal(),
            },
        };
        send_event(
            &mut server,
            awaited.client,
            &ServerMessage::GroupDeals(event),
        );
        false
    });
}

/// Every room hears every deal's news; a team's outcome goes to its
/// members' clients only.
fn relay_deal_news(
    mut desk: ResMut<DealDesk>,
    members: Query<&Member>,
    mut server: ResMut<RenetServer>,
) {
    loop {
        let event = match desk.events.try_recv() {
            Ok(event) => event,
            // Missed news: the deal's next change carries its whole state.
            Err(TryRecvError::Lagged(missed)) => {
                tracing::warn!(missed, "group deal news lagged");
                continue;
            }
            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
        };
        let news = match event {
            CommerceEvent::GroupDealChanged(deal) => {
                let net = deal_net(&deal);
                desk.deals.insert(net.id, net.clone());
                GroupDealEventNet::Deal(net)
            }
            CommerceEvent::GroupDealEnded { deal } => {
                desk.deals.remove(&deal);
                GroupDealEventNet::Ended { deal }
            }
            CommerceEvent::TeamCompleted {
                deal,
                team,
                members: buyers,
            } => {
                for (buyer, order_id) in buyers {
                    let message = ServerMessage::GroupDeals(GroupDealEventNet::TeamCompleted {
                        deal,
                        team,
                        order_id,
                    });
                    for client in clients_of(&members, buyer) {
                        send_event(&mut server, client, &message);
                    }
                }
                continue;
            }
            CommerceEvent::TeamVoided {
                deal,
                team,
                members: buyers,
            } => {
                let message =
                    ServerMessage::GroupDeals(GroupDealEventNet::TeamVoided { deal, team });
                for buyer in buyers {
                    for client in clients_of(&members, buyer) {
                        send_event(&mut server, client, &message);
                    }
                }
                continue;
            }
            CommerceEvent::TeamFailed {
                deal,
                team,
                members: buyers,
            } => {
                let message =
                    ServerMessage::GroupDeals(GroupDealEventNet::TeamFailed { deal, team });
                for buyer in buyers {
                    for client in clients_of(&members, buyer) {
                        send_event(&mut server, client, &message);
                    }
                }
                continue;
            }
            _ => continue,
        };
        let message = ServerMessage::GroupDeals(news);
        for client in server.clients_id() {
            send_event(&mut server, client, &message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_shared::{Currency, Money, ProductId, Sku, TeamId};

    #[test]
    fn the_news_lists_the_open_teams_closest_to_full_and_counts_them_all() {
        let team = |id: i64, status: TeamStatus, places_left: i64| TeamInfo {
            id: TeamId(id),
            deal: DealId(1),
            status,
            members: 5 - places_left,
            places_left,
            started_by: None,
        };
        // Many teams, with one a place from full far down the list, and a
        // full one being captured (not open, so neither listed nor counted).
        let mut teams: Vec<TeamInfo> = (1..=3 * MAX_TEAMS_SHOWN as i64)
            .map(|id| team(id, TeamStatus::Open, 4))
            .collect();
        teams.push(team(1000, TeamStatus::Open, 1));
        teams.push(team(1001, TeamStatus::Capturing, 0));
        let eur = |minor| Money::new(minor, Currency::EUR);
        let deal = GroupDeal {
            id: DealId(1),
            product: ProductId::new("stoneware-mug").unwrap(),
            sku: Sku::new("stoneware-mug-sage").unwrap(),
            team_size: 5,
            team_price: eur(1200),
            regular_price: eur(1600),
            stock_cap: 1000,
            taken: 0,
            sold: 0,
            starts_at_ms: 0,
            ends_at_ms: 1,
            until_show_ends: None,
            teams,
        };
        let net = deal_net(&deal);
        assert_eq!(net.teams.len(), MAX_TEAMS_SHOWN);
        assert_eq!(net.open_teams, 3 * MAX_TEAMS_SHOWN as u32 + 1);
        assert_eq!(net.teams[0].id, TeamId(1000));
        assert_eq!(net.teams[1].id, TeamId(1));
        assert!(net.teams.iter().all(|t| t.id != TeamId(1001)));
    }
}
