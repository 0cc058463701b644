//! Spatial voice: each speaker's Opus frames forwarded, never mixed or
//! decoded, to the listeners who should hear them, as soon as they arrive.
//!
//! **When.** Frames are read and forwarded in every tick (after receive;
//! renet sends them with the tick's packets), and between ticks too: the
//! room loop ([`between_ticks`]) waits on the game socket instead of
//! sleeping, and when a datagram arrives it runs [`VoicePass`]: read the
//! socket and forward the voice frames; then [`VoiceFlush`] sends the
//! packets of just the listeners they went to, at once, or if the last
//! flush was under [`FLUSH_EVERY`] ago, when that much has passed (so a
//! listener of eight voices gets a few frames a datagram, and renet's ack
//! with each, not one datagram and one ack per frame). Everything else
//! read then (poses, commands) waits in renet for the tick as before, so
//! the tick's work and budget do not change. `vitrine_voice_forward_seconds`
//! times each frame's stay, from its datagram's read to its send. The
//! transport takes voice frames out of renet as each payload is read
//! (`UdpTransport::take_voice`), so renet's small voice queue never fills.
//!
//! **Who hears a frame.**
//! - `Nearby`: members of the speaker's room within
//!   [`EARSHOT_M`] of the speaker's latest pose, at most
//!   [`MAX_VOICES_PER_LISTENER`] speakers per listener (see [`Ear`]).
//! - `Party`: the speaker's party members in the same room, wherever they
//!   stand. They take slots too, scoring above any nearby voice: a party
//!   member gets the weakest nearby slot once its holder's tenure is up.
//! - Never a listener who muted the speaker (`VoiceCommand::MuteSpeaker`,
//!   for the connection) or with a block either way between them; never
//!   from a speaker a moderator voice-muted.
//!
//! **Checks, in order, each a counted drop** (`vitrine_voice_frames_dropped_total{reason}`),
//! never a log line per frame, never a disconnect: `too_large` (the
//! encoded frame or its Opus packet), `undecodable`, `not_member` (not
//! admitted, or being removed), `malformed_opus` (RFC 6716 §3.4, see
//! [`vitrine_shared::opus`]), `rate_limited` (a token bucket of
//! [`FRAMES_PER_SECOND`] + [`FRAME_BURST`] per speaker), `out_of_order`
//! (sequence far behind or ahead of the speaker's newest),
//! `voice_muted` (a moderator's voice-mute; the speaker is told, at most
//! every few seconds) and `no_party` (a party frame from someone in none).

use super::inbox::CommandReceived;
use super::membership::{Avatar, Member, Room};
use super::moderation::ModerationLink;
use super::party::Parties;
use super::transport::UdpTransport;
use super::{Clients, ServerSystems, Shared, send_event};
use crate::clock::Clock;
use crate::config::RateConfig;
use crate::rate_limit::TokenBucket;
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::ScheduleLabel;
use bevy_ecs::schedule::SingleThreadedExecutor;
use bevy_renet::{RenetSend, RenetServer};
use bevy_time::prelude::*;
use renet::Bytes;
use renet::ClientId;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use vitrine_shared::limits::voice::{
    EARSHOT_M, FRAME_BURST, FRAMES_PER_SECOND, FULL_VOLUME_M, MAX_OPUS_BYTES,
    MAX_VOICES_PER_LISTENER,
};
use vitrine_shared::limits::voice_forwarding::{
    MAX_MUTED_SPEAKERS, MAX_SEQ_AHEAD, MAX_SEQ_BEHIND, MAX_VOICE_UP_BYTES, MUTED_NOTICE_MS,
    SEQ_RESYNC_FRAMES, SLOT_HOLD_MS, SLOT_TAKEOVER, SLOT_TENURE_MS,
};
use vitrine_shared::protocol::{
    CommandKind, RejectReason, Rejection, VoiceCommand, VoiceDown, VoiceTarget, VoiceUp,
};
use vitrine_shared::{AccountId, ClientChannel, RoomCommand, ServerChannel, ServerMessage};

