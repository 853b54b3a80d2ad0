//! Encoder latency and throughput (criterion).
//!
//! Needs the encoders under `models/` (`entendu encoder fetch`); skips those that are missing.
//! Threads: candle's default pool (all cores; 2 on the build machine), unless
//! `RAYON_NUM_THREADS` says otherwise; every group name carries the encoder
//! and the thread count. Run: `cargo bench --bench encoder` (about 70 s on 2 cores with the
//! plain f32 encoder; `-- --quick` for a smoke run, `-- encoder_latency` for one group).
//!
//! - `encoder_latency/<encoder>/threads=<n>`: one utterance, batch 1, French and English, short
//!   (≤ 12 tokens with E5's `query: ` prefix and the special tokens), medium (~30) and long
//!   (~120; token counts on multilingual-e5-small, all-MiniLM-L6-v2's WordPiece splits French
//!   into more pieces).
//! - `encoder_batch/<encoder>/threads=<n>`: `embed_batch` of 8, 32 and 128 short and medium
//!   utterances (criterion reports utterances/s).
//!
//! Budget: flat sampling (the same iteration count in every sample), so that a slow input
//! costs `max(measurement time, samples × one call)` rather than criterion's linear
//! `samples² / 2` calls: 12 latency inputs × ~2.5 s, 6 batch sizes × ~4 s (batch 128 on
//! multilingual-e5-small, ~1.2 s a call with plain candle, ~13 s).

mod common;
use common::threads;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput};
use entendu::Encoder;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

// Token counts on multilingual-e5-small, `query: ` prefix and special tokens included.
const SHORT_FR: &str = "où est ma commande ?"; // 10
const SHORT_EN: &str = "where is my order?"; // 10
const MEDIUM_FR: &str =
    "Bonjour, j'ai commandé il y a dix jours et toujours rien reçu : pouvez-vous vérifier mon colis ?"; // 31
const MEDIUM_EN: &str = "Hello, I ordered ten days ago and still have not received anything, could you please check where my parcel is right now?"; // 31
const LONG_TAIL_FR: &str = "Merci d'avance, c'est vraiment urgent pour moi.";
const LONG_TAIL_EN: &str = "Thanks in advance, this is really urgent for me.";

/// ~120 tokens: a rambling message (the medium one four times, and a closing line).
fn long(text: &str, tail: &str) -> String {
    [text, text, text, text, tail].join(" ")
}

fn encoders() -> Vec<(&'static str, Encoder)> {
    ["multilingual-e5-small", "all-MiniLM-L6-v2"]
        .into_iter()
        .filter_map(|name| {
            let dir = Path::new("models").join(name);
            match Encoder::from_dir(&dir) {
                Ok(encoder) => Some((name, encoder)),
                Err(e) => {
                    eprintln!("skipping {name}: {e}");
                    None
                }
            }
        })
        .collect()
}

fn latency(c: &mut Criterion) {
    let long_fr = long(MEDIUM_FR, LONG_TAIL_FR);
    let long_en = long(MEDIUM_EN, LONG_TAIL_EN);
    for (name, encoder) in encoders() {
        let mut group = c.benchmark_group(format!("encoder_latency/{name}/threads={}", threads()));
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(20)
            .measurement_time(Duration::from_secs(2))
            .warm_up_time(Duration::from_millis(500));
        for (label, text) in [
            ("short_fr", SHORT_FR),
            ("short_en", SHORT_EN),
            ("medium_fr", MEDIUM_FR),
            ("medium_en", MEDIUM_EN),
            ("long_fr", long_fr.as_str()),
            ("long_en", long_en.as_str()),
        ] {
            group.bench_with_input(BenchmarkId::from_parameter(label), text, |b, text| {
                b.iter(|| encoder.embed(black_box(text)).map(|v| v.len()).unwrap_or(0))
            });
        }
        group.finish();
    }
}

fn throughput(c: &mut Criterion) {
    let pool = [
        SHORT_FR,
        SHORT_EN,
        MEDIUM_FR,
        MEDIUM_EN,
        "bonjour",
        "je veux parler à un conseiller",
        "merci beaucoup",
        "can I return these shoes?",
    ];
    for (name, encoder) in encoders() {
        let mut group = c.benchmark_group(format!("encoder_batch/{name}/threads={}", threads()));
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_secs(1));
        for size in [8usize, 32, 128] {
            let batch: Vec<&str> = pool.iter().cycle().take(size).copied().collect();
            group.throughput(Throughput::Elements(size as u64));
            group.bench_with_input(BenchmarkId::from_parameter(size), &batch, |b, batch| {
                b.iter(|| encoder.embed_batch(black_box(batch)).map(|a| a.nrows()).unwrap_or(0))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, latency, throughput);
criterion_main!(benches);
