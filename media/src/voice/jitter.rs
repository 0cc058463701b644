//! One speaker's adaptive jitter buffer: packets (40 ms each) arrive out of
//! order, twice, late or never; it hands the decoder one decision per
//! packet's worth of output.
//!
//! Times are in the listener's output clock (48 kHz samples rendered), so
//! a test that renders by hand and a device that pulls in real time run
//! the same code.

use super::opus::PACKET_SAMPLES as FRAME_SAMPLES;
use std::collections::BTreeMap;

/// The buffer holds a new talk spurt this long before playing it, and
/// grows to at most `MAX_DELAY` on a link that delivers late.
/// (Here a "frame" is one Opus packet, 40 ms.) 60 ms: a lost packet's
/// turn comes 20 ms after the next packet is due, so its FEC is usually
/// here to rebuild it, as with 20 ms frames and 40 ms.
pub const MIN_DELAY: u64 = 3 * DELAY_STEP; // 60 ms
pub const MAX_DELAY: u64 = 6 * DELAY_STEP; // 120 ms
/// The delay grows by this for each late packet, and shrinks by it after
/// a calm 5 s: 20 ms, one rendered frame.
pub const DELAY_STEP: u64 = FRAME_SAMPLES as u64 / 2;
/// Frames concealed with nothing buffered before the speaker is taken to
/// have stopped (end of a talk spurt, push-to-talk released): 120 ms.
pub const MAX_UNDERRUN_FRAMES: u32 = 3;
/// A frame further than this from the one playing, ahead or behind, is
/// refused (a hostile or confused sender), unless nothing is playing.
pub const MAX_SEQ_JUMP: i64 = 250;
/// Buffered audio beyond the target that makes the buffer drop a frame.
const CATCH_UP_SLACK: u64 = 5 * DELAY_STEP; // 100 ms
/// Frames held at most: 200 ms beyond the largest delay.
const CAPACITY: usize = 8;

/// What to do for the next packet's worth (40 ms) of this speaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// Nothing playing: the speaker is silent.
    Idle,
    /// Decode this packet.
    Decode(Vec<u8>),
    /// The frame was lost and the next one is here: rebuild it from the
    /// next packet's in-band FEC.
    Recover(Vec<u8>),
    /// Lost with nothing to rebuild it from (or late): conceal it.
    Conceal,
    /// A pause the speaker's DTX left out: play silence.
    Pause,
}

/// Why an arriving frame was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Duplicate,
    /// Its turn had passed.
    Late,
    /// Too far from the frames around it.
    OutOfOrder,
    /// The buffer was full.
    Overflow,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    pub decoded: u64,
    pub recovered: u64,
    pub concealed: u64,
    pub pauses: u64,
    pub late: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    /// Frames thrown away to bring a grown delay back down, or on overflow.
    pub dropped: u64,
}

struct Packet {
    timestamp: i64,
    arrived: u64,
    opus: Vec<u8>,
}

enum State {
    /// Waiting for a talk spurt to fill the buffer.
    Waiting,
    Playing {
        next_seq: i64,
        /// The timestamp `next_seq` should have if no pause came between.
        next_ts: i64,
        underrun: u32,
    },
}

pub struct JitterBuffer {
    packets: BTreeMap<i64, Packet>,
    state: State,
    /// The highest sequence number seen, unwrapped.
    top_seq: Option<i64>,
    top_ts: i64,
    /// Frames below this have had their turn.
    floor: Option<i64>,
    target: u64,
    /// When the target last grew or shrank.
    adapted_at: u64,
    stats: JitterStats,
}

impl Default for JitterBuffer {
    fn default() -> Self {
        JitterBuffer::new()
    }
}

impl JitterBuffer {
    pub fn new() -> JitterBuffer {
        JitterBuffer {
            packets: BTreeMap::new(),
            state: State::Waiting,
            top_seq: None,
            top_ts: 0,
            floor: None,
            target: MIN_DELAY,
            adapted_at: 0,
            stats: JitterStats::default(),
        }
    }

    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// The delay a new talk spurt waits, in samples.
    pub fn target_delay(&self) -> u64 {
        self.target
    }

