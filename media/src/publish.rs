//! The host side: a source, encoded, muxed and sent to the ingest over SRT.
//!
//! ```text
//! test pattern: videotestsrc ─ clockoverlay ─ timeoverlay ─ [stamp] ─┐
//!               audiotestsrc ─ [beep gate] ──────────────────────────┤
//! camera:       v4l2src ─ convert/scale/rate ────────────────────────┤
//! file:         filesrc ─ decodebin ─ convert/scale/rate ────────────┤
//!                  x264enc (zerolatency) + avenc_aac ─ mpegtsmux ─ srtsink (caller)
//!                  or vp8enc (deadline 1) + opusenc ─ webm (matroskamux) ─ srtsink
//! ```
//!
//! `[stamp]` writes the wall clock and the frame counter into each frame
//! ([`crate::timecode`]) and lights the A/V marker; `[beep gate]` silences
//! the tone except for the first 100 ms of each second. Both go by the
//! buffers' timestamps, which the two live sources take from the same
//! pipeline clock, so beep and flash leave together.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gst::prelude::*;

use crate::srt::SrtLatency;
use crate::timecode::{self, Timecode};
use crate::uri::{UrlError, parse_srt};
use crate::{MissingElement, StreamKey};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Colour bars, a clock, the timecode, and a 1 kHz beep each second.
    TestPattern,
    /// A V4L2 device such as `/dev/video0`, with the default microphone.
    Camera(PathBuf),
    /// A media file, played once in real time.
    File(PathBuf),
    /// One colour (0xAARRGGBB) and a quiet tone: a co-host stand-in that
    /// tests and the two-publisher bench can tell apart on the stage.
    Solid(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    /// H.264 (x264, zero-latency tuning) and AAC in MPEG-TS: what the relay
    /// also turns into HLS.
    #[default]
    H264,
    /// VP8 (libvpx, realtime) and Opus in WebM. The relay passes it on over
    /// SRT and records it; HLS needs H.264.
    Vp8,
}

impl std::str::FromStr for Codec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "h264" => Ok(Self::H264),
            "vp8" => Ok(Self::Vp8),
            other => Err(format!("unknown codec `{other}` (h264 or vp8)")),
        }
    }
}

/// The picture sizes we send: even sides from the least to the largest.
pub const MIN_SIDE: u32 = 16;
pub const MAX_WIDTH: u32 = 3840;
pub const MAX_HEIGHT: u32 = 2160;
pub const MAX_FPS: u32 = 60;
/// The video bitrates an encoder is asked for, in kbit/s.
pub const MIN_BITRATE_KBPS: u32 = 100;
pub const MAX_BITRATE_KBPS: u32 = 50_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOptions {
    pub source: Source,
    pub codec: Codec,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    /// SRT latency (the receive buffer; the relay takes the larger of its
    /// floor and this): by default, by the kind of link (see [`crate::srt`]).
    pub latency: SrtLatency,
    /// Stamp the timecode and the A/V marker (on by default for the test
    /// pattern only: it covers a corner of the picture).
    pub timecode: bool,
}

