//! The stage: every live publisher (the host and up to four co-hosts)
//! composed into the one stream the relay carries to viewers, HLS and the
//! recording.
//!
//! ```text
//! seat 0 (host) ─SRT─▶ srtsrc ─ decodebin ─ scale ─ intervideosink ┐  one input
//! seat 1..4     ─SRT─▶ srtsrc ─ decodebin ─ ...   ─ interaudiosink ┤  pipeline a seat
//!                                                                  │
//! intervideosrc × 5 ─ compositor ─ name tags ─ x264enc ─┐          │
//! interaudiosrc × 5 ─ audiomixer ─ avenc_aac ───────────┴ mpegtsmux ─ srtsink ─▶ relay ingest
//! ```
//!
//! Each seat has its own SRT listener and its own pipeline, so a co-host
//! who drops, or whose stream is broken, ends only that pipeline; the
//! output never stops while anyone is live. The `inter` elements carry
//! frames between the pipelines: the output takes each seat's latest
//! frame at its own pace, whatever the publisher's clock. The layout is
//! compositor pad properties, changed live.
//!
//! The output goes to the relay's ingest as an ordinary SRT publisher, so
//! the relay's session (live/off, HLS, the recording) is unchanged. A show
//! with a stage is re-encoded even while the host is alone, so viewers'
//! stream never changes shape when a co-host joins.

pub mod layout;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gst::prelude::*;
use sha2::{Digest, Sha256};

pub use layout::{Layout, Placed, Rect, arrange};

use crate::key::{constant_time_eq, offered_key};
use crate::rtmp::{Admission, BridgeError, RtmpBridge};
use crate::{MissingElement, StreamKey};

/// The host and four co-hosts.
pub const MAX_SEATS: usize = 5;
/// The host's seat.
pub const HOST_SEAT: usize = 0;

/// What lets a publisher into a seat.
#[derive(Clone)]
pub enum SeatKey {
    /// The key itself (the host's, read from its file).
    Plain(StreamKey),
    /// A key's SHA-256 digest: co-hosts' keys are shown once and kept only
    /// as digests.
    Sha256([u8; 32]),
}

impl SeatKey {
    pub fn digest(key: &StreamKey) -> [u8; 32] {
        Sha256::digest(key.as_str().as_bytes()).into()
    }

    fn admits(&self, streamid: &str) -> bool {
        match self {
            SeatKey::Plain(key) => key.matches_streamid(streamid),
            SeatKey::Sha256(digest) => {
                let offered: [u8; 32] = Sha256::digest(offered_key(streamid).as_bytes()).into();
                constant_time_eq(&offered, digest)
            }
        }
    }
}

impl std::fmt::Debug for SeatKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SeatKey(..)")
    }
}

/// Who may publish in a seat, and the name tag shown under them.
#[derive(Debug, Clone)]
pub struct Seat {
    pub name: String,
    pub key: SeatKey,
}

#[derive(Debug, Clone)]
pub struct StageConfig {
    /// One SRT listener per seat; the first is the host's.
    pub seats: Vec<SocketAddr>,
    /// The relay's ingest, where the composed stream goes.
    pub relay: SocketAddr,
    pub relay_key: StreamKey,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    /// SRT latency asked of each link (a floor, as the relay's).
    pub latency_ms: u32,
    /// A live publisher silent this long has left.
    pub idle_timeout: Duration,
    /// RTMP listeners (through ffmpeg), each for a seat: `(seat, address)`.
    /// The seat's key is the stream name, checked against the seat as an
    /// SRT caller's is ([`crate::rtmp`]).
    pub rtmp: Vec<(usize, SocketAddr)>,
}

