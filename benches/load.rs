//! Load test (not run by CI): parse from several threads for a while and report throughput,
//! latency percentiles and memory, which must stay flat (no leak, no growth with traffic).
//!
//! ```sh
//! cargo bench --bench load                                        # 60 s, 4 threads, tiny model
//! ENTENDU_LOAD_MODEL=models/support cargo bench --bench load      # a real model
//! ENTENDU_LOAD_SECS=5 ENTENDU_LOAD_THREADS=2 cargo bench --bench load   # a quick smoke run
//! ```
//!
//! Without `ENTENDU_LOAD_MODEL` it trains a model on the tiny random encoder (mechanics and
//! memory only: its latency says nothing about a real encoder's). Memory is the process's
//! resident set (`VmRSS`) and its peak (`VmHWM`) from `/proc/self/status`, sampled each
//! second; the run fails (exit 1) when the resident set grows by more than 10% + 16 MiB between
//! the end of the first tenth of the run (warm-up: allocator pools, caches) and the end.

use entendu::data::{Example, TrainingData};
use entendu::{Encoder, Nlu, TrainConfig};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a support bot receives, hostile input included.
const MESSAGES: &[&str] = &[
    "où en est ma commande 48213 ?",
    "je n'ai toujours pas reçu mon colis",
    "je veux un remboursement pour la commande 12345",
    "bonjour",
    "je voudrais parler à un conseiller",
    "vous êtes ouverts dimanche ?",
    "livraison prévue le 3 mars à 14h ?",
    "mon adresse mail est jean.dupont@example.fr",
    "appelez-moi au 06 12 34 56 78",
    "j'ai payé 25,50 € par CB",
    "I want to talk to a human",
    "where is my parcel?",
    "¿Abren el domingo?",
    "wo ist meine Bestellung?",
    "quel temps fait-il à Lyon ?",
    "c'est la troisième fois que je demande où est mon colis !!!",
    "",
    "   ",
    "😀😀😀",
    "e\u{301}te\u{301} colis",
    "\u{202e}commande 12345\u{202c}",
    "ğüşçö Привет 你好 مرحبا",
    "\0\x01\x02",
];

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `VmRSS` and `VmHWM` in KiB (0 where /proc is not there).
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Latencies in buckets 1% apart, so that memory does not grow with the number of calls.
struct Histogram {
    counts: Vec<u64>,
}

impl Histogram {
    const RATIO: f64 = 1.01;

    fn new() -> Self {
        Self { counts: vec![0; 2500] }
    }

    fn record(&mut self, d: Duration) {
        let micros = d.as_secs_f64() * 1e6;
        let bucket = (micros.max(1.0).ln() / Self::RATIO.ln()) as usize;
        let last = self.counts.len() - 1;
        self.counts[bucket.min(last)] += 1;
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }

    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The `q` quantile in milliseconds (upper edge of its bucket).
    fn quantile_ms(&self, q: f64) -> f64 {
        let target = (q * self.total() as f64).ceil() as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= target.max(1) {
                return Self::RATIO.powi(i as i32 + 1) / 1000.0;
            }
        }
        f64::NAN
    }
}

