//! libopus itself, loaded at run time from the shared library GStreamer's
//! opus plugin links (`libopus.so.0`).
//!
//! Why not `opusenc`/`opusdec`: the jitter buffer decides frame by frame
//! whether to decode a packet, rebuild a lost one from the next packet's
//! in-band FEC, or conceal it, and `opusdec` exposes none of those choices
//! (it always decodes one packet late when FEC is on). Calling the codec
//! directly keeps every frame's fate explicit and testable. Loading it with
//! `dlopen` needs no `-dev` package to build.

use std::ffi::{CStr, c_int, c_void};
use std::ptr::NonNull;
use std::sync::OnceLock;

/// Opus's clock and the only rate used here.
pub const SAMPLE_RATE: i32 = 48_000;
/// Samples in 20 ms at 48 kHz: one rendered frame of output.
pub const FRAME_SAMPLES: usize = 960;
/// Samples in one Opus packet ([`vitrine_shared::limits::voice::FRAME_MS`],
/// 40 ms): what the encoder takes and the decoder gives at a time.
pub const PACKET_SAMPLES: usize = vitrine_shared::limits::voice::SAMPLES_PER_FRAME as usize;

const APPLICATION_VOIP: c_int = 2048;
const SIGNAL_VOICE: c_int = 3001;
const SET_BITRATE: c_int = 4002;
const GET_BITRATE: c_int = 4003;
const SET_VBR: c_int = 4006;
const SET_COMPLEXITY: c_int = 4010;
const SET_INBAND_FEC: c_int = 4012;
const GET_INBAND_FEC: c_int = 4013;
const SET_PACKET_LOSS_PERC: c_int = 4014;
const SET_DTX: c_int = 4016;
const GET_DTX: c_int = 4017;
const SET_SIGNAL: c_int = 4024;

/// The loss rate the encoder plans its in-band FEC for: without a non-zero
/// figure libopus sends no redundancy at all.
const EXPECTED_LOSS_PERCENT: c_int = 10;

/// libopus is missing or refused a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error(
        "libopus could not be loaded ({0}); install libopus0 (GStreamer's opus plugin needs it too)"
    )]
    Missing(String),
    #[error("libopus failed: {0} (error {1})")]
    Failed(&'static str, i32),
}

type EncoderCreate = unsafe extern "C" fn(i32, c_int, c_int, *mut c_int) -> *mut c_void;
type Ctl = unsafe extern "C" fn(*mut c_void, c_int, ...) -> c_int;
type Encode = unsafe extern "C" fn(*mut c_void, *const i16, c_int, *mut u8, i32) -> i32;
type Destroy = unsafe extern "C" fn(*mut c_void);
type DecoderCreate = unsafe extern "C" fn(i32, c_int, *mut c_int) -> *mut c_void;
type Decode = unsafe extern "C" fn(*mut c_void, *const u8, i32, *mut i16, c_int, c_int) -> c_int;

struct Lib {
    encoder_create: EncoderCreate,
    encoder_ctl: Ctl,
    encode: Encode,
    encoder_destroy: Destroy,
    decoder_create: DecoderCreate,
    decode: Decode,
    decoder_destroy: Destroy,
}

static LIB: OnceLock<Result<Lib, String>> = OnceLock::new();

fn lib() -> Result<&'static Lib, CodecError> {
    LIB.get_or_init(load)
        .as_ref()
        .map_err(|e| CodecError::Missing(e.clone()))
}

fn load() -> Result<Lib, String> {
    let names: [&CStr; 3] = [c"libopus.so.0", c"libopus.so", c"libopus.0.dylib"];
    for name in names {
        // SAFETY: dlopen with a NUL-terminated name; the handle is never
        // closed, so the symbols below stay valid for the process.
        let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            continue;
        }
        let sym = |symbol: &CStr| -> Result<*mut c_void, String> {
            // SAFETY: a live handle and a NUL-terminated name.
            let p = unsafe { libc::dlsym(handle, symbol.as_ptr()) };
            if p.is_null() {
                Err(format!(
                    "{} lacks {}",
                    name.to_string_lossy(),
                    symbol.to_string_lossy()
                ))
            } else {
                Ok(p)
            }
        };
        // SAFETY: each symbol has the C signature of opus.h (libopus 1.x
        // has kept them since 1.0).
        unsafe {
            return Ok(Lib {
                encoder_create: std::mem::transmute::<*mut c_void, EncoderCreate>(sym(
                    c"opus_encoder_create",
                )?),
                encoder_ctl: std::mem::transmute::<*mut c_void, Ctl>(sym(c"opus_encoder_ctl")?),
                encode: std::mem::transmute::<*mut c_void, Encode>(sym(c"opus_encode")?),
                encoder_destroy: std::mem::transmute::<*mut c_void, Destroy>(sym(
                    c"opus_encoder_destroy",
                )?),
                decoder_create: std::mem::transmute::<*mut c_void, DecoderCreate>(sym(
                    c"opus_decoder_create",
                )?),
                decode: std::mem::transmute::<*mut c_void, Decode>(sym(c"opus_decode")?),
                decoder_destroy: std::mem::transmute::<*mut c_void, Destroy>(sym(
                    c"opus_decoder_destroy",
                )?),
            });
        }
    }
    Err("no libopus.so.0 on the library path".to_owned())
}

/// A mono 48 kHz Opus encoder set for speech: VOIP mode, the given
/// bitrate, DTX and in-band FEC on.
pub struct Encoder {
    state: NonNull<c_void>,
    lib: &'static Lib,
}