impl StageConfig {
    pub fn new(seats: Vec<SocketAddr>, relay: SocketAddr, relay_key: StreamKey) -> Self {
        Self {
            seats,
            relay,
            relay_key,
            width: 1280,
            height: 720,
            fps: 30,
            bitrate_kbps: 2500,
            latency_ms: crate::srt::LAN_LATENCY_MS,
            idle_timeout: Duration::from_secs(2),
            rtmp: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageEvent {
    /// A publisher with the seat's key is connected.
    Live { seat: usize },
    /// The seat's publisher left (or was put out: its key was revoked).
    Off { seat: usize },
    /// A caller was refused: a wrong key, an empty seat, or one already live.
    Rejected { seat: usize, reason: String },
}

pub type StageEventSink = Arc<dyn Fn(StageEvent) + Send + Sync>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageError {
    #[error(transparent)]
    Missing(#[from] MissingElement),
    #[error("GStreamer: {0}")]
    Init(#[from] crate::InitError),
    #[error("a stage has 1 to {MAX_SEATS} seats, not {0}")]
    Seats(usize),
    #[error("two seats or the relay share the address {0}")]
    SamePort(SocketAddr),
    #[error(
        "{width}x{height} at {fps} fps is not a stage size (even sides, 64x64 to 3840x2160, 1 to 60 fps)"
    )]
    BadFormat { width: u32, height: u32, fps: u32 },
    #[error("there is no seat {0}")]
    NoSuchSeat(usize),
    #[error("nobody is live in seat {0}")]
    NotLive(usize),
    #[error("cannot listen on {addr}: {why}")]
    Listen { addr: SocketAddr, why: String },
    #[error("pipeline: {0}")]
    Pipeline(String),
    #[error("seat {0} has two RTMP listeners")]
    TwoRtmp(usize),
    #[error("RTMP ingest needs ffmpeg (Debian package ffmpeg): {0}")]
    Ffmpeg(String),
}

/// A running stage. Dropping it ends every pipeline.
pub struct Stage {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    rtmp: Mutex<Vec<RtmpBridge>>,
}

struct Shared {
    config: StageConfig,
    /// Prefix of this stage's `inter` channels (they are process-wide).
    channel: String,
    seats: Mutex<Vec<Option<Seat>>>,
    /// Moves whenever a seat's access changes; a publisher let in under an
    /// older value is put out.
    generations: Vec<AtomicU64>,
    /// Per seat, the one-time token of an RTMP publisher whose key was
    /// checked, the generation it was checked under and when: the bridge's
    /// SRT caller is let in with it once, within [`ARMED_FOR`].
    armed: Mutex<Vec<Option<(StreamKey, u64, Instant)>>>,
    live: Mutex<Vec<bool>>,
    choice: Mutex<(Layout, Option<usize>)>,
    output: Mutex<Option<gst::Pipeline>>,
    stop: AtomicBool,
    rejected: AtomicU64,
    on_event: StageEventSink,
}

impl Stage {
    /// Opens every seat's listener. A port in use or a missing element
    /// fails here, before anything runs.
    pub fn start(config: StageConfig, on_event: StageEventSink) -> Result<Self, StageError> {
        crate::init()?;
        crate::require(&[
            "srtsrc",
            "srtsink",
            "decodebin",
            "videoconvert",
            "videoscale",
            "audioconvert",
            "audioresample",
            "intervideosrc",
            "intervideosink",
            "interaudiosrc",
            "interaudiosink",
            "compositor",
            "audiomixer",
            "textoverlay",
            "x264enc",
            "h264parse",
            "avenc_aac",
            "aacparse",
            "mpegtsmux",
        ])?;
        let n = config.seats.len();
        if !(1..=MAX_SEATS).contains(&n) {
            return Err(StageError::Seats(n));
        }
        let StageConfig {
            width, height, fps, ..
        } = config;
        if !(64..=3840).contains(&width)
            || !(64..=2160).contains(&height)
            || width % 2 != 0
            || height % 2 != 0
            || !(1..=60).contains(&fps)
        {
            return Err(StageError::BadFormat { width, height, fps });
        }
        let mut addrs = config.seats.clone();
        addrs.push(config.relay);
        for (i, a) in addrs.iter().enumerate() {
            if addrs[..i].contains(a) {
                return Err(StageError::SamePort(*a));
            }
        }
        // RTMP is TCP: a seat's RTMP listener may share its SRT port.
        for (i, &(seat, a)) in config.rtmp.iter().enumerate() {
            if seat >= n {
                return Err(StageError::NoSuchSeat(seat));
            }
            if config.rtmp[..i].iter().any(|&(s, _)| s == seat) {
                return Err(StageError::TwoRtmp(seat));
            }
            if config.rtmp[..i].iter().any(|&(_, b)| b == a) {
                return Err(StageError::SamePort(a));
            }
        }
        static STAGES: AtomicU64 = AtomicU64::new(0);
        let shared = Arc::new(Shared {
            channel: format!("vitrine-stage-{}", STAGES.fetch_add(1, Ordering::Relaxed)),
            seats: Mutex::new(vec![None; n]),
            generations: (0..n).map(|_| AtomicU64::new(0)).collect(),
            armed: Mutex::new(vec![None; n]),
            live: Mutex::new(vec![false; n]),
            choice: Mutex::new((Layout::Solo, None)),
            output: Mutex::new(None),
            stop: AtomicBool::new(false),
            rejected: AtomicU64::new(0),
            on_event,
            config,
        });
        let mut inputs = Vec::with_capacity(n);
        for seat in 0..n {
            match Input::open(&shared, seat) {
                Ok(input) => inputs.push(Some(input)),
                Err(e) => {
                    Input::close_all(inputs);
                    return Err(e);
                }
            }
        }
        let mut rtmp = Vec::new();
        for &(seat, addr) in &shared.config.rtmp {
            match rtmp_seat(&shared, seat, addr) {
                Ok(bridge) => rtmp.push(bridge),
                Err(e) => {
                    Input::close_all(inputs);
                    return Err(e);
                }
            }
        }
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("media-stage".into())
            .spawn(move || run(thread_shared, inputs))
            .map_err(|e| StageError::Pipeline(e.to_string()))?;
        Ok(Self {
            shared,
            thread: Mutex::new(Some(thread)),
            rtmp: Mutex::new(rtmp),
        })
    }

    pub fn seats(&self) -> usize {
        self.shared.config.seats.len()
    }

    /// Lets `seat` in with a key (or empties it). Changing the key of a
    /// live seat puts its publisher out: a revoked key stops working at
    /// once, not at the next connection.
    pub fn set_seat(&self, seat: usize, who: Option<Seat>) -> Result<(), StageError> {
        let mut seats = lock(&self.shared.seats);
        let slot = seats.get_mut(seat).ok_or(StageError::NoSuchSeat(seat))?;
        let same_key = match (&*slot, &who) {
            (Some(old), Some(new)) => match (&old.key, &new.key) {
                (SeatKey::Plain(a), SeatKey::Plain(b)) => a == b,
                (SeatKey::Sha256(a), SeatKey::Sha256(b)) => a == b,
                _ => false,
            },
            (None, None) => true,
            _ => false,
        };
        *slot = who;
        // Under the lock: a caller admitted from now on reads the new value.
        if !same_key {
            self.shared.generations[seat].fetch_add(1, Ordering::AcqRel);
        }
        drop(seats);
        // A new name shows at once.
        apply_layout(&self.shared);
        Ok(())
    }

    /// Switches the layout live. The big slot, if named, must be live.
    pub fn set_layout(&self, layout: Layout, big: Option<usize>) -> Result<(), StageError> {
        if let Some(b) = big {
            if b >= self.seats() {
                return Err(StageError::NoSuchSeat(b));
            }
            if !live_seats(&self.shared).contains(&b) {
                return Err(StageError::NotLive(b));
            }
        }
        *lock(&self.shared.choice) = (layout, big);
        apply_layout(&self.shared);
        Ok(())
    }

    /// The layout and big slot the host chose.
    pub fn choice(&self) -> (Layout, Option<usize>) {
        *lock(&self.shared.choice)
    }

    /// Each seat's name tag; `None` for an empty seat.
    pub fn names(&self) -> Vec<Option<String>> {
        lock(&self.shared.seats)
            .iter()
            .map(|s| s.as_ref().map(|s| s.name.clone()))
            .collect()
    }

    /// The seats live now, in seat order.
    pub fn live(&self) -> Vec<usize> {
        live_seats(&self.shared)
    }

    /// Where each live seat is shown now.
    pub fn placed(&self) -> Vec<Placed> {
        placed(&self.shared)
    }

    /// Callers refused so far.
    pub fn rejected(&self) -> u64 {
        self.shared.rejected.load(Ordering::Relaxed)
    }

    /// The live seats the mix lets through, read from the running
    /// `audiomixer`: who is heard is who is shown.
    pub fn heard(&self) -> Vec<usize> {
        let live = live_seats(&self.shared);
        let output = lock(&self.shared.output);
        let Some(amix) = output.as_ref().and_then(|p| p.by_name("amix")) else {
            return Vec::new();
        };
        live.into_iter()
            .filter(|seat| {
                amix.static_pad(&format!("sink_{seat}"))
                    .is_some_and(|pad| !pad.property::<bool>("mute"))
            })
            .collect()
    }

    pub fn config(&self) -> &StageConfig {
        &self.shared.config
    }

    /// Closes every listener and the output, and returns once they are
    /// closed (the server stopping, while handles to the stage may still be
    /// held). Later calls do nothing.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // ffmpeg first: nothing new reaches a seat being closed. Every
        // bridge is told before any is waited for.
        let mut bridges = lock(&self.rtmp);
        bridges.iter().for_each(RtmpBridge::signal_stop);
        bridges.clear();
        drop(bridges);
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Counts and tells a refused caller.
fn refuse(shared: &Shared, seat: usize, reason: &str) {
    shared.rejected.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(seat, reason, "stage: caller refused");
    (shared.on_event)(StageEvent::Rejected {
        seat,
        reason: reason.into(),
    });
}

/// An RTMP listener for `seat`: the name a publisher offers is checked
/// against the seat's key (a digest for co-hosts) under the seat lock, as
/// an SRT caller's is, and arms the bridge's one-time token.
fn rtmp_seat(
    shared: &Arc<Shared>,
    seat: usize,
    addr: SocketAddr,
) -> Result<RtmpBridge, StageError> {
    let check = {
        let shared = shared.clone();
        Arc::new(move |offered: &str, token: &StreamKey| {
            let seats = lock(&shared.seats);
            let generation = shared.generations[seat].load(Ordering::Acquire);
            match seats[seat].as_ref() {
                None => Err("nobody is invited to this seat"),
                Some(s) if !s.key.admits(offered) => Err("wrong or missing stream key"),
                Some(_) if lock(&shared.live)[seat] => {
                    Err("a publisher is already live in this seat")
                }
                Some(_) => Ok(()),
            }
            .map(|()| {
                lock(&shared.armed)[seat] = Some((token.clone(), generation, Instant::now()));
            })
            .map_err(|why| {
                // ffmpeg warns once per publish command: a later wrong
                // name disarms what an earlier right one armed.
                lock(&shared.armed)[seat] = None;
                why.to_owned()
            })
        })
    };
    let refused = {
        let shared = shared.clone();
        Arc::new(move |reason: String| refuse(&shared, seat, &reason))
    };
    RtmpBridge::start(
        addr,
        shared.config.seats[seat],
        shared.config.latency_ms,
        Admission::Checked(check),
        refused,
    )
    .map_err(|e| match e {
        BridgeError::Ffmpeg(why) => StageError::Ffmpeg(why),
        BridgeError::Listen(why) => StageError::Listen { addr, why },
    })
}

/// How long an armed token waits for the bridge's SRT caller: ffmpeg
/// probes its input (up to 5 s by default) before it opens its output.
const ARMED_FOR: Duration = Duration::from_secs(15);

/// Whether `streamid` is the token armed for `seat` under `generation`;
/// a token lets one caller in.
fn bridged(shared: &Shared, seat: usize, streamid: &str, generation: u64) -> bool {
    let mut armed = lock(&shared.armed);
    let ok = armed[seat].as_ref().is_some_and(|(token, g, at)| {
        *g == generation && at.elapsed() < ARMED_FOR && token.matches_streamid(streamid)
    });
    if ok {
        armed[seat] = None;
    }
    ok
}

/// Seats live and still held: a revoked publisher leaves the picture at
/// once, before the stage thread has closed their connection.
fn live_seats(shared: &Shared) -> Vec<usize> {
    let seats = lock(&shared.seats);
    lock(&shared.live)
        .iter()
        .enumerate()
        .filter_map(|(i, &live)| (live && seats[i].is_some()).then_some(i))
        .collect()
}

fn placed(shared: &Shared) -> Vec<Placed> {
    let (layout, big) = *lock(&shared.choice);
    let c = &shared.config;
    arrange(layout, big, &live_seats(shared), c.width, c.height)
}

/// One seat's listener and decoder.
struct Input {
    pipeline: gst::Pipeline,
    watch: crate::srt::IngestWatch,
    /// The seat's generation the publisher was let in under.
    admitted: Arc<AtomicU64>,
    live: bool,
}

impl Input {
    fn open(shared: &Arc<Shared>, seat: usize) -> Result<Self, StageError> {
        let c = &shared.config;
        let addr = c.seats[seat];
        let description = format!(
            "srtsrc name=ingest uri=\"srt://{}:{}?mode=listener\" latency={} poll-timeout={} \
             ! queue ! decodebin name=dec",
            addr.ip(),
            addr.port(),
            c.latency_ms,
            crate::srt::POLL_TIMEOUT_MS
        );
        let pipeline = gst::parse::launch(&description)
            .map_err(|e| StageError::Pipeline(e.to_string()))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| StageError::Pipeline("not a pipeline".into()))?;
        let ingest = pipeline
            .by_name("ingest")
            .ok_or_else(|| StageError::Pipeline("no ingest".into()))?;
        // Connected counts as heard from: one who never sends is put out
        // after the idle timeout, not kept in the seat.
        let watch = crate::srt::IngestWatch::attach(&ingest, true);
        let admitted = Arc::new(AtomicU64::new(0));
        {
            let shared = shared.clone();
            let (watch, admitted) = (watch.clone(), admitted.clone());
            // As the relay: the signal is asked only once set explicitly.
            ingest.set_property("authentication", true);
            ingest.connect("caller-connecting", false, move |args| {
                let streamid = args
                    .get(2)
                    .and_then(|v| v.get::<Option<String>>().ok())
                    .flatten()
                    .unwrap_or_default();
                let seats = lock(&shared.seats);
                let generation = shared.generations[seat].load(Ordering::Acquire);
                let reason = match seats[seat].as_ref() {
                    None => Some("nobody is invited to this seat"),
                    Some(s)
                        if !s.key.admits(&streamid)
                            && !bridged(&shared, seat, &streamid, generation) =>
                    {
                        Some("wrong or missing stream key")
                    }
                    Some(_) if watch.connected() => {
                        Some("a publisher is already live in this seat")
                    }
                    Some(_) => None,
                };
                drop(seats);
                match reason {
                    Some(reason) => refuse(&shared, seat, reason),
                    None => admitted.store(generation, Ordering::Release),
                }
                Some(reason.is_none().to_value())
            });
        }
        // A live H.264 stream's frames go on as they are parsed (see the
        // player): without it h264parse holds each frame for the next.
        pipeline.connect("deep-element-added", false, |args| {
            let element = args.get(2).and_then(|v| v.get::<gst::Element>().ok())?;
            if element.factory()?.name() == "h264parse" {
                crate::player::mark_access_units(&element);
            }
            None
        });
        let dec = pipeline
            .by_name("dec")
            .ok_or_else(|| StageError::Pipeline("no decoder".into()))?;
        let (video, audio) = (
            format!(
                "queue max-size-buffers=3 ! videoconvert ! videoscale ! {} ! \
                 intervideosink channel={}-v{seat} sync=false",
                video_caps(c),
                shared.channel
            ),
            format!(
                "queue ! audioconvert ! audioresample ! {AUDIO_CAPS} ! \
                 interaudiosink channel={}-a{seat} sync=false",
                shared.channel
            ),
        );
        let weak = pipeline.downgrade();
        dec.connect_pad_added(move |_, pad| {
            let Some(pipeline) = weak.upgrade() else {
                return;
            };
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let name = caps
                .structure(0)
                .map(|s| s.name().to_string())
                .unwrap_or_default();
            let branch = if name.starts_with("video/") {
                &video
            } else if name.starts_with("audio/") {
                &audio
            } else {
                return;
            };
            if let Err(e) = link_branch(&pipeline, pad, branch) {
                tracing::warn!(seat, %e, caps = %name, "stage: branch not linked");
            }
        });
        if let Err(e) = pipeline.set_state(gst::State::Playing) {
            let why = bus_error(&pipeline).unwrap_or_else(|| e.to_string());
            let _ = pipeline.set_state(gst::State::Null);
            return Err(StageError::Listen { addr, why });
        }
        Ok(Self {
            pipeline,
            watch,
            admitted,
            live: false,
        })
    }

    fn close(self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }

    fn close_all(inputs: Vec<Option<Input>>) {
        for input in inputs.into_iter().flatten() {
            input.close();
        }
    }

    /// Why this input's publisher is gone, if it is.
    fn ended(&self, shared: &Shared, seat: usize) -> Option<String> {
        if self.live {
            if self
                .watch
                .idle_for()
                .is_some_and(|idle| idle > shared.config.idle_timeout)
            {
                return Some("publisher silent".into());
            }
            if self.admitted.load(Ordering::Acquire)
                != shared.generations[seat].load(Ordering::Acquire)
            {
                return Some("key revoked".into());
            }
        }
        let bus = self.pipeline.bus()?;
        while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Eos, gst::MessageType::Error]) {
            match msg.view() {
                gst::MessageView::Eos(_) => return Some("publisher left".into()),
                gst::MessageView::Error(e) => return Some(format!("error: {}", e.error())),
                _ => {}
            }
        }
        None
    }
}

const AUDIO_CAPS: &str = "audio/x-raw,format=S16LE,rate=48000,channels=2,layout=interleaved";

fn video_caps(c: &StageConfig) -> String {
    format!(
        "video/x-raw,format=I420,width={},height={},pixel-aspect-ratio=1/1",
        c.width, c.height
    )
}

fn link_branch(pipeline: &gst::Pipeline, pad: &gst::Pad, branch: &str) -> Result<(), String> {
    let bin = gst::parse::bin_from_description(branch, true).map_err(|e| e.to_string())?;
    pipeline.add(&bin).map_err(|e| e.to_string())?;
    bin.sync_state_with_parent().map_err(|e| e.to_string())?;
    let sink = bin.static_pad("sink").ok_or("no sink pad")?;
    pad.link(&sink).map_err(|e| e.to_string())?;
    Ok(())
}

fn bus_error(pipeline: &gst::Pipeline) -> Option<String> {
    let msg = pipeline.bus()?.pop_filtered(&[gst::MessageType::Error])?;
    match msg.view() {
        gst::MessageView::Error(e) => Some(e.error().to_string()),
        _ => None,
    }
}

/// The composing pipeline, sending to the relay.
fn open_output(shared: &Shared) -> Result<gst::Pipeline, StageError> {
    let c = &shared.config;
    let (w, h, fps) = (c.width, c.height, c.fps);
    let mut description = format!(
        "compositor name=mix background=black ! \
         video/x-raw,format=I420,width={w},height={h},framerate={fps}/1 "
    );
    // One name tag per seat, drawn after composing so a small tile keeps a
    // readable tag.
    let font = (h / 20).max(8);
    for seat in 0..c.seats.len() {
        description.push_str(&format!(
            "! textoverlay name=tag{seat} text=\"\" halignment=left valignment=top \
             xpad=0 ypad=0 font-desc=\"Sans Bold {font}px\" shaded-background=true "
        ));
    }
    description.push_str(&format!(
        "! queue max-size-buffers=3 ! x264enc tune=zerolatency speed-preset=ultrafast \
         bitrate={b} key-int-max={fps} ! video/x-h264,profile=constrained-baseline ! \
         h264parse config-interval=-1 ! queue ! mux. \
         audiomixer name=amix ! {AUDIO_CAPS} ! queue ! audioconvert ! \
         avenc_aac bitrate=128000 ! aacparse ! queue ! mux. \
         mpegtsmux name=mux alignment=7 ! srtsink name=out \
         uri=\"srt://{ip}:{port}?mode=caller\" latency={lat} sync=false async=false ",
        b = c.bitrate_kbps,
        ip = c.relay.ip(),
        port = c.relay.port(),
        lat = c.latency_ms,
    ));
    for seat in 0..c.seats.len() {
        description.push_str(&format!(
            "intervideosrc channel={ch}-v{seat} ! \
             video/x-raw,format=I420,width={w},height={h},framerate={fps}/1 ! mix.sink_{seat} \
             interaudiosrc channel={ch}-a{seat} ! {AUDIO_CAPS} ! amix.sink_{seat} ",
            ch = shared.channel,
        ));
    }
    let pipeline = gst::parse::launch(&description)
        .map_err(|e| StageError::Pipeline(e.to_string()))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| StageError::Pipeline("not a pipeline".into()))?;
    if let Some(out) = pipeline.by_name("out") {
        out.set_property("streamid", c.relay_key.as_str());
    }
    if let Some(mix) = pipeline.by_name("mix") {
        for pad in mix.sink_pads() {
            pad.set_property_from_str("sizing-policy", "keep-aspect-ratio");
            pad.set_property("alpha", 0.0f64);
        }
    }
    Ok(pipeline)
}

