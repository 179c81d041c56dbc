//! Property-based fuzzing of the glTF/GLB motion decoder (`stagecraft::motion::gltf::decode`), the
//! parser every MMCP answer goes through. `cargo fuzz` needs nightly; these proptest corpora run on
//! stable in CI for a bounded number of cases (`PROPTEST_CASES` raises it for a longer run).
//!
//! The corpus is real documents: the reference server's captures (dense and sparse channels) and
//! takes of the built-in procedural model (several samples, trajectory, foot contacts) as glTF JSON
//! and GLB. Mutations are structural (numbers swapped for hostile ones — huge counts, offsets past
//! the buffer, negative and fractional values —, keys dropped, arrays cut or duplicated, buffer
//! bytes overwritten with NaN) as well as byte-level (GLB header and chunk lengths).
//!
//! Properties: the decoder never panics; it never asks for an unbounded allocation (a counting
//! global allocator fails the run on any single allocation above 256 MiB, far beyond what any of
//! these few-KB inputs can justify); and whatever it accepts is a consistent take with finite
//! numbers (`check_take`), so nothing hostile gets past it into a DCC.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use serde_json::{Value, json};
use stagecraft::motion::gltf;

/// Fails loudly (instead of swapping the machine to death) on an allocation no input here needs.
struct Bounded;

