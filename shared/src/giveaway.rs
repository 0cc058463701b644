//! How a giveaway's draw is made and checked, one definition for the
//! server that draws and the clients that check it.
//!
//! When a giveaway opens, the server picks a secret 32-byte seed and
//! publishes its commitment, `hex(SHA-256(seed))`. Entries close at
//! `closes_at`; then the seed is revealed, and the winner of draw `k`
//! (0 first) is
//!
//! ```text
//! message    = hex(seed) ":" entries ":" k      entries: account ids, ascending, comma-separated
//! h          = SHA-256(message as ASCII)
//! candidates = entries without the winners of draws 0 .. k-1, ascending
//! winner     = candidates[ u64_big_endian(h[0..8]) mod len(candidates) ]
//! ```

use crate::api::GiveawayView;
use sha2::{Digest, Sha256};

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `hex(SHA-256(seed))` for a seed given in hex; `None` if it is not hex.
pub fn commitment_of(seed_hex: &str) -> Option<String> {
    Some(hex(&Sha256::digest(unhex(seed_hex)?)))
}

/// The winner of draw `draw`, as the module documentation defines it.
pub fn draw_winner(seed_hex: &str, entries: &[u64], draw: u32, excluded: &[u64]) -> Option<u64> {
    let mut sorted = entries.to_vec();
    sorted.sort_unstable();
    let candidates: Vec<u64> = sorted
        .iter()
        .copied()
        .filter(|e| !excluded.contains(e))
        .collect();
    if candidates.is_empty() {
        return None;
    }
    let list: Vec<String> = sorted.iter().map(|e| e.to_string()).collect();
    let message = format!("{seed_hex}:{}:{draw}", list.join(","));
    let h = Sha256::digest(message.as_bytes());
    let pick = u64::from_be_bytes(h[..8].try_into().expect("8 bytes"));
    Some(candidates[(pick % candidates.len() as u64) as usize])
}

/// What checking a drawn giveaway found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawCheck {
    /// SHA-256 of the revealed seed is the published commitment.
    pub seed_matches: bool,
    /// Each draw as published, and the winner recomputed for it from the
    /// seed and the entries (`None`: no candidate was left).
    pub draws: Vec<(u32, u64, Option<u64>)>,
}

impl DrawCheck {
    /// The seed matches and every draw picks the published winner.
    pub fn holds(&self) -> bool {
        self.seed_matches
            && self
                .draws
                .iter()
                .all(|(_, won, again)| Some(*won) == *again)
    }
}

/// Checks a giveaway as the API shows it; `None` before its seed is
/// revealed (entries still open).
pub fn check(giveaway: &GiveawayView) -> Option<DrawCheck> {
    let seed = giveaway.seed.as_deref()?;
    let seed_matches = commitment_of(seed).as_deref() == Some(giveaway.commitment.as_str());
    let mut excluded = Vec::new();
    let draws = giveaway
        .draws
        .iter()
        .map(|d| {
            let again = draw_winner(seed, &giveaway.entries, d.draw, &excluded);
            excluded.push(d.account_id);
            (d.draw, d.account_id, again)
        })
        .collect();
    Some(DrawCheck {
        seed_matches,
        draws,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GiveawayId;
    use crate::api::DrawView;

    fn drawn(seed: &str, entries: Vec<u64>, winners: &[u64]) -> GiveawayView {
        GiveawayView {
            id: GiveawayId(1),
            prize: "Tote".into(),
            entry: "everyone".into(),
            present_minutes: None,
            closes_at_ms: 0,
            commitment: commitment_of(seed).unwrap(),
            seed: Some(seed.into()),
            entries,
            draws: winners
                .iter()
                .enumerate()
                .map(|(k, w)| DrawView {
                    draw: k as u32,
                    account_id: *w,
                    name: format!("#{w}"),
                    claim_by_ms: 0,
                    claimed: false,
                })
                .collect(),
        }
    }

    #[test]
    fn a_fair_draw_checks_out_and_a_changed_winner_or_seed_does_not() {
        let seed = hex(&[7; 32]);
        let entries = vec![12, 3, 40, 7];
        let first = draw_winner(&seed, &entries, 0, &[]).unwrap();
        let second = draw_winner(&seed, &entries, 1, &[first]).unwrap();
        assert_ne!(first, second);
        let fair = drawn(&seed, entries.clone(), &[first, second]);
        let checked = check(&fair).unwrap();
        assert!(checked.holds(), "{checked:?}");
        assert_eq!(checked.draws[1], (1, second, Some(second)));
        // Another winner announced for draw 0.
        let other = *entries.iter().find(|e| **e != first).unwrap();
        assert!(
            !check(&drawn(&seed, entries.clone(), &[other]))
                .unwrap()
                .holds()
        );
        // A seed that is not the committed one.
        let mut swapped = fair.clone();
        swapped.seed = Some(hex(&[8; 32]));
        let checked = check(&swapped).unwrap();
        assert!(!checked.seed_matches && !checked.holds());
        // Not hex, or not revealed yet.
        swapped.seed = Some("zz".into());
        assert!(!check(&swapped).unwrap().seed_matches);
        swapped.seed = None;
        assert_eq!(check(&swapped), None);
        assert_eq!(unhex("abc"), None);
    }
}
