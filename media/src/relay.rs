//! The server's media relay: one publisher in, many viewers out.
//!
//! ```text
//! publisher ─SRT─▶ srtsrc (listener, streamid = key) ─ tee ─┬─ srtsink (listener): viewers
//! (RTMP ─▶ ffmpeg -listen 1 ─SRT─┘)                        ├─ filesink: recording (.ts/.mkv)
//!                                                          └─ parsebin ─ hlssink2: HLS
//! ```
//!
//! One pipeline lives per publisher session. It waits with the ingest open;
//! when the publisher leaves (EOS, an error, or no data for
//! `idle_timeout`), the relay sends EOS through it so the playlist gets its
//! end tag and the recording is flushed and renamed, tears it down, says
//! `Off`, and builds the next. Viewers on SRT lose their connection then and
//! reconnect (the player does it by itself).
//!
//! The stream key is checked in srtsrc's `caller-connecting` signal (GStreamer
//! 1.22): a caller whose `streamid` does not name the key is refused before
//! any data is read. RTMP goes through Debian's ffmpeg ([`crate::rtmp`]),
//! which accepts only the key as stream name and forwards over SRT with the
//! key as its `streamid`; GStreamer 1.22 has no RTMP server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use gst::prelude::*;

use crate::rtmp::{Admission, BridgeError, RtmpBridge};
use crate::{MissingElement, StreamKey, timecode::unix_ms};

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// SRT listener for the publisher.
    pub ingest: SocketAddr,
    /// SRT listener for viewers.
    pub viewers: SocketAddr,
    /// RTMP listener (through ffmpeg), if any.
    pub rtmp: Option<SocketAddr>,
    /// Where the RTMP bridge sends, with the key it takes as the stream
    /// name: by default this relay's ingest and key; with a stage in front,
    /// the host's seat and the host's key.
    pub rtmp_forward: Option<(SocketAddr, StreamKey)>,
    /// Where HLS segments and `live.m3u8` go, if anywhere.
    pub hls_dir: Option<PathBuf>,
    /// Where each show's recording goes, if anywhere.
    pub recordings_dir: Option<PathBuf>,
    pub key: StreamKey,
    /// The least SRT latency the relay asks of each link, in and out. SRT
    /// takes the larger of the two ends' values, so this is a floor: a
    /// publisher or viewer on a slower link asks for more (see
    /// [`crate::srt`]).
    pub latency_ms: u32,
    /// A live publisher silent this long has left (SRT itself notices a
    /// vanished peer only after 5 s).
    pub idle_timeout: Duration,
}

