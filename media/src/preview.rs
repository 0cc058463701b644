//! The host's preview: the stage's stream as viewers get it, played in the
//! console's browser over WebRTC, with no plugin (WHEP: the browser sends
//! its SDP offer over HTTP and gets the answer back).
//!
//! ```text
//! srtsrc (the relay's viewer output) ─ tsdemux ┬ h264parse ─ rtph264pay ──────────────────────┐
//!                                              └ aacparse ─ avdec_aac ─ opusenc ─ rtpopuspay ─┴ webrtcbin ─ DTLS/SRTP ─▶ browser
//! ```
//!
//! The video is not re-encoded: the relay's H.264 (constrained baseline,
//! which every browser decodes) is only re-packetized as RTP. The sound is:
//! browsers take Opus over WebRTC, not AAC. Each preview is one such
//! pipeline, a viewer of the relay like any other, so it shows exactly
//! what viewers get.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gst::prelude::*;

use crate::MissingElement;

/// The most a preview waits for ICE candidates before answering.
const GATHER_CAP: Duration = Duration::from_secs(5);
/// A browser unreachable this long has gone (its tab closed, say).
const LOST_FOR: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreviewError {
    #[error(transparent)]
    Missing(#[from] MissingElement),
    #[error("GStreamer: {0}")]
    Init(#[from] crate::InitError),
    #[error("not an SDP offer: {0}")]
    BadOffer(String),
    #[error(
        "the offer takes no video this server sends (H.264 constrained baseline, packetization mode 1)"
    )]
    NoCommonCodec,
    #[error("pipeline: {0}")]
    Pipeline(String),
}

/// What the offer asks for: the payload types to send on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Offered {
    video_pt: u8,
    audio_pt: Option<u8>,
}

/// Finds, in a browser's offer, the payload type of H.264 that a constrained
/// baseline stream may be sent as (packetization mode 1), and Opus's.
fn offered(sdp: &gst_sdp::SDPMessageRef) -> Result<Offered, PreviewError> {
    let mut video_pt = None;
    let mut audio_pt = None;
    for media in sdp.medias() {
        let rtpmaps: Vec<(u8, String)> = media
            .attributes()
            .filter(|a| a.key() == "rtpmap")
            .filter_map(|a| {
                let (pt, codec) = a.value()?.split_once(' ')?;
                // H.264 and Opus always take dynamic payload types.
                let pt: u8 = pt.parse().ok().filter(|pt| (96..=127).contains(pt))?;
                Some((pt, codec.to_ascii_lowercase()))
            })
            .collect();
        let fmtp = |pt: u8| {
            media
                .attributes()
                .filter(|a| a.key() == "fmtp")
                .filter_map(|a| a.value())
                .find_map(|v| {
                    let (p, rest) = v.split_once(' ')?;
                    (p.parse::<u8>().ok()? == pt).then(|| rest.to_ascii_lowercase())
                })
                .unwrap_or_default()
        };
        match media.media() {
            Some("video") if video_pt.is_none() => {
                video_pt = rtpmaps.iter().find_map(|(pt, codec)| {
                    let f = fmtp(*pt);
                    let baseline =
                        f.contains("profile-level-id=42e0") || f.contains("profile-level-id=4200");
                    (codec.starts_with("h264/") && f.contains("packetization-mode=1") && baseline)
                        .then_some(*pt)
                });
            }
            Some("audio") if audio_pt.is_none() => {
                audio_pt = rtpmaps
                    .iter()
                    .find_map(|(pt, codec)| codec.starts_with("opus/").then_some(*pt));
            }
            _ => {}
        }
    }
    Ok(Offered {
        video_pt: video_pt.ok_or(PreviewError::NoCommonCodec)?,
        audio_pt,
    })
}

/// One browser's preview. Dropping it ends the pipeline.
pub struct Preview {
    pipeline: gst::Pipeline,
    ended: Arc<AtomicBool>,
    /// Since when the browser has been unreachable (ICE disconnected).
    lost_since: Arc<std::sync::Mutex<Option<Instant>>>,
    started: Instant,
}

