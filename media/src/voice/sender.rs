//! The speaker's side: 48 kHz mono PCM in, [`VoiceUp`] frames out, as the
//! talk mode lets them through.

use super::opus::{CodecError, Encoder, PACKET_SAMPLES};
use vitrine_shared::limits::voice as limits;
use vitrine_shared::protocol::{VoiceTarget, VoiceUp};

/// How the microphone opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Talk {
    /// Nothing is sent.
    #[default]
    Muted,
    /// Sent while the key (V, or a controller button) is held.
    PushToTalk { held: bool },
    /// Sent while voice activity is detected, with a short hangover so the
    /// ends of words are not clipped.
    OpenMic,
}

/// Open mic opens above this level (0..255, see [`level_of`]): about
/// -45 dBFS, above a quiet room's noise and below soft speech.
pub const VAD_OPEN_LEVEL: u8 = 110;
/// Packets the open mic stays open after the last loud one (320 ms).
pub const VAD_HANGOVER_FRAMES: u32 = 8;

/// A frame's level, 0 (silence, -80 dBFS or below) to 255 (full scale),
/// from its RMS: the level the server ranks speakers by.
pub fn level_of(pcm: &[i16]) -> u8 {
    if pcm.is_empty() {
        return 0;
    }
    let energy: f64 = pcm.iter().map(|&s| (s as f64) * (s as f64)).sum::<f64>() / pcm.len() as f64;
    let rms = energy.sqrt() / 32768.0;
    if rms <= 1e-4 {
        return 0;
    }
    let db = 20.0 * rms.log10();
    (((db + 80.0) / 80.0) * 255.0).clamp(0.0, 255.0) as u8
}

/// What a sender has done, for tests, the bench and the HUD.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SenderStats {
    /// Frames encoded and handed out to send.
    pub sent: u64,
    /// Frames DTX left unsent (the encoder judged them silence).
    pub dtx_skipped: u64,
    /// Packets' worth (40 ms) captured while the talk mode kept the
    /// microphone shut.
    pub gated: u64,
    /// Opus bytes handed out.
    pub bytes: u64,
}

/// Encodes what the talk mode lets through into numbered, timestamped
/// 40 ms packets ([`vitrine_shared::limits::voice::FRAME_MS`]).
pub struct Sender {
    encoder: Encoder,
    talk: Talk,
    target: VoiceTarget,
    seq: u16,
    /// The next frame's first sample since this sender began: it advances
    /// through silence too, so a listener tells a pause from a loss.
    timestamp: u32,
    pending: Vec<i16>,
    hangover: u32,
    sending: bool,
    level: u8,
    stats: SenderStats,
}

impl Sender {
    /// A sender at the project's bitrate.
    pub fn new() -> Result<Sender, CodecError> {
        Sender::with_bitrate(limits::BITRATE_BPS)
    }

    pub fn with_bitrate(bitrate_bps: u32) -> Result<Sender, CodecError> {
        Ok(Sender {
            encoder: Encoder::voip(bitrate_bps)?,
            talk: Talk::default(),
            target: VoiceTarget::Nearby,
            seq: 0,
            timestamp: 0,
            pending: Vec::with_capacity(PACKET_SAMPLES * 2),
            hangover: 0,
            sending: false,
            level: 0,
            stats: SenderStats::default(),
        })
    }

    pub fn set_talk(&mut self, talk: Talk) {
        self.talk = talk;
    }

    pub fn talk(&self) -> Talk {
        self.talk
    }

    /// The "nearby / party" switch.
    pub fn set_target(&mut self, target: VoiceTarget) {
        self.target = target;
    }

    pub fn target(&self) -> VoiceTarget {
        self.target
    }

    /// Whether the last frame went out: the speaker's own indicator.
    pub fn is_sending(&self) -> bool {
        self.sending
    }

    /// The last frame's level (0..255), sent or not: a microphone meter.
    pub fn level(&self) -> u8 {
        self.level
    }

    pub fn stats(&self) -> SenderStats {
        self.stats
    }

    /// The encoder's (bitrate, DTX, in-band FEC), for tests.
    pub fn codec_settings(&self) -> (i32, bool, bool) {
        self.encoder.settings()
    }

    /// Takes captured 48 kHz mono samples (any amount) and returns the
    /// frames to send now.
    pub fn push(&mut self, pcm: &[i16]) -> Vec<VoiceUp> {
        self.pending.extend_from_slice(pcm);
        let mut out = Vec::new();
        let mut start = 0;
        while self.pending.len() - start >= PACKET_SAMPLES {
            let frame: Vec<i16> = self.pending[start..start + PACKET_SAMPLES].to_vec();
            start += PACKET_SAMPLES;
            if let Some(up) = self.frame(&frame) {
                out.push(up);
            }
        }
        self.pending.drain(..start);
        out
    }

    fn open(&mut self, level: u8) -> bool {
        match self.talk {
            Talk::Muted => false,
            Talk::PushToTalk { held } => held,
            Talk::OpenMic => {
                if level >= VAD_OPEN_LEVEL {
                    self.hangover = VAD_HANGOVER_FRAMES;
                    true
                } else if self.hangover > 0 {
                    self.hangover -= 1;
                    true
                } else {
                    false
                }
            }
        }
    }

    fn frame(&mut self, pcm: &[i16]) -> Option<VoiceUp> {
        let timestamp = self.timestamp;
        self.timestamp = self.timestamp.wrapping_add(PACKET_SAMPLES as u32);
        self.level = level_of(pcm);
        self.sending = false;
        if !self.open(self.level) {
            self.stats.gated += 1;
            return None;
        }
        let opus = match self.encoder.encode(pcm, limits::MAX_OPUS_BYTES) {
            Ok(opus) => opus,
            Err(error) => {
                tracing::warn!(%error, "voice frame not encoded");
                return None;
            }
        };
        if opus.len() <= 2 {
            // DTX: the encoder says this frame is silence; the timestamp
            // gap tells the listener so.
            self.stats.dtx_skipped += 1;
            return None;
        }
        self.sending = true;
        self.stats.sent += 1;
        self.stats.bytes += opus.len() as u64;
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        Some(VoiceUp {
            seq,
            timestamp,
            target: self.target,
            level: self.level,
            opus,
        })
    }
}
