//! The real engine ([`vitrine_media::voice`]) behind [`VoiceBackend`], on a
//! thread of its own: every 20 ms it pulls what the microphone captured,
//! encodes what the talk mode lets through, takes the frames that arrived,
//! and renders the spatial mix to the sound card. The showroom's frame only
//! passes messages across (a channel each way and a small shared state),
//! so a slow frame never stalls the audio and the audio never the frame.

use super::engine::{Capture, Listener, VoiceBackend};
use bevy::math::Vec3;
use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender, SyncSender, TryRecvError, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use vitrine_media::voice::{self, Mixer, Output, STEREO_FRAME, Source, Talk};
use vitrine_shared::MemberSlot;
use vitrine_shared::protocol::{VoiceDown, VoiceUp};

const FRAME: Duration = Duration::from_millis(20);
/// After a stall (a suspended laptop), render at most this many frames at
/// once; the rest are skipped, not played late.
const MAX_CATCH_UP: u64 = 10;
/// Encoded packets kept for a showroom frame that is late to take them
/// (a second of speech); older ones are dropped, as late voice is.
const MAX_WAITING: usize = 25;

/// Where the mix goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hearing {
    /// The sound card.
    Device,
    /// Mixed for the speaking levels, played nowhere (offscreen runs).
    Nowhere,
}

enum ToAudio {
    Capture(Capture),
    Frame(VoiceDown),
    Place([f32; 3], f32, Vec<(MemberSlot, [f32; 3])>),
    Gain(MemberSlot, f32),
    Forget(MemberSlot),
    Stop,
}

/// What the audio thread tells the showroom.
#[derive(Default)]
struct Shared {
    /// Who spoke since the showroom last asked, at their loudest.
    levels: BTreeMap<MemberSlot, f32>,
    problem: Option<String>,
}

/// The engine on its thread.
pub struct AudioEngine {
    to_audio: Mutex<Sender<ToAudio>>,
    encoded: Mutex<Receiver<VoiceUp>>,
    shared: Arc<Mutex<Shared>>,
    thread: Option<JoinHandle<()>>,
}

impl AudioEngine {
    /// Starts the thread with `source` for the microphone (`None`: no
    /// capture) and `hearing` for the mix. What cannot be opened (no
    /// microphone, no sound card) is reported by [`VoiceBackend::problem`];
    /// the rest works.
    pub fn start(source: Option<Source>, hearing: Hearing) -> Self {
        let (to_audio, commands) = channel();
        let (encoded_tx, encoded) = sync_channel(MAX_WAITING);
        let shared = Arc::new(Mutex::new(Shared::default()));
        let state = shared.clone();
        let thread = std::thread::Builder::new()
            .name("vitrine-voice".into())
            .spawn(move || run(source, hearing, commands, encoded_tx, state))
            .ok();
        if thread.is_none()
            && let Ok(mut s) = shared.lock()
        {
            s.problem = Some("the voice thread did not start".into());
        }
        AudioEngine {
            to_audio: Mutex::new(to_audio),
            encoded: Mutex::new(encoded),
            shared,
            thread,
        }
    }

    fn send(&self, message: ToAudio) {
        if let Ok(tx) = self.to_audio.lock() {
            let _ = tx.send(message);
        }
    }
}

