//! The listener's side: every speaker's packets through a jitter buffer
//! and an Opus decoder, placed in space and summed into 20 ms of stereo: a
//! 40 ms packet is decoded whole and rendered over two frames.

use super::jitter::{JitterBuffer, JitterStats, Playout};
use super::opus::{CodecError, Decoder, FRAME_SAMPLES, PACKET_SAMPLES};
use super::sender::level_of;
use super::space;
use std::collections::{BTreeMap, VecDeque};
use vitrine_shared::MemberSlot;
use vitrine_shared::protocol::{VoiceDown, VoiceTarget};

/// Interleaved stereo samples in one rendered frame.
pub const STEREO_FRAME: usize = 2 * FRAME_SAMPLES;
/// A speaker counts as speaking for this long after a voiced frame
/// played (250 ms), so the indicator does not flicker between words.
const SPEAKING_HOLD: u64 = 12_000;
/// A played frame above this level (0..255, about -50 dBFS) is voiced.
const SPEAKING_LEVEL: u8 = 95;

/// Totals over every speaker, for tests, the bench and the HUD.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VoiceStats {
    /// Packets (40 ms each) decoded that arrived in time.
    pub played: u64,
    /// Lost packets rebuilt from the next packet's in-band FEC.
    pub fec_recovered: u64,
    /// Packets the decoder made up (loss, or a late packet).
    pub concealed: u64,
    /// Packets that arrived after their turn.
    pub late: u64,
    /// Packets refused (duplicate, wildly out of order, overflow) or
    /// thrown away to shorten a grown delay.
    pub dropped: u64,
    /// 20 ms frames rendered, whatever was playing.
    pub rendered: u64,
}

/// The decisions kept for [`Mixer::take_decisions`]: a few seconds' worth.
const DECISIONS_KEPT: usize = 256;

/// What the mixer played for a speaker from one output frame on (for two
/// frames, a packet's 40 ms): which frames were real, rebuilt or guessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The output frame the packet's time began in (0 is the first frame
    /// this mixer rendered).
    pub frame: u64,
    pub speaker: MemberSlot,
    pub kind: DecisionKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecisionKind {
    /// The packet, decoded.
    Decoded,
    /// Rebuilt from the next packet's FEC.
    Rebuilt,
    /// Guessed by the codec's concealment (lost, or not here in time).
    Concealed,
    /// A DTX pause: silence sent as such.
    Pause,
}

/// What the UI shows for one speaker.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpeakerView {
    pub speaking: bool,
    /// The last played frame's level, 0..255.
    pub level: u8,
    /// The listener's own setting, 0.0 to 2.0 (1.0 as heard).
    pub volume: f32,
    pub muted: bool,
    /// The gain distance and party gave the last frame.
    pub gain: f32,
}

/// What the packet being rendered is. (While the jitter buffer says idle
/// nothing is rendered, and it is asked again at the next frame.)
#[derive(Clone, Copy, PartialEq, Eq)]
enum Current {
    /// A DTX pause: silence for the packet's time.
    Pause,
    /// Sound: decoded, rebuilt or concealed; `voiced` when it came from a
    /// packet (decoded or rebuilt) rather than made up.
    Sound { voiced: bool },
}

struct Voice {
    jitter: JitterBuffer,
    decoder: Decoder,
    /// The current packet, decoded, and how much of it has been rendered.
    pcm: Vec<i16>,
    rendered: usize,
    current: Current,
    position: Option<[f32; 3]>,
    target: VoiceTarget,
    volume: f32,
    muted: bool,
    last_voiced: Option<u64>,
    level: u8,
    /// The gains the last frame ended on, ramped from to avoid clicks.
    gains: (f32, f32),
    lowpass: f32,
    distance_gain: f32,
}

/// Spatial mixer for everyone this listener hears.
pub struct Mixer {
    voices: BTreeMap<MemberSlot, Voice>,
    /// Settings made before a speaker's first frame.
    settings: BTreeMap<MemberSlot, (f32, bool)>,
    listener: [f32; 3],
    yaw: f32,
    /// Samples rendered so far: the buffers' clock.
    clock: u64,
    rendered: u64,
    mix: Vec<f32>,
    decisions: VecDeque<Decision>,
}

impl Default for Mixer {
    fn default() -> Self {
        Mixer::new()
    }
}

