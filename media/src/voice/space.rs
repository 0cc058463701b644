//! Where a voice sounds from: gain by distance, an equal-power pan from
//! the listener's facing, and a low-pass that dulls distant voices.

use vitrine_shared::limits::voice as limits;

/// Web Audio's "inverse" roll-off (Hubs' panner): `ref / (ref + k (d - ref))`
/// with the reference at full-volume distance; `k` puts 10 m at about 0.17.
const ROLLOFF: f32 = 1.22;
/// Over the last metres before earshot the gain fades to nothing, so a
/// speaker walking away does not cut out with a click.
const FADE_M: f32 = 5.0;
/// The level a party member is heard at, however far away they stand.
pub const PARTY_GAIN: f32 = 0.5;

/// The gain of a nearby voice `distance` metres away: 1 up to 2 m, about
/// 0.17 at 10 m, 0 from 25 m.
pub fn distance_gain(distance: f32) -> f32 {
    let reference = limits::FULL_VOLUME_M;
    if !(distance.is_finite()) || distance >= limits::EARSHOT_M {
        return 0.0;
    }
    if distance <= reference {
        return 1.0;
    }
    let inverse = reference / (reference + ROLLOFF * (distance - reference));
    let fade = ((limits::EARSHOT_M - distance) / FADE_M).clamp(0.0, 1.0);
    inverse * fade
}

/// A party voice: never quieter than [`PARTY_GAIN`], and heard at any range.
pub fn party_gain(distance: f32) -> f32 {
    distance_gain(distance).max(PARTY_GAIN)
}

/// Equal-power (left, right) gains for a source at `source`, heard by a
/// listener at `listener` facing protocol `yaw` (radians about +Y; yaw 0
/// faces +Z, as in `vitrine_shared::pose`). Ahead, behind or on top of the
/// listener is centred at -3 dB each side.
pub fn pan(listener: [f32; 3], yaw: f32, source: [f32; 3]) -> (f32, f32) {
    let dx = source[0] - listener[0];
    let dz = source[2] - listener[2];
    // The listener's right on the floor: forward (sin yaw, cos yaw) turned
    // a quarter clockwise seen from above.
    let right = (-yaw.cos(), yaw.sin());
    let horizontal = (dx * dx + dz * dz).sqrt();
    let side = if horizontal < 1e-3 {
        0.0
    } else {
        ((dx * right.0 + dz * right.1) / horizontal).clamp(-1.0, 1.0)
    };
    let angle = (side + 1.0) * std::f32::consts::FRAC_PI_4;
    (angle.cos(), angle.sin())
}

/// Straight-line distance.
pub fn distance(a: [f32; 3], b: [f32; 3]) -> f32 {
    let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt()
}

/// The one-pole low-pass coefficient for a voice `distance` away: open
/// (no filtering) to 5 m, then closing to about 2.5 kHz at earshot, as
/// air and walls dull a far voice (VRChat does the same).
pub fn lowpass_coefficient(distance: f32) -> f32 {
    const OPEN_M: f32 = 5.0;
    if distance <= OPEN_M {
        return 1.0;
    }
    let t = ((distance - OPEN_M) / (limits::EARSHOT_M - OPEN_M)).clamp(0.0, 1.0);
    // 16 kHz down to 2.5 kHz, geometrically.
    let cutoff = 16_000.0 * (2_500.0f32 / 16_000.0).powf(t);
    1.0 - (-std::f32::consts::TAU * cutoff / 48_000.0).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_law_is_full_near_about_a_sixth_at_ten_metres_and_silent_past_earshot() {
        assert_eq!(distance_gain(0.0), 1.0);
        assert_eq!(distance_gain(2.0), 1.0);
        let ten = distance_gain(10.0);
        assert!((0.15..0.19).contains(&ten), "{ten}");
        assert!(distance_gain(20.0) > distance_gain(24.0));
        assert!(distance_gain(24.9) < 0.005);
        assert_eq!(distance_gain(25.0), 0.0);
        assert_eq!(distance_gain(100.0), 0.0);
        // Monotone.
        let mut last = 1.0;
        for d in 0..250 {
            let g = distance_gain(d as f32 * 0.1);
            assert!(g <= last, "{d}");
            last = g;
        }
        assert_eq!(party_gain(100.0), PARTY_GAIN);
    }

    #[test]
    fn pan_is_equal_power_and_follows_the_listeners_facing() {
        // Facing +Z (yaw 0), the listener's right is -X.
        let (l, r) = pan([0.0; 3], 0.0, [-3.0, 0.0, 0.0]);
        assert!(r > 0.99 && l < 0.01, "{l} {r}");
        let (l, r) = pan([0.0; 3], 0.0, [3.0, 0.0, 0.0]);
        assert!(l > 0.99 && r < 0.01, "{l} {r}");
        // Ahead: centred at -3 dB.
        let (l, r) = pan([0.0; 3], 0.0, [0.0, 0.0, 5.0]);
        assert!((l - r).abs() < 1e-4 && (l - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-4);
        // Turning round swaps the sides.
        let (l, r) = pan([0.0; 3], std::f32::consts::PI, [3.0, 0.0, 0.0]);
        assert!(r > 0.99 && l < 0.01, "{l} {r}");
        // Power is constant wherever the source stands.
        for i in 0..36 {
            let a = i as f32 * 10f32.to_radians();
            let (l, r) = pan([1.0, 0.0, 1.0], 0.3, [1.0 + a.cos(), 0.0, 1.0 + a.sin()]);
            assert!((l * l + r * r - 1.0).abs() < 1e-4);
        }
    }

    #[test]
    fn far_voices_are_filtered_near_ones_are_not() {
        assert_eq!(lowpass_coefficient(3.0), 1.0);
        assert!(lowpass_coefficient(20.0) < lowpass_coefficient(10.0));
        assert!(lowpass_coefficient(25.0) > 0.0);
    }
}
