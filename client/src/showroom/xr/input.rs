//! What the headset and hands say, as plain data, and the gestures read
//! from it. The OpenXR runtime ([`super::runtime`]) or a test's synthetic
//! poses fill [`XrInput`] each frame; [`Gestures::read`] turns its analog
//! values into edges (grab, release, teleport, snap turn, click) with
//! hysteresis, so a trigger resting near a threshold does not chatter.

use bevy::prelude::*;

/// Squeeze (or pinch) at or above this grabs...
pub const GRAB_ON: f32 = 0.7;
/// ...and only at or below this lets go again.
pub const GRAB_OFF: f32 = 0.35;
/// The trigger clicks at this, and re-arms below [`GRAB_OFF`].
pub const CLICK_ON: f32 = 0.75;
/// A thumbstick pushed this far starts a teleport or a snap turn...
pub const STICK_ON: f32 = 0.7;
/// ...and must come back inside this before the next one.
pub const STICK_OFF: f32 = 0.3;

pub const LEFT: usize = 0;
pub const RIGHT: usize = 1;

/// A tracked pose relative to the tracking space's floor origin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackedPose {
    pub position: Vec3,
    pub rotation: Quat,
}

impl TrackedPose {
    pub fn new(position: Vec3, rotation: Quat) -> Self {
        TrackedPose { position, rotation }
    }

    pub fn transform(&self) -> Transform {
        Transform::from_translation(self.position).with_rotation(self.rotation)
    }

    pub fn is_finite(&self) -> bool {
        self.position.is_finite() && self.rotation.is_finite()
    }
}

/// One hand: a controller, or a tracked hand whose pinch stands in for the
/// grip and the trigger.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HandInput {
    /// Where the hand holds things (the controller's grip, or the palm).
    pub grip: Option<TrackedPose>,
    /// Where the hand points from (forward is -Z).
    pub aim: Option<TrackedPose>,
    /// Grip squeeze, 0 to 1.
    pub squeeze: f32,
    /// Trigger, 0 to 1.
    pub trigger: f32,
    /// Thumb and index pinch strength, 0 to 1 (hand tracking).
    pub pinch: f32,
    /// Thumbstick, x right and y forward, -1 to 1.
    pub stick: Vec2,
    /// The talk button (a face button: X or A) held: push-to-talk.
    pub talk: bool,
}

impl HandInput {
    /// How hard the hand holds: the grip, or a pinch without a controller.
    pub fn hold(&self) -> f32 {
        self.squeeze.max(self.pinch)
    }
}

/// This frame's headset and hands, in tracking space.
#[derive(Resource, Debug, Clone, Default, PartialEq)]
pub struct XrInput {
    pub head: Option<TrackedPose>,
    pub hands: [HandInput; 2],
}

impl XrInput {
    /// Bad values from a runtime (or a hostile test) are dropped, never used.
    pub fn sanitized(mut self) -> Self {
        let unit = |v: f32| {
            if v.is_finite() {
                v.clamp(0.0, 1.0)
            } else {
                0.0
            }
        };
        self.head = self.head.filter(TrackedPose::is_finite);
        for hand in &mut self.hands {
            hand.grip = hand.grip.filter(TrackedPose::is_finite);
            hand.aim = hand.aim.filter(TrackedPose::is_finite);
            hand.squeeze = unit(hand.squeeze);
            hand.trigger = unit(hand.trigger);
            hand.pinch = unit(hand.pinch);
            hand.stick = if hand.stick.is_finite() {
                hand.stick.clamp(Vec2::splat(-1.0), Vec2::splat(1.0))
            } else {
                Vec2::ZERO
            };
        }
        self
    }
}

/// An edge read from the input this frame.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gesture {
    Grab(usize),
    Release(usize),
    /// The trigger: a click on what the hand's ray points at.
    Click(usize),
    /// The stick pushed forward: aiming a teleport from this hand.
    TeleportAim(usize),
    /// The stick let go while aiming: go there.
    TeleportGo(usize),
    /// The stick pushed sideways: turn by one step (+1 right, -1 left).
    SnapTurn(i8),
}

