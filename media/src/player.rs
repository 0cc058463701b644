//! Plays any URI GStreamer can read (`srt://`, `http(s)://` HLS, `file://`)
//! into a latest-frame slot, with the sound on the sound card, and
//! reconnects by itself when a live stream drops.
//!
//! ```text
//! uridecodebin ─ video: queue ─ videoconvert ─ RGBA|I420 ─ appsink (sync) ─▶ latest-frame slot
//!              └ audio: queue ─ audioconvert ─ audioresample ─ autoaudiosink | fakesink (sync)
//! ```
//!
//! Both sinks sync to the pipeline clock, so picture and sound stay together.
//! On a live SRT stream the pipeline latency leaves out what SRT and the
//! demuxer have already spent (see `configure_latency`), and h264parse is
//! told that tsdemux hands it whole frames (`mark_access_units`).
//! The appsink keeps one buffer and drops late ones: the pipeline never
//! waits for the reader. A control thread owns the pipeline: it watches the
//! bus, notices a stall, tears down and rebuilds with backoff, and
//! publishes the [`PlayerState`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use gst::prelude::*;

use crate::MissingElement;
use crate::srt::SrtLatency;
use crate::timecode::{self, Timecode};
use crate::uri::{self, UrlError};

/// Pixel layout of delivered frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PixelFormat {
    /// Packed 8-bit RGBA: straight into a texture.
    #[default]
    Rgba,
    /// Planar 4:2:0 YUV as decoded: cheaper here, converted on the GPU.
    I420,
}

/// Where the sound goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AudioOutput {
    /// The default sound card; a silent clock-synced sink where there is none.
    #[default]
    Auto,
    /// Decoded and clock-synced but not played (tests, benchmarks).
    Silent,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlayerOptions {
    pub format: PixelFormat,
    pub audio: AudioOutput,
    /// SRT receive latency: by default, by the kind of link (see
    /// [`crate::srt`]).
    pub srt_latency: SrtLatency,
    /// The MPEG-TS demuxer's smoothing latency (700 ms by default in
    /// GStreamer; a loopback or LAN stream needs far less).
    pub demux_latency_ms: u32,
    /// A frame later than this is dropped rather than shown, and the
    /// decoder is told to skip ahead (QoS) so a live picture catches up.
    /// `None` shows every frame however late, and never skips: for a
    /// recording, where a stall must not blank seconds of it (after one
    /// late frame GStreamer's decoder skips about twice the lateness).
    pub max_lateness: Option<Duration>,
    /// No frame for this long while playing: the stream dropped.
    pub stall_timeout: Duration,
    /// No first frame for this long: try again.
    pub connect_timeout: Duration,
    /// Reconnect backoff: first wait, doubling up to the cap.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Find the beep onsets in the sound to measure A/V offset (a little
    /// work per audio buffer; off by default).
    pub measure_av: bool,
}

impl Default for PlayerOptions {
    fn default() -> Self {
        Self {
            format: PixelFormat::Rgba,
            audio: AudioOutput::Auto,
            srt_latency: SrtLatency::Auto,
            demux_latency_ms: 40,
            max_lateness: Some(Duration::from_millis(40)),
            stall_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(5),
            measure_av: false,
        }
    }
}

