//! RTMP ingest through Debian's ffmpeg: GStreamer 1.22 has no RTMP server.
//!
//! ```text
//! OBS ─RTMP─▶ ffmpeg -listen 1 (-c copy) ─SRT, streamid─▶ an SRT listener (relay or stage seat)
//! ```
//!
//! `ffmpeg -listen 1` serves one publisher and exits, so a thread respawns
//! it. Its RTMP server only *warns* about a stream name other than the one
//! it listens for (`Unexpected stream NAME, expecting WANTED`) and carries
//! on; that warning is the key check, and the bridge is killed on a wrong
//! name before ffmpeg has probed enough input to open its SRT output.
//!
//! Two ways to tell the key ([`Admission`]):
//! - [`Admission::Key`]: ffmpeg listens for the key itself and forwards
//!   under it (the host's key, which the server holds in plain).
//! - [`Admission::Checked`]: the key is kept only as a digest (co-hosts),
//!   so ffmpeg listens for a random name no publisher sends, the warning
//!   gives the name offered, and a check decides. ffmpeg forwards under a
//!   one-time token, made at each spawn, that the SRT listener takes only
//!   once the check has armed it: a publisher whose check is slow or fails
//!   never reaches the listener, even if ffmpeg outruns the kill.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::StreamKey;

/// Lets the publisher offering `offered` in, arming `token` for the SRT
/// hop; or says why not.
pub(crate) type Check = Arc<dyn Fn(&str, &StreamKey) -> Result<(), String> + Send + Sync>;

/// Told why a publisher was refused.
pub(crate) type Refused = Arc<dyn Fn(String) + Send + Sync>;

pub(crate) enum Admission {
    /// The key in plain: ffmpeg listens for it and forwards under it.
    Key(StreamKey),
    /// A check on the name offered; forwards under a one-time token.
    Checked(Check),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BridgeError {
    /// ffmpeg does not run here.
    Ffmpeg(String),
    /// The RTMP address cannot be listened on.
    Listen(String),
}

/// How long an RTMP connection may send nothing before it is dropped.
const IDLE_PUBLISHER: Duration = Duration::from_secs(10);

/// Whether ffmpeg runs here, or why not.
pub(crate) fn ffmpeg_available() -> Result<(), String> {
    Command::new("ffmpeg")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A name nobody guesses: the listening name and the token of
/// [`Admission::Checked`].
fn random_name() -> StreamKey {
    use rand::Rng;
    let name: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    StreamKey::new(name).expect("32 alphanumerics are a valid key")
}

/// The name a publisher offered, from ffmpeg's warning; a query string
/// some tools add is not part of it.
fn offered_name<'a>(line: &'a str, wanted: &str) -> Option<&'a str> {
    let rest = &line[line.find("Unexpected stream ")? + "Unexpected stream ".len()..];
    let name = rest.strip_suffix(&format!(", expecting {wanted}"))?;
    Some(name.split('?').next().unwrap_or(name).trim())
}

/// A running RTMP listener; dropping it kills ffmpeg.
pub(crate) struct RtmpBridge {
    stop: Arc<AtomicBool>,
    child: Arc<Mutex<Option<Child>>>,
    thread: Option<JoinHandle<()>>,
}

