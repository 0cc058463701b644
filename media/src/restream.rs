//! Restreaming: the show sent on to other platforms (YouTube, Twitch, any
//! RTMP or RTMPS URL) while it is live.
//!
//! ```text
//! relay's viewer output ─SRT─▶ ffmpeg -c copy -f flv ─RTMP(S)─▶ outlet   (one process an outlet)
//! ```
//!
//! Each outlet is one more viewer of the relay's output, copied into FLV
//! by Debian's ffmpeg without a second encode (GStreamer 1.22's `rtmp2sink`
//! speaks no RTMPS, which YouTube and Facebook ask for). A process per
//! outlet means a failing outlet (a wrong key, a platform down) never
//! touches the stage, the relay or the other outlets: it fails alone, says
//! why, and is retried with a growing pause. Outlets run only while the
//! show is live.
//!
//! The outlet's key is in ffmpeg's command line (it is the RTMP URL's last
//! part), never in a log: ffmpeg's own lines are shown with the key cut out.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where an outlet sends: the platform's server URL and the stream key.
#[derive(Clone, PartialEq, Eq)]
pub struct OutletTarget {
    pub url: String,
    pub key: String,
}

impl std::fmt::Debug for OutletTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutletTarget")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutletError {
    #[error("an outlet's URL starts with rtmp:// or rtmps:// and names a host")]
    Scheme,
    #[error("an outlet's URL has at most 512 characters, without spaces or control characters")]
    Url,
    #[error("a stream key has 1 to 256 characters, without spaces or control characters")]
    Key,
}

impl OutletTarget {
    /// Checks what ffmpeg is given: RTMP or RTMPS only, and nothing that
    /// could read as another option or a local file.
    pub fn new(url: &str, key: &str) -> Result<Self, OutletError> {
        let url = url.trim();
        let key = key.trim();
        let rest = url
            .strip_prefix("rtmp://")
            .or_else(|| url.strip_prefix("rtmps://"))
            .ok_or(OutletError::Scheme)?;
        let authority = rest.split('/').next().unwrap_or("");
        let host = authority.split(':').next().unwrap_or("");
        // No `user:password@`: the URL is shown to co-hosts and logged.
        if host.is_empty() || authority.contains('@') {
            return Err(OutletError::Scheme);
        }
        let clean = |s: &str| !s.chars().any(|c| c.is_whitespace() || c.is_control());
        if url.chars().count() > 512 || !clean(url) {
            return Err(OutletError::Url);
        }
        if key.is_empty() || key.chars().count() > 256 || !clean(key) {
            return Err(OutletError::Key);
        }
        Ok(Self {
            url: url.to_owned(),
            key: key.to_owned(),
        })
    }

    /// The URL ffmpeg publishes to: the server URL, then the key.
    fn publish_url(&self) -> String {
        format!("{}/{}", self.url.trim_end_matches('/'), self.key)
    }

    /// `line` with the key cut out, fit to show and log; also its part
    /// before a `?`, which a platform may echo alone.
    fn redact(&self, line: &str) -> String {
        let line = line.replace(&self.key, "…");
        match self.key.split_once('?') {
            Some((head, _)) if !head.is_empty() => line.replace(head, "…"),
            _ => line,
        }
    }
}

/// What an outlet is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutletState {
    /// The show is not live: nothing to send.
    Idle,
    /// ffmpeg started and has sent nothing yet.
    Connecting,
    /// Frames are going out.
    Live,
    /// It failed for `reason`; the next try is in `retry_in`.
    Retrying { reason: String, retry_in: Duration },
}

/// The relay's output sent on to each outlet while the show is live.
pub struct Restreamer {
    /// The relay's viewer output, `srt://host:port`.
    source: String,
    latency_ms: u32,
    outlets: Mutex<HashMap<i64, Runner>>,
    live: Arc<AtomicBool>,
}

