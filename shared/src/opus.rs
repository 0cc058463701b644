//! The structure of an Opus packet (RFC 6716 §3), checked without decoding
//! it: the server refuses a malformed voice frame before forwarding it, and
//! a client can refuse one before handing it to its decoder.
//!
//! The rules are §3.4's R1–R7. Only the packet's framing is read (the TOC
//! byte, frame counts, frame lengths and padding); the frames' contents
//! are the decoder's business.

use thiserror::Error;

/// The longest a frame's data may be (R2).
pub const MAX_FRAME_BYTES: usize = 1275;
/// The most audio one packet may carry (R5), in 2.5 ms units.
const MAX_PACKET_UNITS: u32 = 48;

/// Why a packet is not a valid Opus packet, by the RFC's rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum OpusError {
    #[error("R1: a packet has at least one byte")]
    Empty,
    #[error("R2: a frame is at most 1275 bytes")]
    FrameTooLong,
    #[error("R3: a code 1 packet has an odd length")]
    Code1EvenLength,
    #[error("R4: a code 2 packet's first frame length is missing or too long")]
    Code2BadLength,
    #[error("R5: a code 3 packet has 1 to 120 ms of frames")]
    Code3BadCount,
    #[error("R6: a constant-bitrate code 3 packet's frames do not fill it evenly")]
    Code3Cbr,
    #[error("R7: a variable-bitrate code 3 packet is shorter than its header says")]
    Code3Vbr,
}

/// What a valid packet holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpusPacket {
    /// The TOC byte's configuration number (0–31): mode, bandwidth and
    /// frame duration.
    pub config: u8,
    pub stereo: bool,
    pub frames: u8,
    /// The audio the packet carries, in microseconds.
    pub duration_us: u32,
}

/// A frame's duration for a TOC configuration, in 2.5 ms units (RFC 6716
/// Table 2): SILK-only 10/20/40/60 ms, hybrid 10/20 ms, CELT-only
/// 2.5/5/10/20 ms.
fn frame_units(config: u8) -> u32 {
    match config {
        0..=11 => [4, 8, 16, 24][usize::from(config % 4)],
        12..=15 => [4, 8][usize::from(config % 2)],
        _ => [1, 2, 4, 8][usize::from(config % 4)],
    }
}

/// Reads one frame length (§3.2.1) at the front of `bytes`: the length and
/// how many bytes coded it; `None` when the bytes run out.
fn frame_length(bytes: &[u8]) -> Option<(usize, usize)> {
    match *bytes.first()? {
        small @ 0..=251 => Some((usize::from(small), 1)),
        large => {
            let second = *bytes.get(1)?;
            Some((usize::from(second) * 4 + usize::from(large), 2))
        }
    }
}

/// Checks `packet` against RFC 6716 §3.4's rules R1–R7.
pub fn check_packet(packet: &[u8]) -> Result<OpusPacket, OpusError> {
    let (&toc, rest) = packet.split_first().ok_or(OpusError::Empty)?;
    let config = toc >> 3;
    let stereo = toc & 0x04 != 0;
    let units = frame_units(config);
    let frames: u8 = match toc & 0x03 {
        // One frame: all that follows.
        0 => {
            if rest.len() > MAX_FRAME_BYTES {
                return Err(OpusError::FrameTooLong);
            }
            1
        }
        // Two frames of equal size.
        1 => {
            if rest.len() % 2 != 0 {
                return Err(OpusError::Code1EvenLength);
            }
            if rest.len() / 2 > MAX_FRAME_BYTES {
                return Err(OpusError::FrameTooLong);
            }
            2
        }
        // Two frames, the first's length coded.
        2 => {
            let (first, coded) = frame_length(rest).ok_or(OpusError::Code2BadLength)?;
            let remaining = rest.len() - coded;
            if first > remaining {
                return Err(OpusError::Code2BadLength);
            }
            if first > MAX_FRAME_BYTES || remaining - first > MAX_FRAME_BYTES {
                return Err(OpusError::FrameTooLong);
            }
            2
        }
        // A counted number of frames, constant or variable bitrate, with
        // optional padding.
        _ => code3(rest, units)?,
    };
    Ok(OpusPacket {
        config,
        stereo,
        frames,
        duration_us: u32::from(frames) * units * 2500,
    })
}