const VOICE_RATE: RateConfig = RateConfig {
    per_second: FRAMES_PER_SECOND as f64,
    burst: FRAME_BURST,
};
const SLOT_HOLD: Duration = Duration::from_millis(SLOT_HOLD_MS);
const SLOT_TENURE: Duration = Duration::from_millis(SLOT_TENURE_MS);
const MUTED_NOTICE: Duration = Duration::from_millis(MUTED_NOTICE_MS);
/// A party voice's score: above any nearby one, so party members keep
/// their slots.
const PARTY_SCORE: f32 = 1000.0;
/// How much of a slot's score the newest frame sets (an average over about
/// two or three 40 ms packets, 100 ms): one loud packet does not take a
/// slot, a pause does not lose it.
const SCORE_WEIGHT: f32 = 0.4;
/// Leave this much of the wait to the tick: closer than this, sleep.
const MIN_WAIT: Duration = Duration::from_micros(200);
/// Listeners' packets go out at most this often between ticks: a frame
/// waits at most this long (none when the last flush was longer ago).
/// Half an Opus packet's length: a listener of eight voices then gets about
/// 50 datagrams a second of up to eight packets each (about four, as their
/// 40 ms fall), not one datagram (and one ack back) per packet, whose
/// headers would cost more than the voices.
pub const FLUSH_EVERY: Duration = Duration::from_millis(20);

/// The schedule that sends the listeners' packets between ticks.
#[derive(ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
pub struct VoiceFlush;

/// The schedule run between ticks when a datagram arrives.
#[derive(ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
pub struct VoicePass;

pub(super) fn plugin(app: &mut App) {
    let mut pass = Schedule::new(VoicePass);
    // Three small systems one after the other: no threads to wake.
    pass.set_executor(SingleThreadedExecutor::new());
    pass.add_systems((super::transport::receive_between_ticks, forward).chain());
    let mut flush = Schedule::new(VoiceFlush);
    flush.set_executor(SingleThreadedExecutor::new());
    flush.add_systems(flush_between_ticks);
    app.init_resource::<Voices>()
        .add_schedule(pass)
        .add_schedule(flush)
        .add_systems(
            Update,
            (
                forward.in_set(ServerSystems::ValidateInputs),
                (apply_commands, forget_departed).in_set(ServerSystems::Relay),
            ),
        )
        // The tick's send took the frames queued in the tick.
        .add_systems(PostUpdate, sent_in_tick.after(RenetSend));
}

/// Runs the room loop's wait until `until`: sleeps on the game socket, and
/// forwards voice each time datagrams arrive. Without a socket (tests
/// driving the app by hand), just sleeps.
pub fn between_ticks(app: &mut App, until: Instant) {
    loop {
        let now = Instant::now();
        // Frames waiting to go: now, or when the flush interval is up.
        let due = {
            let voices = app.world().resource::<Voices>();
            (!voices.flush.is_empty()).then(|| voices.last_flush.map_or(now, |at| at + FLUSH_EVERY))
        };
        if due.is_some_and(|due| due <= now) {
            app.world_mut().run_schedule(VoiceFlush);
            continue;
        }
        // Past this, the tick's own send takes what waits.
        if now + MIN_WAIT >= until {
            if until > now {
                std::thread::sleep(until - now);
            }
            return;
        }
        let wake = due.map_or(until, |due| due.min(until));
        let timeout = (wake - now).max(Duration::from_micros(50));
        let readable = app
            .world()
            .get_resource::<UdpTransport>()
            .map(|t| t.wait_readable(timeout));
        match readable {
            Some(true) => app.world_mut().run_schedule(VoicePass),
            Some(false) => {}
            None => {
                std::thread::sleep(until - now);
                return;
            }
        }
    }
}

/// Voice state per member (by entity), and what this pass queued.
#[derive(Resource, Default)]
pub struct Voices {
    members: HashMap<Entity, VoiceMember>,
    /// Listeners given frames (or a notice) since the last send.
    flush: Vec<ClientId>,
    /// When the latest datagrams were read from the socket.
    reading: Option<Instant>,
    /// When the oldest frame now queued was read.
    read_at: Option<Instant>,
    /// When listeners' packets last went out (a flush or the tick's send).
    last_flush: Option<Instant>,
}

impl Voices {
    /// Notes that datagrams were read now (the transport calls it).
    pub(super) fn reading(&mut self, at: Instant) {
        self.reading = Some(at);
    }
}

struct VoiceMember {
    bucket: TokenBucket,
    last_seq: Option<u16>,
    /// Frames refused as out of order since the last one accepted.
    out_of_order: u32,
    /// Speakers this listener muted for itself.
    muted: HashSet<AccountId>,
    ear: Ear,
    /// When a voice-muted speaker was last told so.
    told_muted_at: Option<Duration>,
}