impl Mixer {
    pub fn new() -> Mixer {
        Mixer {
            voices: BTreeMap::new(),
            settings: BTreeMap::new(),
            listener: [0.0; 3],
            yaw: 0.0,
            clock: 0,
            rendered: 0,
            mix: vec![0.0; STEREO_FRAME],
            decisions: VecDeque::with_capacity(DECISIONS_KEPT),
        }
    }

    /// The playout decisions since the last call, oldest first (the last
    /// few seconds' at most): what each rendered frame was made of, for
    /// tests and diagnostics.
    pub fn take_decisions(&mut self) -> Vec<Decision> {
        self.decisions.drain(..).collect()
    }

    /// Samples (per channel) rendered so far.
    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// Files a received frame for its speaker.
    pub fn receive(&mut self, frame: VoiceDown) -> Result<(), CodecError> {
        let voice = match self.voices.get_mut(&frame.speaker) {
            Some(voice) => voice,
            None => {
                let (volume, muted) = self
                    .settings
                    .get(&frame.speaker)
                    .copied()
                    .unwrap_or((1.0, false));
                self.voices.entry(frame.speaker).or_insert(Voice {
                    jitter: JitterBuffer::new(),
                    decoder: Decoder::new()?,
                    pcm: vec![0; PACKET_SAMPLES],
                    rendered: PACKET_SAMPLES,
                    current: Current::Pause,
                    position: None,
                    target: frame.target,
                    volume,
                    muted,
                    last_voiced: None,
                    level: 0,
                    gains: (0.0, 0.0),
                    lowpass: 0.0,
                    distance_gain: 0.0,
                })
            }
        };
        voice.target = frame.target;
        let _ = voice
            .jitter
            .insert(frame.seq, frame.timestamp, frame.opus, self.clock);
        Ok(())
    }

    /// Where the listener's head is and which way it faces (protocol yaw).
    pub fn set_listener(&mut self, position: [f32; 3], yaw: f32) {
        self.listener = position;
        self.yaw = yaw;
    }

    /// Where a speaker's head is; `None` when they are not in view (a
    /// nearby voice is then not heard; a party voice plays centred).
    pub fn set_speaker_position(&mut self, speaker: MemberSlot, position: Option<[f32; 3]>) {
        if let Some(voice) = self.voices.get_mut(&speaker) {
            voice.position = position;
        }
    }