/// A code 3 packet after its TOC byte: the frame count byte, padding,
/// then the frames (R5–R7).
fn code3(rest: &[u8], units: u32) -> Result<u8, OpusError> {
    let (&count_byte, mut body) = rest.split_first().ok_or(OpusError::Code3BadCount)?;
    let vbr = count_byte & 0x80 != 0;
    let padded = count_byte & 0x40 != 0;
    let count = count_byte & 0x3F;
    if count == 0 || u32::from(count) * units > MAX_PACKET_UNITS {
        return Err(OpusError::Code3BadCount);
    }
    let bad = if vbr {
        OpusError::Code3Vbr
    } else {
        OpusError::Code3Cbr
    };
    // Padding length: each 255 adds 254 bytes and another length byte.
    let mut padding = 0usize;
    if padded {
        loop {
            let (&byte, after) = body.split_first().ok_or(bad)?;
            body = after;
            if byte == 255 {
                padding += 254;
            } else {
                padding += usize::from(byte);
                break;
            }
        }
    }
    let body_len = body.len().checked_sub(padding).ok_or(bad)?;
    if vbr {
        // The first M-1 frames' lengths are coded; the last takes the rest.
        let mut at = 0usize;
        let mut used = 0usize;
        for _ in 1..count {
            let (len, coded) = frame_length(&body[at..body_len.max(at)]).ok_or(bad)?;
            if len > MAX_FRAME_BYTES {
                return Err(OpusError::FrameTooLong);
            }
            at += coded;
            used += len;
        }
        let last = body_len.checked_sub(at + used).ok_or(bad)?;
        if last > MAX_FRAME_BYTES {
            return Err(OpusError::FrameTooLong);
        }
    } else {
        if body_len % usize::from(count) != 0 {
            return Err(bad);
        }
        if body_len / usize::from(count) > MAX_FRAME_BYTES {
            return Err(OpusError::FrameTooLong);
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TOC byte: CELT-only fullband 20 ms (config 31), mono, `code`.
    fn toc(code: u8) -> u8 {
        (31 << 3) | code
    }

    #[test]
    fn each_code_reads_its_frames_and_duration() {
        // Code 0: one frame of 60 bytes, 20 ms.
        let mut one = vec![toc(0)];
        one.extend([7; 60]);
        let info = check_packet(&one).unwrap();
        assert_eq!(
            (info.config, info.frames, info.duration_us),
            (31, 1, 20_000)
        );
        // A DTX frame: the TOC alone.
        assert_eq!(check_packet(&[toc(0)]).unwrap().frames, 1);
        // Code 1: two equal frames.
        let mut two = vec![toc(1)];
        two.extend([1; 40]);
        assert_eq!(check_packet(&two).unwrap().duration_us, 40_000);
        // Code 2: a 10-byte frame, then 5 bytes.
        let mut uneven = vec![toc(2), 10];
        uneven.extend([1; 15]);
        assert_eq!(check_packet(&uneven).unwrap().frames, 2);
        // Code 2 with a two-byte length: 252 + 4 × 1 = 256 bytes.
        let mut long = vec![toc(2), 252, 1];
        long.extend([1; 256 + 3]);
        assert_eq!(check_packet(&long).unwrap().frames, 2);
        // Code 3 CBR: 3 frames of 4 bytes, 2 bytes of padding.
        let mut cbr = vec![toc(3), 0x40 | 3, 2];
        cbr.extend([1; 12 + 2]);
        assert_eq!(check_packet(&cbr).unwrap().duration_us, 60_000);
        // Code 3 VBR: frames of 3 and 5 bytes, then the last of 2.
        let mut vbr = vec![toc(3), 0x80 | 3, 3, 5];
        vbr.extend([1; 10]);
        assert_eq!(check_packet(&vbr).unwrap().frames, 3);
        // SILK 60 ms (config 3), stereo: code 0 is 60 ms.
        let silk = check_packet(&[(3 << 3) | 0x04, 1, 2]).unwrap();
        assert!(silk.stereo);
        assert_eq!(silk.duration_us, 60_000);
    }

    #[test]
    fn each_rule_refuses_what_breaks_it() {
        // R1
        assert_eq!(check_packet(&[]), Err(OpusError::Empty));
        // R2: 1276 bytes in a code 0 frame; code 1 frames of 1276.
        let mut big = vec![toc(0)];
        big.extend(vec![0; 1276]);
        assert_eq!(check_packet(&big), Err(OpusError::FrameTooLong));
        let mut big_pair = vec![toc(1)];
        big_pair.extend(vec![0; 2 * 1276]);
        assert_eq!(check_packet(&big_pair), Err(OpusError::FrameTooLong));
        // R3: an odd number of frame bytes in code 1.
        assert_eq!(
            check_packet(&[toc(1), 1, 2, 3]),
            Err(OpusError::Code1EvenLength)
        );
        // R4: no length byte; a length past the end; half a two-byte length.
        assert_eq!(check_packet(&[toc(2)]), Err(OpusError::Code2BadLength));
        assert_eq!(
            check_packet(&[toc(2), 5, 1, 2]),
            Err(OpusError::Code2BadLength)
        );
        assert_eq!(check_packet(&[toc(2), 253]), Err(OpusError::Code2BadLength));
        // R5: no count byte; zero frames; 7 × 20 ms = 140 ms.
        assert_eq!(check_packet(&[toc(3)]), Err(OpusError::Code3BadCount));
        assert_eq!(check_packet(&[toc(3), 0]), Err(OpusError::Code3BadCount));
        assert_eq!(check_packet(&[toc(3), 7]), Err(OpusError::Code3BadCount));
        // ...but 48 × 2.5 ms (config 16) is exactly 120 ms.
        assert!(check_packet(&[16 << 3 | 3, 48]).is_ok());
        // R6: 3 frames in 7 bytes; padding longer than the packet.
        let mut uneven = vec![toc(3), 3];
        uneven.extend([0; 7]);
        assert_eq!(check_packet(&uneven), Err(OpusError::Code3Cbr));
        assert_eq!(
            check_packet(&[toc(3), 0x40 | 1, 10, 0, 0]),
            Err(OpusError::Code3Cbr)
        );
        // A padding length that never ends.
        assert_eq!(
            check_packet(&[toc(3), 0x40 | 1, 255, 255]),
            Err(OpusError::Code3Cbr)
        );
        // R7: lengths claim more than there is; a length byte missing.
        assert_eq!(
            check_packet(&[toc(3), 0x80 | 2, 9, 1, 2]),
            Err(OpusError::Code3Vbr)
        );
        assert_eq!(
            check_packet(&[toc(3), 0x80 | 3, 1]),
            Err(OpusError::Code3Vbr)
        );
        assert_eq!(
            check_packet(&[toc(3), 0x80 | 0x40 | 1, 3, 1]),
            Err(OpusError::Code3Vbr)
        );
    }

    #[test]
    fn no_input_panics() {
        // Every packet of up to two bytes, and a sweep of longer ones.
        for a in 0..=255u8 {
            let _ = check_packet(&[a]);
            for b in 0..=255u8 {
                let _ = check_packet(&[a, b]);
                let _ = check_packet(&[a, b, 255, 255, 1, 2, 3]);
            }
        }
    }
}