struct Runner {
    target: OutletTarget,
    state: Arc<Mutex<OutletState>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Runner {
    fn start(target: OutletTarget, source: String, latency_ms: u32, live: Arc<AtomicBool>) -> Self {
        let state = Arc::new(Mutex::new(OutletState::Idle));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (target, state, stop) = (target.clone(), state.clone(), stop.clone());
            std::thread::Builder::new()
                .name("media-restream".into())
                .spawn(move || supervise(&target, &source, latency_ms, &live, &state, &stop))
                .map_err(|e| tracing::warn!(%e, "restream: no thread for an outlet"))
                .ok()
        };
        Self {
            target,
            state,
            stop,
            thread,
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl std::fmt::Debug for Restreamer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Restreamer")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Restreamer {
    /// Sends `source` (the relay's viewer output) on; needs ffmpeg.
    pub fn new(source: String, latency_ms: u32) -> Result<Self, String> {
        crate::rtmp::ffmpeg_available()?;
        Ok(Self {
            source,
            latency_ms,
            outlets: Mutex::new(HashMap::new()),
            live: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The show went live or off: outlets start or stop sending.
    pub fn set_live(&self, live: bool) {
        self.live.store(live, Ordering::Relaxed);
    }

    /// Makes the outlets exactly `wanted`: new ones start, removed ones
    /// stop (their ffmpeg killed), changed ones restart.
    pub fn set_outlets(&self, wanted: Vec<(i64, OutletTarget)>) {
        let mut outlets = lock(&self.outlets);
        let ids: Vec<i64> = wanted.iter().map(|(id, _)| *id).collect();
        let gone: Vec<Runner> = outlets
            .extract_if(|id, r| {
                !ids.contains(id) || wanted.iter().any(|(i, t)| i == id && *t != r.target)
            })
            .map(|(_, r)| r)
            .collect();
        for (id, target) in wanted {
            outlets.entry(id).or_insert_with(|| {
                Runner::start(
                    target,
                    self.source.clone(),
                    self.latency_ms,
                    self.live.clone(),
                )
            });
        }
        drop(outlets);
        // Joined outside the lock: a state read never waits on a kill.
        drop(gone);
    }

    /// Each outlet's state.
    pub fn states(&self) -> HashMap<i64, OutletState> {
        lock(&self.outlets)
            .iter()
            .map(|(id, r)| (*id, lock(&r.state).clone()))
            .collect()
    }
}

impl Drop for Restreamer {
    fn drop(&mut self) {
        let outlets: Vec<Runner> = lock(&self.outlets).drain().map(|(_, r)| r).collect();
        drop(outlets);
    }
}

/// The first pause after a failure, and the longest.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(15);

/// One outlet's loop: while the show is live, run ffmpeg; when it ends,
/// say why and wait before the next try.
fn supervise(
    target: &OutletTarget,
    source: &str,
    latency_ms: u32,
    live: &AtomicBool,
    state: &Mutex<OutletState>,
    stop: &AtomicBool,
) {
    let mut pause = FIRST_RETRY;
    while !stop.load(Ordering::Relaxed) {
        if !live.load(Ordering::Relaxed) {
            *lock(state) = OutletState::Idle;
            pause = FIRST_RETRY;
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        *lock(state) = OutletState::Connecting;
        let started = Instant::now();
        let reason = run_once(target, source, latency_ms, live, state, stop);
        if stop.load(Ordering::Relaxed) {
            return;
        }
        if !live.load(Ordering::Relaxed) {
            continue;
        }
        // A run that went well for a while starts the pauses over.
        if started.elapsed() > Duration::from_secs(30) {
            pause = FIRST_RETRY;
        }
        tracing::warn!(
            reason,
            retry_in_s = pause.as_secs(),
            "restream: an outlet failed"
        );
        let until = Instant::now() + pause;
        // The show going off ends the wait: the outlet is idle, not failed.
        while Instant::now() < until
            && !stop.load(Ordering::Relaxed)
            && live.load(Ordering::Relaxed)
        {
            *lock(state) = OutletState::Retrying {
                reason: reason.clone(),
                retry_in: until.saturating_duration_since(Instant::now()),
            };
            std::thread::sleep(Duration::from_millis(100));
        }
        pause = (pause * 2).min(LAST_RETRY);
    }
}

/// Runs ffmpeg until it ends, the show goes off or the outlet is removed;
/// returns why it ended.
fn run_once(
    target: &OutletTarget,
    source: &str,
    latency_ms: u32,
    live: &AtomicBool,
    state: &Mutex<OutletState>,
    stop: &AtomicBool,
) -> String {
    let mut command = Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-nostdin", "-loglevel", "warning"])
        // Progress on stdout: `frame=N` lines tell that frames go out.
        .args(["-progress", "pipe:1", "-stats_period", "0.5"])
        .arg("-i")
        .arg(format!(
            "{source}?mode=caller&latency={}",
            u64::from(latency_ms) * 1000
        ))
        .args([
            "-c",
            "copy",
            "-f",
            "flv",
            "-flvflags",
            "no_duration_filesize",
        ])
        .arg(target.publish_url())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    crate::rtmp::die_with_parent(&mut command);
    let mut child: Child = match command.spawn() {
        Ok(c) => c,
        Err(e) => return format!("ffmpeg did not start: {e}"),
    };
    // ffmpeg's stderr, read to its end: the last line is why it ended.
    let last_line = Arc::new(Mutex::new(String::new()));
    let log_reader = child.stderr.take().and_then(|stderr| {
        let (last_line, target) = (last_line.clone(), target.clone());
        std::thread::Builder::new()
            .name("media-restream-log".into())
            .spawn(move || {
                crate::rtmp::for_each_line(stderr, |line| {
                    let line = target.redact(line.trim());
                    tracing::debug!(line, "ffmpeg (restream)");
                    if !line.is_empty() {
                        *lock(&last_line) = line;
                    }
                })
            })
            .ok()
    });
    // `-progress` on stdout: the frame count, and when it last rose.
    let progress: Arc<Mutex<(u64, Instant)>> = Arc::new(Mutex::new((0, Instant::now())));
    if let Some(stdout) = child.stdout.take() {
        let progress = progress.clone();
        let _ = std::thread::Builder::new()
            .name("media-restream-progress".into())
            .spawn(move || {
                crate::rtmp::for_each_line(stdout, |line| {
                    let frames = line
                        .strip_prefix("frame=")
                        .and_then(|n| n.trim().parse::<u64>().ok());
                    if let Some(n) = frames {
                        let mut p = lock(&progress);
                        if n > p.0 {
                            *p = (n, Instant::now());
                        }
                    }
                })
            });
    }
    let kill = |child: &mut Child| {
        let _ = child.kill();
        let _ = child.wait();
    };
    enum Ended {
        Exited(String),
        Stalled(String),
    }
    let ended = loop {
        if stop.load(Ordering::Relaxed) || !live.load(Ordering::Relaxed) {
            kill(&mut child);
            return "stopped".into();
        }
        match child.try_wait() {
            Ok(Some(status)) => break Ended::Exited(status.to_string()),
            Ok(None) => {}
            Err(e) => {
                kill(&mut child);
                return format!("ffmpeg: {e}");
            }
        }
        let (frames, rose) = *lock(&progress);
        if frames > 0 {
            let mut s = lock(state);
            if *s == OutletState::Connecting {
                *s = OutletState::Live;
                tracing::info!(url = target.url, "restream: an outlet is live");
            }
        }
        // A platform that stops reading blocks ffmpeg's writes with no
        // error: no frame out for this long is a failure too.
        if rose.elapsed() > STALLED_AFTER {
            kill(&mut child);
            let what = if frames > 0 {
                "stalled"
            } else {
                "never started"
            };
            break Ended::Stalled(format!(
                "{what}: no frame sent for {} s",
                STALLED_AFTER.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // ffmpeg's last words, read to the end (a bounded wait).
    if let Some(reader) = log_reader {
        let deadline = Instant::now() + Duration::from_secs(1);
        while !reader.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let line = lock(&last_line).clone();
    match ended {
        Ended::Exited(status) if line.is_empty() => format!("ffmpeg ended ({status})"),
        Ended::Exited(_) => line,
        Ended::Stalled(why) if line.is_empty() => why,
        Ended::Stalled(why) => format!("{why} ({line})"),
    }
}

/// How long an outlet may send no frame (after ffmpeg starts, or since the
/// last) before it counts as failed: ffmpeg probes its input for up to
/// 5 s before the first.
const STALLED_AFTER: Duration = Duration::from_secs(15);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outlets_take_rtmp_and_rtmps_only_and_nothing_that_reads_as_an_option() {
        for (url, key, want) in [
            ("rtmp://a.rtmp.youtube.com/live2", "abcd-efgh", Ok(())),
            (
                "rtmps://live-api-s.facebook.com:443/rtmp/",
                "FB-1?s=2",
                Ok(()),
            ),
            ("  rtmp://127.0.0.1:1935/live  ", " key ", Ok(())),
            ("http://example.com/live", "k", Err(OutletError::Scheme)),
            ("file:///etc/passwd", "k", Err(OutletError::Scheme)),
            ("-f", "k", Err(OutletError::Scheme)),
            ("rtmp://", "k", Err(OutletError::Scheme)),
            ("rtmp:///live", "k", Err(OutletError::Scheme)),
            ("rtmp://host/li ve", "k", Err(OutletError::Url)),
            ("rtmp://host/live\n", "k\u{7}", Err(OutletError::Key)),
            ("rtmp://host/live", "", Err(OutletError::Key)),
            ("rtmp://host/live", "a b", Err(OutletError::Key)),
            ("rtmp://user:pw@host/live", "k", Err(OutletError::Scheme)),
            ("rtmps://host:443/live@x", "k", Ok(())),
        ] {
            assert_eq!(
                OutletTarget::new(url, key).map(|_| ()),
                want,
                "{url:?} {key:?}"
            );
        }
        let long = format!("rtmp://host/{}", "x".repeat(600));
        assert_eq!(OutletTarget::new(&long, "k").err(), Some(OutletError::Url));
        assert_eq!(
            OutletTarget::new("rtmp://h/live", &"k".repeat(257)).err(),
            Some(OutletError::Key)
        );
    }

    #[test]
    fn the_key_ends_the_publish_url_and_never_shows_in_a_line() {
        let t = OutletTarget::new("rtmp://live.twitch.tv/app/", "live_123_secret").unwrap();
        assert_eq!(t.publish_url(), "rtmp://live.twitch.tv/app/live_123_secret");
        assert_eq!(
            t.redact("rtmp://live.twitch.tv/app/live_123_secret: Connection refused"),
            "rtmp://live.twitch.tv/app/…: Connection refused"
        );
        assert!(!format!("{t:?}").contains("secret"));
        let fb =
            OutletTarget::new("rtmps://live.example.com/rtmp", "FB-123-secret?s_bl=1").unwrap();
        assert_eq!(
            fb.redact("stream FB-123-secret rejected"),
            "stream … rejected"
        );
        assert_eq!(
            fb.redact("rtmps://live.example.com/rtmp/FB-123-secret?s_bl=1: I/O error"),
            "rtmps://live.example.com/rtmp/…: I/O error"
        );
    }
}
