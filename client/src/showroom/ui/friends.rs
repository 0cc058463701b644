//! The friends panel: your friends with where each is, a "Join" button for
//! a friend in another room, and requests that arrived. [`panel`] builds
//! it from the room's mirror for the view-model; [`draw`] is the desktop's
//! drawing. "Join" asks the server for the friend's room first (the same
//! checks as any join), and only on a yes does the session move there; a
//! refusal becomes the notice.

use super::desktop::{boxed, button, row, text};
use super::{UiAction, UiState};
use crate::net::RoomMirror;
use crate::showroom::session::{Session, SessionRequest};
use crate::showroom::{AppState, ShowroomSystems};
use bevy::prelude::*;

/// Friends listed at once (the rest are counted).
pub const LISTED: usize = 8;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct FriendsPanel {
    pub friends: Vec<FriendLine>,
    /// Friends beyond [`LISTED`].
    pub more: usize,
    /// Who asked to be your friend while you were here.
    pub requests: Vec<String>,
}

impl FriendsPanel {
    pub fn is_empty(&self) -> bool {
        self.friends.is_empty() && self.requests.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FriendLine {
    pub account: u64,
    pub name: String,
    /// "Offline", "Here", or the room's name (with the live show's title).
    pub place: String,
    pub online: bool,
    /// In another room: the panel offers "Join".
    pub joinable: bool,
}

/// The panel from the mirror: online friends first, then by name.
pub fn panel(mirror: Option<&RoomMirror>) -> FriendsPanel {
    let Some(mirror) = mirror else {
        return FriendsPanel::default();
    };
    let mut friends: Vec<FriendLine> = mirror
        .friends
        .values()
        .map(|f| {
            let here = f
                .presence
                .as_ref()
                .is_some_and(|p| Some(&p.room) == mirror.room.as_ref());
            let place = match &f.presence {
                None => "Offline".to_owned(),
                Some(_) if here => "Here".to_owned(),
                Some(p) => match &p.show {
                    Some(show) => format!("{} ({show})", p.room_name),
                    None => p.room_name.clone(),
                },
            };
            FriendLine {
                account: f.account.0,
                name: f.name.as_str().to_owned(),
                place,
                online: f.presence.is_some(),
                joinable: f.presence.is_some() && !here,
            }
        })
        .collect();
    friends.sort_by(|a, b| (!a.online, &a.name).cmp(&(!b.online, &b.name)));
    let more = friends.len().saturating_sub(LISTED);
    friends.truncate(LISTED);
    FriendsPanel {
        friends,
        more,
        requests: mirror
            .friend_requests
            .iter()
            .map(|(_, name)| name.as_str().to_owned())
            .collect(),
    }
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(
        Update,
        follow
            .in_set(ShowroomSystems::Input)
            .run_if(in_state(AppState::Showroom)),
    );
}

/// "Join" on a friend: ask the session to follow; a refusal the session
/// heard becomes the notice.
fn follow(
    mut actions: MessageReader<UiAction>,
    mut requests: MessageWriter<SessionRequest>,
    mut session: ResMut<Session>,
    mut ui: ResMut<UiState>,
) {
    for action in actions.read() {
        if let UiAction::JoinFriend(account) = action {
            requests.write(SessionRequest::JoinFriend { account: *account });
        }
    }
    if let Some(refused) = session.follow_refused.take() {
        ui.notice(refused);
    }
}

/// The desktop's drawing: nothing while there is nothing to show.
pub(super) fn draw(view: &FriendsPanel, p: &mut ChildSpawnerCommands) {
    if view.is_empty() {
        return;
    }
    boxed(p, |b| {
        text(b, "Friends", 18.0, Color::WHITE);
        for friend in &view.friends {
            row(b, |r| {
                let colour = if friend.online {
                    Color::srgb(0.55, 0.9, 0.6)
                } else {
                    Color::srgb(0.6, 0.62, 0.68)
                };
                text(
                    r,
                    format!("{}  {}", friend.name, friend.place),
                    15.0,
                    colour,
                );
                if friend.joinable {
                    button(r, "Join", UiAction::JoinFriend(friend.account));
                }
            });
        }
        if view.more > 0 {
            text(b, format!("and {} more", view.more), 13.0, Color::WHITE);
        }
        for name in &view.requests {
            text(
                b,
                format!("{name} asked to be your friend"),
                14.0,
                Color::srgb(1.0, 0.8, 0.35),
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_shared::protocol::{FriendNet, PresenceNet};
    use vitrine_shared::{AccountId, DisplayName, RoomId};

    fn friend(id: u64, name: &str, room: Option<(&str, Option<&str>)>) -> FriendNet {
        FriendNet {
            account: AccountId(id),
            name: DisplayName::new(name).unwrap(),
            presence: room.map(|(r, show)| PresenceNet {
                room: RoomId::new(r).unwrap(),
                room_name: format!("The {r}"),
                show: show.map(str::to_owned),
            }),
        }
    }

    #[test]
    fn online_friends_come_first_and_only_those_elsewhere_can_be_joined() {
        let mut mirror = RoomMirror::default();
        mirror.room = Some(RoomId::new("hall").unwrap());
        for f in [
            friend(1, "Zoe", Some(("annex", Some("Spring drop")))),
            friend(2, "Ada", None),
            friend(3, "Bo", Some(("hall", None))),
        ] {
            mirror.friends.insert(f.account, f);
        }
        mirror
            .friend_requests
            .push((AccountId(4), DisplayName::new("Cy").unwrap()));
        let view = panel(Some(&mirror));
        let lines: Vec<(&str, &str, bool)> = view
            .friends
            .iter()
            .map(|f| (f.name.as_str(), f.place.as_str(), f.joinable))
            .collect();
        assert_eq!(
            lines,
            [
                ("Bo", "Here", false),
                ("Zoe", "The annex (Spring drop)", true),
                ("Ada", "Offline", false),
            ]
        );
        assert_eq!(view.requests, ["Cy"]);
        assert!(panel(None).is_empty());
    }

    #[test]
    fn a_long_list_is_cut_and_counted() {
        let mut mirror = RoomMirror::default();
        for i in 0..(LISTED as u64 + 3) {
            let f = friend(i, &format!("F{i:02}"), None);
            mirror.friends.insert(f.account, f);
        }
        let view = panel(Some(&mirror));
        assert_eq!((view.friends.len(), view.more), (LISTED, 3));
    }
}
