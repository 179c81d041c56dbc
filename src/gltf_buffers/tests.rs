//! Reading back what is written, odd layouts, hostile numbers, samplers and GLB framing.

use super::*;
use serde_json::json;

fn doc(accessors: serde_json::Value, views: serde_json::Value) -> gj::Root {
    serde_json::from_value(json!({
        "asset": {"version": "2.0"},
        "accessors": accessors,
        "bufferViews": views,
    }))
    .expect("document")
}

#[test]
fn writes_and_reads_back_with_bounds() {
    let mut root = gj::Root::default();
    let mut bin = vec![7u8]; // unaligned on purpose
    let i = push_f32(
        &mut root,
        &mut bin,
        [0.0, 1.5, f32::NAN, -2.0],
        Type::Vec2,
        true,
    );
    let source = Source {
        accessors: &root.accessors,
        views: &root.buffer_views,
        buffers: &[bin.as_slice()],
    };
    let (values, comps) = source.read::<f32>(i as usize).expect("read");
    assert_eq!((values, comps), (vec![0.0, 1.5, 0.0, -2.0], 2));
    let acc = &root.accessors[i as usize];
    assert_eq!(acc.min, Some(json!([0.0, -2.0])));
    assert_eq!(acc.max, Some(json!([0.0, 1.5])));
}

#[test]
fn strided_normalized_and_sparse() {
    // Two i8 VEC2 elements 4 bytes apart, normalised; then a sparse override of element 1.
    let bin: Vec<u8> = vec![127, 0x81, 0, 0, 0, 127, 0, 0, 1, 0, 0, 0, 0x80, 0x80, 0, 0];
    let root = doc(
        json!([
            {"bufferView": 0, "componentType": 5120, "normalized": true, "count": 2, "type": "VEC2"},
            {"bufferView": 0, "componentType": 5120, "normalized": true, "count": 2, "type": "VEC2",
             "sparse": {"count": 1, "indices": {"bufferView": 1, "componentType": 5125},
                        "values": {"bufferView": 1, "byteOffset": 4}}},
        ]),
        json!([
            {"buffer": 0, "byteLength": 8, "byteStride": 4},
            {"buffer": 0, "byteOffset": 8, "byteLength": 8},
        ]),
    );
    let source = Source {
        accessors: &root.accessors,
        views: &root.buffer_views,
        buffers: &[bin.as_slice()],
    };
    let (v, _) = source.read::<f64>(0).expect("strided");
    assert_eq!(v, vec![1.0, -1.0, 0.0, 1.0]);
    let (v, _) = source.read::<f64>(1).expect("sparse");
    assert_eq!(v, vec![1.0, -1.0, -1.0, -1.0]);
}

#[test]
fn refuses_out_of_range_and_non_finite() {
    let bin: Vec<u8> = f32::NAN.to_le_bytes().to_vec();
    let root = doc(
        json!([
            {"bufferView": 0, "componentType": 5126, "count": 2, "type": "SCALAR"},
            {"bufferView": 0, "componentType": 5126, "count": 1, "type": "SCALAR"},
            {"componentType": 5126, "count": 1u64 << 40, "type": "VEC4"},
        ]),
        json!([{"buffer": 0, "byteLength": 4}]),
    );
    let source = Source {
        accessors: &root.accessors,
        views: &root.buffer_views,
        buffers: &[bin.as_slice()],
    };
    let past = source.read::<f32>(0).unwrap_err();
    assert_eq!(
        past.to_string(),
        "accessor 0: needs 8 bytes but bufferView 0 has 4"
    );
    assert_eq!(
        source.read::<f32>(1),
        Err(AccessorError::NonFinite {
            index: 1,
            element: 0
        })
    );
    assert!(source.read::<f32>(2).is_err());
    assert!(source.read::<f32>(3).is_err());
}

#[test]
fn samplers_hold_step_interpolate_and_slerp() {
    let times = [0.0, 1.0, 2.0, 3.0];
    let values = [0.0, 10.0, 20.0, 40.0];
    let at = |interpolation, t: f32, cursor: &mut usize| {
        let sampler = Sampler {
            times: &times,
            values: &values,
            width: 1,
            interpolation,
        };
        let mut out = [f32::NAN];
        sampler.eval(t, cursor, &mut out);
        out[0]
    };
    let mut cursor = 0;
    // In increasing time, then jumping back: the cursor is only a hint.
    let linear: Vec<f32> = [-1.0, 0.5, 1.5, 2.5, 9.0, 0.25]
        .iter()
        .map(|t| at(Interpolation::Linear, *t, &mut cursor))
        .collect();
    assert_eq!(linear, [0.0, 5.0, 15.0, 30.0, 40.0, 2.5]);
    assert_eq!(at(Interpolation::Step, 2.9, &mut 0), 20.0);
    // CUBICSPLINE keeps the middle of each (in-tangent, value, out-tangent) triple.
    let cubic = Sampler {
        times: &[0.0, 1.0],
        values: &[9.0, 0.0, 9.0, 9.0, 2.0, 9.0],
        width: 1,
        interpolation: Interpolation::CubicSpline,
    };
    let mut out = [0.0];
    cubic.eval(0.5, &mut 0, &mut out);
    assert_eq!(out, [1.0]);
}

#[test]
fn held_outside_the_keys_and_the_shorter_arc() {
    let track = Sampler {
        times: &[0.1, 0.2],
        values: &[1.0, 2.0],
        width: 1,
        interpolation: Interpolation::Linear,
    };
    let mut c = 0;
    let mut out = [0.0];
    track.eval(0.0, &mut c, &mut out);
    assert_eq!(out[0], 1.0); // held before the first key
    track.eval(0.15, &mut c, &mut out);
    assert!((out[0] - 1.5).abs() < 1e-5);
    track.eval(9.0, &mut c, &mut out);
    assert_eq!(out[0], 2.0); // held after the last key
    // Shortest arc: q and -q' interpolate through the near side.
    let a = Quat::from_rotation_y(0.1);
    let b = -Quat::from_rotation_y(0.3);
    let values = [a.to_array(), b.to_array()].concat();
    let rt = Sampler {
        times: &[0.0, 1.0],
        values: &values,
        width: 4,
        interpolation: Interpolation::Linear,
    };
    let mut q = [0.0; 4];
    rt.eval(0.5, &mut 0, &mut q);
    let got = Quat::from_array(q);
    assert!(
        got.dot(Quat::from_rotation_y(0.2)).abs() > 0.9999,
        "{got:?}"
    );
}

#[test]
fn glb_round_trip_and_truncation() {
    let glb = write_glb(b"{}".to_vec(), vec![1, 2, 3]).expect("glb");
    assert!(is_glb(&glb) && glb.len().is_multiple_of(4));
    let chunks = split_glb(&glb).expect("split");
    assert_eq!(chunks.json.trim_ascii_end(), b"{}");
    assert_eq!(&chunks.bin.expect("bin")[..3], &[1, 2, 3]);
    assert!(split_glb(&glb[..glb.len() - 1]).is_err());
    assert!(split_glb(b"glTF").is_err());
    let uri = data_uri(&[1, 2, 3]);
    assert_eq!(decode_data_uri(&uri), Some(Ok(vec![1, 2, 3])));
    assert_eq!(decode_data_uri("scene.bin"), None);
}