impl RelayConfig {
    pub fn new(ingest: SocketAddr, viewers: SocketAddr, key: StreamKey) -> Self {
        Self {
            ingest,
            viewers,
            rtmp: None,
            rtmp_forward: None,
            hls_dir: None,
            recordings_dir: None,
            key,
            latency_ms: crate::srt::LAN_LATENCY_MS,
            idle_timeout: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayEvent {
    /// A publisher with the right key is connected.
    Live,
    /// The publisher left; its recording, if one was kept.
    Off { recording: Option<PathBuf> },
    /// A caller was refused (a wrong or missing key, or a second publisher).
    Rejected { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Missing(#[from] MissingElement),
    #[error("GStreamer: {0}")]
    Init(#[from] crate::InitError),
    #[error("the ingest and viewer ports must differ (both {0})")]
    SamePort(SocketAddr),
    #[error("cannot listen on {addr}: {why}")]
    Listen { addr: SocketAddr, why: String },
    #[error("cannot use directory {dir}: {why}")]
    Dir { dir: PathBuf, why: String },
    #[error("RTMP ingest needs ffmpeg (Debian package ffmpeg): {0}")]
    Ffmpeg(String),
    #[error(
        "latency {0} ms is out of range ({min} to {max})",
        min = crate::srt::MIN_LATENCY_MS,
        max = crate::srt::MAX_LATENCY_MS
    )]
    Latency(u32),
    #[error("pipeline: {0}")]
    Pipeline(String),
}

pub type EventSink = Arc<dyn Fn(RelayEvent) + Send + Sync>;

/// A running relay. Dropping it ends the session cleanly (recording
/// finalized) and stops ffmpeg.
pub struct Relay {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    rtmp: Option<RtmpBridge>,
}

struct Shared {
    config: RelayConfig,
    stop: AtomicBool,
    live: AtomicBool,
    sessions: AtomicU64,
    rejected: AtomicU64,
    on_event: EventSink,
}

impl Relay {
    /// Starts listening. Errors in the configuration, a port in use or a
    /// missing element come back here, before anything runs.
    pub fn start(config: RelayConfig, on_event: EventSink) -> Result<Self, RelayError> {
        crate::init()?;
        crate::require(&[
            "srtsrc", "srtsink", "tee", "queue", "filesink", "parsebin", "hlssink2", "fakesink",
        ])?;
        if config.ingest.port() == config.viewers.port()
            && config.ingest.ip() == config.viewers.ip()
        {
            return Err(RelayError::SamePort(config.ingest));
        }
        if !(crate::srt::MIN_LATENCY_MS..=crate::srt::MAX_LATENCY_MS).contains(&config.latency_ms) {
            return Err(RelayError::Latency(config.latency_ms));
        }
        for dir in [&config.hls_dir, &config.recordings_dir]
            .into_iter()
            .flatten()
        {
            std::fs::create_dir_all(dir).map_err(|e| RelayError::Dir {
                dir: dir.clone(),
                why: e.to_string(),
            })?;
        }
        let shared = Arc::new(Shared {
            config,
            stop: AtomicBool::new(false),
            live: AtomicBool::new(false),
            sessions: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            on_event,
        });
        let rtmp = match shared.config.rtmp {
            Some(addr) => {
                let (target, key) = shared
                    .config
                    .rtmp_forward
                    .clone()
                    .unwrap_or_else(|| (shared.config.ingest, shared.config.key.clone()));
                let on_event = shared.on_event.clone();
                Some(
                    RtmpBridge::start(
                        addr,
                        target,
                        shared.config.latency_ms,
                        Admission::Key(key),
                        Arc::new(move |reason| on_event(RelayEvent::Rejected { reason })),
                    )
                    .map_err(|e| match e {
                        BridgeError::Ffmpeg(why) => RelayError::Ffmpeg(why),
                        BridgeError::Listen(why) => RelayError::Listen { addr, why },
                    })?,
                )
            }
            None => None,
        };
        // The first session is built here so a port in use fails `start`.
        let first = Session::open(&shared)?;
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("media-relay".into())
            .spawn(move || run(thread_shared, first))
            .map_err(|e| RelayError::Pipeline(e.to_string()))?;
        Ok(Self {
            shared,
            thread: Some(thread),
            rtmp,
        })
    }

    pub fn is_live(&self) -> bool {
        self.shared.live.load(Ordering::Relaxed)
    }

    /// Publisher sessions that went live so far.
    pub fn sessions(&self) -> u64 {
        self.shared.sessions.load(Ordering::Relaxed)
    }

    /// Callers refused so far.
    pub fn rejected(&self) -> u64 {
        self.shared.rejected.load(Ordering::Relaxed)
    }

    pub fn config(&self) -> &RelayConfig {
        &self.shared.config
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.rtmp.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One publisher's pipeline.
struct Session {
    pipeline: gst::Pipeline,
    watch: crate::srt::IngestWatch,
    partial: Option<PathBuf>,
    extension: Arc<Mutex<&'static str>>,
}

impl Session {
    fn open(shared: &Arc<Shared>) -> Result<Self, RelayError> {
        let c = &shared.config;
        let listener =
            |addr: SocketAddr| format!("srt://{}:{}?mode=listener", addr.ip(), addr.port());
        let mut description = format!(
            "srtsrc name=ingest uri=\"{ingest}\" latency={lat} poll-timeout={poll} ! tee name=t \
             t. ! queue leaky=downstream max-size-time=2000000000 ! srtsink name=out uri=\"{out}\" \
             latency={lat} wait-for-connection=false sync=false async=false ",
            ingest = listener(c.ingest),
            out = listener(c.viewers),
            lat = c.latency_ms,
            poll = crate::srt::POLL_TIMEOUT_MS,
        );
        let partial = c
            .recordings_dir
            .as_ref()
            .map(|dir| dir.join("recording.partial"));
        if let Some(partial) = &partial {
            description.push_str(&format!(
                "t. ! queue ! typefind name=kind ! filesink location=\"{}\" sync=false async=false ",
                partial.display()
            ));
        }
        if let Some(dir) = &c.hls_dir {
            clear_hls(dir);
            description.push_str(&format!(
                "t. ! queue ! parsebin name=parse \
                 queue name=hlsv ! h264parse ! hls.video queue name=hlsa ! aacparse ! hls.audio \
                 hlssink2 name=hls location=\"{seg}\" playlist-location=\"{list}\" \
                 target-duration=1 playlist-length=6 max-files=12 send-keyframe-requests=false ",
                seg = dir.join("segment%05d.ts").display(),
                list = dir.join("live.m3u8").display(),
            ));
        }
        let pipeline = gst::parse::launch(&description)
            .map_err(|e| RelayError::Pipeline(e.to_string()))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| RelayError::Pipeline("not a pipeline".into()))?;

        let ingest = pipeline
            .by_name("ingest")
            .ok_or_else(|| RelayError::Pipeline("no ingest".into()))?;
        let watch = crate::srt::IngestWatch::attach(&ingest, false);
        {
            let shared = shared.clone();
            let watch = watch.clone();
            // `authentication` reads as true by default in 1.22, but the
            // element only asks this signal once it is set explicitly.
            ingest.set_property("authentication", true);
            ingest.connect("caller-connecting", false, move |args| {
                let streamid = args
                    .get(2)
                    .and_then(|v| v.get::<Option<String>>().ok())
                    .flatten();
                let ok_key = streamid
                    .as_deref()
                    .is_some_and(|id| shared.config.key.matches_streamid(id));
                let reason = if !ok_key {
                    Some("wrong or missing stream key")
                } else if watch.connected() {
                    Some("a publisher is already live")
                } else {
                    None
                };
                if let Some(reason) = reason {
                    shared.rejected.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(reason, "media relay: caller refused");
                    (shared.on_event)(RelayEvent::Rejected {
                        reason: reason.into(),
                    });
                }
                Some(reason.is_none().to_value())
            });
        }
        let extension = Arc::new(Mutex::new("ts"));
        if let Some(kind) = pipeline.by_name("kind") {
            let extension = extension.clone();
            kind.connect("have-type", false, move |args| {
                let caps = args.get(2).and_then(|v| v.get::<gst::Caps>().ok());
                let name = caps
                    .as_ref()
                    .and_then(|c| c.structure(0))
                    .map(|s| s.name().to_string());
                if let (Some(name), Ok(mut ext)) = (name, extension.lock()) {
                    *ext = if name.contains("matroska") || name.contains("webm") {
                        "mkv"
                    } else {
                        "ts"
                    };
                }
                None
            });
        }
        if let Some(parse) = pipeline.by_name("parse") {
            link_hls(&pipeline, &parse);
        }
        if let Err(e) = pipeline.set_state(gst::State::Playing) {
            let why = bus_error(&pipeline).unwrap_or_else(|| e.to_string());
            let _ = pipeline.set_state(gst::State::Null);
            return Err(RelayError::Listen {
                addr: c.ingest,
                why,
            });
        }
        Ok(Self {
            pipeline,
            watch,
            partial,
            extension,
        })
    }

    /// Ends the session: EOS through every branch (the playlist's end tag,
    /// the recording's last bytes), then NULL. Returns the recording.
    fn close(self, live_since: Option<SystemTime>) -> Option<PathBuf> {
        // The source may be blocked in a read; EOS on the elements behind it
        // finishes every branch without waiting for it.
        if let Some(pad) = self
            .pipeline
            .by_name("t")
            .and_then(|tee| tee.static_pad("sink"))
        {
            pad.send_event(gst::event::Eos::new());
        }
        if let Some(bus) = self.pipeline.bus() {
            let _ = bus.timed_pop_filtered(
                gst::ClockTime::from_seconds(3),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            );
        }
        let _ = self.pipeline.set_state(gst::State::Null);
        let partial = self.partial?;
        let size = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
        // A session nobody published to leaves no file behind.
        let Some(since) = live_since.filter(|_| size > 0) else {
            let _ = std::fs::remove_file(&partial);
            return None;
        };
        let ext = self.extension.lock().map(|e| *e).unwrap_or("ts");
        let done = partial.with_file_name(format!("show-{}.{ext}", unix_ms(since)));
        std::fs::rename(&partial, &done).ok()?;
        Some(done)
    }
}

/// parsebin's H.264 and AAC pads go to hlssink2's branches (whose pads
/// are requested when the pipeline is built: splitmuxsink waits forever on
/// pads requested once it runs); anything else (VP8, Opus) to a fakesink,
/// so a WebM publisher still reaches SRT viewers and the recording.
fn link_hls(pipeline: &gst::Pipeline, parse: &gst::Element) {
    let pipeline = pipeline.downgrade();
    parse.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pipeline.upgrade() else {
            return;
        };
        // parsebin's pads may not carry caps yet when they appear.
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let name = caps
            .structure(0)
            .map(|s| s.name().to_string())
            .unwrap_or_default();
        let branch = match name.as_str() {
            "video/x-h264" => pipeline.by_name("hlsv"),
            "audio/mpeg" => pipeline.by_name("hlsa"),
            _ => None,
        };
        let target = branch
            .and_then(|queue| queue.static_pad("sink"))
            .filter(|sink| !sink.is_linked())
            .or_else(|| {
                let sink = gst::ElementFactory::make("fakesink")
                    .property("sync", false)
                    .property("async", false)
                    .build()
                    .ok()?;
                pipeline.add(&sink).ok()?;
                let _ = sink.sync_state_with_parent();
                sink.static_pad("sink")
            });
        if let Some(target) = target
            && let Err(e) = pad.link(&target)
        {
            tracing::warn!(%e, caps = %name, "media relay: HLS branch not linked");
        }
    });
}

fn bus_error(pipeline: &gst::Pipeline) -> Option<String> {
    let msg = pipeline.bus()?.pop_filtered(&[gst::MessageType::Error])?;
    match msg.view() {
        gst::MessageView::Error(e) => Some(format!(
            "{} ({})",
            e.error(),
            e.debug().map(|d| d.to_string()).unwrap_or_default()
        )),
        _ => None,
    }
}

fn clear_hls(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("ts" | "m3u8")
        ) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The relay thread: watch the session, end it when the publisher leaves,
/// start the next.
fn run(shared: Arc<Shared>, first: Session) {
    let mut session = Some(first);
    let mut backoff = Duration::from_millis(100);
    while !shared.stop.load(Ordering::Relaxed) {
        let current = match session.take() {
            Some(s) => s,
            None => match Session::open(&shared) {
                Ok(s) => {
                    backoff = Duration::from_millis(100);
                    s
                }
                Err(e) => {
                    // The port may still be held for a moment; try again.
                    tracing::warn!(%e, "media relay: cannot reopen the ingest");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            },
        };
        let Some(bus) = current.pipeline.bus() else {
            return;
        };
        let mut live_since = None;
        let ended = loop {
            if shared.stop.load(Ordering::Relaxed) {
                break "relay stopped".to_owned();
            }
            if live_since.is_none() && current.watch.connected() {
                live_since = Some(SystemTime::now());
                shared.live.store(true, Ordering::Relaxed);
                shared.sessions.fetch_add(1, Ordering::Relaxed);
                tracing::info!("media relay: live");
                (shared.on_event)(RelayEvent::Live);
            }
            if live_since.is_some()
                && current
                    .watch
                    .idle_for()
                    .is_some_and(|idle| idle > shared.config.idle_timeout)
            {
                break "publisher silent".to_owned();
            }
            let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
                continue;
            };
            match msg.view() {
                gst::MessageView::Eos(_) => break "publisher left".to_owned(),
                gst::MessageView::Error(e) => break format!("error: {}", e.error()),
                _ => {}
            }
        };
        tracing::info!(why = %ended, "media relay: session ends");
        let was_live = live_since.is_some();
        let recording = current.close(live_since);
        if was_live {
            shared.live.store(false, Ordering::Relaxed);
            (shared.on_event)(RelayEvent::Off { recording });
        }
    }
}
