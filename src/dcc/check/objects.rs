//! Objects: create, transforms (set and read back), selection, delete.

use std::collections::BTreeMap;

use glam::DVec3;
use serde_json::json;

use super::compare::{euler_quat, near3, same_transform};
use super::suite::{Suite, fail};
use super::{ARMATURE, CAMERA, CUBE, EMPTY, LIGHT, SPHERE};
use crate::dcc::DccErrorCode;
use crate::dcc::types::*;

/// Creates one object of each type; returns name → object type as the adapter reports it.
pub(super) async fn check_create(s: &mut Suite<'_>) -> BTreeMap<String, String> {
    let mut created = BTreeMap::new();
    if !s.has("scene.create_object") {
        s.skip("scene.create_object", "not advertised");
        return created;
    }
    let kinds = [
        ("empty", EMPTY, [0.0, 0.0, 0.0]),
        ("cube", CUBE, [10.0, 20.0, 30.0]),
        ("sphere", SPHERE, [-50.0, 0.0, 25.0]),
        ("camera", CAMERA, [0.0, 150.0, 600.0]),
        ("light", LIGHT, [100.0, 300.0, 100.0]),
        ("armature", ARMATURE, [0.0, 0.0, 0.0]),
    ];
    for (kind, name, translate) in kinds {
        let check = format!("scene.create_object {kind}");
        let r: Result<SceneObject, String> = s
            .get(
                "scene.create_object",
                json!({"object_type": kind, "name": name, "translate": translate}),
            )
            .await;
        let outcome = match r {
            Ok(o) if o.name != name => fail(format!(
                "asked for {name:?}, got {:?} in a fresh scene",
                o.name
            )),
            Ok(o) => {
                created.insert(o.name.clone(), o.object_type.clone());
                let mut out = Ok(format!("{} ({})", o.name, o.object_type));
                if s.has("transform.get_transform") {
                    match s.transform(name).await {
                        Ok(t) if near3(t.translate, translate, 0.05) => {}
                        Ok(t) => {
                            out = fail(format!(
                                "created at {translate:?} cm, reads back {:?}",
                                t.translate
                            ))
                        }
                        Err(e) => out = fail(e),
                    }
                }
                out
            }
            Err(e) => fail(e),
        };
        s.record(&check, outcome);
    }
    let outcome = s
        .expect_error(
            "scene.create_object",
            json!({"object_type": "teapot", "name": "sc_check_bad"}),
            &[DccErrorCode::InvalidInput, DccErrorCode::Unsupported],
        )
        .await;
    s.record(
        "scene.create_object rejects unknown types",
        outcome.map(|_| "INVALID_INPUT".into()),
    );

    if s.has("scene.list_objects") {
        let all: Result<Vec<SceneObject>, String> = s.get("scene.list_objects", json!({})).await;
        let outcome = all.and_then(|all| {
            let missing: Vec<&String> = created
                .keys()
                .filter(|n| !all.iter().any(|o| &o.name == *n))
                .collect();
            if missing.is_empty() {
                Ok(format!("{} objects", all.len()))
            } else {
                fail(format!("created but not listed: {missing:?}"))
            }
        });
        s.record("scene.list_objects", outcome);
        if let Some(cube_type) = created.get(CUBE).cloned() {
            let filtered: Result<Vec<SceneObject>, String> = s
                .get("scene.list_objects", json!({"object_type": cube_type}))
                .await;
            let outcome = filtered.and_then(|list| {
                if list.iter().all(|o| o.object_type == cube_type)
                    && list.iter().any(|o| o.name == CUBE)
                {
                    Ok(format!("{} of type {cube_type}", list.len()))
                } else {
                    fail(format!(
                        "filter by {cube_type:?} returned {:?}",
                        list.iter()
                            .map(|o| (&o.name, &o.object_type))
                            .collect::<Vec<_>>()
                    ))
                }
            });
            s.record("scene.list_objects object_type filter", outcome);
        }
    }
    created
}