/// The gesture reader's memory: which edges have fired and not re-armed.
#[derive(Resource, Debug, Default, Clone)]
pub struct Gestures {
    holding: [bool; 2],
    clicked: [bool; 2],
    aiming: [bool; 2],
    turned: [bool; 2],
}

impl Gestures {
    /// Whether this hand is aiming a teleport.
    pub fn aiming(&self, hand: usize) -> bool {
        self.aiming[hand]
    }

    pub fn holding(&self, hand: usize) -> bool {
        self.holding[hand]
    }

    /// The edges in `input` since the last call.
    pub fn read(&mut self, input: &XrInput) -> Vec<Gesture> {
        let mut out = Vec::new();
        for (i, hand) in input.hands.iter().enumerate() {
            // A hand the runtime lost lets go.
            let hold = if hand.grip.is_some() {
                hand.hold()
            } else {
                0.0
            };
            if !self.holding[i] && hold >= GRAB_ON {
                self.holding[i] = true;
                out.push(Gesture::Grab(i));
            } else if self.holding[i] && hold <= GRAB_OFF {
                self.holding[i] = false;
                out.push(Gesture::Release(i));
            }
            if !self.clicked[i] && hand.trigger >= CLICK_ON {
                self.clicked[i] = true;
                out.push(Gesture::Click(i));
            } else if self.clicked[i] && hand.trigger <= GRAB_OFF {
                self.clicked[i] = false;
            }
            let stick = hand.stick;
            if self.aiming[i] {
                if stick.length() <= STICK_OFF {
                    self.aiming[i] = false;
                    out.push(Gesture::TeleportGo(i));
                }
            } else if stick.y >= STICK_ON && stick.y.abs() >= stick.x.abs() {
                self.aiming[i] = true;
                out.push(Gesture::TeleportAim(i));
            }
            if self.turned[i] {
                if stick.x.abs() <= STICK_OFF {
                    self.turned[i] = false;
                }
            } else if !self.aiming[i] && stick.x.abs() >= STICK_ON && stick.x.abs() > stick.y.abs()
            {
                self.turned[i] = true;
                out.push(Gesture::SnapTurn(if stick.x > 0.0 { 1 } else { -1 }));
            }
        }
        out
    }
}

/// Where a teleport arc from `origin` along `direction` meets the floor
/// (y = 0): a throw at [`ARC_SPEED`] under [`ARC_GRAVITY`], so aiming higher
/// reaches further. `None` when it never comes down within two seconds.
pub fn teleport_arc(origin: Vec3, direction: Vec3) -> Option<Vec3> {
    let v = direction.normalize_or_zero() * ARC_SPEED;
    if v == Vec3::ZERO || origin.y < 0.0 {
        return None;
    }
    // y(t) = origin.y + v.y t - g t² / 2 = 0, the later root.
    let g = ARC_GRAVITY;
    let disc = v.y * v.y + 2.0 * g * origin.y;
    let t = (v.y + disc.sqrt()) / g;
    (t.is_finite() && t <= 2.0).then(|| (origin + v * t - Vec3::Y * (g * t * t / 2.0)).with_y(0.0))
}

