//! Shared by the benchmarks.

/// The thread count to put in a group name: rayon's pool size, which is what entendu's engine
/// (and candle) run on: `RAYON_NUM_THREADS`, else all cores. Group names become directory
/// names under target/criterion, so no spaces.
pub fn threads() -> String {
    match std::env::var("RAYON_NUM_THREADS").ok().filter(|v| !v.trim().is_empty()) {
        Some(count) => count,
        None => format!("{}-all-cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)),
    }
}