/// Puts each live seat where the layout says and hides the rest.
fn apply_layout(shared: &Shared) {
    let output = lock(&shared.output);
    let Some(pipeline) = output.as_ref() else {
        return;
    };
    let Some(mix) = pipeline.by_name("mix") else {
        return;
    };
    let c = &shared.config;
    let placed = placed(shared);
    let names: Vec<String> = lock(&shared.seats)
        .iter()
        .map(|s| s.as_ref().map(|s| s.name.clone()).unwrap_or_default())
        .collect();
    for (seat, name) in names.iter().enumerate() {
        let here = placed.iter().find(|p| p.seat == seat);
        if let Some(pad) = mix.static_pad(&format!("sink_{seat}")) {
            match here {
                Some(p) => {
                    pad.set_property("xpos", p.rect.x);
                    pad.set_property("ypos", p.rect.y);
                    pad.set_property("width", p.rect.width);
                    pad.set_property("height", p.rect.height);
                    pad.set_property("zorder", p.z);
                    pad.set_property("alpha", 1.0f64);
                }
                None => pad.set_property("alpha", 0.0f64),
            }
        }
        // Who is heard is who is shown.
        if let Some(pad) = pipeline
            .by_name("amix")
            .and_then(|amix| amix.static_pad(&format!("sink_{seat}")))
        {
            pad.set_property("mute", here.is_none());
        }
        if let Some(tag) = pipeline.by_name(&format!("tag{seat}")) {
            match here {
                // Bottom left of the seat's picture (the picture keeps its
                // shape, so it is centred in its rectangle).
                Some(p) => {
                    let (w, h) = (c.width as f64, c.height as f64);
                    let (rw, rh) = (p.rect.width as f64, p.rect.height as f64);
                    // The picture keeps its shape, centred in its rectangle.
                    let scale = (rw / w).min(rh / h);
                    let (pw, ph) = (w * scale, h * scale);
                    let left = p.rect.x as f64 + (rw - pw) / 2.0;
                    let bottom = p.rect.y as f64 + (rh + ph) / 2.0;
                    let margin = h / 60.0;
                    let font = (c.height / 20).max(8) as f64;
                    // textoverlay reads Pango markup: a name with `<` or
                    // `&` is shown as written, never as markup.
                    let text = gst::glib::markup_escape_text(name);
                    tag.set_property("text", text.as_str());
                    tag.set_property("deltax", (left + margin) as i32);
                    tag.set_property("deltay", (bottom - margin - font * 1.5).max(0.0) as i32);
                }
                None => tag.set_property("text", ""),
            }
        }
    }
}