/// The teleport arc's launch speed, metres per second.
pub const ARC_SPEED: f32 = 7.0;
/// The arc's gravity, metres per second squared.
pub const ARC_GRAVITY: f32 = 9.8;
/// One snap turn, radians.
pub const SNAP_TURN: f32 = std::f32::consts::PI / 6.0;

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl Fn(&mut HandInput)) -> XrInput {
        let mut input = XrInput::default();
        for hand in &mut input.hands {
            hand.grip = Some(TrackedPose::new(Vec3::new(0.0, 1.2, -0.3), Quat::IDENTITY));
        }
        f(&mut input.hands[RIGHT]);
        input
    }

    #[test]
    fn grabbing_has_hysteresis_and_a_pinch_grabs_too() {
        let mut g = Gestures::default();
        assert_eq!(g.read(&with(|h| h.squeeze = 0.6)), []);
        assert_eq!(g.read(&with(|h| h.squeeze = 0.8)), [Gesture::Grab(RIGHT)]);
        // Easing off a little keeps hold; the edge fires once.
        assert_eq!(g.read(&with(|h| h.squeeze = 0.5)), []);
        assert_eq!(g.read(&with(|h| h.squeeze = 0.9)), []);
        assert_eq!(
            g.read(&with(|h| h.squeeze = 0.2)),
            [Gesture::Release(RIGHT)]
        );
        assert_eq!(g.read(&with(|h| h.pinch = 0.95)), [Gesture::Grab(RIGHT)]);
        // The hand lost by tracking lets go.
        let mut lost = with(|h| h.pinch = 0.95);
        lost.hands[RIGHT].grip = None;
        assert_eq!(g.read(&lost), [Gesture::Release(RIGHT)]);
    }

    #[test]
    fn the_trigger_clicks_once_per_press() {
        let mut g = Gestures::default();
        assert_eq!(g.read(&with(|h| h.trigger = 0.9)), [Gesture::Click(RIGHT)]);
        assert_eq!(g.read(&with(|h| h.trigger = 1.0)), []);
        assert_eq!(g.read(&with(|h| h.trigger = 0.1)), []);
        assert_eq!(g.read(&with(|h| h.trigger = 0.8)), [Gesture::Click(RIGHT)]);
    }

    #[test]
    fn the_stick_aims_a_teleport_and_snap_turns_once_per_push() {
        let mut g = Gestures::default();
        let stick = |x, y| with(move |h| h.stick = Vec2::new(x, y));
        assert_eq!(g.read(&stick(0.0, 0.9)), [Gesture::TeleportAim(RIGHT)]);
        assert!(g.aiming(RIGHT));
        // Sideways while aiming does not turn.
        assert_eq!(g.read(&stick(0.5, 0.8)), []);
        assert_eq!(g.read(&stick(0.0, 0.1)), [Gesture::TeleportGo(RIGHT)]);
        assert_eq!(g.read(&stick(0.9, 0.0)), [Gesture::SnapTurn(1)]);
        assert_eq!(g.read(&stick(1.0, 0.0)), []);
        assert_eq!(g.read(&stick(0.0, 0.0)), []);
        assert_eq!(g.read(&stick(-0.8, 0.1)), [Gesture::SnapTurn(-1)]);
    }

    #[test]
    fn bad_numbers_from_a_runtime_are_dropped() {
        let mut input = with(|h| {
            h.squeeze = f32::NAN;
            h.stick = Vec2::new(f32::INFINITY, 0.0);
            h.trigger = 7.0;
        });
        input.head = Some(TrackedPose::new(Vec3::NAN, Quat::IDENTITY));
        let clean = input.sanitized();
        assert_eq!(clean.head, None);
        assert_eq!(clean.hands[RIGHT].squeeze, 0.0);
        assert_eq!(clean.hands[RIGHT].stick, Vec2::ZERO);
        assert_eq!(clean.hands[RIGHT].trigger, 1.0);
    }

    #[test]
    fn the_teleport_arc_lands_further_when_aimed_higher() {
        let hand = Vec3::new(0.0, 1.2, 0.0);
        let low = teleport_arc(hand, Vec3::new(0.0, -0.5, -1.0)).unwrap();
        let level = teleport_arc(hand, Vec3::new(0.0, 0.0, -1.0)).unwrap();
        let high = teleport_arc(hand, Vec3::new(0.0, 0.4, -1.0)).unwrap();
        assert_eq!(low.y, 0.0);
        assert!(low.z > level.z && level.z > high.z, "{low} {level} {high}");
        // Level from 1.2 m: t = sqrt(2 h / g), distance = v t.
        let t = (2.0 * 1.2f32 / ARC_GRAVITY).sqrt();
        assert!((level.z + ARC_SPEED * t).abs() < 1e-3);
        assert_eq!(teleport_arc(Vec3::new(0.0, -1.0, 0.0), Vec3::NEG_Z), None);
    }
}
