//! Spatial voice in the showroom: the talk modes (push-to-talk on V or a
//! controller's face button, open mic through the engine's voice-activity
//! detection, muted), the "nearby / party" switch, each person's volume
//! and mute, the engine's frames sent and the frames received fed to it
//! with where the listener and each speaker's head are.
//!
//! The audio itself (capture, Opus, jitter buffers, the spatial mix) is the
//! engine's ([`engine::VoiceBackend`]), on its own threads. This feature
//! only passes frames and positions across, and it talks to the others
//! through messages: [`UiAction`]s in, [`OutgoingVoice`] and
//! [`SendCommand`] out, [`IncomingVoice`] from the session. What it knows
//! it publishes in [`VoiceStatus`], which the view-model and the speaking
//! indicators ([`indicators`]) read.

pub mod audio;
pub mod engine;
pub mod indicators;
pub mod settings;

use super::focus::{FocusDecided, UiFocus};
use super::input_mode::XrMode;
use super::player::MainCamera;
use super::session::{IncomingVoice, OutgoingVoice, RoomChangeMessage, SendCommand, Session};
use super::ui::{UiAction, ViewBuilt};
use super::{AppState, Options, ShowroomSystems};
use crate::net::{RoomChange, RoomMirror};
use bevy::prelude::*;
use engine::{Capture, Listener, Silent, VoiceBackend};
pub use settings::{PersonVoice, TalkMode, VoiceSettings};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use vitrine_shared::protocol::{VoiceCommand, VoiceEventNet, VoiceTarget, VoiceUp};
use vitrine_shared::{AccountId, MemberSlot, RoomCommand};

/// A speaker counts as speaking this long after their last voiced frame
/// (a few frames: the indicator does not flicker between words).
pub const SPEAKING_HOLD_S: f32 = 0.35;
/// A frame this small is DTX's silence, not speech (Opus's TOC byte and a
/// little).
const SILENCE_BYTES: usize = 3;
/// Speakers are placed while heard within this long; then forgotten.
const PLACED_S: f32 = 2.0;
/// A desktop avatar's head over its feet (the avatars' sphere).
pub const HEAD_HEIGHT: f32 = 1.45;
/// "Talking" shows this long after an open mic's last frame.
const TALKING_HOLD_S: f32 = 0.3;

pub(super) fn plugin(app: &mut App) {
    let options = app.world().resource::<Options>();
    let dir = settings_dir(options);
    let saved = dir.as_deref().map(VoiceSettings::load).unwrap_or_default();
    if !app.world().contains_resource::<VoiceEngine>() {
        let engine = default_engine(options);
        app.insert_resource(engine);
    }
    app.insert_resource(VoiceControl::new(saved, dir))
        .init_resource::<VoiceStatus>()
        .add_message::<UiAction>()
        .add_message::<SendCommand>()
        .add_message::<OutgoingVoice>()
        .add_message::<IncomingVoice>()
        .add_plugins(indicators::plugin)
        .add_systems(
            Update,
            push_to_talk
                .after(FocusDecided)
                .in_set(ShowroomSystems::Input)
                .run_if(in_state(AppState::Showroom)),
        )
        .add_systems(
            Update,
            (hear, place).chain().in_set(ShowroomSystems::Simulate),
        )
        .add_systems(
            Update,
            (voice_actions, tell_mutes, capture, publish)
                .chain()
                .in_set(ShowroomSystems::Present)
                .before(ViewBuilt),
        );
}

/// Where the choices are kept: `--config-dir`, else the user's config
/// directory; offscreen runs (pictures, benchmarks, tests) keep nothing
/// unless given a directory, so they neither read nor change a user's.
fn settings_dir(options: &Options) -> Option<PathBuf> {
    match &options.config_dir {
        Some(dir) => Some(dir.clone()),
        None if options.offscreen() => None,
        None => settings::default_dir(),
    }
}

/// The engine for how the showroom runs: the microphone and the sound
/// card in a window; offscreen (pictures, headless tests) the mix for who
/// speaks and nothing played; none for the bench, which measures frames.
fn default_engine(options: &Options) -> VoiceEngine {
    use audio::{AudioEngine, Hearing};
    if options.bench {
        VoiceEngine(Box::new(Silent::default()))
    } else if options.offscreen() {
        VoiceEngine(Box::new(AudioEngine::start(None, Hearing::Nowhere)))
    } else {
        VoiceEngine(Box::new(AudioEngine::start(
            Some(vitrine_media::voice::Source::Microphone),
            Hearing::Device,
        )))
    }
}

