//! Conversions between the wire poses and Bevy's math types, so the client
//! converts in one place. Behind the `bevy` feature: the server never links
//! Bevy's math for this.
//!
//! Protocol yaw 0 faces +Z; a Bevy entity looks down its -Z, so a body's
//! rotation is the yaw turned half a turn.

use super::{PoseNet, TrackedPoseNet};
use bevy_math::{Quat, Vec3};

/// The rotation of a body facing protocol `yaw` (radians about +Y).
pub fn yaw_rotation(yaw: f32) -> Quat {
    Quat::from_rotation_y(yaw + std::f32::consts::PI)
}

/// The protocol yaw of a rotation: where its forward (-Z) points on the
/// floor. Pitch and roll are dropped.
pub fn protocol_yaw(rotation: Quat) -> f32 {
    let forward = rotation * Vec3::NEG_Z;
    forward.x.atan2(forward.z)
}

impl From<(Vec3, Quat)> for TrackedPoseNet {
    fn from((position, rotation): (Vec3, Quat)) -> Self {
        TrackedPoseNet {
            position: position.to_array(),
            rotation: rotation.to_array(),
        }
    }
}

impl From<TrackedPoseNet> for (Vec3, Quat) {
    fn from(pose: TrackedPoseNet) -> Self {
        (
            Vec3::from_array(pose.position),
            Quat::from_array(pose.rotation),
        )
    }
}

/// A body on the floor at `position`, rotated by `rotation` (only its yaw is
/// kept), with no tracked head or hands.
impl From<(Vec3, Quat)> for PoseNet {
    fn from((position, rotation): (Vec3, Quat)) -> Self {
        PoseNet::at(position.to_array(), protocol_yaw(rotation))
    }
}

/// The body's position and the rotation of its facing yaw; tracked head and
/// hands, if any, convert through [`TrackedPoseNet`].
impl From<&PoseNet> for (Vec3, Quat) {
    fn from(pose: &PoseNet) -> Self {
        (Vec3::from_array(pose.position), yaw_rotation(pose.yaw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::{FRAC_PI_2, PI};

    fn close(a: Vec3, b: Vec3) -> bool {
        (a - b).length() < 1e-5
    }

    #[test]
    fn yaw_rotation_faces_where_the_protocol_says() {
        assert!(close(yaw_rotation(0.0) * Vec3::NEG_Z, Vec3::Z));
        assert!(close(yaw_rotation(FRAC_PI_2) * Vec3::NEG_Z, Vec3::X));
    }

    #[test]
    fn yaw_round_trips_through_a_rotation() {
        for yaw in [-3.0, -FRAC_PI_2, -0.25, 0.0, 0.7, FRAC_PI_2, 3.0] {
            let back = protocol_yaw(yaw_rotation(yaw));
            assert!((back - yaw).abs() < 1e-5, "{yaw} came back as {back}");
        }
        // A pitched head still reports the yaw it faces.
        let pitched = yaw_rotation(0.7) * Quat::from_rotation_x(-0.5);
        assert!((protocol_yaw(pitched) - 0.7).abs() < 1e-5);
        // Facing straight back lands on either end of the atan2 range.
        assert!((protocol_yaw(yaw_rotation(PI)).abs() - PI).abs() < 1e-5);
    }

    #[test]
    fn tracked_poses_round_trip() {
        let position = Vec3::new(1.5, 1.7, -2.25);
        let rotation = Quat::from_euler(bevy_math::EulerRot::YXZ, 0.4, -0.3, 0.1);
        let net = TrackedPoseNet::from((position, rotation));
        assert_eq!(net.position, [1.5, 1.7, -2.25]);
        assert_eq!(net.rotation, rotation.to_array());
        let (p, r) = <(Vec3, Quat)>::from(net);
        assert_eq!((p, r), (position, rotation));
    }

    #[test]
    fn body_poses_round_trip() {
        let position = Vec3::new(-3.0, 0.0, 4.5);
        let pose = PoseNet::from((position, yaw_rotation(1.2)));
        assert_eq!(pose.position, position.to_array());
        assert!((pose.yaw - 1.2).abs() < 1e-5);
        assert_eq!(pose.xr, None);
        let (p, r) = <(Vec3, Quat)>::from(&pose);
        assert_eq!(p, position);
        assert!(close(r * Vec3::NEG_Z, yaw_rotation(1.2) * Vec3::NEG_Z));
    }
}