/// The stage thread: watch every seat, reopen its listener when its
/// publisher leaves, and keep the output running while anyone is live.
fn run(shared: Arc<Shared>, mut inputs: Vec<Option<Input>>) {
    let n = inputs.len();
    let mut retry_at = vec![Instant::now(); n];
    let mut backoff = vec![Duration::from_millis(100); n];
    let mut output_retry = Instant::now();
    while !shared.stop.load(Ordering::Relaxed) {
        let mut changed = false;
        for seat in 0..n {
            let Some(input) = inputs[seat].as_mut() else {
                if Instant::now() < retry_at[seat] {
                    continue;
                }
                match Input::open(&shared, seat) {
                    Ok(input) => {
                        inputs[seat] = Some(input);
                        backoff[seat] = Duration::from_millis(100);
                    }
                    Err(e) => {
                        // The port may still be held for a moment.
                        tracing::warn!(seat, %e, "stage: cannot reopen a seat");
                        retry_at[seat] = Instant::now() + backoff[seat];
                        backoff[seat] = (backoff[seat] * 2).min(Duration::from_secs(5));
                    }
                }
                continue;
            };
            if !input.live && input.watch.connected() {
                input.live = true;
                lock(&shared.live)[seat] = true;
                changed = true;
                tracing::info!(seat, "stage: live");
                (shared.on_event)(StageEvent::Live { seat });
            }
            if let Some(why) = input.ended(&shared, seat) {
                tracing::info!(seat, why, "stage: seat ends");
                let was_live = input.live;
                if let Some(input) = inputs[seat].take() {
                    input.close();
                }
                if was_live {
                    lock(&shared.live)[seat] = false;
                    changed = true;
                    (shared.on_event)(StageEvent::Off { seat });
                }
            }
        }
        let anyone = lock(&shared.live).iter().any(|&l| l);
        let output_failed = lock(&shared.output)
            .as_ref()
            .and_then(|p| p.bus())
            .and_then(|bus| bus.pop_filtered(&[gst::MessageType::Error]))
            .is_some();
        let closing = if output_failed || !anyone {
            lock(&shared.output).take()
        } else {
            None
        };
        // Closed outside the lock: HTTP handlers setting seats wait on it.
        if let Some(pipeline) = closing {
            if output_failed {
                tracing::warn!("stage: the output failed; rebuilding it");
                output_retry = Instant::now() + Duration::from_millis(500);
            }
            let _ = pipeline.set_state(gst::State::Null);
        }
        if anyone && lock(&shared.output).is_none() && Instant::now() >= output_retry {
            match open_output(&shared) {
                Ok(pipeline) => {
                    *lock(&shared.output) = Some(pipeline.clone());
                    apply_layout(&shared);
                    if pipeline.set_state(gst::State::Playing).is_err() {
                        tracing::warn!("stage: the output did not start (is the relay up?)");
                        let _ = pipeline.set_state(gst::State::Null);
                        lock(&shared.output).take();
                        output_retry = Instant::now() + Duration::from_millis(500);
                    }
                }
                Err(e) => {
                    tracing::warn!(%e, "stage: cannot build the output");
                    output_retry = Instant::now() + Duration::from_secs(1);
                }
            }
        } else if changed {
            apply_layout(&shared);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Some(pipeline) = lock(&shared.output).take() {
        let _ = pipeline.set_state(gst::State::Null);
    }
    for input in inputs.into_iter().flatten() {
        input.close();
    }
}