/// The audio engine the feature drives. Installed before the plugin (a
/// test's, or the real one); without one, [`Silent`].
#[derive(Resource)]
pub struct VoiceEngine(pub Box<dyn VoiceBackend>);

/// The voice as it stands, for the view-model and the indicators.
#[derive(Resource, Debug, Clone, PartialEq, Default)]
pub struct VoiceStatus {
    pub mode: TalkMode,
    /// Who the shopper chose to talk to (party only counts in a party).
    pub target: VoiceTarget,
    /// In a party: the switch can say "party".
    pub in_party: bool,
    /// Frames are going out now.
    pub talking: bool,
    /// Push-to-talk is held.
    pub held: bool,
    /// In XR: push-to-talk is the controller's button, not V.
    pub xr: bool,
    /// Who is speaking now, by slot in this room, with their level (0 to 1).
    pub speaking: BTreeMap<MemberSlot, f32>,
    /// Volumes and mutes chosen, by account.
    pub people: BTreeMap<AccountId, PersonVoice>,
    /// Why there is no voice ("no microphone"), if so.
    pub problem: Option<String>,
    /// A moderator voice-muted you: why, while it lasts.
    pub moderated: Option<String>,
}

impl VoiceStatus {
    /// Who hears the shopper: the party only while in one.
    pub fn heard_by(&self) -> VoiceTarget {
        if self.in_party {
            self.target
        } else {
            VoiceTarget::Nearby
        }
    }

    pub fn person(&self, account: AccountId) -> PersonVoice {
        self.people.get(&account).copied().unwrap_or_default()
    }
}

/// The feature's own state: the choices (and where they are kept), the
/// microphone, who was heard when, and which mutes the server was told.
#[derive(Resource, Debug)]
pub struct VoiceControl {
    pub settings: VoiceSettings,
    dir: Option<PathBuf>,
    /// Push-to-talk held (V, or a controller's talk button).
    pub held: bool,
    capture: Option<Capture>,
    /// Seconds since each speaker's last frame: they are placed (and their
    /// volume set) while heard within [`PLACED_S`].
    heard: BTreeMap<MemberSlot, f32>,
    /// Who spoke lately: their last level and the seconds since. Kept for
    /// [`SPEAKING_HOLD_S`], so that a showroom frame slower than the
    /// engine's own hold still sees each word.
    voiced: BTreeMap<MemberSlot, (f32, f32)>,
    /// Whose voice each slot last carried: a slot reused by someone new
    /// (after its member left) starts with a fresh jitter buffer.
    slot_owner: BTreeMap<MemberSlot, AccountId>,
    /// Mutes the server was told on this link, by account.
    told: BTreeSet<AccountId>,
    /// Seconds since the last frame went out.
    sent_ago: f32,
    /// A moderator's voice-mute: the reason and the seconds left.
    moderated: Option<(String, f32)>,
    /// Reused each frame: no allocation while talking.
    frames: Vec<VoiceUp>,
    levels: Vec<(MemberSlot, f32)>,
    placed: Vec<(MemberSlot, Vec3)>,
}

/// What an action changed.
#[derive(Debug, Default, PartialEq)]
pub struct Changed {
    /// The choices changed: save them.
    pub save: bool,
    /// The server should hear this mute (or unmute).
    pub mute: Option<(AccountId, bool)>,
}

impl VoiceControl {
    pub fn new(settings: VoiceSettings, dir: Option<PathBuf>) -> Self {
        VoiceControl {
            settings,
            dir,
            held: false,
            capture: None,
            heard: BTreeMap::new(),
            voiced: BTreeMap::new(),
            slot_owner: BTreeMap::new(),
            told: BTreeSet::new(),
            sent_ago: f32::INFINITY,
            moderated: None,
            frames: Vec::new(),
            levels: Vec::new(),
            placed: Vec::new(),
        }
    }