impl Drop for AudioEngine {
    fn drop(&mut self) {
        self.send(ToAudio::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl VoiceBackend for AudioEngine {
    fn set_capture(&mut self, capture: Capture) {
        self.send(ToAudio::Capture(capture));
    }

    fn take_frames(&mut self, out: &mut Vec<VoiceUp>) {
        if let Ok(rx) = self.encoded.lock() {
            out.extend(rx.try_iter());
        }
    }

    fn push(&mut self, frame: VoiceDown) {
        self.send(ToAudio::Frame(frame));
    }

    fn place(&mut self, listener: Listener, speakers: &[(MemberSlot, Vec3)]) {
        // The protocol's yaw: the head's forward (-Z) on the floor.
        let forward = listener.rotation * Vec3::NEG_Z;
        let yaw = forward.x.atan2(forward.z);
        let speakers = speakers.iter().map(|(s, at)| (*s, at.to_array())).collect();
        self.send(ToAudio::Place(listener.position.to_array(), yaw, speakers));
    }

    fn set_gain(&mut self, speaker: MemberSlot, gain: f32) {
        self.send(ToAudio::Gain(speaker, gain));
    }

    fn forget(&mut self, speaker: MemberSlot) {
        self.send(ToAudio::Forget(speaker));
    }

    fn levels(&self, out: &mut Vec<(MemberSlot, f32)>) {
        if let Ok(mut shared) = self.shared.lock()
            && !shared.levels.is_empty()
        {
            out.extend(std::mem::take(&mut shared.levels));
        }
    }

    fn problem(&self) -> Option<String> {
        self.shared.lock().ok().and_then(|s| s.problem.clone())
    }

    fn hears(&self) -> bool {
        true
    }
}

fn talk_of(capture: Capture) -> Talk {
    match capture {
        Capture::Off => Talk::Muted,
        Capture::Always => Talk::PushToTalk { held: true },
        Capture::VoiceActivity => Talk::OpenMic,
    }
}

/// The audio thread: opens what it can, then one 20 ms step at a time
/// until told to stop (or the showroom is gone).
fn run(
    source: Option<Source>,
    hearing: Hearing,
    commands: Receiver<ToAudio>,
    encoded: SyncSender<VoiceUp>,
    shared: Arc<Mutex<Shared>>,
) {
    let mut problems = Vec::new();
    // The output first: the microphone's echo canceller finds its probe,
    // in the output's pipeline, when it starts.
    let output = match hearing {
        Hearing::Device => match Output::device() {
            Ok(o) => Some(o),
            Err(e) => {
                bevy::log::warn!("voice: no sound output: {e}");
                problems.push("no speakers".to_owned());
                None
            }
        },
        Hearing::Nowhere => None,
    };
    let mut capture = source.and_then(|s| match voice::Capture::open(&s) {
        Ok(c) => Some(c),
        Err(e) => {
            // The screen says it in two words; the log says why.
            bevy::log::warn!("voice: no microphone: {e}");
            problems.push("no microphone".to_owned());
            None
        }
    });
    let mut sender = match voice::Sender::new() {
        Ok(s) => Some(s),
        Err(e) => {
            bevy::log::warn!("voice: no Opus encoder: {e}");
            problems.push("no encoder".to_owned());
            None
        }
    };
    if let Ok(mut s) = shared.lock() {
        s.problem = (!problems.is_empty()).then(|| problems.join(", "));
    }
    let mut mixer = Mixer::new();
    let mut frame = vec![0i16; STEREO_FRAME];
    let started = Instant::now();
    let mut rendered: u64 = 0;
    let mut levels: BTreeMap<MemberSlot, f32> = BTreeMap::new();
    loop {
        loop {
            match commands.try_recv() {
                Ok(ToAudio::Capture(c)) => {
                    if let Some(sender) = &mut sender {
                        sender.set_talk(talk_of(c));
                    }
                }
                Ok(ToAudio::Frame(f)) => {
                    let _ = mixer.receive(f);
                }
                Ok(ToAudio::Place(head, yaw, speakers)) => {
                    mixer.set_listener(head, yaw);
                    for (slot, at) in speakers {
                        mixer.set_speaker_position(slot, Some(at));
                    }
                }
                Ok(ToAudio::Gain(slot, gain)) => {
                    mixer.set_volume(slot, gain);
                    mixer.set_muted(slot, gain <= 0.0);
                }
                Ok(ToAudio::Forget(slot)) => {
                    mixer.forget(slot);
                    levels.remove(&slot);
                }
                Ok(ToAudio::Stop) | Err(TryRecvError::Disconnected) => return,
                Err(TryRecvError::Empty) => break,
            }
        }
        let now = Instant::now();
        // The microphone: what the talk mode lets through goes out.
        if let (Some(capture), Some(sender)) = (&mut capture, &mut sender) {
            let pcm = capture.pull(now);
            for up in sender.push(&pcm) {
                // The showroom takes them each frame; while it stalls
                // with a full queue, new frames are dropped (late voice is
                // worth nothing).
                let _ = encoded.try_send(up);
            }
        }
        // The mix, on the output's clock.
        let due = (now.duration_since(started).as_micros() / FRAME.as_micros()) as u64 + 1;
        if due > rendered + MAX_CATCH_UP {
            rendered = due - MAX_CATCH_UP;
        }
        while rendered < due {
            mixer.render_into(&mut frame);
            if let Some(output) = &output {
                output.push(&frame);
            }
            rendered += 1;
        }
        levels.clear();
        for speaker in mixer.speakers() {
            if let Some(view) = mixer.view(speaker)
                && view.speaking
            {
                levels.insert(speaker, (f32::from(view.level) / 255.0).max(0.05));
            }
        }
        // Kept, the loudest, until the showroom takes them.
        if !levels.is_empty()
            && let Ok(mut s) = shared.lock()
        {
            for (slot, level) in &levels {
                let heard = s.levels.entry(*slot).or_insert(0.0);
                *heard = heard.max(*level);
            }
        }
        let next = started + FRAME * (rendered as u32);
        std::thread::sleep(next.saturating_duration_since(Instant::now()).min(FRAME));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bevy::math::Quat;
    use vitrine_shared::protocol::VoiceTarget;

    /// A voice-like buzz (a steady sine is DTX's "noise").
    fn voiced(frames: usize) -> Vec<i16> {
        use std::f32::consts::TAU;
        (0..frames * 960)
            .map(|i| {
                let t = i as f32 / 48_000.0;
                let buzz: f32 = (1..=8)
                    .map(|h| (140.0 * t * TAU * h as f32).sin() / h as f32)
                    .sum();
                (buzz * (0.6 + 0.4 * (t * TAU * 4.0).sin()) * 6_000.0) as i16
            })
            .collect()
    }

    #[test]
    fn the_thread_decodes_what_arrives_and_says_who_speaks() {
        let mut engine = AudioEngine::start(None, Hearing::Nowhere);
        assert_eq!(engine.problem(), None);
        let mut sender = voice::Sender::new().unwrap();
        sender.set_talk(Talk::OpenMic);
        let frames = sender.push(&voiced(100));
        assert!(frames.len() > 25, "{} packets", frames.len());
        let speaker = MemberSlot(4);
        let listener = Listener {
            position: Vec3::new(0.0, 1.6, 0.0),
            rotation: Quat::IDENTITY,
        };
        let mut levels = Vec::new();
        let start = Instant::now();
        // Fed in bursts of five (200 ms of voice) each 200 ms: a showroom
        // on a slow renderer takes the link's packets once a frame.
        for (i, up) in frames.into_iter().enumerate() {
            engine.push(VoiceDown {
                speaker,
                seq: up.seq,
                timestamp: up.timestamp,
                target: VoiceTarget::Nearby,
                opus: up.opus,
            });
            engine.place(listener, &[(speaker, Vec3::new(1.0, 1.6, -2.0))]);
            if i % 5 != 4 {
                continue;
            }
            std::thread::sleep(FRAME * 10);
            levels.clear();
            engine.levels(&mut levels);
            if !levels.is_empty() {
                break;
            }
        }
        assert_eq!(
            levels.first().map(|(s, _)| *s),
            Some(speaker),
            "nobody heard in {:?}",
            start.elapsed()
        );
    }
}