impl VoiceMember {
    fn new(now: Duration) -> Self {
        VoiceMember {
            bucket: TokenBucket::new(VOICE_RATE, now),
            last_seq: None,
            out_of_order: 0,
            muted: HashSet::new(),
            ear: Ear::default(),
            told_muted_at: None,
        }
    }

    /// Whether `seq` is near enough the newest accepted to forward.
    fn sequence(&mut self, seq: u16) -> bool {
        let Some(last) = self.last_seq else {
            self.last_seq = Some(seq);
            return true;
        };
        let ahead = seq.wrapping_sub(last);
        let behind = last.wrapping_sub(seq);
        let accepted = if ahead != 0 && ahead <= MAX_SEQ_AHEAD {
            self.last_seq = Some(seq);
            true
        } else {
            // A duplicate or a late frame: the jitter buffer sorts it.
            behind <= MAX_SEQ_BEHIND
        };
        if accepted {
            self.out_of_order = 0;
        } else {
            self.out_of_order += 1;
            // A restarted encoder numbers afresh: after a run of refusals,
            // its numbering is taken (from the next frame on).
            if self.out_of_order >= SEQ_RESYNC_FRAMES {
                self.last_seq = None;
                self.out_of_order = 0;
            }
        }
        accepted
    }
}

/// A listener's voice slots: at most [`MAX_VOICES_PER_LISTENER`] speakers
/// at once.
///
/// A speaker's score for a listener is its frame's `level` (0–255) times
/// the distance gain the listener will play it at (1 within
/// [`FULL_VOLUME_M`], then `FULL_VOLUME_M / d`), averaged over recent
/// frames ([`SCORE_WEIGHT`]); party voices score [`PARTY_SCORE`]. A
/// speaker keeps its slot while it sends frames, until [`SLOT_HOLD_MS`]
/// after its last; with every slot taken, a newcomer takes the weakest
/// slot only when it scores [`SLOT_TAKEOVER`] times its holder and the
/// holder has had it for [`SLOT_TENURE_MS`]. So a voice neither flickers
/// in and out nor loses its place to one loud frame.
#[derive(Default)]
struct Ear {
    slots: Vec<Slot>,
}

struct Slot {
    speaker: Entity,
    score: f32,
    since: Duration,
    last: Duration,
}

impl Ear {
    /// Whether this listener gets `speaker`'s frame scoring `score` now.
    fn admit(&mut self, speaker: Entity, score: f32, now: Duration) -> bool {
        self.slots
            .retain(|s| now.saturating_sub(s.last) <= SLOT_HOLD);
        if let Some(slot) = self.slots.iter_mut().find(|s| s.speaker == speaker) {
            slot.score += (score - slot.score) * SCORE_WEIGHT;
            slot.last = now;
            return true;
        }
        let fresh = Slot {
            speaker,
            score,
            since: now,
            last: now,
        };
        if self.slots.len() < MAX_VOICES_PER_LISTENER {
            self.slots.push(fresh);
            return true;
        }
        let weakest = self
            .slots
            .iter_mut()
            .filter(|s| now.saturating_sub(s.since) >= SLOT_TENURE)
            .min_by(|a, b| a.score.total_cmp(&b.score));
        match weakest {
            Some(slot) if score > slot.score * SLOT_TAKEOVER => {
                *slot = fresh;
                true
            }
            _ => false,
        }
    }
}

/// The gain a listener plays a nearby voice at `distance` metres: the score
/// weighs loudness by it.
fn distance_gain(distance: f32) -> f32 {
    if distance <= FULL_VOLUME_M {
        1.0
    } else {
        FULL_VOLUME_M / distance
    }
}

fn distance(a: [f32; 3], b: [f32; 3]) -> f32 {
    let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt()
}

/// Counts gathered over one pass, added to the metrics once.
#[derive(Default)]
struct Tally {
    dropped: HashMap<&'static str, u64>,
    withheld: HashMap<&'static str, u64>,
    forwarded: u64,
    deliveries: u64,
}

impl Tally {
    fn drop(&mut self, reason: &'static str) {
        *self.dropped.entry(reason).or_default() += 1;
    }

    fn withhold(&mut self, reason: &'static str) {
        *self.withheld.entry(reason).or_default() += 1;
    }