impl PublishOptions {
    pub fn new(source: Source) -> Self {
        let timecode = source == Source::TestPattern;
        Self {
            source,
            codec: Codec::H264,
            width: 1280,
            height: 720,
            fps: 30,
            bitrate_kbps: 2500,
            latency: SrtLatency::Auto,
            timecode,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("bad ingest URL: {0}")]
    Url(#[from] UrlError),
    #[error(transparent)]
    Missing(#[from] MissingElement),
    #[error(
        "{width}x{height} at {fps} fps is not a size we send \
         ({MIN_SIDE}x{MIN_SIDE} to {MAX_WIDTH}x{MAX_HEIGHT}, even, 1 to {MAX_FPS} fps)"
    )]
    BadFormat { width: u32, height: u32, fps: u32 },
    #[error("bitrate {0} kbit/s is out of range ({MIN_BITRATE_KBPS} to {MAX_BITRATE_KBPS})")]
    BadBitrate(u32),
    #[error("no such file: {0}")]
    NoSuchFile(PathBuf),
    #[error("`{0}` is not a camera (no such V4L2 device)")]
    NoSuchCamera(PathBuf),
    #[error("`{path}` has no video stream we can read: {why}")]
    UnreadableFile { path: PathBuf, why: String },
    #[error("GStreamer: {0}")]
    Init(#[from] crate::InitError),
    #[error("pipeline: {0}")]
    Pipeline(String),
    #[error("could not reach the ingest or it refused us: {0}")]
    Refused(String),
}

/// A running publisher. Dropping it stops the stream (the ingest sees the
/// publisher leave at once).
pub struct Publisher {
    pipeline: gst::Pipeline,
    frames: Arc<AtomicU64>,
    latency_ms: u32,
}

/// How a publisher's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishEnd {
    /// The source ended (a file played to its end).
    Finished,
    Failed(PublishError),
}

impl Publisher {
    /// Builds and starts the pipeline. Errors found before any packet leaves
    /// (a bad URL, a missing file or element) come back here; the ingest's
    /// answer comes from [`Publisher::wait`].
    pub fn start(
        ingest: &str,
        key: &StreamKey,
        options: &PublishOptions,
    ) -> Result<Self, PublishError> {
        let addr = parse_srt(ingest)?;
        crate::init()?;
        let PublishOptions {
            width,
            height,
            fps,
            bitrate_kbps,
            ..
        } = *options;
        if !(MIN_SIDE..=MAX_WIDTH).contains(&width)
            || !(MIN_SIDE..=MAX_HEIGHT).contains(&height)
            || width % 2 != 0
            || height % 2 != 0
            || !(1..=MAX_FPS).contains(&fps)
        {
            return Err(PublishError::BadFormat { width, height, fps });
        }
        if !(MIN_BITRATE_KBPS..=MAX_BITRATE_KBPS).contains(&bitrate_kbps) {
            return Err(PublishError::BadBitrate(bitrate_kbps));
        }

        let raw =
            format!("video/x-raw,format=I420,width={width},height={height},framerate={fps}/1");
        let mut elements = vec!["srtsink", "videoconvert", "videoscale", "queue"];
        let (venc, aenc, mux) = match options.codec {
            Codec::H264 => {
                elements.extend(["x264enc", "h264parse", "avenc_aac", "aacparse", "mpegtsmux"]);
                (
                    format!(
                        "x264enc tune=zerolatency speed-preset=ultrafast bitrate={bitrate_kbps} \
                         key-int-max={fps} ! video/x-h264,profile=constrained-baseline ! \
                         h264parse config-interval=-1"
                    ),
                    "avenc_aac bitrate=128000 ! aacparse".to_owned(),
                    "mpegtsmux name=mux alignment=7".to_owned(),
                )
            }
            Codec::Vp8 => {
                elements.extend(["vp8enc", "opusenc", "matroskamux"]);
                (
                    format!(
                        "vp8enc deadline=1 cpu-used=8 target-bitrate={} keyframe-max-dist={fps} \
                         error-resilient=partitions",
                        bitrate_kbps * 1000
                    ),
                    "opusenc".to_owned(),
                    "matroskamux name=mux streamable=true".to_owned(),
                )
            }
        };
        let (video, audio, live) = match &options.source {
            Source::TestPattern => {
                elements.extend([
                    "videotestsrc",
                    "audiotestsrc",
                    "clockoverlay",
                    "timeoverlay",
                ]);
                (
                    format!(
                        "videotestsrc is-live=true pattern=smpte ! {raw} ! \
                         clockoverlay halignment=right valignment=bottom font-desc=\"Sans 28\" \
                         time-format=\"%H:%M:%S\" shaded-background=true ! \
                         timeoverlay halignment=left valignment=bottom font-desc=\"Sans 28\" \
                         shaded-background=true ! identity name=stamp"
                    ),
                    "audiotestsrc is-live=true wave=sine freq=1000 volume=0.5 samplesperbuffer=480 ! \
                     audio/x-raw,format=S16LE,rate=48000,channels=1 ! identity name=beep ! \
                     audioconvert ! audioresample"
                        .to_owned(),
                    true,
                )
            }
            Source::Solid(argb) => {
                elements.extend(["videotestsrc", "audiotestsrc"]);
                (
                    format!(
                        "videotestsrc is-live=true pattern=solid-color foreground-color={argb} ! \
                         {raw} ! identity name=stamp"
                    ),
                    "audiotestsrc is-live=true wave=sine freq=440 volume=0.1 samplesperbuffer=480 ! \
                     audio/x-raw,format=S16LE,rate=48000,channels=1 ! audioconvert ! audioresample"
                        .to_owned(),
                    true,
                )
            }
            Source::Camera(device) => {
                if !device.exists() {
                    return Err(PublishError::NoSuchCamera(device.clone()));
                }
                elements.extend(["v4l2src", "videorate", "autoaudiosrc"]);
                (
                    format!(
                        "v4l2src device=\"{}\" ! videoconvert ! videoscale ! videorate ! {raw} ! \
                         identity name=stamp",
                        device.display()
                    ),
                    "autoaudiosrc ! audioconvert ! audioresample".to_owned(),
                    true,
                )
            }
            Source::File(path) => {
                if !path.is_file() {
                    return Err(PublishError::NoSuchFile(path.clone()));
                }
                elements.extend(["filesrc", "decodebin", "videorate"]);
                let has_audio = probe_file(path)?;
                let audio = if has_audio {
                    "dec. ! queue ! audioconvert ! audioresample"
                } else {
                    // The muxer waits for every pad: a file without sound
                    // still gets a (silent) audio track.
                    "audiotestsrc wave=silence ! audioconvert ! audioresample"
                };
                (
                    format!(
                        "filesrc location=\"{}\" ! decodebin name=dec dec. ! queue ! videoconvert ! \
                         videoscale ! videorate ! {raw} ! identity name=stamp",
                        path.display()
                    ),
                    audio.to_owned(),
                    false,
                )
            }
        };
        crate::require(&elements)?;
        // A live source is sent as it comes; a file is paced by the sink.
        let sync = !live;
        let latency_ms = options.latency.for_uri(&addr.uri());
        let description = format!(
            "{video} ! queue max-size-buffers=3 ! {venc} ! queue ! mux. \
             {audio} ! {aenc} ! queue ! mux. \
             {mux} ! srtsink name=sink uri=\"{uri}\" latency={latency} sync={sync} async=false",
            uri = addr.uri(),
            latency = latency_ms,
        );
        let pipeline = gst::parse::launch(&description)
            .map_err(|e| PublishError::Pipeline(e.to_string()))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| PublishError::Pipeline("not a pipeline".into()))?;
        let sink = pipeline
            .by_name("sink")
            .ok_or_else(|| PublishError::Pipeline("no sink".into()))?;
        sink.set_property("streamid", key.as_str());