pub(super) async fn check_transforms(s: &mut Suite<'_>, created: &BTreeMap<String, String>) {
    if !(s.has("transform.set_transform")
        && s.has("transform.get_transform")
        && created.contains_key(CUBE))
    {
        s.skip("transform", "transform.get/set_transform not advertised");
        return;
    }
    let want = ObjectTransform {
        translate: [12.5, -40.0, 7.0],
        rotate: [30.0, 45.0, 60.0],
        scale: [1.5, 2.0, 0.5],
    };
    let set: Result<ObjectTransform, String> = s
        .get("transform.set_transform", json!({"object_name": CUBE, "translate": want.translate, "rotate": want.rotate, "scale": want.scale}))
        .await;
    let outcome = match set {
        Ok(returned) => match s.transform(CUBE).await {
            Ok(got) => same_transform(&want, &got)
                .and_then(|_| same_transform(&want, &returned))
                .map(|_| "set then get: equal (cm, degrees, Euler XYZ)".into()),
            Err(e) => fail(e),
        },
        Err(e) => fail(e),
    };
    s.record("transform.set_transform round trip", outcome);

    let partial: Result<ObjectTransform, String> = s
        .get(
            "transform.set_transform",
            json!({"object_name": CUBE, "translate": [1.0, 2.0, 3.0]}),
        )
        .await;
    let outcome = partial.and_then(|t| {
        let expect = ObjectTransform {
            translate: [1.0, 2.0, 3.0],
            ..want
        };
        same_transform(&expect, &t).map(|_| "absent fields unchanged".into())
    });
    s.record("transform.set_transform partial", outcome);

    // Euler order: R = Rz · Ry · Rx (X applied first): [90, 0, 90] takes +Y to +Z (X first turns
    // +Y into +Z, which Z then keeps); the other order would take +Y to -X.
    let order: Result<ObjectTransform, String> = s
        .get(
            "transform.set_transform",
            json!({"object_name": CUBE, "rotate": [90.0, 0.0, 90.0], "scale": [1.0, 1.0, 1.0]}),
        )
        .await;
    let outcome = order.and_then(|t| {
        let q = euler_quat(t.rotate);
        let y = q * DVec3::Y;
        if (y - DVec3::Z).length() < 1e-3 {
            Ok("Euler XYZ: X applied first".into())
        } else {
            fail(format!(
                "rotate [90, 0, 90] read back as {:?}, which maps +Y to {y:?} (expected +Z)",
                t.rotate
            ))
        }
    });
    s.record("transform Euler order", outcome);

    let outcome = s
        .expect_error(
            "transform.get_transform",
            json!({"object_name": "sc_check_missing"}),
            &[DccErrorCode::SceneError, DccErrorCode::InvalidInput],
        )
        .await;
    s.record(
        "transform.get_transform unknown object",
        outcome.map(|_| "SCENE_ERROR".into()),
    );

    if s.has("transform.get_bounding_box") {
        let bb: Result<BoundingBox, String> = s
            .get("transform.get_bounding_box", json!({"object_name": CUBE}))
            .await;
        let outcome = bb.and_then(|b| {
            let inside = (0..3).all(|i| {
                b.min[i] <= b.max[i]
                    && b.min[i] <= [1.0, 2.0, 3.0][i] + 0.05
                    && b.max[i] >= [1.0, 2.0, 3.0][i] - 0.05
            });
            let size = (0..3).map(|i| b.max[i] - b.min[i]).fold(0.0, f64::max);
            if !inside {
                fail(format!(
                    "box {:?}..{:?} does not contain the cube's origin [1, 2, 3] cm",
                    b.min, b.max
                ))
            } else if !(1.0..=100_000.0).contains(&size) {
                fail(format!(
                    "a cube {size} cm across: units are not centimetres?"
                ))
            } else {
                Ok(format!("{size:.1} cm across"))
            }
        });
        s.record("transform.get_bounding_box", outcome);
    }

    if s.has("transform.rename_object") && created.contains_key(SPHERE) {
        let renamed: Result<String, String> = s
            .get(
                "transform.rename_object",
                json!({"old_name": SPHERE, "new_name": "sc_check_ball"}),
            )
            .await;
        let outcome = match renamed {
            Ok(n) if n == "sc_check_ball" => match s.transform("sc_check_ball").await {
                Ok(_) => s
                    .expect_error(
                        "transform.get_transform",
                        json!({"object_name": SPHERE}),
                        &[DccErrorCode::SceneError, DccErrorCode::InvalidInput],
                    )
                    .await
                    .map(|_| "new name works, old name is gone".into()),
                Err(e) => fail(e),
            },
            Ok(n) => fail(format!("renamed to {n:?}, expected sc_check_ball")),
            Err(e) => fail(e),
        };
        s.record("transform.rename_object", outcome);
        // Back, so later checks can use the old name.
        let _: Result<String, String> = s
            .get(
                "transform.rename_object",
                json!({"old_name": "sc_check_ball", "new_name": SPHERE}),
            )
            .await;
    }
}

