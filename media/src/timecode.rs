//! A wall-clock time and a frame counter stamped into the picture as a
//! barcode, so latency can be read from the frames a player shows.
//!
//! The code is a grid of 24 x 4 black or white cells at the top-left corner.
//! Cells are `height / 45` pixels (16 at 720p), so at 720p each cell is one
//! H.264 macroblock: compression smears edges, never a cell's centre, and
//! the reader averages only the inner half of each cell. 96 bits:
//! an 8-bit sync byte, 48 bits of Unix milliseconds, a 24-bit frame counter
//! and a CRC-16 over the rest, so a frame without a code (or a damaged one)
//! is told apart from a good one.
//!
//! Beside the code sits the A/V marker: a square that is white while the
//! publisher's tone beeps (the first 100 ms of every second) and black
//! otherwise.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Cells across and down.
pub const COLS: u32 = 24;
pub const ROWS: u32 = 4;
const BITS: u32 = COLS * ROWS;
const SYNC: u8 = 0xA7;
/// Frame heights per cell: 720 / 45 = 16.
const CELLS_PER_HEIGHT: u32 = 45;
/// The A/V marker is this many cells square, two cells right of the code.
const MARKER_CELLS: u32 = 4;
const MARKER_GAP_CELLS: u32 = 2;
/// Every second, the first this many milliseconds beep and flash.
pub const BEEP_MS: u64 = 100;

const WHITE_LUMA: u8 = 235;
const BLACK_LUMA: u8 = 16;
/// A cell whose mean luma lies within this distance of the midpoint is
/// neither black nor white: no code there.
const AMBIGUOUS: i32 = 40;

/// What the code carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timecode {
    /// Wall-clock time when the frame was made, Unix milliseconds (48 bits).
    pub unix_ms: u64,
    /// The publisher's frame counter (24 bits, wraps).
    pub frame: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimecodeError {
    #[error("a {width}x{height} frame is too small for the timecode")]
    FrameTooSmall { width: u32, height: u32 },
    #[error(
        "the buffer holds {len} bytes; a {width}x{height} frame with stride {stride} needs more"
    )]
    ShortBuffer {
        len: usize,
        width: u32,
        height: u32,
        stride: usize,
    },
    #[error("no timecode in this frame")]
    Absent,
    #[error("the timecode's checksum does not match")]
    Checksum,
    #[error("unsupported pixel format {0}")]
    Format(String),
}

impl Timecode {
    /// The current wall-clock time with this frame counter.
    pub fn now(frame: u32) -> Self {
        Self {
            unix_ms: unix_ms(SystemTime::now()),
            frame,
        }
    }

    fn bits(self) -> [bool; BITS as usize] {
        let ms = self.unix_ms & 0xFFFF_FFFF_FFFF;
        let frame = self.frame & 0xFF_FFFF;
        let mut bytes = [0u8; 10];
        bytes[0] = SYNC;
        bytes[1..7].copy_from_slice(&ms.to_be_bytes()[2..]);
        bytes[7..10].copy_from_slice(&frame.to_be_bytes()[1..]);
        let crc = crc16(&bytes);
        let mut all = [0u8; 12];
        all[..10].copy_from_slice(&bytes);
        all[10..].copy_from_slice(&crc.to_be_bytes());
        let mut bits = [false; BITS as usize];
        for (i, bit) in bits.iter_mut().enumerate() {
            *bit = all[i / 8] & (0x80 >> (i % 8)) != 0;
        }
        bits
    }

    fn from_bits(bits: &[bool; BITS as usize]) -> Result<Self, TimecodeError> {
        let mut all = [0u8; 12];
        for (i, bit) in bits.iter().enumerate() {
            if *bit {
                all[i / 8] |= 0x80 >> (i % 8);
            }
        }
        if all[0] != SYNC {
            return Err(TimecodeError::Absent);
        }
        if crc16(&all[..10]) != u16::from_be_bytes([all[10], all[11]]) {
            return Err(TimecodeError::Checksum);
        }
        let mut ms = [0u8; 8];
        ms[2..].copy_from_slice(&all[1..7]);
        let mut frame = [0u8; 4];
        frame[1..].copy_from_slice(&all[7..10]);
        Ok(Self {
            unix_ms: u64::from_be_bytes(ms),
            frame: u32::from_be_bytes(frame),
        })
    }

