//! Live host video, built from GStreamer elements: nothing here encodes,
//! decodes or speaks a streaming protocol itself.
//!
//! - [`publish`]: a test pattern, a camera or a file, encoded and sent to an
//!   SRT ingest (`vitrine-host`).
//! - [`relay`]: the server side: SRT (and RTMP, through ffmpeg) ingest, SRT
//!   out to many viewers, HLS segments, a recording per show.
//! - [`player`]: any URI into a latest-frame slot, audio to the sound card,
//!   reconnecting by itself.
//! - [`timecode`]: wall-clock time stamped into the picture, for latency.
//!
//! No Bevy: the server links this crate.

#[doc(hidden)]
pub mod fuzz_entry;
pub mod player;
pub mod preview;
pub mod publish;
pub mod relay;
pub mod restream;
pub mod srt;
pub mod stage;
pub mod timecode;
pub mod voice;

mod key;
mod rtmp;
mod uri;

pub use key::{StreamKey, StreamKeyError};

/// A GStreamer element this machine lacks, with the Debian package that
/// ships it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("GStreamer element `{element}` is missing (Debian package {package})")]
pub struct MissingElement {
    pub element: String,
    pub package: &'static str,
}

/// Initializes GStreamer once; later calls are free.
pub fn init() -> Result<(), InitError> {
    gst::init().map_err(|e| InitError(e.to_string()))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("GStreamer did not initialize: {0}")]
pub struct InitError(pub String);

/// The Debian package that ships an element we use, for error messages.
fn package_of(element: &str) -> &'static str {
    match element {
        "x264enc" => "gstreamer1.0-plugins-ugly",
        "avenc_aac" | "avdec_h264" | "avdec_aac" => "gstreamer1.0-libav",
        "clockoverlay" | "timeoverlay" | "textoverlay" => "gstreamer1.0-x",
        "srtsrc" | "srtsink" | "hlssink2" | "mpegtsmux" | "tsdemux" | "h264parse" | "hlsdemux"
        | "intervideosrc" | "intervideosink" | "interaudiosrc" | "interaudiosink" | "webrtcbin" => {
            "gstreamer1.0-plugins-bad"
        }
        "vp8enc" | "vp8dec" | "matroskamux" | "souphttpsrc" | "v4l2src" | "autoaudiosink"
        | "autoaudiosrc" | "aacparse" | "splitmuxsink" | "rtph264pay" => {
            "gstreamer1.0-plugins-good"
        }
        "alsasink" => "gstreamer1.0-alsa",
        "nicesrc" | "nicesink" => "gstreamer1.0-nice",
        _ => "gstreamer1.0-plugins-base",
    }
}

/// Fails with the missing element and its package unless all exist.
fn require(elements: &[&str]) -> Result<(), MissingElement> {
    for &element in elements {
        if gst::ElementFactory::find(element).is_none() {
            return Err(MissingElement {
                element: element.to_owned(),
                package: package_of(element),
            });
        }
    }
    Ok(())
}

fn make(element: &str) -> Result<gst::Element, MissingElement> {
    gst::ElementFactory::make(element)
        .build()
        .map_err(|_| MissingElement {
            element: element.to_owned(),
            package: package_of(element),
        })
}