    /// When the microphone's frames go out, by the mode and the key.
    pub fn capture_now(&self) -> Capture {
        // A moderator's mute: the server would drop every frame.
        if self.moderated.is_some() {
            return Capture::Off;
        }
        match self.settings.mode {
            TalkMode::Muted => Capture::Off,
            TalkMode::PushToTalk if self.held => Capture::Always,
            TalkMode::PushToTalk => Capture::Off,
            TalkMode::OpenMic => Capture::VoiceActivity,
        }
    }

    /// An action's effect on the choices; `in_party` bounds the switch.
    pub fn act(&mut self, action: &UiAction, in_party: bool) -> Changed {
        let settings = &mut self.settings;
        match action {
            UiAction::CycleTalkMode => {
                settings.mode = settings.mode.next();
                Changed {
                    save: true,
                    mute: None,
                }
            }
            UiAction::SetTalkMode(mode) if *mode != settings.mode => {
                settings.mode = *mode;
                Changed {
                    save: true,
                    mute: None,
                }
            }
            // Party talk outside a party would reach nobody.
            UiAction::ToggleVoiceTarget if in_party => {
                settings.target = match settings.target {
                    VoiceTarget::Nearby => VoiceTarget::Party,
                    VoiceTarget::Party => VoiceTarget::Nearby,
                };
                Changed {
                    save: true,
                    mute: None,
                }
            }
            UiAction::MuteVoice { account, muted } => {
                let voice = PersonVoice {
                    muted: *muted,
                    ..settings.person(*account)
                };
                if !settings.set_person(*account, voice) {
                    return Changed::default();
                }
                Changed {
                    save: true,
                    mute: self.tell(*account, *muted),
                }
            }
            UiAction::SetVoiceVolume { account, volume } => {
                let voice = PersonVoice {
                    volume: *volume,
                    ..settings.person(*account)
                };
                Changed {
                    save: settings.set_person(*account, voice),
                    mute: None,
                }
            }
            _ => Changed::default(),
        }
    }

    /// The mute to send for `account`, unless the server already heard it
    /// on this link.
    fn tell(&mut self, account: AccountId, muted: bool) -> Option<(AccountId, bool)> {
        let changed = if muted {
            self.told.insert(account)
        } else {
            self.told.remove(&account)
        };
        changed.then_some((account, muted))
    }

    /// A new link: the server knows none of our mutes yet.
    pub fn new_link(&mut self) {
        self.told.clear();
        self.heard.clear();
        self.voiced.clear();
    }

    /// The mutes to send for the people in the room that the server has
    /// not heard on this link.
    pub fn untold(&mut self, mirror: &RoomMirror) -> Vec<AccountId> {
        let muted: Vec<AccountId> = mirror
            .members
            .values()
            .map(|m| m.account)
            .filter(|a| self.settings.person(*a).muted && !self.told.contains(a))
            .collect();
        self.told.extend(muted.iter().copied());
        muted
    }

    fn save(&self) {
        if let Some(dir) = &self.dir
            && let Err(e) = self.settings.save(dir)
        {
            warn!("saving voice settings in {}: {e}", dir.display());
        }
    }

    /// `speaker` was heard speaking now, at `level` (0 to 1).
    pub fn voiced(&mut self, speaker: MemberSlot, level: f32) {
        self.voiced.insert(speaker, (level, 0.0));
    }

    /// Time passes: who spoke more than [`SPEAKING_HOLD_S`] ago is quiet,
    /// who was heard more than [`PLACED_S`] ago is no longer placed.
    pub fn age(&mut self, dt: f32) {
        if !self.heard.is_empty() {
            self.heard.values_mut().for_each(|ago| *ago += dt);
            self.heard.retain(|_, ago| *ago <= PLACED_S);
        }
        if !self.voiced.is_empty() {
            self.voiced.values_mut().for_each(|(_, ago)| *ago += dt);
            self.voiced.retain(|_, (_, ago)| *ago <= SPEAKING_HOLD_S);
        }
    }
}

/// The server command that mutes (or unmutes) a speaker for this listener:
/// the server stops forwarding their frames to us, for this connection.
pub fn mute_command(account: AccountId, muted: bool) -> RoomCommand {
    RoomCommand::Voice(VoiceCommand::MuteSpeaker { account, muted })
}