    /// Milliseconds from this stamp to `at` (negative if `at` is earlier).
    pub fn age_ms(self, at: SystemTime) -> i64 {
        unix_ms(at) as i64 - self.unix_ms as i64
    }
}

pub fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as u64
}

/// CRC-16/CCITT-FALSE.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The cell size for a frame, or why it has none.
fn cell(width: u32, height: u32) -> Result<u32, TimecodeError> {
    let cell = height / CELLS_PER_HEIGHT;
    if cell < 4 || cell * (COLS + MARKER_GAP_CELLS + MARKER_CELLS) > width {
        return Err(TimecodeError::FrameTooSmall { width, height });
    }
    Ok(cell)
}

/// Whether the marker is lit at this stream time: the first [`BEEP_MS`] of
/// every second, the same rule the publisher's tone follows.
pub fn beeping(stream_time: Duration) -> bool {
    u64::from(stream_time.subsec_millis()) < BEEP_MS
}

/// Paints the code and the marker through `fill(x, y, w, h, white)`.
fn paint(
    tc: Timecode,
    marker: bool,
    width: u32,
    height: u32,
    mut fill: impl FnMut(u32, u32, u32, u32, bool),
) -> Result<(), TimecodeError> {
    let c = cell(width, height)?;
    for (i, bit) in tc.bits().iter().enumerate() {
        let i = i as u32;
        fill((i % COLS) * c, (i / COLS) * c, c, c, *bit);
    }
    let mx = (COLS + MARKER_GAP_CELLS) * c;
    fill(mx, 0, MARKER_CELLS * c, MARKER_CELLS * c, marker);
    Ok(())
}

/// Mean of the inner half of a `c`-pixel square at (x, y).
fn mean(x: u32, y: u32, c: u32, luma: &impl Fn(u32, u32) -> u8) -> i32 {
    let (from, to) = (c / 4, c - c / 4);
    let (mut sum, mut n) = (0i32, 0i32);
    for dy in from..to {
        for dx in from..to {
            sum += i32::from(luma(x + dx, y + dy));
            n += 1;
        }
    }
    sum / n.max(1)
}

fn classify(mean: i32) -> Option<bool> {
    let mid = (i32::from(WHITE_LUMA) + i32::from(BLACK_LUMA)) / 2;
    if (mean - mid).abs() < AMBIGUOUS {
        None
    } else {
        Some(mean > mid)
    }
}

fn read(width: u32, height: u32, luma: impl Fn(u32, u32) -> u8) -> Result<Timecode, TimecodeError> {
    let c = cell(width, height)?;
    let mut bits = [false; BITS as usize];
    for (i, bit) in bits.iter_mut().enumerate() {
        let i = i as u32;
        *bit = classify(mean((i % COLS) * c, (i / COLS) * c, c, &luma))
            .ok_or(TimecodeError::Absent)?;
    }
    Timecode::from_bits(&bits)
}

fn read_marker(width: u32, height: u32, luma: impl Fn(u32, u32) -> u8) -> Option<bool> {
    let c = cell(width, height).ok()?;
    let mx = (COLS + MARKER_GAP_CELLS) * c;
    classify(mean(mx, 0, MARKER_CELLS * c, &luma))
}

fn check_len(
    len: usize,
    width: u32,
    height: u32,
    stride: usize,
    bpp: usize,
) -> Result<(), TimecodeError> {
    let need = stride
        .checked_mul(height.saturating_sub(1) as usize)
        .and_then(|n| n.checked_add(width as usize * bpp));
    if stride < width as usize * bpp || need.is_none_or(|n| len < n) {
        return Err(TimecodeError::ShortBuffer {
            len,
            width,
            height,
            stride,
        });
    }
    Ok(())
}

