//! The party in the showroom's UI: keys and buttons become party commands
//! (`Y` accepts the oldest invite, `N` declines it, `J` follows the leader,
//! `P` shares the product whose card is open), party news becomes notices,
//! and the desktop draws [`PartyView`](super::party_view::PartyView) as its
//! own panel (top left, under the status).

use super::desktop::{ActionButton, boxed, button, row, text};
use super::{CurrentView, UiAction, UiState};
use crate::net::RoomChange;
use crate::showroom::focus::UiFocus;
use crate::showroom::holding::Pointer;
use crate::showroom::party::party_colour;
use crate::showroom::session::{RoomChangeMessage, SendCommand, Session, SessionRequest};
use crate::showroom::{AppState, ShowroomSystems};
use bevy::prelude::*;
use vitrine_shared::RoomCommand;
use vitrine_shared::protocol::{PartyCommand, PartyEventNet};

const MUTED: Color = Color::srgb(0.72, 0.75, 0.82);
const GOLD: Color = Color::srgb(1.0, 0.8, 0.35);

pub(super) fn plugin(app: &mut App) {
    app.add_systems(OnEnter(AppState::Showroom), spawn_panel)
        .add_systems(
            Update,
            party_keys
                .in_set(ShowroomSystems::Input)
                .after(super::chat_keys)
                .run_if(in_state(AppState::Showroom)),
        )
        .add_systems(
            Update,
            (party_actions, hear_party)
                .chain()
                .before(super::build_view)
                .in_set(ShowroomSystems::Present)
                .run_if(in_state(AppState::Showroom)),
        )
        .add_systems(
            Update,
            draw_panel
                .after(super::build_view)
                .in_set(ShowroomSystems::Present)
                .run_if(in_state(AppState::Showroom)),
        );
}

/// Where the party panel is drawn.
#[derive(Component)]
struct PartyPanel;

fn spawn_panel(mut commands: Commands) {
    commands.spawn((
        DespawnOnExit(AppState::Showroom),
        PartyPanel,
        Interaction::default(),
        Node {
            position_type: PositionType::Absolute,
            flex_direction: FlexDirection::Column,
            row_gap: px(6),
            left: px(16),
            top: px(210),
            width: px(330),
            ..default()
        },
    ));
}

fn party_keys(
    keys: Res<ButtonInput<KeyCode>>,
    focus: Res<UiFocus>,
    current: Res<CurrentView>,
    mut actions: MessageWriter<UiAction>,
) {
    if focus.typing {
        return;
    }
    let party = &current.0.party;
    if let Some(invite) = party.invites.first() {
        if keys.just_pressed(KeyCode::KeyY) {
            actions.write(UiAction::AcceptInvite(invite.party));
        }
        if keys.just_pressed(KeyCode::KeyN) {
            actions.write(UiAction::DeclineInvite(invite.party));
        }
    }
    if keys.just_pressed(KeyCode::KeyJ) && party.follow.is_some() {
        actions.write(UiAction::FollowLeader);
    }
    if keys.just_pressed(KeyCode::KeyP) && party.in_party() {
        actions.write(UiAction::ShareProduct);
    }
}

fn party_actions(
    mut actions: MessageReader<UiAction>,
    session: Res<Session>,
    current: Res<CurrentView>,
    pointer: Res<Pointer>,
    mut send: MessageWriter<SendCommand>,
    mut requests: MessageWriter<SessionRequest>,
    mut ui: ResMut<UiState>,
) {
    for action in actions.read() {
        let command = match action {
            UiAction::AcceptInvite(party) => PartyCommand::Accept { party: *party },
            UiAction::DeclineInvite(party) => PartyCommand::Decline { party: *party },
            UiAction::LeaveParty => PartyCommand::Leave,
            UiAction::ShareProduct => match pointer.card_product() {
                Some(product) => PartyCommand::Share {
                    product: product.clone(),
                },
                None => {
                    ui.notice("Point at a product to share it with your party");
                    continue;
                }
            },
            UiAction::FollowLeader => {
                if let Some(follow) = &current.0.party.follow {
                    requests.write(SessionRequest::Follow {
                        room: follow.room.to_string(),
                    });
                }
                continue;
            }
            _ => continue,
        };
        if session.can_send() {
            send.write(SendCommand(RoomCommand::Party(command)));
        } else {
            ui.notice("Not connected: try again in a moment");
        }
    }
}