/// Why a player cannot play (now, or at all).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlayerError {
    #[error("bad URL: {0}")]
    BadUrl(#[from] UrlError),
    #[error("no GStreamer source handles `{0}://`")]
    UnsupportedScheme(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("the server refused or did not answer: {0}")]
    Refused(String),
    #[error("the stream cannot be decoded: {0}")]
    Unsupported(String),
    #[error("the stream stopped")]
    Stalled,
    #[error("the stream ended")]
    Ended,
    #[error(transparent)]
    Missing(#[from] MissingElement),
    #[error("GStreamer: {0}")]
    Init(#[from] crate::InitError),
    #[error("pipeline: {0}")]
    Pipeline(String),
}

impl PlayerError {
    /// Whether trying again can help (a live stream that dropped or is not
    /// up yet) or not (a missing file, a stream we cannot decode).
    pub fn is_retryable(&self, live: bool) -> bool {
        match self {
            Self::Refused(_) | Self::Stalled | Self::Pipeline(_) => true,
            // A live HLS playlist appears once the host is on.
            Self::NotFound(_) | Self::Ended => live,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayerState {
    /// Opening the URI, waiting for the first frame.
    Connecting { attempt: u32 },
    /// Frames are coming.
    Playing,
    /// The stream dropped or could not be reached; trying again.
    Reconnecting {
        attempt: u32,
        retry_in: Duration,
        reason: PlayerError,
    },
    /// A file played to its end.
    Ended,
    /// Trying again cannot help.
    Error(PlayerError),
}

/// Counters for the benchmark and the screen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlayerStats {
    /// Frames out of the decoder and converter into the slot.
    pub decoded: u64,
    /// Frames read through [`Player::take_frame`].
    pub shown: u64,
    /// Frames replaced in the slot before anyone read them.
    pub skipped: u64,
    /// Frames the pipeline dropped as late (QoS).
    pub dropped: u64,
    /// Pipelines built after the first.
    pub reconnects: u64,
}

/// One decoded picture, kept mapped (no copy).
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub format: PixelFormat,
    /// Bytes per row of each plane (one plane for RGBA, three for I420).
    pub strides: [usize; 3],
    /// Where each plane starts in [`Frame::data`].
    pub offsets: [usize; 3],
    /// Presentation time in the stream.
    pub pts: Option<Duration>,
    /// When the frame reached the slot (its render time: the sink syncs).
    pub received: SystemTime,
    /// The in-picture timecode, when the publisher stamped one.
    pub timecode: Option<Timecode>,
    /// Whether the A/V marker is lit (`None`: no marker).
    pub marker: Option<bool>,
    /// Counts frames across reconnects.
    pub seq: u64,
    buffer: gst::MappedBuffer<gst::buffer::Readable>,
}

impl Frame {
    pub fn data(&self) -> &[u8] {
        self.buffer.as_slice()
    }

    /// Milliseconds from the publisher's stamp to this frame's arrival.
    pub fn latency_ms(&self) -> Option<i64> {
        self.timecode.map(|tc| tc.age_ms(self.received))
    }
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("format", &self.format)
            .field("pts", &self.pts)
            .field("timecode", &self.timecode)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

/// Sound-vs-picture offsets (positive: the beep comes after the flash).
#[derive(Debug, Default)]
struct AvProbe {
    flashes: Vec<Duration>,
    beeps: Vec<Duration>,
}

struct Shared {
    uri: String,
    options: PlayerOptions,
    /// The SRT latency asked for, once the link is classed.
    srt_latency_ms: AtomicU32,
    live: bool,
    stop: AtomicBool,
    state: Mutex<PlayerState>,
    slot: Mutex<Option<Arc<Frame>>>,
    unread: AtomicBool,
    decoded: AtomicU64,
    shown: AtomicU64,
    skipped: AtomicU64,
    dropped: AtomicU64,
    reconnects: AtomicU64,
    av: Mutex<AvProbe>,
}

/// A running player. Dropping it stops and frees the pipeline.
pub struct Player {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Player {
    /// Checks the URI and starts playing on a thread of its own. A URI that
    /// can never play (malformed, a scheme nothing handles, a missing file)
    /// is an error here; everything else shows in [`Player::state`].
    pub fn start(uri: &str, options: PlayerOptions) -> Result<Self, PlayerError> {
        let scheme = uri::scheme(uri)?.to_ascii_lowercase();
        crate::init()?;
        crate::require(&[
            "uridecodebin",
            "videoconvert",
            "audioconvert",
            "audioresample",
            "appsink",
            "fakesink",
        ])?;
        if !source_protocol(&scheme) {
            return Err(PlayerError::UnsupportedScheme(scheme));
        }
        if scheme == "file" {
            let path = gst::glib::filename_from_uri(uri)
                .map(|(p, _)| p)
                .map_err(|_| {
                    PlayerError::BadUrl(UrlError::Malformed {
                        url: uri.chars().take(200).collect(),
                        why: "not a file URI",
                    })
                })?;
            if !path.is_file() {
                return Err(PlayerError::NotFound(path.display().to_string()));
            }
        }
        let live = scheme != "file";
        let shared = Arc::new(Shared {
            uri: uri.to_owned(),
            options,
            srt_latency_ms: AtomicU32::new(0),
            live,
            stop: AtomicBool::new(false),
            state: Mutex::new(PlayerState::Connecting { attempt: 0 }),
            slot: Mutex::new(None),
            unread: AtomicBool::new(false),
            decoded: AtomicU64::new(0),
            shown: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            av: Mutex::new(AvProbe::default()),
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("media-player".into())
            .spawn(move || control(thread_shared))
            .map_err(|e| PlayerError::Pipeline(e.to_string()))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    pub fn uri(&self) -> &str {
        &self.shared.uri
    }

    pub fn state(&self) -> PlayerState {
        self.shared
            .state
            .lock()
            .map(|s| s.clone())
            .unwrap_or(PlayerState::Error(PlayerError::Pipeline("poisoned".into())))
    }

    /// The newest frame, read or not.
    pub fn latest_frame(&self) -> Option<Arc<Frame>> {
        self.shared.slot.lock().ok()?.clone()
    }

    /// The newest frame if it arrived since the last call (counted as
    /// shown); `None` if there is nothing new.
    pub fn take_frame(&self) -> Option<Arc<Frame>> {
        if !self.shared.unread.swap(false, Ordering::AcqRel) {
            return None;
        }
        self.shared.shown.fetch_add(1, Ordering::Relaxed);
        self.latest_frame()
    }

    /// The SRT latency this player asks for (0 until chosen, and for other
    /// schemes).
    pub fn srt_latency_ms(&self) -> u32 {
        self.shared.srt_latency_ms.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> PlayerStats {
        let s = &self.shared;
        PlayerStats {
            decoded: s.decoded.load(Ordering::Relaxed),
            shown: s.shown.load(Ordering::Relaxed),
            skipped: s.skipped.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            reconnects: s.reconnects.load(Ordering::Relaxed),
        }
    }

    /// With [`PlayerOptions::measure_av`]: each beep onset minus the flash
    /// onset nearest to it, in stream (running) time, milliseconds.
    pub fn av_offsets_ms(&self) -> Vec<f64> {
        let Ok(av) = self.shared.av.lock() else {
            return Vec::new();
        };
        av.beeps
            .iter()
            .filter_map(|beep| {
                av.flashes
                    .iter()
                    .map(|flash| beep.as_secs_f64() * 1e3 - flash.as_secs_f64() * 1e3)
                    .filter(|d| d.abs() < 500.0)
                    .min_by(|a, b| a.abs().total_cmp(&b.abs()))
            })
            .collect()
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn set_state(shared: &Shared, state: PlayerState) {
    if let Ok(mut s) = shared.state.lock()
        && *s != state
    {
        tracing::debug!(?state, uri = %shared.uri, "player");
        *s = state;
    }
}

/// Sleeps up to `d`, waking early when the player is dropped.
fn nap(shared: &Shared, d: Duration) {
    let until = Instant::now() + d;
    while !shared.stop.load(Ordering::Relaxed) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
    }
}

fn control(shared: Arc<Shared>) {
    if is_srt(&shared.uri) {
        // Here, not in `start`: it may resolve a host name.
        let ms = shared.options.srt_latency.for_uri(&shared.uri);
        shared.srt_latency_ms.store(ms, Ordering::Relaxed);
    }
    let mut attempt = 0u32;
    let mut backoff = shared.options.backoff_min;
    while !shared.stop.load(Ordering::Relaxed) {
        set_state(&shared, PlayerState::Connecting { attempt });
        let outcome = match build(&shared) {
            Ok(pipeline) => {
                let outcome = watch(&shared, &pipeline);
                let _ = pipeline.set_state(gst::State::Null);
                outcome
            }
            Err(e) => Err(e),
        };
        let reason = match outcome {
            Ok(()) => return, // stopped
            Err(PlayerError::Ended) if !shared.live => {
                set_state(&shared, PlayerState::Ended);
                return;
            }
            Err(e) => e,
        };
        if !reason.is_retryable(shared.live) {
            set_state(&shared, PlayerState::Error(reason));
            return;
        }
        // A connection that played resets the backoff.
        if matches!(reason, PlayerError::Stalled | PlayerError::Ended) {
            backoff = shared.options.backoff_min;
        }
        attempt += 1;
        set_state(
            &shared,
            PlayerState::Reconnecting {
                attempt,
                retry_in: backoff,
                reason,
            },
        );
        nap(&shared, backoff);
        backoff = (backoff * 2).min(shared.options.backoff_max);
        shared.reconnects.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs one pipeline until it fails, stalls or the player is dropped
/// (`Ok`).
fn watch(shared: &Arc<Shared>, pipeline: &gst::Pipeline) -> Result<(), PlayerError> {
    let bus = pipeline
        .bus()
        .ok_or_else(|| PlayerError::Pipeline("no bus".into()))?;
    let started = Instant::now();
    let mut seen = shared.decoded.load(Ordering::Relaxed);
    let mut last_frame: Option<Instant> = None;
    // QoS reports a running total per pipeline; the stats add them up.
    let mut dropped_here = 0u64;
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let decoded = shared.decoded.load(Ordering::Relaxed);
        if decoded != seen {
            seen = decoded;
            last_frame = Some(Instant::now());
            set_state(shared, PlayerState::Playing);
        }
        match last_frame {
            Some(at) if at.elapsed() > shared.options.stall_timeout => {
                return Err(PlayerError::Stalled);
            }
            None if started.elapsed() > shared.options.connect_timeout => {
                return Err(PlayerError::Refused("no picture arrived in time".into()));
            }
            _ => {}
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(50)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => return Err(PlayerError::Ended),
            gst::MessageView::Error(e) => return Err(classify(&e.error(), e.debug())),
            gst::MessageView::Latency(_) => configure_latency(shared, pipeline),
            // Only the video sink's drops count: that is what the eye misses.
            gst::MessageView::Qos(q) if q.src().is_some_and(|s| s.name() == "video") => {
                if let (_, gst::GenericFormattedValue::Buffers(Some(n))) = q.stats() {
                    let n: u64 = *n;
                    if n > dropped_here {
                        shared
                            .dropped
                            .fetch_add(n - dropped_here, Ordering::Relaxed);
                        dropped_here = n;
                    }
                }
            }
            _ => {}
        }
    }
}

/// Over SRT, the latency GStreamer would pick counts twice what the
/// transport has already spent: srtsrc stamps each buffer as SRT hands it
/// over, after its receive buffer (TSBPD) held it for the SRT latency, yet
/// still reports that latency; and tsdemux's timestamps, mapped from the
/// PCR, already lead the data (the publisher's mux puts PTS ahead of PCR),
/// yet it reports its smoothing latency on top. Measured on loopback, the
/// frames reached the sink 17 to 92 ms before their timestamps while the
/// sinks waited out those two latencies again (120 ms at the default 80 ms
/// SRT latency). So the pipeline is given the latency it computes less
/// those two parts: what is left (the audio sink's own buffer, a decoder
/// that reports some) still holds the two sinks together. Recomputed on
/// each `Latency` message (a new branch, the audio sink starting).
fn configure_latency(shared: &Shared, pipeline: &gst::Pipeline) {
    if !is_srt(&shared.uri) {
        return;
    }
    let mut query = gst::query::Latency::new();
    if !pipeline.query(&mut query) {
        return;
    }
    let (live, min, _max) = query.result();
    if !live {
        return;
    }
    let spent = gst::ClockTime::from_mseconds(
        u64::from(shared.srt_latency_ms.load(Ordering::Relaxed))
            + u64::from(shared.options.demux_latency_ms),
    );
    let latency = min.saturating_sub(spent);
    if pipeline.latency() != Some(latency) {
        tracing::debug!(computed = %min, configured = %latency, "player: pipeline latency");
        pipeline.set_latency(latency);
        let _ = pipeline.recalculate_latency();
    }
}

fn classify(err: &gst::glib::Error, debug: Option<gst::glib::GString>) -> PlayerError {
    let text = match debug {
        Some(d) => format!("{err} ({d})"),
        None => err.to_string(),
    };
    if let Some(kind) = err.kind::<gst::ResourceError>() {
        return match kind {
            gst::ResourceError::NotFound => PlayerError::NotFound(text),
            _ => PlayerError::Refused(text),
        };
    }
    if let Some(kind) = err.kind::<gst::StreamError>() {
        return match kind {
            gst::StreamError::CodecNotFound
            | gst::StreamError::TypeNotFound
            | gst::StreamError::WrongType
            | gst::StreamError::Format => PlayerError::Unsupported(text),
            // A cut stream often surfaces as a demux or decode error.
            _ => PlayerError::Refused(text),
        };
    }
    if err.kind::<gst::CoreError>() == Some(gst::CoreError::MissingPlugin) {
        return PlayerError::Unsupported(text);
    }
    PlayerError::Pipeline(text)
}

/// Whether the default sound card opens; decided once per process.
fn sound_card() -> bool {
    static OPENS: OnceLock<bool> = OnceLock::new();
    *OPENS.get_or_init(|| {
        let Ok(sink) = gst::ElementFactory::make("autoaudiosink").build() else {
            return false;
        };
        let ok = sink.set_state(gst::State::Ready).is_ok();
        let _ = sink.set_state(gst::State::Null);
        ok
    })
}

fn build(shared: &Arc<Shared>) -> Result<gst::Pipeline, PlayerError> {
    let pipeline = gst::Pipeline::with_name("player");
    let decode = crate::make("uridecodebin")?;
    decode.set_property("uri", &shared.uri);
    let opts = &shared.options;
    let srt_latency = shared.srt_latency_ms.load(Ordering::Relaxed) as i32;
    decode.connect("source-setup", false, move |args| {
        if let Some(source) = args.get(1).and_then(|v| v.get::<gst::Element>().ok())
            && source.factory().is_some_and(|f| f.name() == "srtsrc")
        {
            source.set_property("latency", srt_latency);
            source.set_property("poll-timeout", crate::srt::POLL_TIMEOUT_MS);
        }
        None
    });
    let demux_latency = opts.demux_latency_ms as i32;
    // tsdemux sits deep inside uridecodebin; set its latency as it appears.
    let pipeline_bin = pipeline.clone().upcast::<gst::Bin>();
    let srt = is_srt(&shared.uri);
    pipeline_bin.connect("deep-element-added", false, move |args| {
        let element = args.get(2).and_then(|v| v.get::<gst::Element>().ok())?;
        match element.factory()?.name().as_str() {
            "tsdemux" => element.set_property("latency", demux_latency),
            "h264parse" if srt => mark_access_units(&element),
            _ => {}
        }
        None
    });
    pipeline
        .add(&decode)
        .map_err(|e| PlayerError::Pipeline(e.to_string()))?;

    let weak = pipeline.downgrade();
    let shared_pad = shared.clone();
    decode.connect_pad_added(move |_, pad| {
        let Some(pipeline) = weak.upgrade() else {
            return;
        };
        let caps = pad.current_caps().or_else(|| Some(pad.query_caps(None)));
        let name = caps
            .as_ref()
            .and_then(|c| c.structure(0).map(|s| s.name().to_string()))
            .unwrap_or_default();
        let result = if name.starts_with("video/") {
            video_branch(&pipeline, pad, &shared_pad)
        } else if name.starts_with("audio/") {
            audio_branch(&pipeline, pad, &shared_pad)
        } else {
            Ok(())
        };
        if let Err(e) = result {
            tracing::warn!(%e, caps = %name, "player: branch not linked");
        }
    });

    if pipeline.set_state(gst::State::Playing).is_err() {
        let err = pipeline
            .bus()
            .and_then(|b| b.pop_filtered(&[gst::MessageType::Error]))
            .and_then(|m| match m.view() {
                gst::MessageView::Error(e) => Some(classify(&e.error(), e.debug())),
                _ => None,
            })
            .unwrap_or_else(|| PlayerError::Pipeline("did not start".into()));
        let _ = pipeline.set_state(gst::State::Null);
        return Err(err);
    }
    Ok(pipeline)
}

/// tsdemux hands on one whole PES packet per buffer, and a live H.264
/// publisher (ours, OBS, ffmpeg) puts one access unit in each, but its caps
/// do not say so. Told nothing, h264parse takes the stream as bare NAL units
/// and holds each frame until the next one's start code arrives: a frame
/// (33 ms at 30 fps) of real delay, which it also reports as latency. On a
/// live SRT stream the caps from tsdemux get `alignment=au`, so each
/// buffer goes on as a frame the moment it is parsed.
pub(crate) fn mark_access_units(parse: &gst::Element) {
    let Some(pad) = parse.static_pad("sink") else {
        return;
    };
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, |pad, info| {
        let Some(gst::PadProbeData::Event(event)) = &info.data else {
            return gst::PadProbeReturn::Ok;
        };
        let gst::EventView::Caps(caps) = event.view() else {
            return gst::PadProbeReturn::Ok;
        };
        let from_tsdemux = fed_by_tsdemux(pad);
        let caps = caps.caps();
        let bare = caps.structure(0).is_some_and(|s| {
            s.name() == "video/x-h264"
                && !s.has_field("alignment")
                && s.get::<&str>("stream-format")
                    .is_ok_and(|f| f == "byte-stream")
        });
        if from_tsdemux && bare && caps.size() == 1 {
            let mut marked = caps.to_owned();
            if let Some(s) = marked.make_mut().structure_mut(0) {
                s.set("alignment", "au");
            }
            info.data = Some(gst::PadProbeData::Event(gst::event::Caps::new(&marked)));
        }
        gst::PadProbeReturn::Ok
    });
}

/// Whether a tsdemux feeds this sink pad, directly or through the
/// multiqueue decodebin puts behind demuxers.
fn fed_by_tsdemux(pad: &gst::Pad) -> bool {
    let mut peer = pad.peer();
    for _ in 0..3 {
        let Some(src) = peer else {
            return false;
        };
        let Some(element) = src.parent_element() else {
            return false;
        };
        if element.factory().is_some_and(|f| f.name() == "tsdemux") {
            return true;
        }
        // One step upstream through the element (a queue's src to its sink).
        peer = src
            .iterate_internal_links()
            .into_iter()
            .flatten()
            .next()
            .and_then(|sink| sink.peer());
    }
    false
}

fn is_srt(uri: &str) -> bool {
    uri.get(..6)
        .is_some_and(|s| s.eq_ignore_ascii_case("srt://"))
}

fn add_chain(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    chain: &[gst::Element],
) -> Result<(), PlayerError> {
    let err = |e: &dyn std::fmt::Display| PlayerError::Pipeline(e.to_string());
    pipeline.add_many(chain).map_err(|e| err(&e))?;
    gst::Element::link_many(chain).map_err(|e| err(&e))?;
    for element in chain {
        element.sync_state_with_parent().map_err(|e| err(&e))?;
    }
    let sink = chain[0]
        .static_pad("sink")
        .ok_or_else(|| PlayerError::Pipeline("no sink pad".into()))?;
    pad.link(&sink).map_err(|e| err(&e))?;
    Ok(())
}

fn video_branch(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    shared: &Arc<Shared>,
) -> Result<(), PlayerError> {
    let opts = &shared.options;
    let queue = gst::ElementFactory::make("queue")
        .property("max-size-buffers", 3u32)
        .property("max-size-time", 0u64)
        .property("max-size-bytes", 0u32)
        .build()
        .map_err(|e| PlayerError::Pipeline(e.to_string()))?;
    let convert = crate::make("videoconvert")?;
    let sink = video_sink(opts);
    let cb_shared = shared.clone();
    let pixel = opts.format;
    let av = opts.measure_av;
    let mut was_lit = false;
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if let Some(frame) = to_frame(&sample, pixel, &cb_shared) {
                    if av {
                        let lit = frame.marker == Some(true);
                        if lit
                            && !was_lit
                            && let Some(rt) = running_time(&sample)
                            && let Ok(mut probe) = cb_shared.av.lock()
                        {
                            probe.flashes.push(rt);
                        }
                        was_lit = lit;
                    }
                    if let Ok(mut slot) = cb_shared.slot.lock() {
                        *slot = Some(Arc::new(frame));
                    }
                    if cb_shared.unread.swap(true, Ordering::AcqRel) {
                        cb_shared.skipped.fetch_add(1, Ordering::Relaxed);
                    }
                    cb_shared.decoded.fetch_add(1, Ordering::Relaxed);
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    let sink = sink.upcast::<gst::Element>();
    add_chain(pipeline, pad, &[queue, convert, sink])
}

/// The appsink the frames arrive at, synced to the clock.
fn video_sink(opts: &PlayerOptions) -> gst_app::AppSink {
    let format = match opts.format {
        PixelFormat::Rgba => gst_video::VideoFormat::Rgba,
        PixelFormat::I420 => gst_video::VideoFormat::I420,
    };
    let caps = gst_video::VideoCapsBuilder::new().format(format).build();
    gst_app::AppSink::builder()
        .name("video")
        .caps(&caps)
        .sync(true)
        .max_buffers(1)
        .drop(true)
        .qos(opts.max_lateness.is_some())
        .max_lateness(opts.max_lateness.map_or(-1, |d| d.as_nanos() as i64))
        .build()
}

fn running_time(sample: &gst::Sample) -> Option<Duration> {
    let pts = sample.buffer()?.pts()?;
    let segment = sample.segment()?.downcast_ref::<gst::ClockTime>()?;
    let rt = segment.to_running_time(pts)?;
    Some(Duration::from_nanos(rt.nseconds()))
}

fn to_frame(sample: &gst::Sample, pixel: PixelFormat, shared: &Shared) -> Option<Frame> {
    let caps = sample.caps()?;
    let info = gst_video::VideoInfo::from_caps(caps).ok()?;
    let buffer = sample.buffer_owned()?;
    let pts = buffer.pts().map(|t| Duration::from_nanos(t.nseconds()));
    let mapped = buffer.into_mapped_buffer_readable().ok()?;
    let (width, height) = (info.width(), info.height());
    let mut strides = [0usize; 3];
    let mut offsets = [0usize; 3];
    for plane in 0..info.n_planes() as usize {
        strides[plane] = info.stride()[plane] as usize;
        offsets[plane] = info.offset()[plane];
    }
    let data = mapped.as_slice();
    let (tc, marker) = match pixel {
        PixelFormat::Rgba => (
            timecode::read_rgba(data, width, height, strides[0]).ok(),
            timecode::marker_rgba(data, width, height, strides[0]),
        ),
        PixelFormat::I420 => {
            let y = data.get(offsets[0]..).unwrap_or(&[]);
            (
                timecode::read_luma(y, width, height, strides[0]).ok(),
                timecode::marker_luma(y, width, height, strides[0]),
            )
        }
    };
    Some(Frame {
        width,
        height,
        format: pixel,
        strides,
        offsets,
        pts,
        received: SystemTime::now(),
        timecode: tc,
        marker,
        seq: shared.decoded.load(Ordering::Relaxed),
        buffer: mapped,
    })
}

fn audio_branch(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    shared: &Arc<Shared>,
) -> Result<(), PlayerError> {
    let queue = crate::make("queue")?;
    let convert = crate::make("audioconvert")?;
    let resample = crate::make("audioresample")?;
    let play = shared.options.audio == AudioOutput::Auto && sound_card();
    let sink = if play {
        crate::make("autoaudiosink")?
    } else {
        gst::ElementFactory::make("fakesink")
            .property("sync", true)
            .build()
            .map_err(|e| PlayerError::Pipeline(e.to_string()))?
    };
    let mut chain = vec![queue, convert, resample];
    if shared.options.measure_av {
        // A fixed sample format so the beep finder can read the samples.
        let caps = gst::Caps::builder("audio/x-raw")
            .field("format", "S16LE")
            .build();
        let filter = gst::ElementFactory::make("capsfilter")
            .property("caps", &caps)
            .build()
            .map_err(|e| PlayerError::Pipeline(e.to_string()))?;
        if let Some(sink_pad) = filter.static_pad("src") {
            install_beep_finder(&sink_pad, shared.clone());
        }
        chain.push(filter);
    }
    chain.push(sink);
    add_chain(pipeline, pad, &chain)
}

/// Records the running time of each beep onset: the first loud sample after
/// at least 200 ms of quiet.
fn install_beep_finder(pad: &gst::Pad, shared: Arc<Shared>) {
    let quiet = Mutex::new(Some(Duration::ZERO));
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Ok(mut quiet_since) = quiet.lock() else {
            return gst::PadProbeReturn::Ok;
        };
        let Some(buffer) = info.buffer() else {
            return gst::PadProbeReturn::Ok;
        };
        let (Some(caps), Some(pts)) = (pad.current_caps(), buffer.pts()) else {
            return gst::PadProbeReturn::Ok;
        };
        let Some(s) = caps.structure(0) else {
            return gst::PadProbeReturn::Ok;
        };
        let rate = s.get::<i32>("rate").unwrap_or(48_000).max(1) as u64;
        let channels = s.get::<i32>("channels").unwrap_or(1).max(1) as usize;
        let Some(segment) = pad.sticky_event::<gst::event::Segment>(0) else {
            return gst::PadProbeReturn::Ok;
        };
        let Some(segment) = segment.segment().downcast_ref::<gst::ClockTime>().cloned() else {
            return gst::PadProbeReturn::Ok;
        };
        let Ok(map) = buffer.map_readable() else {
            return gst::PadProbeReturn::Ok;
        };
        for (i, frame) in map.chunks_exact(2 * channels).enumerate() {
            let loud = frame
                .chunks_exact(2)
                .any(|s| i16::from_le_bytes([s[0], s[1]]).unsigned_abs() > 4000);
            let at = pts + gst::ClockTime::from_nseconds(i as u64 * 1_000_000_000 / rate);
            let Some(rt) = segment.to_running_time(at) else {
                continue;
            };
            let rt = Duration::from_nanos(rt.nseconds());
            if loud {
                if quiet_since.is_some_and(|q| rt.saturating_sub(q) >= Duration::from_millis(200))
                    && let Ok(mut av) = shared.av.lock()
                {
                    av.beeps.push(rt);
                }
                *quiet_since = None;
            } else if quiet_since.is_none() {
                *quiet_since = Some(rt);
            }
        }
        gst::PadProbeReturn::Ok
    });
}

/// A `file://` URI for a path (absolute or relative to the working directory).
pub fn file_uri(path: &std::path::Path) -> Result<String, PlayerError> {
    let abs: PathBuf = std::fs::canonicalize(path)
        .map_err(|_| PlayerError::NotFound(path.display().to_string()))?;
    crate::init()?;
    gst::glib::filename_to_uri(&abs, None)
        .map(|u| u.to_string())
        .map_err(|e| PlayerError::Pipeline(e.to_string()))
}

/// Whether some installed element reads this URI scheme.
fn source_protocol(scheme: &str) -> bool {
    gst::ElementFactory::factories_with_type(gst::ElementFactoryType::SRC, gst::Rank::NONE)
        .iter()
        .any(|f| {
            f.uri_type() == gst::URIType::Src
                && f.uri_protocols()
                    .iter()
                    .any(|p| p.eq_ignore_ascii_case(scheme))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_sink_drops_late_frames_and_a_recording_sink_shows_every_one() {
        crate::init().unwrap();
        let live = video_sink(&PlayerOptions::default());
        assert!(live.property::<bool>("qos"));
        assert_eq!(live.property::<i64>("max-lateness"), 40_000_000);
        let every = video_sink(&PlayerOptions {
            max_lateness: None,
            ..Default::default()
        });
        // No QoS upstream either: a late frame must not make the decoder
        // skip the frames after it.
        assert!(!every.property::<bool>("qos"));
        assert_eq!(every.property::<i64>("max-lateness"), -1);
    }
}