/// V held on the desktop (not while typing); a controller's talk button in
/// XR.
fn push_to_talk(
    mode: Res<XrMode>,
    keys: Res<ButtonInput<KeyCode>>,
    focus: Res<UiFocus>,
    xr: Option<Res<super::xr::input::XrInput>>,
    mut control: ResMut<VoiceControl>,
) {
    let held = if mode.is_xr() {
        xr.is_some_and(|x| x.hands.iter().any(|h| h.talk))
    } else {
        !focus.typing && keys.pressed(KeyCode::KeyV)
    };
    if control.held != held {
        control.held = held;
    }
}

/// The switches, volumes and mutes; each change saved, each mute told.
fn voice_actions(
    mut actions: MessageReader<UiAction>,
    session: Res<Session>,
    mut control: ResMut<VoiceControl>,
    mut send: MessageWriter<SendCommand>,
) {
    let in_party = session.mirror().is_some_and(|m| m.party.party.is_some());
    let mut save = false;
    for action in actions.read() {
        let changed = control.act(action, in_party);
        save |= changed.save;
        if let Some((account, muted)) = changed.mute {
            send.write(SendCommand(mute_command(account, muted)));
        }
    }
    if save {
        control.save();
    }
}

/// On each new link, and as people come in, the server hears the mutes it
/// does not know yet (once each).
fn tell_mutes(
    mut changes: MessageReader<RoomChangeMessage>,
    session: Res<Session>,
    mut control: ResMut<VoiceControl>,
    mut send: MessageWriter<SendCommand>,
) {
    let mut look = false;
    for RoomChangeMessage(change) in changes.read() {
        match change {
            RoomChange::Welcomed { .. } => {
                control.new_link();
                look = true;
            }
            RoomChange::Joined(_) => look = true,
            RoomChange::Voice(VoiceEventNet::ModeratorMuted {
                remaining_ms,
                reason,
            }) => {
                control.moderated = Some((reason.clone(), *remaining_ms as f32 / 1000.0));
            }
            RoomChange::Voice(VoiceEventNet::ModeratorUnmuted) => control.moderated = None,
            _ => {}
        }
    }
    if !look || control.settings.people.is_empty() {
        return;
    }
    let Some(mirror) = session.mirror() else {
        return;
    };
    for account in control.untold(mirror) {
        send.write(SendCommand(mute_command(account, true)));
    }
}

/// Frames that arrived go to the engine, except a muted speaker's (the
/// server should not send them; if it does, they are not played).
fn hear(
    time: Res<Time>,
    mut incoming: MessageReader<IncomingVoice>,
    session: Res<Session>,
    mut control: ResMut<VoiceControl>,
    mut engine: ResMut<VoiceEngine>,
) {
    let control = &mut *control;
    control.age(time.delta_secs());
    if incoming.is_empty() {
        return;
    }
    // An engine that decodes says who speaks; without one, a frame larger
    // than DTX's silence counts.
    let by_arrival = !engine.0.hears();
    let mirror = session.mirror();
    for IncomingVoice(frame) in incoming.read() {
        let account = mirror
            .and_then(|m| m.members.get(&frame.speaker))
            .map(|m| m.account);
        // Someone not in the room (yet, or any more) is not played.
        let Some(account) = account else {
            continue;
        };
        if control.settings.person(account).muted {
            continue;
        }
        if control
            .slot_owner
            .insert(frame.speaker, account)
            .is_some_and(|before| before != account)
        {
            engine.0.forget(frame.speaker);
        }
        control.heard.insert(frame.speaker, 0.0);
        if by_arrival && frame.opus.len() > SILENCE_BYTES {
            control.voiced(frame.speaker, 1.0);
        }
        engine.0.push(frame.clone());
    }
}

/// The listener's head (the camera: the eyes on the desktop, the headset
/// in XR) and each speaker heard lately at their avatar's head, with their
/// volume. Nothing while nobody speaks.
fn place(
    session: Res<Session>,
    camera: Query<&GlobalTransform, With<MainCamera>>,
    mut control: ResMut<VoiceControl>,
    mut engine: ResMut<VoiceEngine>,
) {
    if control.heard.is_empty() {
        return;
    }
    let (Some(mirror), Ok(eye)) = (session.mirror(), camera.single()) else {
        return;
    };
    let control = &mut *control;
    control.placed.clear();
    for slot in control.heard.keys() {
        if let Some(pose) = mirror.avatars.get(slot) {
            control.placed.push((*slot, head_of(pose)));
        }
        if let Some(member) = mirror.members.get(slot) {
            engine
                .0
                .set_gain(*slot, control.settings.person(member.account).gain());
        }
    }
    let (_, rotation, position) = eye.to_scale_rotation_translation();
    engine
        .0
        .place(Listener { position, rotation }, &control.placed);
}

