//! Comparing what an adapter reads back with what was set (units of docs/bridge-protocol.md#conventions).

use glam::{DQuat, EulerRot};

use super::suite::fail;
use crate::dcc::types::ObjectTransform;

pub(super) fn near3(a: [f64; 3], b: [f64; 3], tol: f64) -> bool {
    (0..3).all(|i| (a[i] - b[i]).abs() <= tol)
}

pub(super) fn euler_quat(r: [f64; 3]) -> DQuat {
    let [x, y, z] = r.map(f64::to_radians);
    DQuat::from_euler(EulerRot::ZYX, z, y, x)
}

/// Angle between two Euler XYZ rotations, degrees (so 180/0/180 equals 0/180/0).
pub(super) fn rot_diff(a: [f64; 3], b: [f64; 3]) -> f64 {
    let d = euler_quat(a).dot(euler_quat(b)).abs().min(1.0);
    (2.0 * d.acos()).to_degrees()
}

pub(super) fn same_transform(a: &ObjectTransform, b: &ObjectTransform) -> Result<(), String> {
    if !near3(a.translate, b.translate, 0.05) {
        return fail(format!(
            "translate {:?} became {:?}",
            a.translate, b.translate
        ));
    }
    if rot_diff(a.rotate, b.rotate) > 0.05 {
        return fail(format!("rotate {:?} became {:?}", a.rotate, b.rotate));
    }
    if !near3(a.scale, b.scale, 1e-3) {
        return fail(format!("scale {:?} became {:?}", a.scale, b.scale));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn euler_comparison_ignores_equivalent_angles() {
        assert!(rot_diff([180.0, 0.0, 180.0], [0.0, 180.0, 0.0]) < 1e-3);
        assert!(rot_diff([10.0, 0.0, 0.0], [0.0, 0.0, 0.0]) > 9.9);
    }
}
