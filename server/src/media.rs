//! The media relay in the server process (`vitrine_media::relay`, GStreamer
//! on threads of its own) and what the rest of the server sees of it: the
//! stage's stream (URLs and whether the host is live), the stream key and
//! the HLS directory axum serves.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thiserror::Error;
use vitrine_media::StreamKey;
use vitrine_media::preview::{Preview, PreviewError};
use vitrine_media::relay::{Relay, RelayConfig, RelayError, RelayEvent};
use vitrine_media::restream::Restreamer;
use vitrine_media::stage::{HOST_SEAT, Seat, SeatKey, Stage, StageConfig, StageError, StageEvent};
use vitrine_shared::protocol::StreamNet;

pub const STREAM_KEY_FILE: &str = "stream.key";
/// The HLS playlist's name under `/hls/`.
pub const HLS_PLAYLIST: &str = "live.m3u8";

/// Relay settings (`[media]` in the config file, `--media-*` flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    /// SRT listener for the host's publisher.
    pub ingest: SocketAddr,
    /// SRT listener for viewers.
    pub viewers: SocketAddr,
    /// RTMP listener (served by ffmpeg), if any.
    pub rtmp: Option<SocketAddr>,
    /// Host name written into stream URLs [default: the listeners' address].
    pub public_host: Option<String>,
    /// The least SRT latency the relay asks of each link; each end asks
    /// for what its own link needs, and SRT takes the larger.
    pub latency_ms: u32,
    /// Write HLS segments (served at `/hls/`).
    pub hls: bool,
    /// Record each show under `DATA_DIR/recordings`.
    pub record: bool,
    /// One SRT listener per co-host seat (up to four). With any, the stage
    /// composes the host and the co-hosts live into one picture, and the
    /// relay takes the stage's output on `stage_relay`; with none, the
    /// host's stream is relayed as sent (no re-encode).
    pub co_hosts: Vec<SocketAddr>,
    /// The relay's own ingest when a stage is in front of it: loopback
    /// only, with a key made at each start, so nobody can bypass the stage.
    pub stage_relay: SocketAddr,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            ingest: "127.0.0.1:9000".parse().expect("literal address"),
            viewers: "127.0.0.1:9001".parse().expect("literal address"),
            rtmp: Some("127.0.0.1:1935".parse().expect("literal address")),
            public_host: None,
            latency_ms: vitrine_media::srt::LAN_LATENCY_MS,
            hls: true,
            record: true,
            co_hosts: Vec::new(),
            stage_relay: "127.0.0.1:9009".parse().expect("literal address"),
        }
    }
}

impl MediaConfig {
    /// Checks what [`RelayConfig`] cannot see: the URLs' host.
    pub fn validate(&self) -> Result<(), String> {
        use vitrine_media::srt::{MAX_LATENCY_MS, MIN_LATENCY_MS};
        if self.ingest == self.viewers {
            return Err("the ingest and viewer addresses must differ".into());
        }
        if self
            .rtmp
            .is_some_and(|r| r == self.ingest || r == self.viewers)
        {
            return Err("the RTMP address must differ from the SRT ones".into());
        }
        if self.co_hosts.len() > vitrine_shared::api::MAX_CO_HOSTS {
            return Err(format!(
                "co_hosts lists {} listeners; the stage holds {} co-hosts",
                self.co_hosts.len(),
                vitrine_shared::api::MAX_CO_HOSTS
            ));
        }
        let mut taken = vec![self.ingest, self.viewers];
        taken.extend(self.rtmp);
        if !self.co_hosts.is_empty() {
            if !self.stage_relay.ip().is_loopback() {
                return Err("stage_relay must be a loopback address".into());
            }
            if taken.contains(&self.stage_relay) {
                return Err(format!(
                    "stage_relay {} is already in use",
                    self.stage_relay
                ));
            }
            taken.push(self.stage_relay);
        }
        // With RTMP on, each co-host seat takes RTMP on its port number too.
        if let Some(rtmp) = self.rtmp
            && let Some(c) = self.co_hosts.iter().find(|c| c.port() == rtmp.port())
        {
            return Err(format!(
                "co-host listener {c} would take RTMP on port {}, the host's RTMP port",
                c.port()
            ));
        }
        for addr in &self.co_hosts {
            if taken.contains(addr) {
                return Err(format!("co-host listener {addr} is already in use"));
            }
            taken.push(*addr);
        }
        if !(MIN_LATENCY_MS..=MAX_LATENCY_MS).contains(&self.latency_ms) {
            return Err(format!(
                "latency_ms must be {MIN_LATENCY_MS} to {MAX_LATENCY_MS}"
            ));
        }
        match &self.public_host {
            Some(host) => {
                let ok = !host.is_empty()
                    && host.len() <= 253
                    && host
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
                if !ok {
                    return Err("public_host must be a host name or an IP address".into());
                }
            }
            None if self.viewers.ip().is_unspecified() => {
                return Err(
                    "set public_host when the viewer address is unspecified (0.0.0.0)".into(),
                );
            }
            None => {}
        }
        Ok(())
    }
}