// SAFETY: the libopus state is plain memory owned by this value alone.
unsafe impl Send for Encoder {}

impl Encoder {
    pub fn voip(bitrate_bps: u32) -> Result<Encoder, CodecError> {
        let lib = lib()?;
        let mut error: c_int = 0;
        // SAFETY: valid arguments; the result is checked before use.
        let state = unsafe { (lib.encoder_create)(SAMPLE_RATE, 1, APPLICATION_VOIP, &mut error) };
        let state = NonNull::new(state).ok_or(CodecError::Failed("encoder_create", error))?;
        let encoder = Encoder { state, lib };
        for (request, value) in [
            (SET_BITRATE, bitrate_bps as c_int),
            (SET_VBR, 1),
            (SET_COMPLEXITY, 5),
            (SET_SIGNAL, SIGNAL_VOICE),
            (SET_INBAND_FEC, 1),
            (SET_PACKET_LOSS_PERC, EXPECTED_LOSS_PERCENT),
            (SET_DTX, 1),
        ] {
            // SAFETY: every SET request takes one opus_int32.
            let rc = unsafe { (lib.encoder_ctl)(state.as_ptr(), request, value) };
            if rc != 0 {
                return Err(CodecError::Failed("encoder_ctl", rc));
            }
        }
        Ok(encoder)
    }

    /// Encodes one packet's worth ([`PACKET_SAMPLES`]) into at most
    /// `max_bytes`. A packet of one or two bytes is DTX's "nothing to send".
    pub fn encode(&mut self, pcm: &[i16], max_bytes: usize) -> Result<Vec<u8>, CodecError> {
        assert_eq!(pcm.len(), PACKET_SAMPLES, "Opus packets here are 40 ms");
        let mut out = vec![0u8; max_bytes];
        // SAFETY: `pcm` holds a whole frame and `out` `max_bytes`.
        let n = unsafe {
            (self.lib.encode)(
                self.state.as_ptr(),
                pcm.as_ptr(),
                PACKET_SAMPLES as c_int,
                out.as_mut_ptr(),
                max_bytes as i32,
            )
        };
        if n < 0 {
            return Err(CodecError::Failed("encode", n));
        }
        out.truncate(n as usize);
        Ok(out)
    }

    fn get(&self, request: c_int) -> i32 {
        let mut value: i32 = -1;
        // SAFETY: every GET request takes one opus_int32 pointer.
        unsafe { (self.lib.encoder_ctl)(self.state.as_ptr(), request, &mut value as *mut i32) };
        value
    }

    /// What the encoder runs with: (bitrate, DTX, in-band FEC).
    pub fn settings(&self) -> (i32, bool, bool) {
        (
            self.get(GET_BITRATE),
            self.get(GET_DTX) == 1,
            self.get(GET_INBAND_FEC) != 0,
        )
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_encoder_create, destroyed once.
        unsafe { (self.lib.encoder_destroy)(self.state.as_ptr()) }
    }
}

/// A mono 48 kHz Opus decoder: one per speaker, since Opus keeps state
/// between frames.
pub struct Decoder {
    state: NonNull<c_void>,
    lib: &'static Lib,
}

// SAFETY: as for the encoder.
unsafe impl Send for Decoder {}

impl Decoder {
    pub fn new() -> Result<Decoder, CodecError> {
        let lib = lib()?;
        let mut error: c_int = 0;
        // SAFETY: valid arguments; the result is checked before use.
        let state = unsafe { (lib.decoder_create)(SAMPLE_RATE, 1, &mut error) };
        let state = NonNull::new(state).ok_or(CodecError::Failed("decoder_create", error))?;
        Ok(Decoder { state, lib })
    }

    fn run(&mut self, packet: Option<&[u8]>, fec: bool, out: &mut [i16]) -> Result<(), CodecError> {
        assert_eq!(out.len(), PACKET_SAMPLES);
        let (data, len) = match packet {
            Some(p) => (p.as_ptr(), p.len() as i32),
            None => (std::ptr::null(), 0),
        };
        // SAFETY: `data` is `len` bytes or null, `out` holds a whole frame.
        let n = unsafe {
            (self.lib.decode)(
                self.state.as_ptr(),
                data,
                len,
                out.as_mut_ptr(),
                PACKET_SAMPLES as c_int,
                fec as c_int,
            )
        };
        if n < 0 {
            return Err(CodecError::Failed("decode", n));
        }
        // A shorter packet (a hostile 2.5 ms one) leaves the rest silent.
        out[(n as usize).min(PACKET_SAMPLES)..].fill(0);
        Ok(())
    }

    /// Decodes one packet into [`PACKET_SAMPLES`].
    pub fn decode(&mut self, packet: &[u8], out: &mut [i16]) -> Result<(), CodecError> {
        self.run(Some(packet), false, out)
    }

    /// Rebuilds the packet before `next` from the redundancy `next` carries
    /// (a 40 ms SILK packet carries it for all of the packet before;
    /// concealment where it carries none).
    pub fn recover(&mut self, next: &[u8], out: &mut [i16]) -> Result<(), CodecError> {
        self.run(Some(next), true, out)
    }

    /// Conceals a lost packet from what came before.
    pub fn conceal(&mut self, out: &mut [i16]) -> Result<(), CodecError> {
        self.run(None, false, out)
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_decoder_create, destroyed once.
        unsafe { (self.lib.decoder_destroy)(self.state.as_ptr()) }
    }
}