/// Invites, follow offers, shares and refusals become notices; so does a
/// refused follow.
fn hear_party(
    mut changes: MessageReader<RoomChangeMessage>,
    mut session: ResMut<Session>,
    mut ui: ResMut<UiState>,
) {
    // Read before taking: a `ResMut` written to every frame counts as changed.
    if session.follow_refused.is_some()
        && let Some(reason) = session.follow_refused.take()
    {
        ui.notice(format!("Could not follow: {reason}"));
    }
    for RoomChangeMessage(change) in changes.read() {
        let RoomChange::Party(event) = change else {
            continue;
        };
        match event {
            PartyEventNet::Invited { by_name, .. } => ui.notice(format!(
                "{by_name} invites you to a party: Y accept, N decline"
            )),
            PartyEventNet::InviteDeclined { name, .. } => {
                ui.notice(format!("{name} declined your invite"))
            }
            PartyEventNet::Shared { name, .. } => {
                ui.notice(format!("{name} shared a product: see the party panel"))
            }
            PartyEventNet::Refused { refusal, .. } => ui.notice(refusal.to_string()),
            _ => {}
        }
    }
}

fn draw_panel(
    mut commands: Commands,
    current: Res<CurrentView>,
    panel: Query<Entity, With<PartyPanel>>,
    mut drawn: Local<Option<super::party_view::PartyView>>,
) {
    let view = &current.0.party;
    if drawn.as_ref() == Some(view) {
        return;
    }
    let Ok(panel) = panel.single() else {
        return;
    };
    commands.entity(panel).despawn_children();
    commands.entity(panel).with_children(|p| {
        if !view.in_party() && view.invites.is_empty() && view.ended.is_none() {
            return;
        }
        boxed(p, |b| {
            text(b, "Party", 18.0, Color::WHITE);
            for member in &view.members {
                let mut label = member.name.clone();
                if member.leader {
                    label.push_str(" (leader)");
                }
                if member.you {
                    label.push_str(" - you");
                }
                text(
                    b,
                    format!("{label}  {}", member.place),
                    14.0,
                    party_colour(member.colour),
                );
            }
            for name in &view.invited {
                text(b, format!("{name} (invited)"), 13.0, MUTED);
            }
            if let Some(ended) = &view.ended {
                text(b, ended.clone(), 13.0, MUTED);
            }
            for invite in &view.invites {
                text(b, invite.text.clone(), 14.0, GOLD);
                row(b, |r| {
                    button(r, "Accept (Y)", UiAction::AcceptInvite(invite.party));
                    button(r, "Decline (N)", UiAction::DeclineInvite(invite.party));
                });
            }
            if let Some(follow) = &view.follow {
                text(b, follow.text.clone(), 14.0, GOLD);
                if follow.seat {
                    button(b, "Follow (J)", UiAction::FollowLeader);
                }
            }
            for line in &view.lines {
                match &line.product {
                    Some(product) => {
                        b.spawn((
                            Button,
                            ActionButton(UiAction::Select(product.clone())),
                            Node::default(),
                            BackgroundColor(Color::NONE),
                        ))
                        .with_children(|l| {
                            text(l, format!("{}: {}", line.name, line.text), 13.0, GOLD)
                        });
                    }
                    None => text(b, format!("{}: {}", line.name, line.text), 13.0, MUTED),
                }
            }
            if view.in_party() {
                text(b, "P share the product you point at", 12.0, MUTED);
                button(b, "Leave party", UiAction::LeaveParty);
            }
        });
    });
    *drawn = Some(view.clone());
}
