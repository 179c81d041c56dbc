//! Property-based fuzzing of the BVH reader (`stagecraft::motion::bvh::read`), which reads files the
//! agent points `import_file` at. Like tests/fuzz_gltf.rs, proptest corpora on stable for a bounded
//! number of cases (`PROPTEST_CASES` raises it).
//!
//! The corpus is real BVH: takes of the built-in procedural model written by `bvh::write`, and a
//! small hand-written file with position channels on a non-root joint. Mutations: lines dropped,
//! duplicated or swapped, numbers replaced by hostile ones (huge, negative, NaN, fractional counts),
//! and bytes overwritten.
//!
//! Properties: the reader never panics, and whatever it accepts becomes a consistent take with
//! finite numbers.

use proptest::prelude::*;
use stagecraft::motion::bvh;
use stagecraft::motion::gltf::check_take;
use stagecraft::motion::procedural::{Plan, generate};

const SMALL: &str = "HIERARCHY\nROOT Hips\n{\n\tOFFSET 0 90 0\n\tCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n\
\tJOINT Spine\n\t{\n\t\tOFFSET 0 10 0\n\t\tCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n\
\t\tEnd Site\n\t\t{\n\t\t\tOFFSET 0 20 0\n\t\t}\n\t}\n}\nMOTION\nFrames: 2\nFrame Time: 0.0333333\n\
0 90 0 0 0 0 0 10 0 5 0 0\n1 91 2 10 0 3 0 11 0 6 1 0\n";

fn corpus() -> Vec<String> {
    let take = generate(&Plan::text("a person jumps", 0.5, 3)).expect("procedural take");
    vec![SMALL.to_string(), bvh::write(&take, 0).expect("write")]
}

const HOSTILE: &[&str] = &[
    "-1",
    "0",
    "1e308",
    "-1e308",
    "NaN",
    "inf",
    "4294967296",
    "99999999999",
    "0.5",
    "7",
    "",
    "{",
    "}",
    "End Site",
    "JOINT",
    "ROOT X",
    "MOTION",
    "Frames: 3",
    "Frame Time: 0",
];

#[derive(Debug, Clone)]
enum Mutation {
    DropLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    ReplaceWord(usize, usize, usize),
    OverwriteByte(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DropLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), any::<usize>(), 0..HOSTILE.len())
            .prop_map(|(l, w, h)| Mutation::ReplaceWord(l, w, h)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::OverwriteByte(at, b)),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> Vec<u8> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut bytes_edits = Vec::new();
    for m in mutations {
        let n = lines.len().max(1);
        match *m {
            Mutation::DropLine(i) if !lines.is_empty() => {
                lines.remove(i % n);
            }
            Mutation::DuplicateLine(i) if !lines.is_empty() => {
                let line = lines[i % n].clone();
                lines.insert(i % n, line);
            }
            Mutation::SwapLines(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
            Mutation::ReplaceWord(l, w, h) if !lines.is_empty() => {
                let mut words: Vec<&str> = lines[l % n].split_whitespace().collect();
                if !words.is_empty() {
                    let at = w % words.len();
                    words[at] = HOSTILE[h];
                }
                lines[l % n] = words.join(" ");
            }
            Mutation::OverwriteByte(at, b) => bytes_edits.push((at, b)),
            _ => {}
        }
    }
    let mut bytes = lines.join("\n").into_bytes();
    for (at, b) in bytes_edits {
        if !bytes.is_empty() {
            let len = bytes.len();
            bytes[at % len] = b;
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(400)
    ))]

    #[test]
    fn reader_never_panics_and_accepts_only_consistent_motion(
        which in 0usize..2,
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let base = &corpus()[which];
        let bytes = mutate(base, &mutations);
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(parsed) = bvh::read(&text) {
            let take = parsed.to_take(0.01);
            prop_assert!(check_take(&take).is_ok(), "{:?}", check_take(&take));
        }
    }
}

#[test]
fn the_unmutated_corpus_reads() {
    for text in corpus() {
        let take = bvh::read(&text).expect("corpus reads").to_take(1.0);
        check_take(&take).expect("consistent");
    }
}