    fn publish(self, metrics: &crate::voice::VoiceMetrics) {
        for (reason, n) in self.dropped {
            metrics.dropped(reason, n);
        }
        for (reason, n) in self.withheld {
            metrics.withheld(reason, n);
        }
        metrics
            .frames_forwarded
            .fetch_add(self.forwarded, Ordering::Relaxed);
        metrics
            .deliveries
            .fetch_add(self.deliveries, Ordering::Relaxed);
    }
}

/// The time the voice rules run on: the tick's clock, plus the real time
/// since the tick began (between ticks, Bevy's clock stands still).
fn voice_now(time: &Time<Real>) -> Duration {
    time.elapsed() + time.last_update().map_or(Duration::ZERO, |at| at.elapsed())
}

#[allow(clippy::too_many_arguments)]
fn forward(
    mut server: ResMut<RenetServer>,
    clients: Res<Clients>,
    members: Query<(&Member, &Avatar)>,
    rooms: Query<&Room>,
    mut voices: ResMut<Voices>,
    parties: Res<Parties>,
    shared: Res<Shared>,
    moderation: Res<ModerationLink>,
    time: Res<Time<Real>>,
    clock: Res<Clock>,
    transport: Option<ResMut<UdpTransport>>,
) {
    let now = voice_now(&time);
    let now_ms = clock.now_ms();
    let mut tally = Tally::default();
    let voices = &mut *voices;
    // What the transport took out of renet as it read (see `take_voice`),
    // then anything still in renet (without a transport, all of it).
    let (inbox, over) = match transport {
        // The transport took every frame as it read (nothing is left in
        // renet): no need to visit each client on every pass.
        Some(mut transport) => transport.take_voice(),
        None => {
            let mut inbox = Vec::new();
            for client in server.clients_id() {
                while let Some(bytes) = server.receive_message(client, ClientChannel::Voice) {
                    inbox.push((client, bytes));
                }
            }
            (inbox, 0)
        }
    };
    if inbox.is_empty() && over == 0 {
        return;
    }
    if over > 0 {
        tally.dropped.insert("rate_limited", over);
    }
    for (client, bytes) in inbox {
        let Some(frame) = check(
            client,
            &bytes,
            &clients,
            &members,
            voices,
            &moderation,
            now,
            &mut tally,
        ) else {
            continue;
        };
        let (speaker, up) = frame;
        let Ok((member, _)) = members.get(speaker) else {
            continue;
        };
        if let Some(left) = shared.moderation.voice_muted(member.info.account, now_ms) {
            tally.drop("voice_muted");
            let state = voices.members.get_mut(&speaker);
            if let Some(state) = state
                && state
                    .told_muted_at
                    .is_none_or(|at| now.saturating_sub(at) >= MUTED_NOTICE)
            {
                state.told_muted_at = Some(now);
                let rejection = Rejection {
                    command: CommandKind::Voice,
                    reason: RejectReason::Muted {
                        remaining_ms: left.as_millis() as u64,
                    },
                };
                send_event(&mut server, client, &ServerMessage::Rejected(rejection));
                voices.flush.push(client);
            }
            continue;
        }
        deliver(
            speaker,
            up,
            &mut server,
            &clients,
            &members,
            &rooms,
            voices,
            &parties,
            &shared,
            &moderation,
            now,
            &mut tally,
        );
    }
    if tally.deliveries > 0 && voices.read_at.is_none() {
        voices.read_at = voices.reading;
    }
    tally.publish(&shared.metrics.voice);
}

/// The checks before forwarding (see the module's list, up to the
/// voice-mute): the speaker's entity and its frame, or `None`, counted.
#[allow(clippy::too_many_arguments)]
fn check(
    client: ClientId,
    bytes: &[u8],
    clients: &Clients,
    members: &Query<(&Member, &Avatar)>,
    voices: &mut Voices,
    moderation: &ModerationLink,
    now: Duration,
    tally: &mut Tally,
) -> Option<(Entity, VoiceUp)> {
    if bytes.len() > MAX_VOICE_UP_BYTES {
        tally.drop("too_large");
        return None;
    }
    let Ok(up) = vitrine_shared::decode::<VoiceUp>(bytes) else {
        tally.drop("undecodable");
        return None;
    };
    let speaker = clients.0.get(&client).copied();
    let Some(speaker) = speaker.filter(|e| members.contains(*e) && !moderation.is_removing(client))
    else {
        tally.drop("not_member");
        return None;
    };
    if up.opus.len() > MAX_OPUS_BYTES {
        tally.drop("too_large");
        return None;
    }
    if vitrine_shared::opus::check_packet(&up.opus).is_err() {
        tally.drop("malformed_opus");
        return None;
    }
    let state = voices
        .members
        .entry(speaker)
        .or_insert_with(|| VoiceMember::new(now));
    if state.bucket.try_take(now).is_err() {
        tally.drop("rate_limited");
        return None;
    }
    if !state.sequence(up.seq) {
        tally.drop("out_of_order");
        return None;
    }
    Some((speaker, up))
}