impl Preview {
    /// Answers `offer` (SDP text) with a pipeline playing `viewers` (the
    /// relay's SRT output). Returns the preview and the answer's SDP, with
    /// every ICE candidate in it (no trickle).
    pub fn answer(
        viewers: &str,
        latency_ms: u32,
        offer: &str,
    ) -> Result<(Preview, String), PreviewError> {
        crate::init()?;
        crate::require(&[
            "srtsrc",
            "tsdemux",
            "h264parse",
            "rtph264pay",
            "aacparse",
            "avdec_aac",
            "audioconvert",
            "audioresample",
            "opusenc",
            "rtpopuspay",
            "webrtcbin",
            "nicesrc",
        ])?;
        if offer.len() > 64 * 1024 {
            return Err(PreviewError::BadOffer("longer than 64 KiB".into()));
        }
        if offer.trim().is_empty() {
            return Err(PreviewError::BadOffer("empty".into()));
        }
        let sdp = gst_sdp::SDPMessage::parse_buffer(offer.as_bytes())
            .map_err(|e| PreviewError::BadOffer(e.to_string()))?;
        if sdp.medias_len() == 0 {
            return Err(PreviewError::BadOffer("no media".into()));
        }
        let want = offered(&sdp)?;
        let audio = match want.audio_pt {
            Some(pt) => format!(
                "demux. ! audio/mpeg ! queue ! aacparse ! avdec_aac ! audioconvert ! audioresample ! \
                 opusenc ! rtpopuspay pt={pt} ! \
                 application/x-rtp,media=audio,encoding-name=OPUS,payload={pt},clock-rate=48000 ! w. "
            ),
            None => String::new(),
        };
        let description = format!(
            "webrtcbin name=w bundle-policy=max-bundle \
             srtsrc uri=\"{viewers}\" latency={latency_ms} poll-timeout={poll} ! tsdemux name=demux latency=40 \
             demux. ! video/x-h264 ! queue ! h264parse config-interval=-1 ! \
             rtph264pay pt={pt} config-interval=-1 aggregate-mode=zero-latency ! \
             application/x-rtp,media=video,encoding-name=H264,payload={pt},clock-rate=90000 ! \
             w. {audio}",
            pt = want.video_pt,
            poll = crate::srt::POLL_TIMEOUT_MS,
        );
        let pipeline = gst::parse::launch(&description)
            .map_err(|e| PreviewError::Pipeline(e.to_string()))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| PreviewError::Pipeline("not a pipeline".into()))?;
        let webrtc = pipeline
            .by_name("w")
            .ok_or_else(|| PreviewError::Pipeline("no webrtcbin".into()))?;
        let ended = Arc::new(AtomicBool::new(false));
        let lost_since = Arc::new(std::sync::Mutex::new(None));
        {
            let (ended, lost_since) = (ended.clone(), lost_since.clone());
            webrtc.connect_notify(Some("connection-state"), move |w, _| {
                use gst_webrtc::WebRTCPeerConnectionState as State;
                let state = w.property::<State>("connection-state");
                if matches!(state, State::Failed | State::Closed) {
                    ended.store(true, Ordering::Relaxed);
                }
                // A tab closed without a word shows as disconnected.
                if let Ok(mut since) = lost_since.lock() {
                    *since = match state {
                        State::Disconnected => since.or(Some(Instant::now())),
                        _ => None,
                    };
                }
            });
        }
        let fail = |pipeline: &gst::Pipeline, why: String| {
            let _ = pipeline.set_state(gst::State::Null);
            PreviewError::Pipeline(why)
        };
        // Negotiated before any data flows (a live source sends nothing in
        // PAUSED): a caps event reaching webrtcbin mid-negotiation could
        // leave a sink pad's transceiver without a stream, which GStreamer
        // 1.22's webrtcbin answers with an assertion that aborts the
        // process.
        pipeline
            .set_state(gst::State::Paused)
            .map_err(|e| fail(&pipeline, e.to_string()))?;
        let offer =
            gst_webrtc::WebRTCSessionDescription::new(gst_webrtc::WebRTCSDPType::Offer, sdp);
        let promise = gst::Promise::new();
        webrtc.emit_by_name::<()>("set-remote-description", &[&offer, &promise]);
        promise.wait();
        // webrtcbin answers a refused offer with an error in the reply.
        if let Some(why) = promise
            .get_reply()
            .and_then(|r| r.value("error").ok().map(|e| format!("{e:?}")))
        {
            let _ = pipeline.set_state(gst::State::Null);
            return Err(PreviewError::BadOffer(format!(
                "webrtcbin refused it: {why}"
            )));
        }
        let promise = gst::Promise::new();
        webrtc.emit_by_name::<()>("create-answer", &[&None::<gst::Structure>, &promise]);
        let answer = match promise.wait() {
            gst::PromiseResult::Replied => promise
                .get_reply()
                .and_then(|r| r.value("answer").ok())
                .and_then(|v| v.get::<gst_webrtc::WebRTCSessionDescription>().ok()),
            _ => None,
        };
        let Some(answer) = answer else {
            return Err(fail(&pipeline, "no answer to the offer".into()));
        };
        let promise = gst::Promise::new();
        webrtc.emit_by_name::<()>("set-local-description", &[&answer, &promise]);
        promise.wait();
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| fail(&pipeline, e.to_string()))?;
        // Answer with every candidate in it: the browser's offer may not
        // trickle, and WHEP's simplest form is one exchange.
        let deadline = Instant::now() + GATHER_CAP;
        while webrtc.property::<gst_webrtc::WebRTCICEGatheringState>("ice-gathering-state")
            != gst_webrtc::WebRTCICEGatheringState::Complete
        {
            if Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let local = webrtc
            .property::<Option<gst_webrtc::WebRTCSessionDescription>>("local-description")
            .ok_or_else(|| fail(&pipeline, "no local description".into()))?;
        let text = local
            .sdp()
            .as_text()
            .map_err(|e| fail(&pipeline, e.to_string()))?;
        Ok((
            Preview {
                pipeline,
                ended,
                lost_since,
                started: Instant::now(),
            },
            text,
        ))
    }

    /// Whether the browser went away (the connection failed or closed) or
    /// the stream ended.
    pub fn ended(&self) -> bool {
        if self.ended.load(Ordering::Relaxed) {
            return true;
        }
        let lost = self
            .lost_since
            .lock()
            .ok()
            .and_then(|s| *s)
            .is_some_and(|at| at.elapsed() > LOST_FOR);
        if lost {
            return true;
        }
        self.pipeline
            .bus()
            .and_then(|b| b.pop_filtered(&[gst::MessageType::Eos, gst::MessageType::Error]))
            .is_some()
    }

    pub fn age(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Drop for Preview {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of Chromium's recvonly offer, trimmed to what matters.
    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        a=group:BUNDLE 0 1\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96 102 103 106\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\n\
        a=rtpmap:96 VP8/90000\r\n\
        a=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f\r\n\
        a=rtpmap:103 H264/90000\r\na=fmtp:103 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n\
        a=rtpmap:106 H264/90000\r\na=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=recvonly\r\n\
        a=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n";

    fn parse(text: &str) -> gst_sdp::SDPMessage {
        crate::init().unwrap();
        gst_sdp::SDPMessage::parse_buffer(text.as_bytes()).unwrap()
    }

    #[test]
    fn the_offer_names_h264_in_mode_1_and_opus() {
        assert_eq!(
            offered(&parse(OFFER)),
            Ok(Offered {
                video_pt: 103,
                audio_pt: Some(111)
            })
        );
    }

    #[test]
    fn an_offer_without_a_video_we_send_is_refused() {
        let vp8_only = OFFER
            .lines()
            .filter(|l| !l.contains("H264") && !l.contains("fmtp"))
            .collect::<Vec<_>>()
            .join("\r\n")
            + "\r\n";
        assert_eq!(offered(&parse(&vp8_only)), Err(PreviewError::NoCommonCodec));
        let high_profile_only = OFFER
            .replace("42001f", "64001f")
            .replace("42e01f", "64001f");
        assert_eq!(
            offered(&parse(&high_profile_only)),
            Err(PreviewError::NoCommonCodec)
        );
    }

    #[test]
    fn junk_is_no_offer() {
        for junk in ["", "hello", "v=0\r\n", &"x".repeat(70_000)] {
            let answer = Preview::answer("srt://127.0.0.1:9", 20, junk);
            assert!(
                matches!(answer, Err(PreviewError::BadOffer(_))),
                "{junk:.20}: {:?}",
                answer.err()
            );
        }
    }
}