#[derive(Debug, Error)]
pub enum MediaError {
    #[error("media: {0}")]
    Relay(#[from] RelayError),
    #[error("stage: {0}")]
    Stage(#[from] StageError),
    #[error("stream key file {path}: {why}")]
    Key { path: PathBuf, why: String },
}

/// The stage's stream as rooms and the API see it, with a version that
/// moves on every change so the room loop can tell at a glance.
#[derive(Debug)]
pub struct StageStream {
    net: Mutex<StreamNet>,
    version: AtomicU64,
}

impl StageStream {
    pub fn new(net: StreamNet) -> Self {
        Self {
            net: Mutex::new(net),
            version: AtomicU64::new(0),
        }
    }

    pub fn get(&self) -> StreamNet {
        self.net.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    pub fn set_live(&self, live: bool) {
        let mut net = self.net.lock().unwrap_or_else(|p| p.into_inner());
        if net.live != live {
            net.live = live;
            self.version.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// What the HTTP tier needs.
#[derive(Debug, Clone)]
pub struct MediaInfo {
    pub stage: Arc<StageStream>,
    pub hls_dir: Option<PathBuf>,
    pub key: StreamKey,
    /// Where the host publishes: `srt://host:port` (streamid = the key).
    pub ingest_url: String,
    /// `rtmp://host:port/live` (stream name = the key), if RTMP is on.
    pub rtmp_url: Option<String>,
    /// The stage composing the host and co-hosts, when co-host seats are
    /// configured.
    pub composer: Option<Arc<Composer>>,
    /// The console's live previews of the stage.
    pub previews: Arc<Previews>,
    /// The show sent on to other platforms while live; none without
    /// ffmpeg.
    pub restreamer: Option<Arc<Restreamer>>,
}

/// The relay's viewer output as this process reaches it: loopback when it
/// listens on every address.
fn local_viewers(viewers: SocketAddr) -> String {
    let ip = if viewers.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        viewers.ip()
    };
    format!("srt://{}", SocketAddr::new(ip, viewers.port()))
}

/// The most previews open at once: each is a viewer of the relay and an
/// Opus encoder, for the hosts' consoles, not the audience.
pub const MAX_PREVIEWS: usize = 4;
/// A preview this old is closed: a console left open overnight.
const PREVIEW_MAX_AGE: Duration = Duration::from_secs(4 * 3600);

#[derive(Debug, Error)]
pub enum PreviewStartError {
    #[error("{MAX_PREVIEWS} previews are open already; close one first")]
    Full,
    #[error(transparent)]
    Preview(#[from] PreviewError),
}

/// The console's previews of the stage over WebRTC
/// (`vitrine_media::preview`), each playing the relay's viewer output.
pub struct Previews {
    viewers: String,
    latency_ms: u32,
    open: Mutex<std::collections::HashMap<u64, Preview>>,
}

impl std::fmt::Debug for Previews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Previews")
            .field("viewers", &self.viewers)
            .finish_non_exhaustive()
    }
}

impl Previews {
    fn new(viewers: SocketAddr, latency_ms: u32) -> Arc<Previews> {
        let previews = Arc::new(Previews {
            viewers: local_viewers(viewers),
            latency_ms,
            open: Mutex::new(Default::default()),
        });
        // Previews whose browser went away without a word are closed
        // within seconds, not at the next request.
        let weak = Arc::downgrade(&previews);
        let spawned = std::thread::Builder::new()
            .name("media-previews".into())
            .spawn(move || {
                while let Some(previews) = weak.upgrade() {
                    previews.reap();
                    drop(previews);
                    std::thread::sleep(Duration::from_secs(5));
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(%e, "previews are reaped only on requests");
        }
        previews
    }

    /// Closes previews that ended or ran too long; the pipelines are torn
    /// down outside the lock.
    fn reap(&self) {
        let gone: Vec<Preview> = {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            let ids: Vec<u64> = open
                .iter()
                .filter(|(_, p)| p.ended() || p.age() >= PREVIEW_MAX_AGE)
                .map(|(id, _)| *id)
                .collect();
            ids.iter().filter_map(|id| open.remove(id)).collect()
        };
        drop(gone);
    }

    /// Answers a browser's offer with a new preview; blocks while ICE
    /// gathers (a few ms on a LAN, at most a few seconds).
    pub fn start(&self, offer: &str) -> Result<(u64, String), PreviewStartError> {
        self.reap();
        if self.open() >= MAX_PREVIEWS {
            return Err(PreviewStartError::Full);
        }
        let (preview, answer) = Preview::answer(&self.viewers, self.latency_ms, offer)?;
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.len() >= MAX_PREVIEWS {
            drop(open);
            // Torn down outside the lock.
            drop(preview);
            return Err(PreviewStartError::Full);
        }
        let id = crate::ids::new_id::<i64>() as u64;
        open.insert(id, preview);
        Ok((id, answer))
    }

    /// Closes a preview (blocking while its pipeline stops); whether it
    /// was open.
    pub fn stop(&self, id: u64) -> bool {
        let preview = self
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        preview.is_some()
    }

    /// Previews open now.
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// The stage and where each seat publishes.
pub struct Composer {
    pub stage: Stage,
    /// `srt://host:port` for each seat, the host's first.
    pub seat_urls: Vec<String>,
    /// `rtmp://host:port/live` for each seat with RTMP (the stream name is
    /// the key); none while RTMP is off.
    pub rtmp_urls: Vec<Option<String>>,
    host_key: StreamKey,
}

impl Composer {
    /// The host's seat under `name`, with the host's key.
    pub fn host_seat(&self, name: &str) -> Option<Seat> {
        Some(Seat {
            name: name.to_owned(),
            key: SeatKey::Plain(self.host_key.clone()),
        })
    }
}

impl std::fmt::Debug for Composer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Composer")
            .field("seat_urls", &self.seat_urls)
            .field("rtmp_urls", &self.rtmp_urls)
            .finish_non_exhaustive()
    }
}

/// The running relay.
pub struct Media {
    pub info: MediaInfo,
    relay: Option<Relay>,
}

impl Media {
    /// Starts the relay. `http_addr` is where axum listens, for the HLS URL.
    pub fn start(
        config: &MediaConfig,
        data_dir: &Path,
        http_addr: SocketAddr,
    ) -> Result<Media, MediaError> {
        let key = load_or_create_key(&data_dir.join(STREAM_KEY_FILE))?;
        let host = |addr: SocketAddr| match &config.public_host {
            Some(h) => h.clone(),
            None => match addr.ip() {
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                ip => ip.to_string(),
            },
        };
        let hls_dir = config.hls.then(|| data_dir.join("hls"));
        let stage = Arc::new(StageStream::new(StreamNet {
            srt: Some(format!(
                "srt://{}:{}",
                host(config.viewers),
                config.viewers.port()
            )),
            hls: hls_dir.as_ref().map(|_| {
                format!(
                    "http://{}:{}/hls/{HLS_PLAYLIST}",
                    host(http_addr),
                    http_addr.port()
                )
            }),
            live: false,
        }));
        // With co-hosts, the stage takes the public ingest (the host's
        // seat) and the relay listens on loopback for the stage alone.
        let staged = !config.co_hosts.is_empty();
        let (relay_ingest, relay_key) = if staged {
            (config.stage_relay, random_key())
        } else {
            (config.ingest, key.clone())
        };
        let mut relay_config = RelayConfig::new(relay_ingest, config.viewers, relay_key.clone());
        if staged {
            relay_config.rtmp_forward = Some((config.ingest, key.clone()));
        }
        relay_config.latency_ms = config.latency_ms;
        relay_config.hls_dir = hls_dir.clone();
        relay_config.recordings_dir = config.record.then(|| data_dir.join("recordings"));
        relay_config.idle_timeout = Duration::from_secs(2);
        relay_config.rtmp = config.rtmp;
        // Outlets are viewers of the relay's output, sending while live.
        let restreamer = match Restreamer::new(local_viewers(config.viewers), config.latency_ms) {
            Ok(r) => Some(Arc::new(r)),
            Err(why) => {
                tracing::warn!(why, "restreaming off: ffmpeg is missing");
                None
            }
        };
        let events = stage.clone();
        let start = |rtmp| {
            let mut c = relay_config.clone();
            c.rtmp = rtmp;
            let events = events.clone();
            let restreamer = restreamer.clone();
            Relay::start(
                c,
                Arc::new(move |event| match event {
                    RelayEvent::Live => {
                        tracing::info!("the host is live");
                        events.set_live(true);
                        if let Some(r) = &restreamer {
                            r.set_live(true);
                        }
                    }
                    RelayEvent::Off { recording } => {
                        tracing::info!(recording = ?recording, "the host went off");
                        events.set_live(false);
                        if let Some(r) = &restreamer {
                            r.set_live(false);
                        }
                    }
                    RelayEvent::Rejected { reason } => {
                        tracing::warn!(reason, "a publisher was refused");
                    }
                }),
            )
        };
        let (relay, rtmp) = match start(config.rtmp) {
            Ok(relay) => (relay, config.rtmp),
            // RTMP is a convenience for OBS users; without ffmpeg the SRT
            // ingest still runs, and the log says why RTMP does not.
            Err(RelayError::Ffmpeg(why)) => {
                tracing::warn!(why, "RTMP ingest off: ffmpeg is missing");
                (start(None)?, None)
            }
            Err(e) => return Err(e.into()),
        };
        let composer = if staged {
            let mut seats = vec![config.ingest];
            seats.extend(&config.co_hosts);
            let mut stage_config = StageConfig::new(seats.clone(), relay_ingest, relay_key);
            stage_config.latency_ms = config.latency_ms;
            // With RTMP on, each co-host seat also takes RTMP on its own
            // port number (TCP beside the seat's UDP), so OBS users need
            // no SRT; the host's RTMP stays on the relay's listener.
            if rtmp.is_some() {
                stage_config.rtmp = seats.iter().copied().enumerate().skip(1).collect();
            }
            let events: vitrine_media::stage::StageEventSink = Arc::new(|event| match event {
                StageEvent::Live { seat } => tracing::info!(seat, "stage: a publisher is live"),
                StageEvent::Off { seat } => tracing::info!(seat, "stage: a publisher left"),
                StageEvent::Rejected { seat, reason } => {
                    tracing::warn!(seat, reason, "stage: a publisher was refused")
                }
            });
            let stage = match Stage::start(stage_config.clone(), events.clone()) {
                // ffmpeg went missing since the relay started: SRT only.
                Err(StageError::Ffmpeg(why)) => {
                    tracing::warn!(why, "co-hosts' RTMP ingest off: ffmpeg is missing");
                    stage_config.rtmp.clear();
                    Stage::start(stage_config.clone(), events)?
                }
                started => started?,
            };
            let rtmp_seats: Vec<usize> = stage_config.rtmp.iter().map(|&(s, _)| s).collect();
            let composer = Composer {
                stage,
                seat_urls: seats
                    .iter()
                    .map(|&a| format!("srt://{}:{}", host(a), a.port()))
                    .collect(),
                rtmp_urls: seats
                    .iter()
                    .enumerate()
                    .map(|(i, &a)| {
                        rtmp_seats
                            .contains(&i)
                            .then(|| format!("rtmp://{}:{}/live", host(a), a.port()))
                    })
                    .collect(),
                host_key: key.clone(),
            };
            composer
                .stage
                .set_seat(HOST_SEAT, composer.host_seat("Host"))?;
            Some(Arc::new(composer))
        } else {
            None
        };
        tracing::info!(
            ingest = %config.ingest,
            viewers = %config.viewers,
            rtmp = ?rtmp,
            co_host_seats = config.co_hosts.len(),
            "media relay listening"
        );
        Ok(Media {
            info: MediaInfo {
                stage,
                hls_dir,
                key,
                ingest_url: format!("srt://{}:{}", host(config.ingest), config.ingest.port()),
                rtmp_url: rtmp.map(|r| format!("rtmp://{}:{}/live", host(r), r.port())),
                composer,
                previews: Previews::new(config.viewers, config.latency_ms),
                restreamer,
            },
            relay: Some(relay),
        })
    }

    /// Ends the session cleanly (the recording is finalized). Blocks for up
    /// to a few seconds.
    pub fn stop(&mut self) {
        if let Some(composer) = &self.info.composer {
            composer.stage.stop();
        }
        self.relay.take();
    }
}

/// The stream key from `path`, or a new random one saved there (0600).
pub fn load_or_create_key(path: &Path) -> Result<StreamKey, MediaError> {
    let err = |why: String| MediaError::Key {
        path: path.to_owned(),
        why,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => StreamKey::new(text.trim()).map_err(|e| err(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write;
            let key = random_key();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
            }
            let mut file = options.open(path).map_err(|e| err(e.to_string()))?;
            file.write_all(key.as_str().as_bytes())
                .map_err(|e| err(e.to_string()))?;
            Ok(key)
        }
        Err(e) => Err(err(e.to_string())),
    }
}

/// 24 random letters and digits: a stream key.
pub fn random_key() -> StreamKey {
    use rand::Rng;
    let key: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    StreamKey::new(key).expect("24 alphanumerics are a valid key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_made_once_and_bad_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STREAM_KEY_FILE);
        let first = load_or_create_key(&path).unwrap();
        assert_eq!(load_or_create_key(&path).unwrap(), first);
        std::fs::write(&path, "no spaces allowed here").unwrap();
        assert!(matches!(
            load_or_create_key(&path),
            Err(MediaError::Key { .. })
        ));
    }

    #[test]
    fn config_checks() {
        assert_eq!(MediaConfig::default().validate(), Ok(()));
        let same = MediaConfig {
            viewers: MediaConfig::default().ingest,
            ..MediaConfig::default()
        };
        assert!(same.validate().is_err());
        let open = MediaConfig {
            viewers: "0.0.0.0:9001".parse().unwrap(),
            ..MediaConfig::default()
        };
        assert!(open.validate().is_err());
        let bad_host = MediaConfig {
            public_host: Some("evil/host?x".into()),
            ..MediaConfig::default()
        };
        assert!(bad_host.validate().is_err());
        let slow = MediaConfig {
            latency_ms: 0,
            ..MediaConfig::default()
        };
        assert!(slow.validate().is_err());
        let seat = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let staged = MediaConfig {
            co_hosts: vec![seat(9010), seat(9011)],
            ..MediaConfig::default()
        };
        assert_eq!(staged.validate(), Ok(()));
        for bad in [
            // Five co-hosts, a seat on the host's ingest, two on one port,
            // and the relay behind the stage reachable from outside.
            MediaConfig {
                co_hosts: (9010..9015).map(seat).collect(),
                ..MediaConfig::default()
            },
            MediaConfig {
                co_hosts: vec![MediaConfig::default().ingest],
                ..MediaConfig::default()
            },
            MediaConfig {
                co_hosts: vec![seat(9010), seat(9010)],
                ..MediaConfig::default()
            },
            MediaConfig {
                co_hosts: vec![seat(9010)],
                stage_relay: "0.0.0.0:9009".parse().unwrap(),
                ..MediaConfig::default()
            },
            MediaConfig {
                co_hosts: vec![seat(9010)],
                stage_relay: MediaConfig::default().viewers,
                ..MediaConfig::default()
            },
            // A co-host seat's RTMP (TCP, its port number) on the host's
            // RTMP port, whatever the addresses.
            MediaConfig {
                co_hosts: vec!["0.0.0.0:1935".parse().unwrap()],
                ..MediaConfig::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn stage_versions_move_on_change_only() {
        let stage = StageStream::new(StreamNet {
            srt: None,
            hls: None,
            live: false,
        });
        stage.set_live(false);
        assert_eq!(stage.version(), 0);
        stage.set_live(true);
        stage.set_live(true);
        assert_eq!(stage.version(), 1);
        assert!(stage.get().live);
    }
}
