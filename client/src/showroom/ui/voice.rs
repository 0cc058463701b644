//! Voice, as plain data: your microphone in a few words ("Push V to talk",
//! "Talking", "Mic off") with who hears you (nearby or party), its
//! switches, who is speaking, and each person's volume and mute (the party
//! members in this room, and the shopper you look at). Built by [`build`]
//! from [`VoiceStatus`] and the room mirror; the keys (`M` mode, `T`
//! nearby / party, `K` mute who you look at) become [`UiAction`]s here.
//! V itself (held) is the voice feature's.

use super::view::ViewButton;
use super::{CurrentView, UiAction};
use crate::net::RoomMirror;
use crate::showroom::focus::{FocusDecided, UiFocus};
use crate::showroom::voice::settings::{MAX_VOLUME, VOLUME_STEP};
use crate::showroom::voice::{TalkMode, VoiceStatus};
use crate::showroom::{AppState, ShowroomSystems};
use bevy::prelude::*;
use std::collections::BTreeSet;
use vitrine_shared::AccountId;
use vitrine_shared::protocol::VoiceTarget;

pub const TALK_KEY: &str = "V";
pub const MODE_KEY: &str = "M";
pub const TARGET_KEY: &str = "T";
pub const MUTE_KEY: &str = "K";
/// XR's push-to-talk: the controllers' face button.
pub const XR_TALK_BUTTON: &str = "A/X";

pub(super) fn plugin(app: &mut App) {
    app.add_systems(
        Update,
        voice_keys
            .after(FocusDecided)
            .in_set(ShowroomSystems::Input)
            .run_if(in_state(AppState::Showroom)),
    );
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct VoiceView {
    /// The microphone in a few words: "Push V to talk", "Talking",
    /// "Open mic", "Mic off", "No microphone".
    pub mic: String,
    /// Frames go out now.
    pub live: bool,
    pub mode: TalkMode,
    /// Who hears you: "Nearby" or "Party".
    pub heard_by: String,
    /// In a party: the switch can go to "party".
    pub in_party: bool,
    /// Why there is no voice, if so.
    pub problem: Option<String>,
    /// In XR: the wrist panel carries the mic line, so the mirror window
    /// shows no voice box (it would cover what the headset sees).
    pub xr: bool,
    /// Who is speaking in this room now.
    pub speaking: BTreeSet<AccountId>,
    /// Party members in this room (not you), for the Together panel.
    pub members: Vec<PersonVoiceView>,
    /// The shopper you look at.
    pub pointed: Option<PersonVoiceView>,
}

/// One person's voice controls.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonVoiceView {
    pub account: AccountId,
    pub name: String,
    pub speaking: bool,
    pub muted: bool,
    /// Percent.
    pub volume: u16,
}

impl VoiceView {
    /// The switches: the next talk mode, and nearby / party in a party.
    pub fn buttons(&self) -> Vec<ViewButton> {
        let mode = match self.mode.next() {
            TalkMode::PushToTalk => "Push to talk",
            TalkMode::OpenMic => "Open mic",
            TalkMode::Muted => "Mute mic",
        };
        let mut buttons = vec![ViewButton::new(mode, UiAction::CycleTalkMode).with_key(MODE_KEY)];
        if self.in_party {
            let other = if self.heard_by == "Party" {
                "Talk nearby"
            } else {
                "Talk to party"
            };
            buttons.push(ViewButton::new(other, UiAction::ToggleVoiceTarget).with_key(TARGET_KEY));
        }
        buttons
    }

    /// One line for the screen: "Push V to talk - Nearby", "No
    /// microphone - Nearby - no speakers".
    pub fn line(&self) -> String {
        match &self.problem {
            Some(problem) => format!("{} - {} - {problem}", self.mic, self.heard_by),
            None => format!("{} - {}", self.mic, self.heard_by),
        }
    }
}