    /// The speakers this mixer has heard from.
    pub fn speakers(&self) -> impl Iterator<Item = MemberSlot> + '_ {
        self.voices.keys().copied()
    }

    /// Forgets a speaker who left the room.
    pub fn forget(&mut self, speaker: MemberSlot) {
        self.voices.remove(&speaker);
    }

    /// Per-person volume, 0.0 to 2.0.
    pub fn set_volume(&mut self, speaker: MemberSlot, volume: f32) {
        let volume = if volume.is_finite() {
            volume.clamp(0.0, 2.0)
        } else {
            1.0
        };
        self.settings.entry(speaker).or_insert((1.0, false)).0 = volume;
        if let Some(voice) = self.voices.get_mut(&speaker) {
            voice.volume = volume;
        }
    }

    /// Mutes one speaker for this listener only.
    pub fn set_muted(&mut self, speaker: MemberSlot, muted: bool) {
        self.settings.entry(speaker).or_insert((1.0, false)).1 = muted;
        if let Some(voice) = self.voices.get_mut(&speaker) {
            voice.muted = muted;
        }
    }

    /// Whether `speaker` is heard speaking now: for indicators.
    pub fn is_speaking(&self, speaker: MemberSlot) -> bool {
        self.view(speaker).is_some_and(|v| v.speaking)
    }

    pub fn view(&self, speaker: MemberSlot) -> Option<SpeakerView> {
        let voice = self.voices.get(&speaker)?;
        Some(SpeakerView {
            speaking: !voice.muted
                && voice
                    .last_voiced
                    .is_some_and(|t| self.clock.saturating_sub(t) <= SPEAKING_HOLD),
            level: voice.level,
            volume: voice.volume,
            muted: voice.muted,
            gain: voice.distance_gain,
        })
    }

    /// One speaker's buffer counters.
    pub fn speaker_stats(&self, speaker: MemberSlot) -> Option<JitterStats> {
        self.voices.get(&speaker).map(|v| v.jitter.stats())
    }

    pub fn stats(&self) -> VoiceStats {
        let mut stats = VoiceStats {
            rendered: self.rendered,
            ..VoiceStats::default()
        };
        for voice in self.voices.values() {
            let j = voice.jitter.stats();
            stats.played += j.decoded;
            stats.fec_recovered += j.recovered;
            stats.concealed += j.concealed;
            stats.late += j.late;
            stats.dropped += j.dropped + j.duplicates + j.out_of_order;
        }
        stats
    }

    /// Renders the next 20 ms: 960 interleaved stereo pairs, 48 kHz.
    pub fn render(&mut self) -> Vec<i16> {
        let mut out = vec![0i16; STEREO_FRAME];
        self.render_into(&mut out);
        out
    }

    /// As [`Mixer::render`], into a buffer of [`STEREO_FRAME`] samples.
    pub fn render_into(&mut self, out: &mut [i16]) {
        assert_eq!(out.len(), STEREO_FRAME);
        self.mix.fill(0.0);
        let now = self.clock;
        for (&speaker, voice) in self.voices.iter_mut() {
            if voice.rendered >= PACKET_SAMPLES {
                // The last packet is all played: the next decision.
                let decided = voice.jitter.next(now);
                let kind = match &decided {
                    Playout::Idle => None,
                    Playout::Decode(_) => Some(DecisionKind::Decoded),
                    Playout::Recover(_) => Some(DecisionKind::Rebuilt),
                    Playout::Conceal => Some(DecisionKind::Concealed),
                    Playout::Pause => Some(DecisionKind::Pause),
                };
                if let Some(kind) = kind {
                    if self.decisions.len() == DECISIONS_KEPT {
                        self.decisions.pop_front();
                    }
                    self.decisions.push_back(Decision {
                        frame: self.rendered,
                        speaker,
                        kind,
                    });
                }
                let decoded = match &decided {
                    Playout::Idle => {
                        voice.gains = (0.0, 0.0);
                        continue;
                    }
                    Playout::Pause => {
                        voice.current = Current::Pause;
                        Ok(())
                    }
                    Playout::Decode(opus) => voice.decoder.decode(opus, &mut voice.pcm),
                    Playout::Recover(next) => voice.decoder.recover(next, &mut voice.pcm),
                    Playout::Conceal => voice.decoder.conceal(&mut voice.pcm),
                };
                if decoded.is_err() {
                    // Malformed Opus: this packet is silent, the stream goes on.
                    voice.pcm.fill(0);
                }
                if !matches!(decided, Playout::Pause) {
                    voice.current = Current::Sound {
                        voiced: matches!(decided, Playout::Decode(_) | Playout::Recover(_)),
                    };
                }
                voice.rendered = 0;
            }
            let start = voice.rendered;
            voice.rendered += FRAME_SAMPLES;
            let Current::Sound { voiced } = voice.current else {
                voice.level = 0;
                continue;
            };
            let pcm = &voice.pcm[start..start + FRAME_SAMPLES];
            let level = level_of(pcm);
            voice.level = level;
            if voiced && level >= SPEAKING_LEVEL {
                voice.last_voiced = Some(now);
            }
            let (gain, pan, lowpass) = match voice.position {
                Some(at) => {
                    let d = space::distance(self.listener, at);
                    let gain = match voice.target {
                        VoiceTarget::Nearby => space::distance_gain(d),
                        VoiceTarget::Party => space::party_gain(d),
                    };
                    (
                        gain,
                        space::pan(self.listener, self.yaw, at),
                        space::lowpass_coefficient(d),
                    )
                }
                None => match voice.target {
                    VoiceTarget::Nearby => (0.0, (0.0, 0.0), 1.0),
                    VoiceTarget::Party => {
                        let c = std::f32::consts::FRAC_1_SQRT_2;
                        (space::PARTY_GAIN, (c, c), 1.0)
                    }
                },
            };
            voice.distance_gain = gain;
            let scale = if voice.muted {
                0.0
            } else {
                gain * voice.volume
            };
            let to = (pan.0 * scale, pan.1 * scale);
            let from = voice.gains;
            voice.gains = to;
            if from == (0.0, 0.0) && to == (0.0, 0.0) {
                continue;
            }
            let step = 1.0 / FRAME_SAMPLES as f32;
            let mut y = voice.lowpass;
            for (i, &s) in pcm.iter().enumerate() {
                let t = i as f32 * step;
                let x = s as f32;
                y += lowpass * (x - y);
                self.mix[2 * i] += y * (from.0 + (to.0 - from.0) * t);
                self.mix[2 * i + 1] += y * (from.1 + (to.1 - from.1) * t);
            }
            voice.lowpass = y;
        }
        for (o, &m) in out.iter_mut().zip(&self.mix) {
            *o = m.clamp(-32768.0, 32767.0) as i16;
        }
        self.clock += FRAME_SAMPLES as u64;
        self.rendered += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::voice::sender::{Sender, Talk};

    /// Rendered frames a packet plays for.
    const PER_PACKET: usize = PACKET_SAMPLES / FRAME_SAMPLES;

    fn tone(packets: usize, hz: f32) -> Vec<i16> {
        (0..packets * PACKET_SAMPLES)
            .map(|i| ((i as f32 * hz * std::f32::consts::TAU / 48_000.0).sin() * 12_000.0) as i16)
            .collect()
    }

    fn downs(packets: usize, target: VoiceTarget) -> Vec<VoiceDown> {
        let mut sender = Sender::new().unwrap();
        sender.set_talk(Talk::OpenMic);
        sender.set_target(target);
        // Voice-like: Opus codes in-band FEC only for what it takes for
        // speech, which a pure sine is not.
        let mut pcm = crate::voice::hum(220.0, packets as f32 * 0.04);
        pcm.resize(packets * PACKET_SAMPLES, 0);
        sender
            .push(&pcm)
            .into_iter()
            .map(|up| VoiceDown {
                speaker: MemberSlot(1),
                seq: up.seq,
                timestamp: up.timestamp,
                target: up.target,
                opus: up.opus,
            })
            .collect()
    }

    /// Feeds one packet per packet's worth of rendered frames and returns
    /// (left, right) energy.
    fn heard(position: Option<[f32; 3]>, yaw: f32, frames: Vec<VoiceDown>) -> (f64, f64, Mixer) {
        let mut mixer = Mixer::new();
        mixer.set_listener([0.0, 1.6, 0.0], yaw);
        let (mut l, mut r) = (0.0, 0.0);
        for frame in frames {
            mixer.receive(frame).unwrap();
            mixer.set_speaker_position(MemberSlot(1), position);
            for _ in 0..PER_PACKET {
                let out = mixer.render();
                for pair in out.chunks(2) {
                    l += (pair[0] as f64).powi(2);
                    r += (pair[1] as f64).powi(2);
                }
            }
        }
        (l, r, mixer)
    }

    #[test]
    fn encode_decode_round_trip_keeps_the_tone() {
        let mut sender = Sender::new().unwrap();
        assert_eq!(sender.codec_settings(), (18_000, true, true));
        sender.set_talk(Talk::OpenMic);
        let input = tone(25, 440.0);
        let ups = sender.push(&input);
        assert_eq!(ups.len(), 25, "a steady tone is never DTX silence");
        let bytes: usize = ups.iter().map(|u| u.opus.len()).sum();
        // About 18 kbit/s: 90 bytes a 40 ms packet on average, FEC included.
        assert!((50 * 25..=150 * 25).contains(&bytes), "{bytes} bytes");
        let mut decoder = Decoder::new().unwrap();
        let mut out = vec![0i16; PACKET_SAMPLES];
        let mut decoded = Vec::new();
        for up in &ups {
            decoder.decode(&up.opus, &mut out).unwrap();
            decoded.extend_from_slice(&out);
        }
        // The tone's level survives the codec (after its start-up).
        let tail = &decoded[5 * PACKET_SAMPLES..];
        let level_in = level_of(&input[5 * PACKET_SAMPLES..]);
        let level_out = level_of(tail);
        assert!(
            level_in.abs_diff(level_out) <= 8,
            "{level_in} vs {level_out}"
        );
    }

    #[test]
    fn push_to_talk_and_mute_gate_the_microphone_and_silence_is_not_sent() {
        let mut sender = Sender::new().unwrap();
        assert!(sender.push(&tone(5, 300.0)).is_empty(), "muted by default");
        sender.set_talk(Talk::PushToTalk { held: false });
        assert!(sender.push(&tone(5, 300.0)).is_empty());
        sender.set_talk(Talk::PushToTalk { held: true });
        let ups = sender.push(&tone(5, 300.0));
        assert_eq!(ups.len(), 5);
        // Timestamps count the gated packets too: 10 went before.
        assert_eq!(ups[0].timestamp, 10 * PACKET_SAMPLES as u32);
        assert_eq!(
            ups.iter().map(|u| u.seq).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4]
        );
        sender.set_talk(Talk::OpenMic);
        // Open mic: silence after the hangover sends nothing.
        let sent = sender.push(&vec![0; 20 * PACKET_SAMPLES]).len();
        assert!(
            sent <= super::super::sender::VAD_HANGOVER_FRAMES as usize,
            "{sent}"
        );
    }

    #[test]
    fn a_hum_is_sent_throughout_and_a_pause_is_left_to_dtx() {
        let mut sender = Sender::new().unwrap();
        sender.set_talk(Talk::PushToTalk { held: true });
        // Ten seconds of hum: a pure sine would fall silent under DTX.
        assert_eq!(sender.push(&crate::voice::hum(200.0, 10.0)).len(), 250);
        // The tone source's second of silence (25 packets) is not sent,
        // after libopus's 200 ms DTX hangover.
        let before = sender.stats();
        sender.push(&crate::voice::tone(200.0));
        let after = sender.stats();
        assert!(after.sent - before.sent <= 25 + 8, "{after:?}");
        assert!(
            after.dtx_skipped - before.dtx_skipped >= 25 - 8,
            "{after:?}"
        );
    }

    #[test]
    fn a_voice_on_the_left_is_louder_left_and_on_the_right_louder_right() {
        // Facing +Z, +X is the listener's left.
        let (l, r, mixer) = heard(Some([3.0, 1.6, 0.0]), 0.0, downs(15, VoiceTarget::Nearby));
        assert!(l > 10.0 * r && l > 0.0, "left {l} right {r}");
        assert!(mixer.stats().played >= 12);
        let (l, r, _) = heard(Some([-3.0, 1.6, 0.0]), 0.0, downs(15, VoiceTarget::Nearby));
        assert!(r > 10.0 * l && r > 0.0, "left {l} right {r}");
    }

    #[test]
    fn beyond_earshot_is_silent_but_a_party_member_is_heard() {
        let (l, r, mixer) = heard(Some([0.0, 1.6, 30.0]), 0.0, downs(15, VoiceTarget::Nearby));
        assert_eq!((l, r), (0.0, 0.0));
        assert!(mixer.stats().played >= 12, "decoded, just not heard");
        let (l, r, _) = heard(Some([0.0, 1.6, 60.0]), 0.0, downs(15, VoiceTarget::Party));
        assert!(l > 0.0 && r > 0.0);
    }

    #[test]
    fn per_person_mute_and_volume_and_the_speaking_signal() {
        let mut mixer = Mixer::new();
        mixer.set_muted(MemberSlot(1), true);
        for frame in downs(5, VoiceTarget::Nearby) {
            mixer.receive(frame).unwrap();
            mixer.set_speaker_position(MemberSlot(1), Some([1.0, 0.0, 0.0]));
            for _ in 0..PER_PACKET {
                assert!(mixer.render().iter().all(|&s| s == 0));
            }
        }
        assert!(!mixer.is_speaking(MemberSlot(1)));
        mixer.set_muted(MemberSlot(1), false);
        mixer.set_volume(MemberSlot(1), 0.5);
        for frame in downs(5, VoiceTarget::Nearby).into_iter().map(|mut f| {
            f.seq += 5;
            f.timestamp += 5 * PACKET_SAMPLES as u32;
            f
        }) {
            mixer.receive(frame).unwrap();
            for _ in 0..PER_PACKET {
                mixer.render();
            }
        }
        assert!(mixer.is_speaking(MemberSlot(1)));
        assert_eq!(mixer.view(MemberSlot(1)).unwrap().volume, 0.5);
    }

    #[test]
    fn lost_frames_are_recovered_or_concealed_and_the_output_never_gaps() {
        let frames = downs(30, VoiceTarget::Nearby);
        let mut mixer = Mixer::new();
        let mut silent_after_start = Vec::new();
        let mut started = false;
        for (i, frame) in frames.into_iter().enumerate() {
            // Lose every 7th packet (3, 10, 17, 24), and two in a row at
            // 20 and 21.
            if i % 7 != 3 && i != 20 && i != 21 {
                mixer.receive(frame).unwrap();
            }
            mixer.set_speaker_position(MemberSlot(1), Some([0.0, 0.0, 1.0]));
            for half in 0..PER_PACKET {
                let out = mixer.render();
                let level = level_of(&out);
                started |= level > 60;
                if started && level <= 60 && i < 28 {
                    silent_after_start.push((i, half, level));
                }
            }
        }
        let stats = mixer.stats();
        assert!(stats.fec_recovered >= 4, "{stats:?}");
        assert!(stats.concealed >= 1, "{stats:?}");
        assert_eq!(silent_after_start, [], "(packet, half, level); {stats:?}");
    }
}