const MAX_ONE_ALLOCATION: usize = 256 << 20;
static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Bounded {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        if layout.size() > MAX_ONE_ALLOCATION {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        if layout.size() > MAX_ONE_ALLOCATION {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        if new_size > MAX_ONE_ALLOCATION {
            return std::ptr::null_mut();
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Bounded = Bounded;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mmcp");

/// The corpus: real documents as parsed JSON, plus GLB bytes.
struct Corpus {
    docs: Vec<Value>,
    glbs: Vec<Vec<u8>>,
}

static CORPUS: LazyLock<Corpus> = LazyLock::new(|| {
    let mut docs = Vec::new();
    for name in ["02-dense.gltf", "d01-sparse.gltf"] {
        let bytes = std::fs::read(format!("{FIXTURES}/{name}")).expect("fixture");
        docs.push(serde_json::from_slice(&bytes).expect("fixture is JSON"));
    }
    // Takes of the built-in procedural model: two samples, trajectory, foot contacts.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let hub =
        stagecraft::motion::MotionHub::new(&stagecraft::config::Config::default()).expect("hub");
    let mut glbs = Vec::new();
    for (prompt, samples) in [("walk forward and wave", 2), ("jump", 1)] {
        let take = rt.block_on(async {
            let choice = hub.resolve(None, None).await.expect("built-in model");
            let args = stagecraft::motion::GenerateArgs {
                prompt: Some(prompt.into()),
                seconds: Some(0.5),
                num_samples: Some(samples),
                seed: Some(1),
                ..Default::default()
            };
            hub.generate(
                &choice,
                &args,
                None,
                &stagecraft::call::CallContext::new(std::time::Duration::from_secs(30)),
            )
            .await
            .expect("generate")
            .take
        });
        docs.push(serde_json::from_slice(&gltf::encode_gltf_json(&take)).expect("json"));
        glbs.push(gltf::encode_glb(&take));
    }
    Corpus { docs, glbs }
});

/// Every path (object keys and array indices) to a value in `doc`.
fn paths(v: &Value, at: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                at.push(PathStep::Key(k.clone()));
                paths(child, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            // Long number arrays (min/max, trajectories) would drown the rest: a few elements.
            for (i, child) in a.iter().enumerate().take(6) {
                at.push(PathStep::Index(i));
                paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn get_mut<'a>(v: &'a mut Value, path: &[PathStep]) -> Option<&'a mut Value> {
    let mut cur = v;
    for step in path {
        cur = match step {
            PathStep::Key(k) => cur.get_mut(k.as_str())?,
            PathStep::Index(i) => cur.get_mut(*i)?,
        };
    }
    Some(cur)
}

/// The values a hostile server would put anywhere.
fn hostile(pick: u8, n: u64) -> Value {
    match pick % 18 {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(u32::MAX),
        3 => json!(u64::MAX),
        4 => json!(1u64 << 40),
        5 => json!(i64::MIN),
        6 => json!(1e308),
        7 => json!(-1e-320),
        8 => json!(0.5),
        9 => json!(n % 100_000),
        10 => Value::Null,
        11 => json!("VEC4"),
        12 => json!(""),
        13 => json!([]),
        14 => json!({}),
        15 => json!(true),
        16 => json!([n % 7, n % 3]),
        _ => json!(format!(
            "data:application/octet-stream;base64,{}",
            "A".repeat((n % 64) as usize)
        )),
    }
}

/// One structural edit of a document.
fn edit(doc: &mut Value, which: usize, op: u8, n: u64) {
    let mut all = Vec::new();
    paths(doc, &mut Vec::new(), &mut all);
    let path = &all[which % all.len()];
    match op % 6 {
        // Replace the value with a hostile one.
        0..=2 => {
            if let Some(v) = get_mut(doc, path) {
                *v = hostile(op / 6, n);
            }
        }
        // Remove it from its parent.
        3 => {
            if let Some((last, parent)) = path.split_last()
                && let Some(p) = get_mut(doc, parent)
            {
                match (p, last) {
                    (Value::Object(m), PathStep::Key(k)) => {
                        m.remove(k);
                    }
                    (Value::Array(a), PathStep::Index(i)) if *i < a.len() => {
                        a.remove(*i);
                    }
                    _ => {}
                }
            }
        }
        // Cut or grow an array.
        4 => {
            if let Some(Value::Array(a)) = get_mut(doc, path) {
                if n.is_multiple_of(2) {
                    a.truncate((n as usize / 2) % (a.len() + 1));
                } else if let Some(first) = a.first().cloned() {
                    for _ in 0..(n % 5) {
                        a.push(first.clone());
                    }
                }
            }
        }
        // Overwrite bytes inside a data-URI buffer (NaN, infinities, garbage).
        _ => {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD;
            if let Some(Value::String(uri)) = doc.pointer_mut("/buffers/0/uri")
                && let Some((head, data)) = uri.split_once(',')
                && let Ok(mut bin) = b64.decode(data)
                && !bin.is_empty()
            {
                let at = (n as usize) % bin.len();
                let word: [u8; 4] = match op % 4 {
                    0 => f32::NAN.to_le_bytes(),
                    1 => f32::INFINITY.to_le_bytes(),
                    2 => f32::MAX.to_le_bytes(),
                    _ => (n as u32).to_le_bytes(),
                };
                for (k, b) in word.iter().enumerate() {
                    if at + k < bin.len() {
                        bin[at + k] = *b;
                    }
                }
                *uri = format!("{head},{}", b64.encode(&bin));
            }
        }
    }
}

/// The property: no panic (proptest reports one as a failure), a bounded allocation, and anything
/// accepted is consistent and finite.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let result = gltf::decode(bytes);
    let largest = LARGEST.swap(0, Ordering::Relaxed);
    prop_assert!(
        largest <= MAX_ONE_ALLOCATION,
        "one allocation of {largest} bytes for a {}-byte input",
        bytes.len()
    );
    if let Ok(take) = result {
        prop_assert!(
            gltf::check_take(&take).is_ok(),
            "decode accepted an inconsistent take: {:?}",
            gltf::check_take(&take).err()
        );
        for s in &take.samples {
            prop_assert!(s.rotations.iter().flatten().all(|x| x.is_finite()));
            prop_assert!(s.root_positions.iter().flatten().all(|x| x.is_finite()));
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(600)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Up to four structural edits of a real document, decoded as glTF JSON and as the
    /// same document inside a GLB container.
    #[test]
    fn mutated_gltf_documents_decode_or_fail_cleanly(
        doc_index in 0usize..4,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u64>()), 1..5),
    ) {
        let corpus = &*CORPUS;
        let mut doc = corpus.docs[doc_index % corpus.docs.len()].clone();
        for (which, op, n) in edits {
            edit(&mut doc, which, op, n);
        }
        let bytes = serde_json::to_vec(&doc).expect("json");
        check(&bytes)?;
        check(&glb_around(&bytes, None))?;
    }

    /// A real GLB with its header, chunk lengths and chunk types overwritten, and random bytes.
    #[test]
    fn mutated_glb_containers_decode_or_fail_cleanly(
        glb_index in 0usize..2,
        words in proptest::collection::vec((0usize..40, any::<u32>()), 0..4),
        bytes in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        cut in any::<usize>(),
    ) {
        let corpus = &*CORPUS;
        let mut glb = corpus.glbs[glb_index % corpus.glbs.len()].clone();
        for (at, word) in words {
            let at = at.min(glb.len().saturating_sub(4));
            glb[at..at + 4].copy_from_slice(&word.to_le_bytes());
        }
        for (at, b) in bytes {
            let i = at % glb.len();
            glb[i] = b;
        }
        check(&glb)?;
        let cut = cut % (glb.len() + 1);
        check(&glb[..cut])?;
    }

    /// Arbitrary bytes, with and without a GLB magic in front.
    #[test]
    fn arbitrary_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes)?;
        let mut glb = b"glTF".to_vec();
        glb.extend_from_slice(&bytes);
        check(&glb)?;
    }
}

/// A GLB container holding `json` (and optionally a BIN chunk), lengths as the spec wants them.
fn glb_around(json: &[u8], bin: Option<&[u8]>) -> Vec<u8> {
    let mut json = json.to_vec();
    while !json.len().is_multiple_of(4) {
        json.push(b' ');
    }
    let mut out = Vec::new();
    let total = 12 + 8 + json.len() + bin.map_or(0, |b| 8 + b.len().div_ceil(4) * 4);
    out.extend_from_slice(b"glTF");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(b"JSON");
    out.extend_from_slice(&json);
    if let Some(bin) = bin {
        let mut bin = bin.to_vec();
        while !bin.len().is_multiple_of(4) {
            bin.push(0);
        }
        out.extend_from_slice(&(bin.len() as u32).to_le_bytes());
        out.extend_from_slice(b"BIN\0");
        out.extend_from_slice(&bin);
    }
    out
}

/// The corpus itself decodes (so the mutations start from documents that work).
#[test]
fn the_corpus_decodes() {
    for doc in &CORPUS.docs {
        let bytes = serde_json::to_vec(doc).expect("json");
        gltf::decode(&bytes).expect("corpus document decodes");
        gltf::decode(&glb_around(&bytes, None)).expect("as GLB too");
    }
    for glb in &CORPUS.glbs {
        gltf::decode(glb).expect("corpus GLB decodes");
    }
}

/// Hostile sizes named explicitly, each refused without a large allocation.
#[test]
fn hostile_counts_and_offsets_are_refused_without_allocating() {
    let base = CORPUS.docs[0].clone();
    let cases: Vec<(&str, Value)> = vec![
        ("/accessors/1/count", json!(u32::MAX)),
        ("/accessors/1/count", json!(1u64 << 40)),
        ("/accessors/1/byteOffset", json!(u32::MAX)),
        ("/bufferViews/0/byteLength", json!(u32::MAX)),
        ("/bufferViews/0/byteOffset", json!(u64::MAX)),
        ("/bufferViews/0/byteStride", json!(u32::MAX)),
        ("/buffers/0/byteLength", json!(u64::MAX)),
        ("/extensions/MMCP_motion/fps", json!(1e-30)),
        (
            "/extensions/MMCP_motion/samples/0/num_frames",
            json!(u32::MAX),
        ),
        (
            "/extensions/MMCP_motion/samples/0/num_frames",
            json!(1u64 << 40),
        ),
    ];
    for (pointer, value) in cases {
        let mut doc = base.clone();
        // Set the member even where the corpus document leaves it out (byteStride, an accessor's
        // byteOffset): every case must really run.
        let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
        doc.pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap_or_else(|| panic!("the corpus document has no object at {parent}"))
            .insert(key.to_string(), value.clone());
        let bytes = serde_json::to_vec(&doc).expect("json");
        LARGEST.store(0, Ordering::Relaxed);
        let r = gltf::decode(&bytes);
        let largest = LARGEST.swap(0, Ordering::Relaxed);
        assert!(
            largest < 64 << 20,
            "{pointer} = {value}: one allocation of {largest} bytes"
        );
        if let Ok(take) = r {
            gltf::check_take(&take).unwrap_or_else(|e| panic!("{pointer} = {value}: {e}"));
        }
    }
}

/// Regression (found by `mutated_gltf_documents_decode_or_fail_cleanly`): an `MMCP_motion.fps` that
/// is finite as f64 but not as f32 (1e308 → inf, 1e-320 → 0) was accepted, and the take carried
/// an infinite or zero fps on to apply_motion and the previews.
#[test]
fn an_fps_beyond_f32_is_refused() {
    for fps in [json!(1e308), json!(1e39), json!(1e-320)] {
        let mut doc = CORPUS.docs[0].clone();
        doc["extensions"]["MMCP_motion"]["fps"] = fps.clone();
        let bytes = serde_json::to_vec(&doc).expect("json");
        let e = gltf::decode(&bytes).expect_err("refused");
        assert!(e.to_string().contains("fps"), "{fps}: {e}");
    }
}