/// Sends `up` from `speaker` to each listener who should hear it.
#[allow(clippy::too_many_arguments)]
fn deliver(
    speaker: Entity,
    up: VoiceUp,
    server: &mut RenetServer,
    clients: &Clients,
    members: &Query<(&Member, &Avatar)>,
    rooms: &Query<&Room>,
    voices: &mut Voices,
    parties: &Parties,
    shared: &Shared,
    moderation: &ModerationLink,
    now: Duration,
    tally: &mut Tally,
) {
    let Ok((member, avatar)) = members.get(speaker) else {
        return;
    };
    let Ok(room) = rooms.get(member.room) else {
        return;
    };
    let account = member.info.account;
    let party = match up.target {
        VoiceTarget::Nearby => None,
        VoiceTarget::Party => match parties.party_of(account) {
            Some(party) => Some(party),
            None => {
                tally.drop("no_party");
                return;
            }
        },
    };
    let down = VoiceDown {
        speaker: member.info.slot,
        seq: up.seq,
        timestamp: up.timestamp,
        target: up.target,
        opus: up.opus,
    };
    // The same bytes for every listener.
    let Ok(bytes) = vitrine_shared::encode(&down) else {
        return;
    };
    let bytes = Bytes::from(bytes);
    tally.forwarded += 1;
    for &listener_client in room.members.values() {
        if listener_client == member.client {
            continue;
        }
        let Some(&listener) = clients.0.get(&listener_client) else {
            continue;
        };
        let Ok((heard_by, ear_pose)) = members.get(listener) else {
            continue;
        };
        // A member being removed (kicked, banned) hears nothing more.
        if moderation.is_removing(listener_client) {
            continue;
        }
        let score = match party {
            Some(party) => {
                if parties.party_of(heard_by.info.account) != Some(party) {
                    continue;
                }
                PARTY_SCORE
            }
            None => {
                let d = distance(avatar.pose.position, ear_pose.pose.position);
                if !d.is_finite() || d > EARSHOT_M {
                    tally.withhold("beyond_earshot");
                    continue;
                }
                f32::from(up.level) * distance_gain(d)
            }
        };
        let state = voices
            .members
            .entry(listener)
            .or_insert_with(|| VoiceMember::new(now));
        if state.muted.contains(&account) {
            tally.withhold("listener_muted");
            continue;
        }
        if shared
            .friends
            .is_blocked_either_way(heard_by.info.account, account)
        {
            tally.withhold("blocked");
            continue;
        }
        if !state.ear.admit(speaker, score, now) {
            tally.withhold("over_cap");
            continue;
        }
        if !server.can_send_message(listener_client, ServerChannel::Voice, bytes.len()) {
            tally.withhold("listener_behind");
            continue;
        }
        server.send_message(listener_client, ServerChannel::Voice, bytes.clone());
        voices.flush.push(listener_client);
        tally.deliveries += 1;
    }
}

/// Between ticks: send the packets of the listeners given frames since the
/// last flush (and no one else's), and time the oldest frame's wait.
fn flush_between_ticks(
    mut voices: ResMut<Voices>,
    mut server: ResMut<RenetServer>,
    transport: Option<ResMut<UdpTransport>>,
    shared: Res<Shared>,
) {
    let read_at = voices.read_at.take();
    let mut listeners = std::mem::take(&mut voices.flush);
    voices.last_flush = Some(Instant::now());
    let Some(mut transport) = transport else {
        return;
    };
    if listeners.is_empty() {
        return;
    }
    listeners.sort_unstable();
    listeners.dedup();
    transport.send_packets_to(&mut server, &listeners, false);
    shared
        .metrics
        .bytes_out
        .store(transport.bytes_out(), Ordering::Relaxed);
    if let Some(at) = read_at {
        shared.metrics.voice.record_delay(at.elapsed());
    }
    shared
        .metrics
        .voice
        .flushes_between_ticks
        .fetch_add(1, Ordering::Relaxed);
}