/// Where a speaker's voice comes from: the headset's head for an XR
/// avatar, else over the body's feet.
pub fn head_of(pose: &vitrine_shared::PoseNet) -> Vec3 {
    match &pose.xr {
        Some(xr) => Vec3::from_array(xr.head.position),
        None => Vec3::from_array(pose.position) + Vec3::Y * HEAD_HEIGHT,
    }
}

/// The microphone opens and closes with the mode and the key; what the
/// engine encoded goes out, addressed as the switch says.
fn capture(
    time: Res<Time>,
    session: Res<Session>,
    mut control: ResMut<VoiceControl>,
    mut engine: ResMut<VoiceEngine>,
    mut outgoing: MessageWriter<OutgoingVoice>,
) {
    let control = &mut *control;
    // Nobody to talk to without a room.
    let wanted = if session.connected() {
        control.capture_now()
    } else {
        Capture::Off
    };
    if control.capture != Some(wanted) {
        engine.0.set_capture(wanted);
        control.capture = Some(wanted);
    }
    control.sent_ago += time.delta_secs();
    if let Some((_, left)) = &mut control.moderated {
        *left -= time.delta_secs();
        if *left <= 0.0 {
            control.moderated = None;
        }
    }
    control.frames.clear();
    engine.0.take_frames(&mut control.frames);
    if control.frames.is_empty() {
        return;
    }
    let in_party = session.mirror().is_some_and(|m| m.party.party.is_some());
    let target = if in_party {
        control.settings.target
    } else {
        VoiceTarget::Nearby
    };
    for mut frame in control.frames.drain(..) {
        // A frame captured as the key came up still goes: it is the end
        // of a word.
        frame.target = target;
        outgoing.write(OutgoingVoice(frame));
        control.sent_ago = 0.0;
    }
}

