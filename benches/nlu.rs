//! End-to-end `Nlu::parse` latency (criterion): intent with fallback and ambiguity, declared and
//! learned entities, signals, on the bundled support model `models/support`
//! (multilingual-e5-small). One utterance per call, batch 1, as a bot sees its messages.
//!
//! Needs the encoder under `models/` (`entendu encoder fetch`); skipped when it is missing.
//! When the local copy of the encoder is not the one the model was trained with, the model is
//! retrained once for it (`Nlu::load_or_retrain`, about a minute, kept beside the model; not
//! part of any figure). Threads: candle's default pool unless `RAYON_NUM_THREADS`
//! says otherwise; the group name carries the model, encoder and thread
//! count. Run: `cargo bench --bench nlu` (about 15 s on 2 cores).

mod common;
use common::threads;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use entendu::{Encoder, Nlu};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const MODEL: &str = "models/support";

/// What a support bot receives: short, medium, with entities, in French and English.
const UTTERANCES: &[(&str, &str)] = &[
    ("short_fr", "où est ma commande ?"),
    ("short_en", "where is my order?"),
    ("entities_fr", "je veux un remboursement pour la commande 48213 du 3 mars, 25,50 €"),
    ("medium_fr", "Bonjour, j'ai commandé il y a dix jours et toujours rien reçu : pouvez-vous vérifier mon colis ?"),
];

fn load() -> Option<(Nlu, String)> {
    let manifest: serde_json::Value = std::fs::read_to_string(Path::new(MODEL).join("manifest.json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())?;
    let name = manifest["encoder"]["name"].as_str().unwrap_or("multilingual-e5-small").to_string();
    let short = name.rsplit('/').next().unwrap_or(&name).to_string();
    let nlu = match Nlu::load(MODEL) {
        Ok(nlu) => nlu,
        Err(entendu::Error::EncoderMismatch { .. }) => {
            eprintln!("{MODEL}: trained with another copy of {name}; retraining it once for this one");
            let encoder = match Encoder::load(&name) {
                Ok(encoder) => Arc::new(encoder),
                Err(e) => {
                    eprintln!("skipping {MODEL}: {e}");
                    return None;
                }
            };
            match Nlu::load_or_retrain(MODEL, encoder, &mut |_, _, _| {}) {
                Ok((nlu, _)) => nlu,
                Err(e) => {
                    eprintln!("skipping {MODEL}: {e}");
                    return None;
                }
            }
        }
        Err(e) => {
            eprintln!("skipping {MODEL}: {e}");
            return None;
        }
    };
    Some((nlu, short))
}

fn parse(c: &mut Criterion) {
    let Some((nlu, encoder)) = load() else { return };
    let mut group = c.benchmark_group(format!("nlu_parse/support+{encoder}/threads={}", threads()));
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    // Every iteration parses the same text: with the cache of recent encodings on, all but the
    // first would be hits. The plain rows measure the whole work (cache off); `cached_short_fr`
    // measures a repeated message.
    nlu.set_cache_budget(0);
    for &(label, text) in UTTERANCES {
        group.bench_with_input(BenchmarkId::from_parameter(label), text, |b, text| {
            b.iter(|| nlu.parse(black_box(text)).map(|p| p.ranking.len() + p.entities.len() + p.signals.len()))
        });
    }
    // The sentence embedding alone, through the same encoder: `short_fr` minus this row is
    // what the heads add (intent, signals, learned, declared and built-in entities).
    let (label, text) = UTTERANCES[0];
    group.bench_with_input(BenchmarkId::from_parameter(format!("encoder_only_{label}")), text, |b, text| {
        b.iter(|| nlu.encoder().embed_batch(&[black_box(text)]).map(|e| e.len()))
    });
    nlu.set_cache_budget(entendu::encoder::cache::DEFAULT_CACHE_BYTES);
    group.bench_with_input(BenchmarkId::from_parameter("cached_short_fr"), UTTERANCES[0].1, |b, text| {
        b.iter(|| nlu.parse(black_box(text)).map(|p| p.ranking.len() + p.entities.len() + p.signals.len()))
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