    /// Frames waiting to play.
    pub fn depth(&self) -> usize {
        self.packets.len()
    }

    pub fn is_playing(&self) -> bool {
        matches!(self.state, State::Playing { .. })
    }

    fn unwrap_seq(&self, seq: u16) -> i64 {
        match self.top_seq {
            None => seq as i64,
            Some(top) => top + seq.wrapping_sub(top as u16) as i16 as i64,
        }
    }

    fn unwrap_ts(&self, ts: u32) -> i64 {
        match self.top_seq {
            None => ts as i64,
            Some(_) => self.top_ts + ts.wrapping_sub(self.top_ts as u32) as i32 as i64,
        }
    }

    /// Files an arriving frame, received at output time `now`.
    pub fn insert(
        &mut self,
        seq: u16,
        timestamp: u32,
        opus: Vec<u8>,
        now: u64,
    ) -> Result<(), Refused> {
        let seq_x = self.unwrap_seq(seq);
        let ts_x = self.unwrap_ts(timestamp);
        if let Some(top) = self.top_seq
            && (seq_x - top).abs() > MAX_SEQ_JUMP
        {
            if self.is_playing() || !self.packets.is_empty() {
                self.stats.out_of_order += 1;
                return Err(Refused::OutOfOrder);
            }
            // A silent speaker who starts over (a reconnect): begin anew.
            self.floor = None;
            self.top_seq = None;
            return self.insert(seq, timestamp, opus, now);
        }
        if self.packets.contains_key(&seq_x) {
            self.stats.duplicates += 1;
            return Err(Refused::Duplicate);
        }
        if self.floor.is_some_and(|floor| seq_x < floor) {
            self.stats.late += 1;
            // It came after its turn: wait longer for the next spurt.
            if self.target < MAX_DELAY {
                self.target += DELAY_STEP;
                self.adapted_at = now;
            }
            return Err(Refused::Late);
        }
        if self.packets.len() >= CAPACITY {
            self.stats.dropped += 1;
            return Err(Refused::Overflow);
        }
        if self.top_seq.is_none_or(|top| seq_x > top) {
            self.top_seq = Some(seq_x);
            self.top_ts = ts_x;
        }
        self.packets.insert(
            seq_x,
            Packet {
                timestamp: ts_x,
                arrived: now,
                opus,
            },
        );
        Ok(())
    }