impl PersonVoiceView {
    /// Mute or unmute, quieter, louder.
    pub fn buttons(&self) -> Vec<ViewButton> {
        let mut buttons = vec![ViewButton::new(
            if self.muted { "Unmute" } else { "Mute" },
            UiAction::MuteVoice {
                account: self.account,
                muted: !self.muted,
            },
        )];
        if !self.muted {
            buttons.push(ViewButton::new(
                "Vol -",
                UiAction::SetVoiceVolume {
                    account: self.account,
                    volume: self.volume.saturating_sub(VOLUME_STEP),
                },
            ));
            buttons.push(ViewButton::new(
                "Vol +",
                UiAction::SetVoiceVolume {
                    account: self.account,
                    volume: (self.volume + VOLUME_STEP).min(MAX_VOLUME),
                },
            ));
        }
        buttons
    }

    /// "Bea 75%", "Bea (muted)", "Bea speaking".
    pub fn label(&self) -> String {
        let mut label = self.name.clone();
        if self.muted {
            label.push_str(" (muted)");
        } else {
            if self.volume != 100 {
                label.push_str(&format!(" {}%", self.volume));
            }
            if self.speaking {
                label.push_str(" - speaking");
            }
        }
        label
    }
}

/// The voice view from the status, the room and who is looked at.
pub fn build(
    status: &VoiceStatus,
    mirror: Option<&RoomMirror>,
    pointed: Option<AccountId>,
) -> VoiceView {
    let talk = if status.xr { XR_TALK_BUTTON } else { TALK_KEY };
    let no_mic = status
        .problem
        .as_deref()
        .is_some_and(|p| p.contains("microphone") || p.contains("encoder"));
    let mic = match (no_mic, status.mode, status.talking) {
        _ if status.moderated.is_some() => "Muted by a moderator".to_owned(),
        (_, TalkMode::Muted, _) => "Mic off".to_owned(),
        (true, _, _) => "No microphone".to_owned(),
        (false, _, true) => "Talking".to_owned(),
        (false, TalkMode::PushToTalk, false) => format!("Push {talk} to talk"),
        (false, TalkMode::OpenMic, false) => "Open mic".to_owned(),
    };
    // What else is wrong, once: the microphone is the line's own word.
    let problem = status
        .problem
        .as_deref()
        .map(|p| {
            p.split(", ")
                .filter(|w| !w.contains("microphone"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|p| !p.is_empty());
    let heard_by = match status.heard_by() {
        VoiceTarget::Nearby => "Nearby",
        VoiceTarget::Party => "Party",
    }
    .to_owned();
    let mut view = VoiceView {
        mic,
        live: status.talking,
        mode: status.mode,
        heard_by,
        in_party: status.in_party,
        problem: problem.or(status.moderated.clone()),
        xr: status.xr,
        ..Default::default()
    };
    let Some(m) = mirror else {
        return view;
    };
    view.speaking = status
        .speaking
        .keys()
        .filter_map(|slot| m.members.get(slot).map(|i| i.account))
        .collect();
    let you = m.my_account();
    let person = |account: AccountId| {
        let info = m.members.values().find(|i| i.account == account)?;
        let chosen = status.person(account);
        Some(PersonVoiceView {
            account,
            name: info.name.as_str().to_owned(),
            speaking: view.speaking.contains(&account),
            muted: chosen.muted,
            volume: chosen.volume,
        })
    };
    if let Some(party) = &m.party.party {
        view.members = party
            .members
            .iter()
            .filter(|p| Some(p.account) != you)
            .filter_map(|p| person(p.account))
            .collect();
    }
    view.pointed = pointed.filter(|a| Some(*a) != you).and_then(person);
    view
}

/// `M` switches the talk mode, `T` nearby / party, `K` mutes or unmutes
/// the shopper you look at (what the view shows: last frame's).
fn voice_keys(
    keys: Res<ButtonInput<KeyCode>>,
    focus: Res<UiFocus>,
    current: Res<CurrentView>,
    mut actions: MessageWriter<UiAction>,
) {
    if focus.typing {
        return;
    }
    let voice = &current.0.voice;
    if keys.just_pressed(KeyCode::KeyM) {
        actions.write(UiAction::CycleTalkMode);
    }
    if keys.just_pressed(KeyCode::KeyT) && voice.in_party {
        actions.write(UiAction::ToggleVoiceTarget);
    }
    if keys.just_pressed(KeyCode::KeyK)
        && let Some(person) = &voice.pointed
    {
        actions.write(UiAction::MuteVoice {
            account: person.account,
            muted: !person.muted,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::showroom::voice::PersonVoice;
    use vitrine_shared::protocol::{MemberInfo, PartyMemberNet, PartyNet};
    use vitrine_shared::{DisplayName, MemberSlot, PartyId, Role};

    /// Me (1), Bea (2, in my party) and Cy (3) in the room.
    fn mirror() -> RoomMirror {
        let mut m = RoomMirror::default();
        m.you = Some(MemberSlot(1));
        for (slot, name) in [(1u16, "Me"), (2, "Bea"), (3, "Cy")] {
            m.members.insert(
                MemberSlot(slot),
                MemberInfo {
                    slot: MemberSlot(slot),
                    account: AccountId(slot as u64),
                    name: DisplayName::new(name).unwrap(),
                    role: Role::Shopper,
                },
            );
        }
        m
    }

    fn party(m: &mut RoomMirror) {
        let member = |a: u64, n: &str| PartyMemberNet {
            account: AccountId(a),
            name: DisplayName::new(n).unwrap(),
            room: None,
            colour: a as u8,
            room_name: None,
        };
        m.party.party = Some(PartyNet {
            id: PartyId(1),
            leader: AccountId(1),
            members: vec![member(1, "Me"), member(2, "Bea")],
            invited: vec![],
        });
    }

    #[test]
    fn the_mic_says_how_to_talk_and_who_hears() {
        let mut status = VoiceStatus::default();
        let v = build(&status, None, None);
        assert_eq!(v.line(), "Push V to talk - Nearby");
        assert_eq!(v.buttons().len(), 1, "no party, no switch");
        status.talking = true;
        assert_eq!(build(&status, None, None).mic, "Talking");
        // No microphone: said once; anything else wrong, after.
        status.problem = Some("no microphone, no speakers".into());
        assert_eq!(
            build(&status, None, None).line(),
            "No microphone - Nearby - no speakers"
        );
        status.problem = None;
        status.talking = false;
        status.xr = true;
        assert_eq!(build(&status, None, None).mic, "Push A/X to talk");
        status.mode = TalkMode::Muted;
        assert_eq!(build(&status, None, None).mic, "Mic off");
        // Party chosen but not in one: nearby it is.
        status.mode = TalkMode::OpenMic;
        status.target = VoiceTarget::Party;
        assert_eq!(build(&status, None, None).line(), "Open mic - Nearby");
        status.in_party = true;
        let v = build(&status, None, None);
        assert_eq!(v.line(), "Open mic - Party");
        let labels: Vec<_> = v.buttons().iter().map(|b| b.keyed_label()).collect();
        assert_eq!(labels, ["Mute mic (M)", "Talk nearby (T)"]);
    }

    #[test]
    fn members_and_the_one_looked_at_get_volume_and_mute() {
        let mut m = mirror();
        party(&mut m);
        let mut status = VoiceStatus::default();
        status.speaking.insert(MemberSlot(2), 0.8);
        status.people.insert(
            AccountId(3),
            PersonVoice {
                volume: 100,
                muted: true,
            },
        );
        let v = build(&status, Some(&m), Some(AccountId(3)));
        assert_eq!(v.speaking, BTreeSet::from([AccountId(2)]));
        assert_eq!(v.members.len(), 1, "not you");
        let bea = &v.members[0];
        assert_eq!(bea.label(), "Bea - speaking");
        assert_eq!(
            bea.buttons()[0].action,
            UiAction::MuteVoice {
                account: AccountId(2),
                muted: true
            }
        );
        assert_eq!(
            bea.buttons()[2].action,
            UiAction::SetVoiceVolume {
                account: AccountId(2),
                volume: 125
            }
        );
        let cy = v.pointed.unwrap();
        assert_eq!(cy.label(), "Cy (muted)");
        assert_eq!(cy.buttons().len(), 1, "only unmute");
        // Looking at yourself offers nothing.
        assert!(
            build(&status, Some(&m), Some(AccountId(1)))
                .pointed
                .is_none()
        );
    }
}