fn tiny_model(dir: &std::path::Path) -> Nlu {
    entendu::testing::write_tiny_encoder(dir, 1).expect("tiny encoder");
    let encoder = Arc::new(Encoder::from_dir(dir).expect("load tiny encoder"));
    let mut examples = Vec::new();
    for (intent, texts) in [
        ("track_order", ["où est mon colis", "où est ma commande", "suivre ma livraison"]),
        ("refund", ["je veux un remboursement", "remboursement svp", "annuler et rembourser"]),
        ("talk_to_human", ["parler à un humain", "un conseiller", "talk to a human agent"]),
    ] {
        for (i, text) in texts.iter().enumerate() {
            for k in 0..3 {
                examples.push(Example {
                    text: format!("{text} {}", i * 3 + k),
                    intent: Some(intent.into()),
                    entities: Vec::new(),
                    language: Some("fr".into()),
                    signals: Vec::new(),
                    source: None,
                });
            }
        }
    }
    let data = TrainingData { examples, ..Default::default() };
    Nlu::train_with_encoder(encoder, &data, None, &TrainConfig::default(), &mut |_, _, _| {}).expect("train")
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument that is not ours means another bench was asked for.
    if std::env::args().skip(1).any(|a| !a.starts_with('-') && a != "load") {
        return;
    }
    let seconds: f64 = env_or("ENTENDU_LOAD_SECS", 60.0);
    let threads: usize = env_or("ENTENDU_LOAD_THREADS", 4);
    let scratch = tempfile::tempdir().expect("tempdir");
    let (nlu, what) = match std::env::var("ENTENDU_LOAD_MODEL") {
        Ok(dir) => (Nlu::load(&dir).unwrap_or_else(|e| panic!("{dir}: {e}")), dir),
        Err(_) => (tiny_model(scratch.path()), "tiny random encoder (mechanics only)".to_string()),
    };
    // The messages repeat: with the cache of recent encodings they would be hits after the
    // first round, and the encoder would not be under load at all.
    nlu.set_cache_budget(0);
    let nlu = Arc::new(nlu);
    let mut messages: Vec<String> = MESSAGES.iter().map(|s| s.to_string()).collect();
    messages.push("où est mon colis ? ".repeat(100));
    messages.push("a".repeat(100_000));
    println!("load: {what}, {threads} threads, {seconds} s, {} distinct messages", messages.len());

    let stop = Arc::new(AtomicBool::new(false));
    let histogram = Arc::new(Mutex::new(Histogram::new()));
    let failures = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (nlu, stop, histogram, failures, messages) =
                (nlu.clone(), stop.clone(), histogram.clone(), failures.clone(), messages.clone());
            std::thread::spawn(move || {
                let mut local = Histogram::new();
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    let text = &messages[i % messages.len()];
                    let t0 = Instant::now();
                    if nlu.parse(text).is_err() {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    local.record(t0.elapsed());
                    i += 1;
                }
                histogram.lock().expect("histogram lock").merge(&local);
            })
        })
        .collect();

    let mut samples: Vec<(f64, u64)> = Vec::new();
    let deadline = Duration::from_secs_f64(seconds);
    while started.elapsed() < deadline {
        std::thread::sleep(
            Duration::from_secs(1).min(deadline.saturating_sub(started.elapsed())).max(Duration::from_millis(10)),
        );
        samples.push((started.elapsed().as_secs_f64(), memory_kib().0));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker thread");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let histogram = histogram.lock().expect("histogram lock");
    let calls = histogram.total();
    let (rss_end, hwm) = memory_kib();
    let warm = samples.iter().find(|(t, _)| *t >= seconds / 10.0).or(samples.first()).map_or(rss_end, |s| s.1);
    let max_sampled = samples.iter().map(|s| s.1).max().unwrap_or(rss_end);
    println!(
        "throughput: {:.0} parses/s ({calls} parses, {} failed)",
        calls as f64 / elapsed,
        failures.load(Ordering::Relaxed)
    );
    println!(
        "latency: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms",
        histogram.quantile_ms(0.5),
        histogram.quantile_ms(0.9),
        histogram.quantile_ms(0.99),
        histogram.quantile_ms(0.999)
    );
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "memory: RSS {:.1} MiB after warm-up, {:.1} MiB at the end, {:.1} MiB highest sampled; peak (VmHWM) {:.1} MiB",
        mib(warm),
        mib(rss_end),
        mib(max_sampled),
        mib(hwm)
    );
    let trace: Vec<String> =
        samples.iter().step_by((samples.len() / 10).max(1)).map(|(t, r)| format!("{t:.0}s:{:.1}", mib(*r))).collect();
    println!("RSS trace (MiB): {}", trace.join(" "));
    let grew = rss_end as f64 > warm as f64 * 1.10 + 16.0 * 1024.0;
    if grew || failures.load(Ordering::Relaxed) > 0 {
        eprintln!("load: FAILED ({})", if grew { "memory grew" } else { "failed parses" });
        std::process::exit(1);
    }
}
