//! Where a speaker's sound comes from: the microphone (with WebRTC's echo
//! cancellation, noise suppression and gain control), a sound file or a
//! tone paced in real time, or samples a test pushes.

use super::VoiceError;
use super::opus::SAMPLE_RATE;
use gst::prelude::*;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The name of the echo probe on the output path that the microphone's
/// `webrtcdsp` cancels against.
pub const ECHO_PROBE: &str = "vitrine_voice_echo_probe";

/// A capture source.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// The default microphone through `autoaudiosrc` and `webrtcdsp`.
    Microphone,
    /// A sound file (WAV, OGG, anything `decodebin` reads), looped.
    File(PathBuf),
    /// A tone of this frequency: a second on, a second off, looped.
    Tone { hz: f32 },
    /// These 48 kHz mono samples, looped (tests, the bench).
    Clip(Vec<i16>),
    /// Samples pushed with [`Capture::push`] (tests, the bench).
    Pushed,
}

enum Kind {
    Live {
        pipeline: gst::Pipeline,
        sink: gst_app::AppSink,
    },
    Clip {
        samples: Vec<i16>,
        position: usize,
        started: Option<Instant>,
        delivered: u64,
    },
    Pushed(VecDeque<i16>),
}

/// 48 kHz mono samples from a [`Source`].
pub struct Capture {
    kind: Kind,
}

impl Capture {
    pub fn open(source: &Source) -> Result<Capture, VoiceError> {
        let kind = match source {
            Source::Microphone => microphone()?,
            Source::File(path) => Kind::Clip {
                samples: decode_file(path)?,
                position: 0,
                started: None,
                delivered: 0,
            },
            Source::Tone { hz } => Kind::Clip {
                samples: tone(*hz),
                position: 0,
                started: None,
                delivered: 0,
            },
            Source::Clip(samples) => Kind::Clip {
                samples: samples.clone(),
                position: 0,
                started: None,
                delivered: 0,
            },
            Source::Pushed => Kind::Pushed(VecDeque::new()),
        };
        Ok(Capture { kind })
    }

    /// Queues samples for a [`Source::Pushed`] capture (ignored otherwise).
    pub fn push(&mut self, pcm: &[i16]) {
        if let Kind::Pushed(queue) = &mut self.kind {
            queue.extend(pcm);
        }
    }

    /// The samples captured since the last call. A clip is paced by the
    /// wall clock `now`, as a microphone would be.
    pub fn pull(&mut self, now: Instant) -> Vec<i16> {
        match &mut self.kind {
            Kind::Live { sink, .. } => {
                let mut out = Vec::new();
                while let Some(sample) = sink.try_pull_sample(gst::ClockTime::ZERO) {
                    if let Some(buffer) = sample.buffer()
                        && let Ok(map) = buffer.map_readable()
                    {
                        out.extend(
                            map.chunks_exact(2)
                                .map(|b| i16::from_le_bytes([b[0], b[1]])),
                        );
                    }
                }
                out
            }
            Kind::Clip {
                samples,
                position,
                started,
                delivered,
            } => {
                let started = *started.get_or_insert(now);
                let due = (now.saturating_duration_since(started).as_micros() as u64
                    * SAMPLE_RATE as u64
                    / 1_000_000)
                    .saturating_sub(*delivered);
                let mut out = Vec::with_capacity(due as usize);
                while (out.len() as u64) < due && !samples.is_empty() {
                    let take = (due as usize - out.len()).min(samples.len() - *position);
                    out.extend_from_slice(&samples[*position..*position + take]);
                    *position = (*position + take) % samples.len();
                }
                *delivered += out.len() as u64;
                out
            }
            Kind::Pushed(queue) => queue.drain(..).collect(),
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Kind::Live { pipeline, .. } = &self.kind {
            let _ = pipeline.set_state(gst::State::Null);
        }
    }
}

/// The microphone, with echo cancellation where it can start. webrtcdsp
/// finds its echo probe (in the sound output's pipeline) by name when it
/// starts, and refuses to start without it: with no output open (or none
/// that has the probe), the microphone starts again without cancellation
/// rather than not at all.
fn microphone() -> Result<Kind, VoiceError> {
    // Before asking the registry (the sound test found a program whose
    // first GStreamer element is the microphone panicking here).
    crate::init().map_err(|e| VoiceError::Pipeline(e.to_string()))?;
    let echo = gst::ElementFactory::find("webrtcechoprobe").is_some();
    match start_microphone(echo) {
        Err(e) if echo => {
            tracing::warn!(%e, "the microphone did not start with echo cancellation; starting it without");
            start_microphone(false)
        }
        started => started,
    }
}

fn start_microphone(echo: bool) -> Result<Kind, VoiceError> {
    crate::init().map_err(|e| VoiceError::Pipeline(e.to_string()))?;
    crate::require(&["autoaudiosrc", "audioconvert", "audioresample", "appsink"])?;
    // Without webrtcdsp (an older GStreamer) the microphone still works,
    // just without echo cancellation.
    let dsp = if gst::ElementFactory::find("webrtcdsp").is_some() {
        format!(
            "! webrtcdsp probe={ECHO_PROBE} echo-cancel={echo} noise-suppression=true gain-control=true voice-detection=false "
        )
    } else {
        tracing::warn!("webrtcdsp missing: the microphone has no echo cancellation");
        String::new()
    };
    let description = format!(
        "autoaudiosrc ! audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate={SAMPLE_RATE},channels=1,layout=interleaved \
         {dsp}! appsink name=voice_capture sync=false max-buffers=50 drop=true \
         caps=audio/x-raw,format=S16LE,rate={SAMPLE_RATE},channels=1,layout=interleaved"
    );
    let pipeline = gst::parse::launch(&description)
        .map_err(|e| VoiceError::Pipeline(e.to_string()))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| VoiceError::Pipeline("not a pipeline".into()))?;
    let sink = pipeline
        .by_name("voice_capture")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or_else(|| VoiceError::Pipeline("no appsink".into()))?;
    if let Err(e) = pipeline.set_state(gst::State::Playing) {
        let _ = pipeline.set_state(gst::State::Null);
        return Err(VoiceError::Pipeline(format!(
            "microphone did not start: {e}"
        )));
    }
    Ok(Kind::Live { pipeline, sink })
}