impl RtmpBridge {
    /// Listens on `listen` (`rtmp://listen/live`, the key as stream name)
    /// and forwards each publisher to the SRT listener at `target`.
    pub(crate) fn start(
        listen: SocketAddr,
        target: SocketAddr,
        latency_ms: u32,
        admission: Admission,
        on_refused: Refused,
    ) -> Result<Self, BridgeError> {
        ffmpeg_available().map_err(BridgeError::Ffmpeg)?;
        // ffmpeg binds only when spawned, and one that cannot is respawned
        // for ever: a port in use fails here instead.
        std::net::TcpListener::bind(listen).map_err(|e| BridgeError::Listen(e.to_string()))?;
        let target_host = if target.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            target.ip().to_string()
        };
        let args = move |wanted: &StreamKey, streamid: &StreamKey| -> Vec<String> {
            vec![
                "-hide_banner".into(),
                "-nostdin".into(),
                "-nostats".into(),
                "-loglevel".into(),
                "warning".into(),
                "-listen".into(),
                "1".into(),
                // A connection that sends nothing for this long is dropped
                // (ffmpeg exits and is respawned): it would hold the one
                // listener for ever. Waiting for a connection is not
                // bounded by it.
                "-rw_timeout".into(),
                (IDLE_PUBLISHER.as_micros() as u64).to_string(),
                "-i".into(),
                format!("rtmp://{listen}/live/{}", wanted.as_str()),
                "-c".into(),
                "copy".into(),
                "-f".into(),
                "mpegts".into(),
                format!(
                    "srt://{target_host}:{}?streamid={}&latency={}",
                    target.port(),
                    streamid.as_str(),
                    u64::from(latency_ms) * 1000
                ),
            ]
        };
        let admission = Arc::new(admission);
        let stop = Arc::new(AtomicBool::new(false));
        let child: Arc<Mutex<Option<Child>>> = Arc::new(Mutex::new(None));
        let thread = {
            let (stop, child) = (stop.clone(), child.clone());
            std::thread::Builder::new()
                .name("media-rtmp".into())
                .spawn(move || {
                    let mut warned = false;
                    while !stop.load(Ordering::Relaxed) {
                        let born = Instant::now();
                        // A fresh name and token at each spawn: a token
                        // armed for an earlier publisher is worth nothing.
                        let (wanted, streamid) = match &*admission {
                            Admission::Key(key) => (key.clone(), key.clone()),
                            Admission::Checked(_) => (random_name(), random_name()),
                        };
                        let mut command = Command::new("ffmpeg");
                        command
                            .args(args(&wanted, &streamid))
                            .stdin(Stdio::null())
                            .stdout(Stdio::null())
                            .stderr(Stdio::piped());
                        die_with_parent(&mut command);
                        match command.spawn() {
                            Ok(mut c) => {
                                if let Some(stderr) = c.stderr.take() {
                                    watch_ffmpeg(
                                        stderr,
                                        Watch {
                                            pid: c.id(),
                                            child: child.clone(),
                                            admission: admission.clone(),
                                            wanted,
                                            streamid,
                                            on_refused: on_refused.clone(),
                                        },
                                    );
                                }
                                if let Ok(mut slot) = child.lock() {
                                    *slot = Some(c);
                                }
                            }
                            Err(e) => {
                                tracing::warn!(%e, "media: ffmpeg did not start");
                                return;
                            }
                        }
                        // Poll (not wait) so that Drop can kill the child.
                        loop {
                            if stop.load(Ordering::Relaxed) {
                                return;
                            }
                            let done = child
                                .lock()
                                .ok()
                                .and_then(|mut c| c.as_mut().map(|c| c.try_wait()))
                                .is_none_or(|r| !matches!(r, Ok(None)));
                            if done {
                                break;
                            }
                            std::thread::sleep(Duration::from_millis(100));
                        }
                        // One that died at once (its port taken since, say)
                        // is not respawned in a tight loop, and is said.
                        if born.elapsed() < Duration::from_secs(1) {
                            if !warned {
                                warned = true;
                                tracing::warn!(%listen, "media: ffmpeg's RTMP listener ended at once");
                            }
                            let until = Instant::now() + Duration::from_secs(1);
                            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                                std::thread::sleep(Duration::from_millis(50));
                            }
                        }
                    }
                })
                .map_err(|e| BridgeError::Ffmpeg(e.to_string()))?
        };
        Ok(Self {
            stop,
            child,
            thread: Some(thread),
        })
    }
}

/// A server killed outright (`kill -9`) must not leave ffmpeg holding the
/// RTMP port: on Linux the child gets SIGKILL when its parent dies.
pub(crate) fn die_with_parent(command: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe and touches no Rust state.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}

