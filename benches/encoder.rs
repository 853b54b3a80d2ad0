//! Encoder latency and throughput (criterion).
//!
//! Needs the encoders under `models/` (`entendu encoder fetch`); skips those that are missing.
//! Threads: candle's default pool (all cores; 2 on the build machine), unless
//! `RAYON_NUM_THREADS` says otherwise. Run: `cargo bench --bench encoder`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use entendu::Encoder;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

const SHORT_FR: &str = "où est ma commande 48213 ?"; // 12 tokens with E5's prefix
const SHORT_EN: &str = "where is my order 48213?";
const MEDIUM_FR: &str = "Bonjour, j'ai passé commande il y a dix jours et je n'ai toujours rien reçu, pouvez-vous vérifier où en est mon colis s'il vous plaît ?";
const MEDIUM_EN: &str = "Hello, I ordered ten days ago and still have not received anything, could you please check where my parcel is right now?";

fn long(text: &str) -> String {
    // ~120 tokens: a rambling message.
    [text, text, text, text].join(" ")
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

fn threads() -> String {
    std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| {
        // Group names become directory names under target/criterion: no spaces.
        format!("{}-all-cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
    })
}

fn latency(c: &mut Criterion) {
    let long_fr = long(MEDIUM_FR);
    let long_en = long(MEDIUM_EN);
    for (name, encoder) in encoders() {
        let mut group = c.benchmark_group(format!("encoder_latency/{name}/threads={}", threads()));
        group.sample_size(30).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
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
        group.sample_size(10).measurement_time(Duration::from_secs(6)).warm_up_time(Duration::from_secs(1));
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