    /// The decision for the packet's worth (40 ms) of output that starts at
    /// `now`.
    pub fn next(&mut self, now: u64) -> Playout {
        // A calm link lets the target shrink back, 20 ms each 5 s.
        if self.target > MIN_DELAY && now.saturating_sub(self.adapted_at) > 5 * 48_000 {
            self.target -= DELAY_STEP;
            self.adapted_at = now;
        }
        if let State::Waiting = self.state {
            let Some((&first, packet)) = self.packets.first_key_value() else {
                return Playout::Idle;
            };
            if now.saturating_sub(packet.arrived) < self.target {
                return Playout::Idle;
            }
            self.state = State::Playing {
                next_seq: first,
                next_ts: packet.timestamp,
                underrun: 0,
            };
        }
        let State::Playing {
            next_seq,
            next_ts,
            underrun,
        } = &mut self.state
        else {
            unreachable!("started above")
        };
        // Delay grown past the target by 100 ms (underruns stretched
        // it, or a burst arrived): drop one frame to catch up.
        let queued = self.packets.range(*next_seq..).count() as u64;
        if queued * FRAME_SAMPLES as u64 > self.target + CATCH_UP_SLACK {
            if self.packets.remove(next_seq).is_some() {
                self.stats.dropped += 1;
            }
            *next_seq += 1;
            *next_ts += FRAME_SAMPLES as i64;
        }
        // Concealed while nothing was buffered, and now later packets are
        // here: the missing ones were lost, not late, and that concealment
        // already stood in for them. Move past them rather than conceal
        // them a second time (a lost pair would otherwise be 120 ms of
        // concealment, long enough for it to fade to silence).
        if *underrun > 0
            && !self.packets.contains_key(next_seq)
            && let Some((&first, _)) = self.packets.range(*next_seq..).next()
        {
            let skip = (*underrun as i64).min(first - *next_seq);
            *next_seq += skip;
            *next_ts += skip * FRAME_SAMPLES as i64;
        }
        let decision = if let Some(packet) = self.packets.get(next_seq) {
            *underrun = 0;
            if packet.timestamp > *next_ts {
                // The speaker paused (DTX): play the pause out.
                *next_ts += FRAME_SAMPLES as i64;
                self.stats.pauses += 1;
                Playout::Pause
            } else {
                let packet = self.packets.remove(next_seq).expect("just seen");
                *next_ts = packet.timestamp + FRAME_SAMPLES as i64;
                *next_seq += 1;
                self.stats.decoded += 1;
                Playout::Decode(packet.opus)
            }
        } else if let Some(after) = self.packets.get(&(*next_seq + 1)) {
            *underrun = 0;
            let opus = after.opus.clone();
            *next_seq += 1;
            *next_ts += FRAME_SAMPLES as i64;
            self.stats.recovered += 1;
            Playout::Recover(opus)
        } else if self.packets.range(*next_seq..).next().is_some() {
            *underrun = 0;
            *next_seq += 1;
            *next_ts += FRAME_SAMPLES as i64;
            self.stats.concealed += 1;
            Playout::Conceal
        } else {
            // Nothing buffered: the frame is late or the spurt ended.
            // Conceal without moving on, so a late frame still plays (the
            // delay grows by a frame); give up after a few.
            *underrun += 1;
            if *underrun > MAX_UNDERRUN_FRAMES {
                let floor = *next_seq;
                self.state = State::Waiting;
                self.floor = Some(floor);
                return Playout::Idle;
            }
            self.stats.concealed += 1;
            Playout::Conceal
        };
        if let State::Playing { next_seq, .. } = self.state {
            self.floor = Some(next_seq);
            // Anything below the floor can no longer play.
            self.packets = self.packets.split_off(&next_seq);
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: u64 = FRAME_SAMPLES as u64;

    fn pkt(seq: u16) -> Vec<u8> {
        vec![seq as u8; 4]
    }

    /// Plays frames until idle, returning each decision.
    fn drain(jb: &mut JitterBuffer, mut now: u64, frames: usize) -> Vec<Playout> {
        (0..frames)
            .map(|_| {
                let p = jb.next(now);
                now += F;
                p
            })
            .collect()
    }

    #[test]
    fn waits_the_target_delay_then_plays_in_order_despite_reordering_and_duplicates() {
        let mut jb = JitterBuffer::new();
        for seq in [1u16, 0, 2, 2] {
            let _ = jb.insert(seq, seq as u32 * F as u32, pkt(seq), 0);
        }
        assert_eq!(jb.stats().duplicates, 1);
        assert_eq!(jb.next(0), Playout::Idle, "holds the first 60 ms");
        assert_eq!(jb.next(F), Playout::Idle);
        let played = drain(&mut jb, MIN_DELAY, 3);
        let want: Vec<Playout> = (0..3).map(|s| Playout::Decode(pkt(s))).collect();
        assert_eq!(played, want);
    }

    #[test]
    fn a_lost_frame_is_rebuilt_from_the_next_and_two_lost_are_concealed() {
        let mut jb = JitterBuffer::new();
        for seq in [0u16, 2, 5, 6] {
            jb.insert(seq, seq as u32 * F as u32, pkt(seq), 0).unwrap();
        }
        let played = drain(&mut jb, MIN_DELAY, 6);
        assert_eq!(
            played,
            vec![
                Playout::Decode(pkt(0)),
                Playout::Recover(pkt(2)),
                Playout::Decode(pkt(2)),
                Playout::Conceal,
                Playout::Recover(pkt(5)),
                Playout::Decode(pkt(5)),
            ]
        );
        assert_eq!((jb.stats().recovered, jb.stats().concealed), (2, 1));
    }

    #[test]
    fn a_timestamp_gap_is_a_pause_not_a_loss() {
        let mut jb = JitterBuffer::new();
        jb.insert(0, 0, pkt(0), 0).unwrap();
        // The next frame is sequence 1 but 3 frames later: DTX in between.
        jb.insert(1, 3 * F as u32, pkt(1), 0).unwrap();
        let played = drain(&mut jb, MIN_DELAY, 4);
        assert_eq!(
            played,
            vec![
                Playout::Decode(pkt(0)),
                Playout::Pause,
                Playout::Pause,
                Playout::Decode(pkt(1)),
            ]
        );
        assert_eq!(jb.stats().concealed, 0);
    }

    #[test]
    fn a_frame_after_its_turn_is_late_and_the_delay_grows() {
        let mut jb = JitterBuffer::new();
        jb.insert(0, 0, pkt(0), 0).unwrap();
        jb.insert(2, 2 * F as u32, pkt(2), 0).unwrap();
        let mut now = MIN_DELAY;
        assert_eq!(jb.next(now), Playout::Decode(pkt(0)));
        now += F;
        assert_eq!(jb.next(now), Playout::Recover(pkt(2)));
        assert_eq!(jb.insert(1, F as u32, pkt(1), now), Err(Refused::Late));
        assert_eq!(jb.target_delay(), MIN_DELAY + DELAY_STEP);
        assert_eq!(jb.stats().late, 1);
    }

    #[test]
    fn an_underrun_stretches_then_a_stopped_speaker_goes_idle() {
        let mut jb = JitterBuffer::new();
        jb.insert(0, 0, pkt(0), 0).unwrap();
        let mut now = MIN_DELAY;
        assert_eq!(jb.next(now), Playout::Decode(pkt(0)));
        now += F;
        assert_eq!(jb.next(now), Playout::Conceal);
        // Frame 1 arrives a frame late: it still plays.
        jb.insert(1, F as u32, pkt(1), now).unwrap();
        now += F;
        assert_eq!(jb.next(now), Playout::Decode(pkt(1)));
        let rest = drain(&mut jb, now + F, MAX_UNDERRUN_FRAMES as usize + 2);
        assert!(
            rest[..MAX_UNDERRUN_FRAMES as usize]
                .iter()
                .all(|p| *p == Playout::Conceal)
        );
        assert_eq!(rest[MAX_UNDERRUN_FRAMES as usize], Playout::Idle);
        assert!(!jb.is_playing());
    }

    #[test]
    fn a_concealment_while_nothing_came_stands_in_for_the_lost_packet() {
        let mut jb = JitterBuffer::new();
        jb.insert(0, 0, pkt(0), 0).unwrap();
        let mut now = MIN_DELAY;
        assert_eq!(jb.next(now), Playout::Decode(pkt(0)));
        // 1 and 2 are lost: nothing is here at 1's turn.
        now += F;
        assert_eq!(jb.next(now), Playout::Conceal);
        jb.insert(3, 3 * F as u32, pkt(3), now).unwrap();
        // That concealment was 1's: 2 is rebuilt from 3, then 3 plays.
        let played = drain(&mut jb, now + F, 2);
        assert_eq!(played, [Playout::Recover(pkt(3)), Playout::Decode(pkt(3))]);
        assert_eq!((jb.stats().concealed, jb.stats().recovered), (1, 1));
    }

    #[test]
    fn sequence_numbers_wrap_and_wild_ones_are_refused() {
        let mut jb = JitterBuffer::new();
        for seq in [65_534u16, 65_535, 0, 1] {
            jb.insert(seq, (seq as u32).wrapping_mul(F as u32), pkt(seq), 0)
                .unwrap();
        }
        assert_eq!(jb.insert(30_000, 0, pkt(9), 0), Err(Refused::OutOfOrder));
        let played = drain(&mut jb, MIN_DELAY, 4);
        let want: Vec<Playout> = [65_534u16, 65_535, 0, 1]
            .into_iter()
            .map(|s| Playout::Decode(pkt(s)))
            .collect();
        assert_eq!(played, want);
    }
}
