//! Spatial voice, the audio engine (no networking, no Bevy): a
//! [`Capture`] gives 48 kHz mono samples, a [`Sender`] gates them by the
//! [`Talk`] mode and encodes 40 ms Opus packets (VOIP, 18 kbit/s, DTX and
//! in-band FEC on) as [`VoiceUp`](vitrine_shared::protocol::VoiceUp)s; a
//! [`Mixer`] takes [`VoiceDown`](vitrine_shared::protocol::VoiceDown)s,
//! runs each speaker through an adaptive [`JitterBuffer`] (60 ms, growing
//! to 120 ms on a late link) and a decoder (FEC for a lost frame when the
//! next is here, concealment otherwise), places it in [`space`] and
//! renders 20 ms of stereo at a time into an [`Output`] or a caller's
//! buffer.
//!
//! The mixer runs on the listener's output clock (samples rendered), so a
//! test that renders frames by hand and a sound card that pulls in real
//! time run the same code.

mod capture;
mod jitter;
mod mixer;
pub mod opus;
mod output;
mod sender;
pub mod space;

pub use capture::{Capture, ECHO_PROBE, Source, decode_file, hum, tone};
pub use jitter::{JitterBuffer, JitterStats, Playout, Refused};
pub use mixer::{Decision, DecisionKind, Mixer, STEREO_FRAME, SpeakerView, VoiceStats};
pub use opus::{CodecError, FRAME_SAMPLES, SAMPLE_RATE};
pub use output::Output;
pub use sender::{Sender, SenderStats, Talk, VAD_HANGOVER_FRAMES, VAD_OPEN_LEVEL, level_of};

use crate::MissingElement;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoiceError {
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error(transparent)]
    Missing(#[from] MissingElement),
    #[error("voice pipeline: {0}")]
    Pipeline(String),
    #[error("voice file: {0}")]
    File(String),
}