fn rgba_luma(px: &[u8]) -> u8 {
    // BT.601 weights on full-range RGB; the code is grey so any weights do.
    ((77 * u32::from(px[0]) + 150 * u32::from(px[1]) + 29 * u32::from(px[2])) >> 8) as u8
}

/// Reads the code from packed RGBA (or RGBx) pixels.
pub fn read_rgba(
    data: &[u8],
    width: u32,
    height: u32,
    stride: usize,
) -> Result<Timecode, TimecodeError> {
    check_len(data.len(), width, height, stride, 4)?;
    read(width, height, |x, y| {
        let at = y as usize * stride + x as usize * 4;
        rgba_luma(&data[at..at + 3])
    })
}

/// Reads the code from a luma plane (the Y of I420 or NV12).
pub fn read_luma(
    y_plane: &[u8],
    width: u32,
    height: u32,
    stride: usize,
) -> Result<Timecode, TimecodeError> {
    check_len(y_plane.len(), width, height, stride, 1)?;
    read(width, height, |x, y| {
        y_plane[y as usize * stride + x as usize]
    })
}

/// Whether the A/V marker is lit in packed RGBA pixels (`None`: no marker).
pub fn marker_rgba(data: &[u8], width: u32, height: u32, stride: usize) -> Option<bool> {
    check_len(data.len(), width, height, stride, 4).ok()?;
    read_marker(width, height, |x, y| {
        let at = y as usize * stride + x as usize * 4;
        rgba_luma(&data[at..at + 3])
    })
}

/// Whether the A/V marker is lit in a luma plane.
pub fn marker_luma(y_plane: &[u8], width: u32, height: u32, stride: usize) -> Option<bool> {
    check_len(y_plane.len(), width, height, stride, 1).ok()?;
    read_marker(width, height, |x, y| {
        y_plane[y as usize * stride + x as usize]
    })
}

/// Stamps the code and the marker into packed RGBA pixels.
pub fn stamp_rgba(
    tc: Timecode,
    marker: bool,
    data: &mut [u8],
    width: u32,
    height: u32,
    stride: usize,
) -> Result<(), TimecodeError> {
    check_len(data.len(), width, height, stride, 4)?;
    paint(tc, marker, width, height, |x0, y0, w, h, white| {
        let v = if white { 255 } else { 0 };
        for y in y0..y0 + h {
            let row = y as usize * stride;
            for x in x0..x0 + w {
                let at = row + x as usize * 4;
                data[at..at + 4].copy_from_slice(&[v, v, v, 255]);
            }
        }
    })
}