/// After the tick's send: the frames the tick forwarded went with it.
fn sent_in_tick(mut voices: ResMut<Voices>, shared: Res<Shared>) {
    let read_at = voices.read_at.take();
    voices.last_flush = Some(Instant::now());
    if voices.flush.is_empty() {
        return;
    }
    voices.flush.clear();
    if let Some(at) = read_at {
        shared.metrics.voice.record_delay(at.elapsed());
    }
    shared
        .metrics
        .voice
        .flushes_in_tick
        .fetch_add(1, Ordering::Relaxed);
}

/// Listeners' voice commands: mute or unmute a speaker for themselves.
fn apply_commands(
    mut received: MessageReader<CommandReceived>,
    members: Query<&Member>,
    mut voices: ResMut<Voices>,
    mut server: ResMut<RenetServer>,
    time: Res<Time<Real>>,
) {
    let now = voice_now(&time);
    for CommandReceived { member, command } in received.read() {
        let RoomCommand::Voice(VoiceCommand::MuteSpeaker { account, muted }) = command else {
            continue;
        };
        let Ok(listener) = members.get(*member) else {
            continue;
        };
        let state = voices
            .members
            .entry(*member)
            .or_insert_with(|| VoiceMember::new(now));
        if !*muted {
            state.muted.remove(account);
        } else if state.muted.len() < MAX_MUTED_SPEAKERS || state.muted.contains(account) {
            state.muted.insert(*account);
            // Stop at once, not when the slot times out.
            state.ear.slots.retain(|s| {
                members
                    .get(s.speaker)
                    .is_ok_and(|m| m.info.account != *account)
            });
        } else {
            let rejection = Rejection {
                command: CommandKind::Voice,
                reason: RejectReason::NotAllowed,
            };
            send_event(
                &mut server,
                listener.client,
                &ServerMessage::Rejected(rejection),
            );
        }
    }
}

/// A member who left takes its voice state with it.
fn forget_departed(mut left: RemovedComponents<Member>, mut voices: ResMut<Voices>) {
    for entity in left.read() {
        voices.members.remove(&entity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_slot_is_kept_while_speaking_and_taken_only_by_a_louder_voice_after_tenure() {
        let mut world = World::new();
        let speakers: Vec<Entity> = (0..10).map(|_| world.spawn_empty().id()).collect();
        let mut ear = Ear::default();
        for &s in &speakers[..8] {
            assert!(ear.admit(s, 50.0, ms(0)));
        }
        // Full: a louder newcomer waits out the holders' tenure.
        assert!(!ear.admit(speakers[8], 200.0, ms(500)));
        // A holder keeps talking; the others too.
        for &s in &speakers[..8] {
            assert!(ear.admit(s, 50.0, ms(900)));
        }
        // A newcomer only a little louder does not take a slot.
        assert!(!ear.admit(speakers[8], 55.0, ms(1100)));
        // A much louder one takes the weakest.
        assert!(ear.admit(speakers[8], 200.0, ms(1100)));
        assert_eq!(ear.slots.len(), 8);
        // After a second of silence the slots free up.
        assert!(ear.admit(speakers[9], 1.0, ms(1100 + SLOT_HOLD_MS + 1)));
    }

    #[test]
    fn sequence_numbers_far_out_of_order_are_refused_until_a_resync() {
        let mut state = VoiceMember::new(Duration::ZERO);
        assert!(state.sequence(65_530));
        assert!(state.sequence(65_535));
        assert!(state.sequence(3), "wraps");
        assert!(state.sequence(65_534), "late, within the window");
        assert!(state.sequence(3), "a duplicate");
        assert!(!state.sequence(3 + MAX_SEQ_AHEAD + 1), "too far ahead");
        assert!(
            !state.sequence(3u16.wrapping_sub(MAX_SEQ_BEHIND + 1)),
            "stale"
        );
        for _ in 2..SEQ_RESYNC_FRAMES - 1 {
            assert!(!state.sequence(30_000));
        }
        assert!(!state.sequence(30_000), "the run that resyncs");
        assert!(state.sequence(30_000), "taken afresh");
        assert!(state.sequence(30_001));
    }
}