pub(super) async fn check_selection(s: &mut Suite<'_>, created: &BTreeMap<String, String>) {
    if s.has("scene.set_selection") && s.has("scene.get_selection") {
        let set: Result<Vec<String>, String> = s
            .get(
                "scene.set_selection",
                json!({"object_names": [CUBE, EMPTY]}),
            )
            .await;
        let got: Result<Vec<String>, String> = s.get("scene.get_selection", json!({})).await;
        let outcome = match (set, got) {
            (Ok(_), Ok(mut g)) => {
                g.sort();
                if g == [CUBE.to_string(), EMPTY.to_string()] {
                    Ok("set then get: equal".into())
                } else {
                    fail(format!("selection is {g:?}"))
                }
            }
            (Err(e), _) | (_, Err(e)) => fail(e),
        };
        s.record("scene.set_selection / get_selection", outcome);
        let outcome = s
            .expect_error(
                "scene.set_selection",
                json!({"object_names": ["sc_check_missing"]}),
                &[DccErrorCode::SceneError, DccErrorCode::InvalidInput],
            )
            .await;
        s.record(
            "scene.set_selection unknown object",
            outcome.map(|_| "refused".into()),
        );
    }
    if s.has("scene.select_by_type")
        && let Some(t) = created.get(CAMERA)
    {
        let sel: Result<Vec<String>, String> = s
            .get("scene.select_by_type", json!({"object_type": t}))
            .await;
        s.record(
            "scene.select_by_type",
            sel.and_then(|v| {
                if v.iter().any(|n| n == CAMERA) {
                    Ok(format!("{} of type {t}", v.len()))
                } else {
                    fail(format!("{v:?} lacks the camera"))
                }
            }),
        );
    }
    if s.has("scene.set_visibility") && s.has("scene.list_objects") {
        let r: Result<bool, String> = s
            .get(
                "scene.set_visibility",
                json!({"object_name": LIGHT, "visible": false}),
            )
            .await;
        let list: Result<Vec<SceneObject>, String> = s.get("scene.list_objects", json!({})).await;
        let outcome = match (r, list) {
            (Ok(_), Ok(l)) => match l.iter().find(|o| o.name == LIGHT) {
                Some(o) if !o.visible => Ok("hidden object listed as visible: false".into()),
                Some(_) => fail("still listed as visible"),
                None => fail("the light is gone"),
            },
            (Err(e), _) | (_, Err(e)) => fail(e),
        };
        s.record("scene.set_visibility", outcome);
        let _: Result<bool, String> = s
            .get(
                "scene.set_visibility",
                json!({"object_name": LIGHT, "visible": true}),
            )
            .await;
    }
}

pub(super) async fn check_delete(s: &mut Suite<'_>, created: &BTreeMap<String, String>) {
    if !(s.has("scene.delete_objects") && created.contains_key(SPHERE)) {
        return;
    }
    let r: Result<Vec<String>, String> = s
        .get("scene.delete_objects", json!({"object_names": [SPHERE]}))
        .await;
    let outcome = match r {
        Ok(d) if d.iter().any(|n| n == SPHERE) => s
            .expect_error(
                "transform.get_transform",
                json!({"object_name": SPHERE}),
                &[DccErrorCode::SceneError, DccErrorCode::InvalidInput],
            )
            .await
            .map(|_| "deleted, and gone".into()),
        Ok(d) => fail(format!("answered {d:?}")),
        Err(e) => fail(e),
    };
    s.record("scene.delete_objects", outcome);
}
