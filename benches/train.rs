//! Training time for a 1,000-utterance data set (plain timing, `harness = false`: one training
//! takes tens of seconds, and criterion's minimum of 10 samples plus warm-up would take minutes).
//!
//! Data: 1,000 utterances taken evenly across `datasets/support/train.fr.yml` (every intent,
//! with its entity and signal annotations), trained with `TrainConfig::default()` (intent head
//! with calibration and thresholds, signal heads, entity tagger; no encoder adaptation) on
//! multilingual-e5-small, loaded once beforehand (loading is not timed). Threads: candle's
//! default pool unless `RAYON_NUM_THREADS` says otherwise; the printed name
//! carries the data, encoder and thread count.
//!
//! ```sh
//! cargo bench --bench train                                          # 3 trainings
//! ENTENDU_TRAIN_RUNS=1 ENTENDU_TRAIN_UTTERANCES=100 cargo bench --bench train   # a smoke run
//! ```
//!
//! Without `--bench` (`cargo test --benches`) it trains once on 50 utterances, to check that
//! it works.

mod common;
use common::threads;
use entendu::{Encoder, Nlu, TrainConfig, TrainingData};
use std::sync::Arc;
use std::time::Instant;

const DATA: &str = "datasets/support/train.fr.yml";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `n` examples spread evenly over the file (it is grouped by intent: its first 1,000 lines
/// would leave out the last intents).
fn sample(mut data: TrainingData, n: usize) -> TrainingData {
    let total = data.examples.len();
    if n < total {
        let mut k = 0usize;
        let mut index = 0usize;
        data.examples.retain(|_| {
            let keep = k < n && index == k * total / n;
            if keep {
                k += 1;
            }
            index += 1;
            keep
        });
    }
    data
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; a filter argument that is not ours means another bench was asked for.
    if args.iter().any(|a| !a.starts_with('-') && !"train".contains(a.as_str())) {
        return;
    }
    let bench = args.iter().any(|a| a == "--bench");
    let (runs, utterances) = match bench {
        true => (env_or("ENTENDU_TRAIN_RUNS", 3usize).max(1), env_or("ENTENDU_TRAIN_UTTERANCES", 1000usize)),
        false => (1, 50),
    };
    let config = TrainConfig::default();
    let encoder = match Encoder::load(&config.encoder) {
        Ok(encoder) => Arc::new(encoder),
        Err(e) => {
            eprintln!("skipping train: {e}");
            return;
        }
    };
    let data = sample(TrainingData::load(DATA).unwrap_or_else(|e| panic!("{DATA}: {e}")), utterances);
    let short = config.encoder.rsplit('/').next().unwrap_or(&config.encoder).to_string();
    let name = format!("train/support-fr-{}+{short}/threads={}", data.examples.len(), threads());
    println!("{name}: {} examples, {} intents, {runs} run(s)", data.examples.len(), data.intent_names().len());
    let mut seconds = Vec::new();
    for run in 1..=runs {
        let started = Instant::now();
        let nlu = Nlu::train_with_encoder(encoder.clone(), &data, None, &config, &mut |_, _, _| {})
            .unwrap_or_else(|e| panic!("training: {e}"));
        let s = started.elapsed().as_secs_f64();
        println!("{name}: run {run}: {s:.2} s ({} intents)", nlu.intents().len());
        seconds.push(s);
    }
    seconds.sort_by(f64::total_cmp);
    let median = seconds.get(seconds.len() / 2).copied().unwrap_or(f64::NAN);
    let (min, max) = (seconds.first().copied().unwrap_or(f64::NAN), seconds.last().copied().unwrap_or(f64::NAN));
    println!("{name}: median {median:.2} s, min {min:.2} s, max {max:.2} s over {runs} run(s)");
}
