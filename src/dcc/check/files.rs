//! Files: save, open, export and import.

use serde_json::{Value, json};

use super::EMPTY;
use super::suite::{Outcome, Suite, fail};
use crate::dcc::types::*;

/// A path of its own for this run: several checks may run in one process at once.
pub(super) fn scratch_path(what: &str) -> std::path::PathBuf {
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "stagecraft-check-{}-{run}-{what}",
        std::process::id()
    ))
}

pub(super) async fn check_files(s: &mut Suite<'_>, hello: &Hello) {
    if !s.has("scene.save_file") {
        s.skip("scene files", "scene.save_file not advertised");
        return;
    }
    // The suite must pick a format the DCC writes; these are the ones it knows.
    let ext = match hello.info.dcc_type.as_str() {
        "stage" => "glb",
        "blender" => "blend",
        "toy" => "json",
        other => {
            s.skip(
                "scene files",
                &format!("no known native file format for dcc_type {other:?}"),
            );
            return;
        }
    };
    let dir = scratch_path("files");
    if std::fs::create_dir_all(&dir).is_err() {
        s.skip("scene files", "cannot create a temporary folder");
        return;
    }
    let path = dir.join(format!("adapter_check.{ext}"));
    let saved: Result<String, String> = s
        .get(
            "scene.save_file",
            json!({"file_path": path.display().to_string()}),
        )
        .await;
    s.record(
        "scene.save_file",
        saved.and_then(|p| {
            if std::path::Path::new(&p).is_file() {
                Ok(p)
            } else {
                fail(format!("answered {p:?} but no file is there"))
            }
        }),
    );
    if s.has("scene.open_file") {
        let info: Result<SceneInfo, String> = s
            .get(
                "scene.open_file",
                json!({"file_path": path.display().to_string(), "force": true}),
            )
            .await;
        let outcome = match info {
            Ok(i) => match s.transform(EMPTY).await {
                Ok(_) => Ok(format!("reopened {:?}", i.name)),
                Err(e) => fail(format!("reopened, but: {e}")),
            },
            Err(e) => fail(e),
        };
        s.record("scene.open_file", outcome);
    }
    if s.has("scene.export_file") {
        let format = if ext == "json" { "json" } else { "glb" };
        let out = dir.join(format!("adapter_check_export.{format}"));
        let r: Result<String, String> = s
            .get(
                "scene.export_file",
                json!({"file_path": out.display().to_string(), "format": format}),
            )
            .await;
        s.record(
            "scene.export_file",
            r.and_then(|p| {
                if std::path::Path::new(&p).is_file() {
                    Ok(format!("{format}: {p}"))
                } else {
                    fail(format!("no file at {p:?}"))
                }
            }),
        );
    }
    if s.has("scene.import_file") {
        let outcome = check_import(s, &dir).await;
        s.record("scene.import_file bvh", outcome);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A two-joint BVH in centimetres: `scene.import_file` must make one armature of two joints
/// (docs/bridge-protocol.md#methods). The armature is deleted again when the adapter can.
const CHECK_BVH: &str = "HIERARCHY\nROOT Hips\n{\n OFFSET 0 90 0\n \
    CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n JOINT Spine\n {\n  \
    OFFSET 0 30 0\n  CHANNELS 3 Zrotation Xrotation Yrotation\n  End Site\n  {\n   OFFSET 0 20 0\n  }\n \
    }\n}\nMOTION\nFrames: 2\nFrame Time: 0.04\n0 90 0 0 0 0 0 0 0\n10 90 0 0 0 0 0 0 0\n";

pub(super) async fn check_import(s: &mut Suite<'_>, dir: &std::path::Path) -> Outcome {
    let path = dir.join("adapter_check.bvh");
    std::fs::write(&path, CHECK_BVH).map_err(|e| format!("cannot write the BVH file: {e}"))?;
    let imported: ImportResult = s
        .get(
            "scene.import_file",
            json!({"file_path": path.display().to_string()}),
        )
        .await?;
    let [armature] = &imported.armatures[..] else {
        return fail(format!(
            "a BVH file makes one armature, got {:?}",
            imported.armatures
        ));
    };
    if !imported.objects.contains(armature) {
        return fail("the armature is missing from `objects`");
    }
    if s.has("animation.get_skeleton") {
        let skeleton: Skeleton = s
            .get("animation.get_skeleton", json!({"armature": armature}))
            .await?;
        if skeleton.joints.len() != 2 {
            return fail(format!(
                "the armature has {} joints, the file 2",
                skeleton.joints.len()
            ));
        }
    }
    if s.has("scene.delete_objects") {
        let _: Result<Value, String> = s
            .get(
                "scene.delete_objects",
                json!({"object_names": imported.objects}),
            )
            .await;
    }
    Ok(format!("armature {armature:?}"))
}
