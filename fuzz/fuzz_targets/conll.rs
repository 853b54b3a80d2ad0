//! `data::benchmarks::read_conll_file` (xSID CoNLL) on arbitrary bytes, through a file as the
//! reader only takes paths: an error or data whose spans hold, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

#[path = "common.rs"]
mod common;

fn scratch() -> &'static std::path::Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("tempdir")).path()
}

fuzz_target!(|bytes: &[u8]| {
    let path = scratch().join("input.conll");
    std::fs::write(&path, bytes).expect("write scratch file");
    if let Ok(data) = entendu::data::benchmarks::read_conll_file(&path, "fr") {
        common::check_data(&data);
    }
});
