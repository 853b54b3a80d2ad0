//! `data::yaml::read_str` on arbitrary text: an error or data whose spans hold, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|text: &str| {
    if common::names_special_file(text) {
        return;
    }
    if let Ok(data) = entendu::data::yaml::read_str(text, "/nonexistent/fuzz/input") {
        common::check_data(&data);
    }
});
