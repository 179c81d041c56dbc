//! Hierarchy: groups, reparenting (world transforms kept), children and parents.

use std::collections::BTreeMap;

use serde_json::json;

use super::compare::same_transform;
use super::suite::{Suite, fail};
use super::{CUBE, EMPTY, LIGHT, SPHERE};
use crate::dcc::DccErrorCode;
use crate::dcc::types::*;

pub(super) async fn check_hierarchy(s: &mut Suite<'_>, created: &BTreeMap<String, String>) {
    if !(s.has("hierarchy.reparent")
        && s.has("transform.get_transform")
        && created.contains_key(EMPTY))
    {
        s.skip("hierarchy", "hierarchy.reparent not advertised");
        return;
    }
    let _: Result<ObjectTransform, String> = s
        .get("transform.set_transform", json!({"object_name": EMPTY, "translate": [100.0, 50.0, -20.0], "rotate": [0.0, 90.0, 30.0], "scale": [2.0, 2.0, 2.0]}))
        .await;
    let before = s.transform(CUBE).await;
    let moved: Result<SceneObject, String> = s
        .get(
            "hierarchy.reparent",
            json!({"object_name": CUBE, "new_parent": EMPTY, "preserve_world_transform": true}),
        )
        .await;
    let outcome = match (before.clone(), moved) {
        (Ok(before), Ok(o)) if o.parent.as_deref() == Some(EMPTY) => {
            match s.transform(CUBE).await {
                Ok(after) => same_transform(&before, &after).map(|_| "world transform kept".into()),
                Err(e) => fail(e),
            }
        }
        (Ok(_), Ok(o)) => fail(format!("parent is {:?} after reparent", o.parent)),
        (Err(e), _) | (_, Err(e)) => fail(e),
    };
    s.record("hierarchy.reparent keeps world transform", outcome);

    if s.has("hierarchy.get_parent") {
        let parent: Result<Option<String>, String> = s
            .get("hierarchy.get_parent", json!({"object_name": CUBE}))
            .await;
        s.record(
            "hierarchy.get_parent",
            parent.and_then(|p| {
                if p.as_deref() == Some(EMPTY) {
                    Ok(format!("{p:?}"))
                } else {
                    fail(format!("{p:?}, expected {EMPTY:?}"))
                }
            }),
        );
    }
    if s.has("hierarchy.get_children") {
        let kids: Result<Vec<SceneObject>, String> = s
            .get("hierarchy.get_children", json!({"object_name": EMPTY}))
            .await;
        s.record(
            "hierarchy.get_children",
            kids.and_then(|k| {
                if k.iter().any(|o| o.name == CUBE) {
                    Ok(format!("{} children", k.len()))
                } else {
                    fail("the reparented cube is not a child")
                }
            }),
        );
        let roots: Result<Vec<SceneObject>, String> = s
            .get("hierarchy.get_children", json!({"object_name": null}))
            .await;
        s.record(
            "hierarchy.get_children of the root",
            roots.and_then(|r| {
                if r.iter().any(|o| o.name == EMPTY) && !r.iter().any(|o| o.name == CUBE) {
                    Ok(format!("{} roots", r.len()))
                } else {
                    fail("roots do not match the hierarchy")
                }
            }),
        );
    }
    if s.has("hierarchy.get_hierarchy") {
        let tree: Result<Vec<SceneNode>, String> =
            s.get("hierarchy.get_hierarchy", json!({})).await;
        s.record(
            "hierarchy.get_hierarchy",
            tree.and_then(|t| {
                let found = t
                    .iter()
                    .find(|n| n.object.name == EMPTY)
                    .is_some_and(|n| n.children.iter().any(|c| c.object.name == CUBE));
                if found {
                    Ok(format!("{} roots", t.len()))
                } else {
                    fail("the cube is not under the empty in the tree")
                }
            }),
        );
    }
    if let Ok(before) = before {
        let back: Result<SceneObject, String> = s
            .get(
                "hierarchy.reparent",
                json!({"object_name": CUBE, "new_parent": null}),
            )
            .await;
        let outcome = match back {
            Ok(o) if o.parent.is_none() => match s.transform(CUBE).await {
                Ok(after) => same_transform(&before, &after)
                    .map(|_| "back to the root, world transform kept".into()),
                Err(e) => fail(e),
            },
            Ok(o) => fail(format!("parent is {:?} after reparent to null", o.parent)),
            Err(e) => fail(e),
        };
        s.record("hierarchy.reparent to the root", outcome);
    }
    let outcome = s
        .expect_error(
            "hierarchy.reparent",
            json!({"object_name": EMPTY, "new_parent": "sc_check_missing"}),
            &[DccErrorCode::SceneError, DccErrorCode::InvalidInput],
        )
        .await;
    s.record(
        "hierarchy.reparent unknown parent",
        outcome.map(|_| "refused".into()),
    );

    if s.has("hierarchy.group_objects")
        && s.has("hierarchy.ungroup")
        && created.contains_key(SPHERE)
        && created.contains_key(LIGHT)
    {
        let before_sphere = s.transform(SPHERE).await;
        let group: Result<SceneObject, String> = s
            .get(
                "hierarchy.group_objects",
                json!({"object_names": [SPHERE, LIGHT], "group_name": "sc_check_group"}),
            )
            .await;
        let outcome = match group {
            Ok(g) => {
                let parent: Result<Option<String>, String> = s
                    .get("hierarchy.get_parent", json!({"object_name": SPHERE}))
                    .await;
                match (parent, before_sphere.clone(), s.transform(SPHERE).await) {
                    (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => fail(e),
                    (Ok(Some(p)), Ok(b), Ok(a)) if p == g.name => {
                        same_transform(&b, &a).map(|_| format!("grouped under {}", g.name))
                    }
                    (Ok(p), _, _) => fail(format!(
                        "sphere's parent is {p:?}, not the group {:?}",
                        g.name
                    )),
                }
            }
            Err(e) => fail(e),
        };
        let group_name = "sc_check_group";
        s.record("hierarchy.group_objects", outcome);
        let former: Result<Vec<String>, String> = s
            .get("hierarchy.ungroup", json!({"group_name": group_name}))
            .await;
        let outcome = former.and_then(|f| {
            if f.iter().any(|n| n == SPHERE) && f.iter().any(|n| n == LIGHT) {
                Ok(format!("{f:?}"))
            } else {
                fail(format!("former children {f:?}"))
            }
        });
        let outcome = match (outcome, before_sphere, s.transform(SPHERE).await) {
            (Ok(d), Ok(b), Ok(a)) => same_transform(&b, &a).map(|_| d),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => fail(e),
        };
        // The children really moved out, and the group is gone.
        let parent: Result<Option<String>, String> = s
            .get("hierarchy.get_parent", json!({"object_name": SPHERE}))
            .await;
        let objects: Result<Vec<SceneObject>, String> =
            s.get("scene.list_objects", json!({})).await;
        let outcome = match (outcome, parent, objects) {
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => fail(e),
            (Ok(_), Ok(Some(p)), _) if p == group_name => {
                fail(format!("the sphere is still under {group_name:?}"))
            }
            (Ok(_), _, Ok(list)) if list.iter().any(|o| o.name == group_name) => {
                fail(format!("{group_name:?} still exists after ungroup"))
            }
            (Ok(d), _, _) => Ok(d),
        };
        s.record("hierarchy.ungroup", outcome);
    }
}