/// What the log watcher of one ffmpeg needs.
struct Watch {
    /// The ffmpeg this watch reads: a late line never kills its successor.
    pid: u32,
    child: Arc<Mutex<Option<Child>>>,
    admission: Arc<Admission>,
    wanted: StreamKey,
    streamid: StreamKey,
    on_refused: Refused,
}

impl Watch {
    /// Whether the publisher named in `line` may go on.
    fn admits(&self, line: &str) -> Result<(), String> {
        match &*self.admission {
            Admission::Key(_) => Err("wrong RTMP stream key".into()),
            Admission::Checked(check) => match offered_name(line, self.wanted.as_str()) {
                Some(offered) => check(offered, &self.streamid),
                None => Err("unreadable RTMP stream name".into()),
            },
        }
    }

    fn kill(&self) {
        // Wait for the spawner to store the child, then kill it.
        for _ in 0..100 {
            let killed = self
                .child
                .lock()
                .ok()
                .and_then(|mut c| {
                    c.as_mut()
                        .filter(|c| c.id() == self.pid)
                        .map(|c| c.kill().is_ok())
                })
                .unwrap_or(false);
            if killed {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Reads ffmpeg's warnings; on a stream name not let in, kills it. The
/// name offered (a key, maybe a right one) is never logged.
fn watch_ffmpeg(stderr: std::process::ChildStderr, watch: Watch) {
    let spawned = std::thread::Builder::new()
        .name("media-rtmp-log".into())
        .spawn(move || {
            let mut refused = false;
            // Read to the end even after a refusal: the pipe keeps draining.
            for_each_line(stderr, |line| {
                if refused {
                    return;
                }
                if !line.contains("Unexpected stream") {
                    // ffmpeg names its URLs on errors: the listening name
                    // and the token (or the key) are cut out.
                    let line = line
                        .replace(watch.wanted.as_str(), "…")
                        .replace(watch.streamid.as_str(), "…");
                    tracing::debug!(line, "ffmpeg");
                    return;
                }
                match watch.admits(line) {
                    Ok(()) => tracing::info!("media: RTMP publisher let in"),
                    Err(reason) => {
                        refused = true;
                        watch.kill();
                        tracing::warn!(reason, "media: RTMP publisher refused");
                        (watch.on_refused)(reason);
                    }
                }
            });
        });
    if let Err(e) = spawned {
        tracing::warn!(%e, "media: cannot watch ffmpeg");
    }
}

/// Calls `f` on each line of `input` until it ends. A line that is not
/// UTF-8 is read lossily, never the end of the reading: that would stop
/// draining the pipe, and ffmpeg would block writing to it.
pub(crate) fn for_each_line(input: impl std::io::Read, mut f: impl FnMut(&str)) {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::new(input);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => f(String::from_utf8_lossy(&buf).trim_end()),
        }
    }
}

impl RtmpBridge {
    /// Tells the bridge to stop without waiting: several stop together,
    /// then each is dropped.
    pub(crate) fn signal_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for RtmpBridge {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // The thread stops spawning first, so no child outlives this.
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(mut child) = self.child.lock().ok().and_then(|mut slot| slot.take()) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offered_name_comes_from_ffmpegs_warning_and_nothing_else() {
        let wanted = "NONCE123";
        let line = "[rtmp @ 0x55c33666f280] Unexpected stream abcKEY?x=1, expecting NONCE123";
        assert_eq!(offered_name(line, wanted), Some("abcKEY"));
        assert_eq!(
            offered_name(
                "[rtmp @ 0x1] Unexpected stream k-1_x, expecting NONCE123",
                wanted
            ),
            Some("k-1_x")
        );
        // Another listener's warning, or none: no name.
        assert_eq!(
            offered_name("[rtmp @ 0x1] Unexpected stream k, expecting OTHER", wanted),
            None
        );
        assert_eq!(offered_name("Input/output error", wanted), None);
        assert_eq!(
            offered_name(
                "[rtmp @ 0x1] Unexpected stream , expecting NONCE123",
                wanted
            ),
            Some("")
        );
    }

    #[test]
    fn random_names_are_keys_and_differ() {
        let (a, b) = (random_name(), random_name());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
    }
}
