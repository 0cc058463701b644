//! What the voice feature asks of an audio engine, and nothing more:
//! open or close the microphone, take the frames it encoded, hand it the
//! frames that arrived, tell it where the listener and the speakers are
//! and how loud each should be, and ask who it hears now. The engine does
//! its capture, coding, jitter buffering and mixing on its own threads;
//! these calls only pass data across, so the frame never waits on audio.

use bevy::math::{Quat, Vec3};
use vitrine_shared::MemberSlot;
use vitrine_shared::protocol::{VoiceDown, VoiceUp};

/// When the microphone's frames go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Capture {
    /// Closed: nothing is captured or encoded.
    #[default]
    Off,
    /// Every frame (push-to-talk held).
    Always,
    /// The frames the engine's voice-activity detection passes (open mic).
    VoiceActivity,
}

/// The listener's head: where it is and which way it faces (forward -Z).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Listener {
    pub position: Vec3,
    pub rotation: Quat,
}

/// An audio engine behind the voice feature.
pub trait VoiceBackend: Send + Sync + 'static {
    /// Opens or closes the microphone; called when it changes.
    fn set_capture(&mut self, capture: Capture);
    /// The frames encoded since the last call, in order, appended to
    /// `out` (their `target` is set by the caller).
    fn take_frames(&mut self, out: &mut Vec<VoiceUp>);
    /// A frame the server forwarded, into the speaker's jitter buffer.
    fn push(&mut self, frame: VoiceDown);
    /// The listener's head and the heads of the speakers heard lately.
    fn place(&mut self, listener: Listener, speakers: &[(MemberSlot, Vec3)]);
    /// A speaker's volume (0 silences them).
    fn set_gain(&mut self, speaker: MemberSlot, gain: f32);
    /// A slot's speaker is gone (its slot now carries someone else): drop
    /// their jitter buffer and decoder state.
    fn forget(&mut self, _speaker: MemberSlot) {}
    /// The speakers heard speaking since the last call, with their
    /// loudest level, 0 to 1, appended to `out` (only when
    /// [`VoiceBackend::hears`]): nothing said between two slow frames is
    /// missed.
    fn levels(&self, out: &mut Vec<(MemberSlot, f32)>);
    /// Whether the engine decodes what arrives and can say who speaks;
    /// without, the feature goes by the voiced frames arriving.
    fn hears(&self) -> bool {
        false
    }
    /// Why there is no voice, in a few words ("no microphone"), if so.
    fn problem(&self) -> Option<String>;
}

/// No audio at all: offscreen pictures, benchmarks, and machines where the
/// engine could not start. Frames that arrive are dropped; speaking still
/// shows, from the frames arriving.
#[derive(Debug, Default)]
pub struct Silent {
    pub problem: Option<String>,
}

impl VoiceBackend for Silent {
    fn set_capture(&mut self, _: Capture) {}
    fn take_frames(&mut self, _: &mut Vec<VoiceUp>) {}
    fn push(&mut self, _: VoiceDown) {}
    fn place(&mut self, _: Listener, _: &[(MemberSlot, Vec3)]) {}
    fn set_gain(&mut self, _: MemberSlot, _: f32) {}
    fn levels(&self, _: &mut Vec<(MemberSlot, f32)>) {}
    fn problem(&self) -> Option<String> {
        self.problem.clone()
    }
}