/// Stamps the code and the marker into a mapped raw video frame (I420 or a
/// packed 4-byte RGB format), as the publisher's pad probe does.
pub fn stamp_frame(
    tc: Timecode,
    marker: bool,
    frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
) -> Result<(), TimecodeError> {
    use gst_video::VideoFormat as F;
    use gst_video::prelude::*;
    let (width, height) = (frame.width(), frame.height());
    let format = frame.format();
    let strides: Vec<usize> = frame.plane_stride().iter().map(|s| *s as usize).collect();
    match format {
        F::Rgba | F::Rgbx | F::Bgra | F::Bgrx => {
            let data = frame
                .plane_data_mut(0)
                .map_err(|_| TimecodeError::Format(format!("{format:?}")))?;
            stamp_rgba(tc, marker, data, width, height, strides[0])
        }
        F::I420 => {
            let mut boxes = Vec::with_capacity(BITS as usize + 1);
            paint(tc, marker, width, height, |x, y, w, h, white| {
                boxes.push((x, y, w, h, white))
            })?;
            let y_plane = frame
                .plane_data_mut(0)
                .map_err(|_| TimecodeError::Format("I420".into()))?;
            check_len(y_plane.len(), width, height, strides[0], 1)?;
            for &(x0, y0, w, h, white) in &boxes {
                let v = if white { WHITE_LUMA } else { BLACK_LUMA };
                for y in y0..y0 + h {
                    let row = y as usize * strides[0];
                    y_plane[row + x0 as usize..row + (x0 + w) as usize].fill(v);
                }
            }
            // Neutral chroma: the code is grey, whatever the picture was.
            for plane in 1..3u32 {
                let stride = strides[plane as usize];
                let data = frame
                    .plane_data_mut(plane)
                    .map_err(|_| TimecodeError::Format("I420".into()))?;
                for &(x0, y0, w, h, _) in &boxes {
                    for y in y0 / 2..(y0 + h).div_ceil(2) {
                        let row = y as usize * stride;
                        data[row + (x0 / 2) as usize..row + (x0 + w).div_ceil(2) as usize]
                            .fill(128);
                    }
                }
            }
            Ok(())
        }
        other => Err(TimecodeError::Format(format!("{other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(width: u32, height: u32) -> Vec<u8> {
        // A busy background: the code must not depend on a quiet picture.
        (0..width * height * 4)
            .map(|i| (i * 7 % 251) as u8)
            .collect()
    }

    #[test]
    fn round_trip_rgba() {
        let (w, h) = (1280, 720);
        let mut data = frame(w, h);
        let tc = Timecode {
            unix_ms: 0xFFFF_FFFF_FFFF,
            frame: 0x12_3456,
        };
        stamp_rgba(tc, true, &mut data, w, h, w as usize * 4).unwrap();
        assert_eq!(read_rgba(&data, w, h, w as usize * 4), Ok(tc));
        assert_eq!(marker_rgba(&data, w, h, w as usize * 4), Some(true));
        let now = Timecode::now(7);
        stamp_rgba(now, false, &mut data, w, h, w as usize * 4).unwrap();
        assert_eq!(read_rgba(&data, w, h, w as usize * 4), Ok(now));
        assert_eq!(marker_rgba(&data, w, h, w as usize * 4), Some(false));
    }

    #[test]
    fn absent_and_corrupt_are_errors() {
        let (w, h) = (1280, 720);
        let stride = w as usize * 4;
        let plain = vec![0u8; stride * h as usize];
        assert_eq!(read_rgba(&plain, w, h, stride), Err(TimecodeError::Absent));
        assert!(read_rgba(&frame(w, h), w, h, stride).is_err());

        let mut data = frame(w, h);
        stamp_rgba(Timecode::now(1), false, &mut data, w, h, stride).unwrap();
        // Flip one payload cell (bit 20): the checksum catches it.
        let (c, bit) = (16usize, 20usize);
        for y in 0..c {
            for x in bit * c..(bit + 1) * c {
                let at = y * stride + x * 4;
                data[at] = 255 - data[at];
                data[at + 1] = 255 - data[at + 1];
                data[at + 2] = 255 - data[at + 2];
            }
        }
        assert_eq!(read_rgba(&data, w, h, stride), Err(TimecodeError::Checksum));
    }

    #[test]
    fn bad_sizes_are_errors_not_panics() {
        assert_eq!(
            read_rgba(&[0; 16], 2, 2, 8),
            Err(TimecodeError::FrameTooSmall {
                width: 2,
                height: 2
            })
        );
        assert!(matches!(
            read_rgba(&[0; 16], 1280, 720, 5120),
            Err(TimecodeError::ShortBuffer { .. })
        ));
        assert!(matches!(
            read_luma(&[0; 100], 1280, 720, 10),
            Err(TimecodeError::ShortBuffer { .. })
        ));
        assert_eq!(marker_rgba(&[0; 4], 1280, 720, 5120), None);
    }

    #[test]
    fn scales_with_the_frame() {
        for (w, h) in [(640, 360), (1920, 1080), (854, 480)] {
            let stride = w as usize * 4;
            let mut data = frame(w, h);
            let tc = Timecode::now(99);
            stamp_rgba(tc, true, &mut data, w, h, stride).unwrap();
            assert_eq!(read_rgba(&data, w, h, stride), Ok(tc), "{w}x{h}");
        }
    }

    #[test]
    fn marker_follows_the_beep_rule() {
        assert!(beeping(Duration::from_millis(3_000)));
        assert!(beeping(Duration::from_millis(3_099)));
        assert!(!beeping(Duration::from_millis(3_100)));
        assert!(!beeping(Duration::from_millis(2_999)));
    }
}
