//! Where the mix goes: the sound card through `autoaudiosink` (past the
//! echo probe the microphone cancels against), or an appsink a test reads.

use super::VoiceError;
use super::capture::ECHO_PROBE;
use super::opus::SAMPLE_RATE;
use gst::prelude::*;

/// A stereo 48 kHz output pipeline fed one rendered frame at a time.
pub struct Output {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    sink: Option<gst_app::AppSink>,
}

impl Output {
    /// The sound card.
    pub fn device() -> Result<Output, VoiceError> {
        // Before asking the registry: a program whose first GStreamer
        // element is this one would otherwise panic here.
        crate::init().map_err(|e| VoiceError::Pipeline(e.to_string()))?;
        let probe = if gst::ElementFactory::find("webrtcechoprobe").is_some() {
            format!("webrtcechoprobe name={ECHO_PROBE} ! ")
        } else {
            String::new()
        };
        Output::build(
            &format!("audioconvert ! audioresample ! {probe}autoaudiosink"),
            false,
        )
    }

    /// An appsink [`Output::pull`] reads, for tests without a sound card.
    pub fn appsink() -> Result<Output, VoiceError> {
        Output::build("appsink name=voice_out sync=false", true)
    }

    fn build(tail: &str, appsink: bool) -> Result<Output, VoiceError> {
        crate::init().map_err(|e| VoiceError::Pipeline(e.to_string()))?;
        crate::require(&["appsrc", "audioconvert", "audioresample"])?;
        let description = format!(
            "appsrc name=voice_in is-live=true format=time do-timestamp=true max-bytes=38400 block=false \
             caps=audio/x-raw,format=S16LE,rate={SAMPLE_RATE},channels=2,layout=interleaved ! {tail}"
        );
        let pipeline = gst::parse::launch(&description)
            .map_err(|e| VoiceError::Pipeline(e.to_string()))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| VoiceError::Pipeline("not a pipeline".into()))?;
        let src = pipeline
            .by_name("voice_in")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or_else(|| VoiceError::Pipeline("no appsrc".into()))?;
        let sink = if appsink {
            pipeline
                .by_name("voice_out")
                .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        } else {
            None
        };
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| VoiceError::Pipeline(format!("audio output did not start: {e}")))?;
        Ok(Output {
            pipeline,
            src,
            sink,
        })
    }

    /// Plays one rendered frame (interleaved stereo).
    pub fn push(&self, stereo: &[i16]) {
        let bytes: Vec<u8> = stereo.iter().flat_map(|s| s.to_le_bytes()).collect();
        let _ = self.src.push_buffer(gst::Buffer::from_mut_slice(bytes));
    }

    /// What reached the appsink within `timeout`, for tests.
    pub fn pull(&self, timeout: std::time::Duration) -> Option<Vec<i16>> {
        let sample = self
            .sink
            .as_ref()?
            .try_pull_sample(gst::ClockTime::from_nseconds(timeout.as_nanos() as u64))?;
        let buffer = sample.buffer()?;
        let map = buffer.map_readable().ok()?;
        Some(
            map.chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect(),
        )
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
