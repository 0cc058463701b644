//! Voice over the game link, without Bevy: captures and sends through a
//! [`NetClient`], and places what it receives at the speakers' heads from
//! the room mirror. The showroom and the bots both drive one of these; the
//! engine itself is [`vitrine_media::voice`].

use crate::net::NetClient;
use std::time::{Duration, Instant};
use vitrine_media::voice::{Capture, Mixer, Output, STEREO_FRAME, Sender};
use vitrine_shared::{MemberSlot, PoseNet};

pub use vitrine_media::voice::{
    SenderStats, Source, SpeakerView, Talk, VoiceError, VoiceStats, hum, level_of, tone,
};
pub use vitrine_shared::protocol::VoiceTarget;

/// Where what this client hears goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hearing {
    /// The sound card.
    Device,
    /// Kept in memory for [`Voice::take_recorded`] (tests, the bench).
    Record,
    /// Not decoded at all (bots that only speak).
    Off,
}

/// Head height above a body's floor position when no headset reports one.
const HEAD_HEIGHT_M: f32 = 1.6;
/// Output frames rendered at once at most after a stall; the rest of the
/// backlog is skipped, not played late.
const MAX_CATCH_UP_FRAMES: u64 = 10;
const FRAME: Duration = Duration::from_millis(20);

/// One client's voice: a source, a sender, and (unless off) a mixer.
pub struct Voice {
    capture: Capture,
    sender: Sender,
    mixer: Option<Mixer>,
    output: Option<Output>,
    record: bool,
    recorded: Vec<i16>,
    started: Option<Instant>,
    frames_rendered: u64,
    frames_skipped: u64,
}

impl Voice {
    pub fn new(source: &Source, hearing: Hearing) -> Result<Voice, VoiceError> {
        Ok(Voice {
            capture: Capture::open(source)?,
            sender: Sender::new()?,
            mixer: (hearing != Hearing::Off).then(Mixer::new),
            output: match hearing {
                Hearing::Device => Some(Output::device()?),
                _ => None,
            },
            record: hearing == Hearing::Record,
            recorded: Vec::new(),
            started: None,
            frames_rendered: 0,
            frames_skipped: 0,
        })
    }

    pub fn set_talk(&mut self, talk: Talk) {
        self.sender.set_talk(talk);
    }

    pub fn talk(&self) -> Talk {
        self.sender.talk()
    }

    /// The "nearby / party" switch.
    pub fn set_target(&mut self, target: VoiceTarget) {
        self.sender.set_target(target);
    }

    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// The mixer: per-person volume and mute, speaking signals, counters.
    pub fn mixer(&self) -> Option<&Mixer> {
        self.mixer.as_ref()
    }

    pub fn mixer_mut(&mut self) -> Option<&mut Mixer> {
        self.mixer.as_mut()
    }

    /// Whether `speaker` is heard speaking now (false when not hearing).
    pub fn is_speaking(&self, speaker: MemberSlot) -> bool {
        self.mixer.as_ref().is_some_and(|m| m.is_speaking(speaker))
    }

    pub fn stats(&self) -> VoiceStats {
        self.mixer.as_ref().map(Mixer::stats).unwrap_or_default()
    }

    /// Samples for a [`Source::Pushed`] capture.
    pub fn push_pcm(&mut self, pcm: &[i16]) {
        self.capture.push(pcm);
    }

    /// Captures what is due by `now`, encodes what the talk mode lets
    /// through and sends it; returns the frames sent. Call
    /// [`NetClient::flush`] after.
    pub fn send(&mut self, net: &mut NetClient, now: Instant) -> usize {
        let pcm = self.capture.pull(now);
        let frames = self.sender.push(&pcm);
        if net.is_connected() {
            for frame in &frames {
                net.send_voice(frame);
            }
        }
        frames.len()
    }