/// What the view and the indicators read, changed only when it changes.
fn publish(
    mode: Res<XrMode>,
    session: Res<Session>,
    mut control: ResMut<VoiceControl>,
    engine: Res<VoiceEngine>,
    mut status: ResMut<VoiceStatus>,
) {
    let control = &mut *control;
    control.levels.clear();
    engine.0.levels(&mut control.levels);
    for i in 0..control.levels.len() {
        let (slot, level) = control.levels[i];
        control.voiced(slot, level);
    }
    let mirror = session.mirror();
    let muted = |slot: &MemberSlot| {
        mirror
            .and_then(|m| m.members.get(slot))
            .is_some_and(|m| control.settings.person(m.account).muted)
    };
    let speaking_now = || {
        control
            .voiced
            .iter()
            .filter(|(s, _)| !muted(s))
            .map(|(s, (level, _))| (*s, *level))
    };
    let moderated = control.moderated.as_ref().map(|(why, _)| why.clone());
    let talking = moderated.is_none()
        && match control.settings.mode {
            TalkMode::PushToTalk => control.held && session.connected(),
            TalkMode::OpenMic => control.sent_ago <= TALKING_HOLD_S,
            TalkMode::Muted => false,
        };
    let in_party = mirror.is_some_and(|m| m.party.party.is_some());
    let problem = engine.0.problem();
    let same = status.mode == control.settings.mode
        && status.target == control.settings.target
        && status.in_party == in_party
        && status.talking == talking
        && status.held == control.held
        && status.xr == mode.is_xr()
        && status.people == control.settings.people
        && status.problem == problem
        && status.moderated == moderated
        && speaking_now().eq(status.speaking.iter().map(|(s, l)| (*s, *l)));
    if same {
        return;
    }
    let speaking: BTreeMap<MemberSlot, f32> = speaking_now().collect();
    *status = VoiceStatus {
        mode: control.settings.mode,
        target: control.settings.target,
        in_party,
        talking,
        held: control.held,
        xr: mode.is_xr(),
        speaking,
        people: control.settings.people.clone(),
        problem,
        moderated,
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::showroom::session::LinkState;
    use bevy::state::app::StatesPlugin;
    use std::sync::{Arc, Mutex};
    use vitrine_shared::protocol::{MemberInfo, VoiceDown};
    use vitrine_shared::{DisplayName, PoseNet, Role};

    /// What the engine was asked, for the tests to read.
    #[derive(Default)]
    struct Log {
        capture: Vec<Capture>,
        pushed: Vec<VoiceDown>,
        placed: Vec<(Listener, Vec<(MemberSlot, Vec3)>)>,
        gains: Vec<(MemberSlot, f32)>,
        forgotten: Vec<MemberSlot>,
        /// Frames the "microphone" has ready.
        ready: Vec<VoiceUp>,
    }

    struct Recorder(Arc<Mutex<Log>>);

    impl VoiceBackend for Recorder {
        fn set_capture(&mut self, capture: Capture) {
            self.0.lock().unwrap().capture.push(capture);
        }
        fn take_frames(&mut self, out: &mut Vec<VoiceUp>) {
            out.append(&mut self.0.lock().unwrap().ready);
        }
        fn push(&mut self, frame: VoiceDown) {
            self.0.lock().unwrap().pushed.push(frame);
        }
        fn place(&mut self, listener: Listener, speakers: &[(MemberSlot, Vec3)]) {
            self.0
                .lock()
                .unwrap()
                .placed
                .push((listener, speakers.to_vec()));
        }
        fn set_gain(&mut self, speaker: MemberSlot, gain: f32) {
            self.0.lock().unwrap().gains.push((speaker, gain));
        }
        fn forget(&mut self, speaker: MemberSlot) {
            self.0.lock().unwrap().forgotten.push(speaker);
        }
        fn levels(&self, _: &mut Vec<(MemberSlot, f32)>) {}
        fn problem(&self) -> Option<String> {
            None
        }
    }

    fn control() -> VoiceControl {
        VoiceControl::new(VoiceSettings::default(), None)
    }

    #[test]
    fn the_mode_and_the_key_open_the_microphone() {
        let mut c = control();
        assert_eq!(c.capture_now(), Capture::Off, "push-to-talk, not held");
        c.held = true;
        assert_eq!(c.capture_now(), Capture::Always);
        assert!(c.act(&UiAction::CycleTalkMode, false).save);
        assert_eq!(c.settings.mode, TalkMode::OpenMic);
        assert_eq!(c.capture_now(), Capture::VoiceActivity);
        c.act(&UiAction::CycleTalkMode, false);
        assert_eq!(c.settings.mode, TalkMode::Muted);
        // Muted: holding the key opens nothing.
        assert_eq!(c.capture_now(), Capture::Off);
        c.act(&UiAction::CycleTalkMode, false);
        assert_eq!(c.settings.mode, TalkMode::PushToTalk);
        // Setting the mode it already has changes nothing.
        assert_eq!(
            c.act(&UiAction::SetTalkMode(TalkMode::PushToTalk), false),
            Changed::default()
        );
        // The party switch does nothing outside a party.
        assert_eq!(
            c.act(&UiAction::ToggleVoiceTarget, false),
            Changed::default()
        );
        assert_eq!(c.settings.target, VoiceTarget::Nearby);
        assert!(c.act(&UiAction::ToggleVoiceTarget, true).save);
        assert_eq!(c.settings.target, VoiceTarget::Party);
    }

    #[test]
    fn a_mute_is_told_once_per_link() {
        let mut c = control();
        let bea = AccountId(2);
        let mute = |muted| UiAction::MuteVoice {
            account: bea,
            muted,
        };
        assert_eq!(c.act(&mute(true), false).mute, Some((bea, true)));
        // Again: already muted, nothing sent.
        assert_eq!(c.act(&mute(true), false), Changed::default());
        // Volume changes keep the mute and tell nobody.
        let louder = UiAction::SetVoiceVolume {
            account: bea,
            volume: 150,
        };
        assert_eq!(
            c.act(&louder, false),
            Changed {
                save: true,
                mute: None
            }
        );
        assert!(c.settings.person(bea).muted);
        let mut m = RoomMirror::default();
        m.members.insert(
            MemberSlot(2),
            MemberInfo {
                slot: MemberSlot(2),
                account: bea,
                name: DisplayName::new("Bea").unwrap(),
                role: Role::Shopper,
            },
        );
        // Told already on this link.
        assert!(c.untold(&m).is_empty());
        // A new link: told again, once.
        c.new_link();
        assert_eq!(c.untold(&m), [bea]);
        assert!(c.untold(&m).is_empty());
        assert_eq!(c.act(&mute(false), false).mute, Some((bea, false)));
        assert_eq!(c.act(&mute(false), false).mute, None);
    }

    /// The session (offline, "connected" without a socket) and the voice
    /// feature with a recording engine, in a room with Bea beside us.
    fn app(log: Arc<Mutex<Log>>) -> App {
        app_with(VoiceEngine(Box::new(Recorder(log))))
    }

    fn app_with(engine: VoiceEngine) -> App {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, StatesPlugin))
            .insert_resource(Options {
                headless: true,
                ..Default::default()
            })
            .insert_resource(engine)
            .init_resource::<ButtonInput<KeyCode>>()
            .init_resource::<UiFocus>()
            .init_resource::<XrMode>()
            // The speaking rings' mesh and material (nothing renders).
            .init_resource::<Assets<Mesh>>()
            .init_resource::<Assets<StandardMaterial>>()
            .insert_state(AppState::Showroom);
        super::super::order_systems(&mut app);
        app.add_plugins((super::super::session::plugin, plugin));
        let mut session = app.world_mut().resource_mut::<Session>();
        session.link = LinkState::Connected;
        let mut m = RoomMirror::default();
        m.you = Some(MemberSlot(1));
        for (slot, name) in [(1u16, "Me"), (2, "Bea")] {
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
        m.avatars
            .insert(MemberSlot(2), PoseNet::at([3.0, 0.0, 0.0], 0.0));
        session.offline = Some(m);
        app.world_mut()
            .spawn((MainCamera, GlobalTransform::from_xyz(0.0, 1.6, 0.0)));
        app
    }

    #[test]
    fn the_real_engine_says_who_speaks_from_the_frames_heard() {
        use vitrine_media::voice::{Sender, Talk};
        let mut app = app_with(VoiceEngine(Box::new(audio::AudioEngine::start(
            None,
            audio::Hearing::Nowhere,
        ))));
        app.update();
        let mut sender = Sender::new().unwrap();
        sender.set_talk(Talk::OpenMic);
        use std::f32::consts::TAU;
        let pcm: Vec<i16> = (0..100 * 960)
            .map(|i| {
                let t = i as f32 / 48_000.0;
                let buzz: f32 = (1..=8)
                    .map(|h| (140.0 * t * TAU * h as f32).sin() / h as f32)
                    .sum();
                (buzz * 6_000.0) as i16
            })
            .collect();
        let mut heard = false;
        for chunk in sender.push(&pcm).chunks(5) {
            for up in chunk {
                app.world_mut().write_message(IncomingVoice(VoiceDown {
                    speaker: MemberSlot(2),
                    seq: up.seq,
                    timestamp: up.timestamp,
                    target: VoiceTarget::Nearby,
                    opus: up.opus.clone(),
                }));
            }
            app.update();
            std::thread::sleep(std::time::Duration::from_millis(100));
            if app
                .world()
                .resource::<VoiceStatus>()
                .speaking
                .contains_key(&MemberSlot(2))
            {
                heard = true;
                break;
            }
        }
        assert!(heard, "{:?}", app.world().resource::<VoiceStatus>());
    }

    fn frame(seq: u16) -> VoiceUp {
        VoiceUp {
            seq,
            timestamp: u32::from(seq) * vitrine_shared::limits::voice::SAMPLES_PER_FRAME,
            target: VoiceTarget::Party,
            level: 90,
            opus: vec![7; 60],
        }
    }

    /// The frames the feature gave the session this frame.
    fn sent(app: &App) -> Vec<VoiceUp> {
        let messages = app.world().resource::<Messages<OutgoingVoice>>();
        messages
            .iter_current_update_messages()
            .map(|OutgoingVoice(f)| f.clone())
            .collect()
    }

    #[test]
    fn holding_v_sends_the_engines_frames_to_those_nearby() {
        let log = Arc::new(Mutex::new(Log::default()));
        let mut app = app(log.clone());
        app.update();
        assert_eq!(log.lock().unwrap().capture, [Capture::Off]);
        assert!(!app.world().resource::<VoiceStatus>().talking);
        app.world_mut()
            .resource_mut::<ButtonInput<KeyCode>>()
            .press(KeyCode::KeyV);
        log.lock().unwrap().ready = vec![frame(1), frame(2)];
        app.update();
        assert_eq!(log.lock().unwrap().capture, [Capture::Off, Capture::Always]);
        let out = sent(&app);
        assert_eq!(out.len(), 2);
        // Not in a party: nearby, whatever the frame said.
        assert!(out.iter().all(|f| f.target == VoiceTarget::Nearby));
        assert!(app.world().resource::<VoiceStatus>().talking);
        // While typing, V is a letter.
        app.world_mut().resource_mut::<UiFocus>().typing = true;
        app.update();
        assert_eq!(
            log.lock().unwrap().capture.last(),
            Some(&Capture::Off),
            "typing closes the mic"
        );
        assert!(!app.world().resource::<VoiceStatus>().talking);
    }

    #[test]
    fn frames_heard_play_at_the_speakers_head_and_a_muted_one_is_not_played() {
        let log = Arc::new(Mutex::new(Log::default()));
        let mut app = app(log.clone());
        app.update();
        // Nobody speaks: nothing is placed.
        assert!(log.lock().unwrap().placed.is_empty());
        let down = |seq| VoiceDown {
            speaker: MemberSlot(2),
            seq,
            timestamp: u32::from(seq) * vitrine_shared::limits::voice::SAMPLES_PER_FRAME,
            target: VoiceTarget::Nearby,
            opus: vec![1; 50],
        };
        app.world_mut().write_message(IncomingVoice(down(1)));
        app.update();
        {
            let log = log.lock().unwrap();
            assert_eq!(log.pushed, [down(1)]);
            let (listener, speakers) = log.placed.last().expect("placed");
            assert_eq!(listener.position, Vec3::new(0.0, 1.6, 0.0));
            assert_eq!(
                speakers,
                &[(MemberSlot(2), Vec3::new(3.0, HEAD_HEIGHT, 0.0))]
            );
            assert_eq!(log.gains.last(), Some(&(MemberSlot(2), 1.0)));
        }
        let status = app.world().resource::<VoiceStatus>();
        assert!(status.speaking.contains_key(&MemberSlot(2)));
        // Muted: the server is told, once; not played, not shown as
        // speaking.
        let mute = UiAction::MuteVoice {
            account: AccountId(2),
            muted: true,
        };
        app.world_mut().write_message(mute.clone());
        app.update();
        assert_eq!(
            app.world().resource::<Session>().outbox(),
            [mute_command(AccountId(2), true)]
        );
        app.world_mut().write_message(mute);
        app.update();
        assert!(app.world().resource::<Session>().outbox().is_empty());
        app.world_mut().write_message(IncomingVoice(down(2)));
        app.update();
        assert_eq!(log.lock().unwrap().pushed.len(), 1);
        assert!(
            !app.world()
                .resource::<VoiceStatus>()
                .speaking
                .contains_key(&MemberSlot(2))
        );
    }

    #[test]
    fn a_slot_reused_by_someone_new_starts_a_fresh_voice() {
        let log = Arc::new(Mutex::new(Log::default()));
        let mut app = app(log.clone());
        let down = |seq: u16| VoiceDown {
            speaker: MemberSlot(2),
            seq,
            timestamp: u32::from(seq) * vitrine_shared::limits::voice::SAMPLES_PER_FRAME,
            target: VoiceTarget::Nearby,
            opus: vec![1; 50],
        };
        app.world_mut().write_message(IncomingVoice(down(500)));
        app.update();
        app.world_mut().write_message(IncomingVoice(down(501)));
        app.update();
        assert!(log.lock().unwrap().forgotten.is_empty(), "the same speaker");
        // Bea leaves and Cal gets her slot: his first frame is not heard
        // through her jitter buffer (which would take it for a late one).
        let mut session = app.world_mut().resource_mut::<Session>();
        let mirror = session.offline.as_mut().unwrap();
        mirror.members.insert(
            MemberSlot(2),
            MemberInfo {
                slot: MemberSlot(2),
                account: AccountId(3),
                name: DisplayName::new("Cal").unwrap(),
                role: Role::Shopper,
            },
        );
        app.world_mut().write_message(IncomingVoice(down(1)));
        app.update();
        let log = log.lock().unwrap();
        assert_eq!(log.forgotten, [MemberSlot(2)]);
        assert_eq!(log.pushed.last(), Some(&down(1)));
    }
}