        let frames = Arc::new(AtomicU64::new(0));
        if options.timecode {
            install_stamp(&pipeline, frames.clone());
        } else {
            count_frames(&pipeline, frames.clone());
        }
        if let Some(beep) = pipeline.by_name("beep") {
            install_beep_gate(&beep);
        }
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| PublishError::Refused(first_error(&pipeline)))?;
        Ok(Self {
            pipeline,
            frames,
            latency_ms,
        })
    }

    /// The SRT latency this publisher asked for.
    pub fn latency_ms(&self) -> u32 {
        self.latency_ms
    }

    /// Frames sent so far.
    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }

    /// Waits up to `timeout` for the run to end; `None` while it still runs.
    pub fn wait(&self, timeout: Duration) -> Option<PublishEnd> {
        let bus = self.pipeline.bus()?;
        let msg = bus.timed_pop_filtered(
            gst::ClockTime::from_nseconds(timeout.as_nanos() as u64),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )?;
        Some(match msg.view() {
            gst::MessageView::Error(e) => {
                PublishEnd::Failed(PublishError::Refused(e.error().to_string()))
            }
            _ => PublishEnd::Finished,
        })
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        // NULL closes the SRT socket, which tells the ingest at once.
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Whether a file has sound; an error if it has no video we can decode.
fn probe_file(path: &std::path::Path) -> Result<bool, PublishError> {
    let unreadable = |why: String| PublishError::UnreadableFile {
        path: path.to_owned(),
        why,
    };
    let abs = std::fs::canonicalize(path).map_err(|e| unreadable(e.to_string()))?;
    let uri = gst::glib::filename_to_uri(&abs, None).map_err(|e| unreadable(e.to_string()))?;
    let discoverer = gst_pbutils::Discoverer::new(gst::ClockTime::from_seconds(10))
        .map_err(|e| unreadable(e.to_string()))?;
    let info = discoverer
        .discover_uri(&uri)
        .map_err(|e| unreadable(e.to_string()))?;
    if info.video_streams().is_empty() {
        return Err(unreadable("no video stream".into()));
    }
    Ok(!info.audio_streams().is_empty())
}

fn first_error(pipeline: &gst::Pipeline) -> String {
    pipeline
        .bus()
        .and_then(|bus| bus.pop_filtered(&[gst::MessageType::Error]))
        .and_then(|msg| match msg.view() {
            gst::MessageView::Error(e) => Some(e.error().to_string()),
            _ => None,
        })
        .unwrap_or_else(|| "the pipeline did not start".into())
}

fn stream_time(pts: Option<gst::ClockTime>) -> Duration {
    Duration::from_nanos(pts.map_or(0, |t| t.nseconds()))
}

/// Stamps each frame with the wall clock and the counter, and lights the
/// marker while the tone beeps.
fn install_stamp(pipeline: &gst::Pipeline, frames: Arc<AtomicU64>) {
    let Some(pad) = pipeline.by_name("stamp").and_then(|e| e.static_pad("src")) else {
        return;
    };
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let n = frames.fetch_add(1, Ordering::Relaxed);
        let Some(caps) = pad.current_caps() else {
            return gst::PadProbeReturn::Ok;
        };
        let Ok(video) = gst_video::VideoInfo::from_caps(&caps) else {
            return gst::PadProbeReturn::Ok;
        };
        if let Some(buffer) = info.buffer_mut() {
            let marker = timecode::beeping(stream_time(buffer.pts()));
            let buffer = buffer.make_mut();
            if let Ok(mut frame) =
                gst_video::VideoFrameRef::from_buffer_ref_writable(buffer, &video)
            {
                let _ = timecode::stamp_frame(Timecode::now(n as u32), marker, &mut frame);
            }
        }
        gst::PadProbeReturn::Ok
    });
}

fn count_frames(pipeline: &gst::Pipeline, frames: Arc<AtomicU64>) {
    if let Some(pad) = pipeline.by_name("stamp").and_then(|e| e.static_pad("src")) {
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            frames.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    }
}

/// Silences the S16LE mono tone outside the first 100 ms of each second.
fn install_beep_gate(beep: &gst::Element) {
    let Some(pad) = beep.static_pad("src") else {
        return;
    };
    pad.add_probe(gst::PadProbeType::BUFFER, |_, info| {
        if let Some(buffer) = info.buffer_mut() {
            let start = stream_time(buffer.pts());
            let buffer = buffer.make_mut();
            if let Ok(mut map) = buffer.map_writable() {
                for (i, sample) in map.chunks_exact_mut(2).enumerate() {
                    let t = start + Duration::from_nanos(i as u64 * 1_000_000_000 / 48_000);
                    if !timecode::beeping(t) {
                        sample.copy_from_slice(&[0, 0]);
                    }
                }
            }
        }
        gst::PadProbeReturn::Ok
    });
}