    /// Takes the frames `net` received (after [`NetClient::update`]) and
    /// places every speaker, and the listener, from the room mirror.
    pub fn receive(&mut self, net: &mut NetClient) {
        let Some(mixer) = self.mixer.as_mut() else {
            net.drain_voice().for_each(drop);
            return;
        };
        for frame in net.drain_voice() {
            // Only a decoder that cannot be made fails here (libopus
            // went missing after the sender was made): not heard.
            let _ = mixer.receive(frame);
        }
        let mirror = net.mirror();
        let me = mirror
            .you
            .and_then(|you| mirror.avatars.get(&you))
            .or(mirror.spawn.as_ref());
        if let Some(pose) = me {
            let (head, yaw) = head_of(pose);
            mixer.set_listener(head, yaw);
        }
        let speakers: Vec<MemberSlot> = mixer.speakers().collect();
        for speaker in speakers {
            if !mirror.members.contains_key(&speaker) && mirror.is_welcomed() {
                mixer.forget(speaker);
                continue;
            }
            let at = mirror.avatars.get(&speaker).map(|pose| head_of(pose).0);
            mixer.set_speaker_position(speaker, at);
        }
    }

    /// Renders the output due by `now` (20 ms a frame since the first
    /// call) to the device or the recording; returns the frames rendered.
    pub fn render_due(&mut self, now: Instant) -> usize {
        let started = *self.started.get_or_insert(now);
        let due =
            (now.saturating_duration_since(started).as_micros() / FRAME.as_micros()) as u64 + 1;
        if due > self.frames_rendered + MAX_CATCH_UP_FRAMES {
            self.frames_skipped += due - MAX_CATCH_UP_FRAMES - self.frames_rendered;
            self.frames_rendered = due - MAX_CATCH_UP_FRAMES;
        }
        let mut n = 0;
        while self.frames_rendered < due {
            self.render_frame();
            n += 1;
        }
        n
    }

    /// Output frames skipped after a stall: gaps in the output timeline.
    pub fn frames_skipped(&self) -> u64 {
        self.frames_skipped
    }

    /// Renders the next 20 ms now, whatever the time: tests step by hand.
    pub fn render_frame(&mut self) -> Option<Vec<i16>> {
        self.frames_rendered += 1;
        let mixer = self.mixer.as_mut()?;
        let mut frame = vec![0i16; STEREO_FRAME];
        mixer.render_into(&mut frame);
        if let Some(output) = &self.output {
            output.push(&frame);
        }
        if self.record {
            self.recorded.extend_from_slice(&frame);
        }
        Some(frame)
    }

    /// What was rendered since the last call (interleaved stereo, 48 kHz),
    /// under [`Hearing::Record`].
    pub fn take_recorded(&mut self) -> Vec<i16> {
        std::mem::take(&mut self.recorded)
    }

    /// One step in real time: send, receive, render.
    pub fn pump(&mut self, net: &mut NetClient, now: Instant) {
        self.send(net, now);
        self.receive(net);
        self.render_due(now);
    }
}

/// Where a pose's head is and which way it faces: the headset's when it
/// reports one, else head height above the body.
pub fn head_of(pose: &PoseNet) -> ([f32; 3], f32) {
    match &pose.xr {
        Some(xr) => {
            let [x, y, z, w] = xr.head.rotation;
            // The head's forward (-Z) rotated by the quaternion, on the floor.
            let fx = -(2.0 * (x * z + w * y));
            let fz = -(1.0 - 2.0 * (x * x + y * y));
            let yaw = if fx.abs() + fz.abs() < 1e-6 {
                pose.yaw
            } else {
                fx.atan2(fz)
            };
            (xr.head.position, yaw)
        }
        None => (
            [
                pose.position[0],
                pose.position[1] + HEAD_HEIGHT_M,
                pose.position[2],
            ],
            pose.yaw,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_headset_head_faces_where_the_body_yaw_would() {
        // A head turned by yaw+pi about Y faces protocol yaw (as
        // `vitrine_shared::pose::yaw_rotation` builds it).
        for yaw in [0.0f32, 0.7, -2.0] {
            let half = (yaw + std::f32::consts::PI) / 2.0;
            let mut pose = PoseNet::at([0.0; 3], 0.0);
            pose.xr = Some(vitrine_shared::pose::XrPoseNet {
                head: vitrine_shared::pose::TrackedPoseNet {
                    position: [1.0, 1.7, 2.0],
                    rotation: [0.0, half.sin(), 0.0, half.cos()],
                },
                left_hand: None,
                right_hand: None,
            });
            let (head, got) = head_of(&pose);
            assert_eq!(head, [1.0, 1.7, 2.0]);
            let diff = (got - yaw + std::f32::consts::PI).rem_euclid(std::f32::consts::TAU)
                - std::f32::consts::PI;
            assert!(diff.abs() < 1e-4, "{yaw} -> {got}");
        }
    }
}