/// Decodes a whole sound file to 48 kHz mono, as fast as it decodes.
pub fn decode_file(path: &Path) -> Result<Vec<i16>, VoiceError> {
    crate::init().map_err(|e| VoiceError::Pipeline(e.to_string()))?;
    crate::require(&[
        "filesrc",
        "decodebin",
        "audioconvert",
        "audioresample",
        "appsink",
    ])?;
    if !path.is_file() {
        return Err(VoiceError::File(format!(
            "{} is not a file",
            path.display()
        )));
    }
    let pipeline = gst::Pipeline::new();
    let src = crate::make("filesrc")?;
    src.set_property("location", path.to_string_lossy().as_ref());
    let decode = crate::make("decodebin")?;
    let convert = crate::make("audioconvert")?;
    let resample = crate::make("audioresample")?;
    let caps = gst::Caps::builder("audio/x-raw")
        .field("format", "S16LE")
        .field("rate", SAMPLE_RATE)
        .field("channels", 1i32)
        .field("layout", "interleaved")
        .build();
    let sink = gst_app::AppSink::builder().caps(&caps).sync(false).build();
    pipeline
        .add_many([&src, &decode, &convert, &resample, sink.upcast_ref()])
        .map_err(|e| VoiceError::Pipeline(e.to_string()))?;
    gst::Element::link_many([&src, &decode]).map_err(|e| VoiceError::Pipeline(e.to_string()))?;
    gst::Element::link_many([&convert, &resample, sink.upcast_ref()])
        .map_err(|e| VoiceError::Pipeline(e.to_string()))?;
    let convert_sink = convert
        .static_pad("sink")
        .expect("audioconvert has a sink pad");
    decode.connect_pad_added(move |_, pad| {
        let audio = pad
            .current_caps()
            .or_else(|| Some(pad.query_caps(None)))
            .and_then(|c| c.structure(0).map(|s| s.name().starts_with("audio/")))
            .unwrap_or(false);
        if audio && !convert_sink.is_linked() {
            let _ = pad.link(&convert_sink);
        }
    });
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| VoiceError::File(format!("{}: {e}", path.display())))?;
    let mut samples = Vec::new();
    let bus = pipeline.bus().expect("a pipeline has a bus");
    let deadline = Instant::now() + Duration::from_secs(30);
    let result = loop {
        if let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(20)) {
            if let Some(buffer) = sample.buffer()
                && let Ok(map) = buffer.map_readable()
            {
                samples.extend(
                    map.chunks_exact(2)
                        .map(|b| i16::from_le_bytes([b[0], b[1]])),
                );
            }
            continue;
        }
        if sink.is_eos() {
            break Ok(());
        }
        if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error])
            && let gst::MessageView::Error(e) = msg.view()
        {
            break Err(VoiceError::File(format!(
                "{}: {}",
                path.display(),
                e.error()
            )));
        }
        if Instant::now() > deadline {
            break Err(VoiceError::File(format!(
                "{}: decoding took too long",
                path.display()
            )));
        }
    };
    let _ = pipeline.set_state(gst::State::Null);
    result?;
    if samples.is_empty() {
        return Err(VoiceError::File(format!(
            "{}: no audio in it",
            path.display()
        )));
    }
    Ok(samples)
}

/// A second of [`hum`] then a second of silence, looped by
/// [`Source::Tone`]: the pause exercises DTX.
pub fn tone(hz: f32) -> Vec<i16> {
    let mut samples = hum(hz, 1.0);
    samples.resize(2 * SAMPLE_RATE as usize, 0);
    samples
}

/// A voice-like tone at `hz`: three harmonics, a 5 Hz vibrato of a fifth
/// of the pitch and a slow swell. A pure sine is stationary enough that
/// Opus's DTX takes it for background noise after a second or so and stops
/// sending; this is not, so it plays as long as it lasts.
pub fn hum(hz: f32, seconds: f32) -> Vec<i16> {
    use std::f32::consts::TAU;
    let depth = hz / 5.0;
    (0..(seconds * SAMPLE_RATE as f32) as usize)
        .map(|i| {
            let t = i as f32 / SAMPLE_RATE as f32;
            // The phase of a pitch of hz + depth sin(5 Hz t), integrated.
            let phase = TAU * (hz * t - depth / (5.0 * TAU) * (5.0 * TAU * t).cos());
            let swell = 0.75 + 0.25 * (3.0 * TAU * t).sin();
            let v = (phase.sin() + 0.5 * (2.0 * phase).sin() + 0.3 * (3.0 * phase).sin()) * swell;
            (v * 6_000.0) as i16
        })
        .collect()
}
