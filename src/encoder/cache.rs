//! A memory-bounded cache of recent encodings, keyed by the exact text encoded.
//!
//! A support bot hears the same short messages over and over ("bonjour", "oui", "merci",
//! "je veux parler à un conseiller"), and the encoder is nearly the whole cost of a parse:
//! a hit skips it (about 5 ms with multilingual-e5-small on a short utterance) and leaves only
//! the heads and the entity rules (tens of microseconds). Results are identical to a fresh
//! encoding: the engine is deterministic for a given text, and an [`Nlu`](crate::Nlu) owns its
//! cache, so adapted layers never mix with the base encoder's outputs.
//!
//! The budget is in bytes, not entries, because one long message holds as many token
//! embeddings as dozens of short ones.

use std::sync::{Arc, Mutex, PoisonError};

use lru::LruCache;

use super::EncodedText;

/// Default budget of [`EncodingCache`]: 16 MiB holds about 600 short utterances with their
/// token embeddings (multilingual-e5-small: 384 floats per token).
pub const DEFAULT_CACHE_BYTES: usize = 16 << 20;

/// What a cache has done since it was created; see [`Nlu::cache_stats`](crate::Nlu::cache_stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that had to run the encoder.
    pub misses: u64,
    /// Encodings held now.
    pub entries: usize,
    /// Approximate bytes they hold.
    pub bytes: usize,
    /// The budget those bytes stay under (0: the cache is off).
    pub budget_bytes: usize,
}

/// Recent encodings, least recently used evicted first. `Send + Sync`: one lock around a map,
/// held only to look up or insert, never while the encoder runs.
pub struct EncodingCache {
    inner: Mutex<Inner>,
}

struct Inner {
    map: LruCache<String, Arc<EncodedText>>,
    stats: CacheStats,
}

impl EncodingCache {
    /// A cache that holds at most about `budget_bytes` of encodings; 0 turns it off.
    pub fn new(budget_bytes: usize) -> Self {
        let stats = CacheStats { budget_bytes, ..CacheStats::default() };
        Self { inner: Mutex::new(Inner { map: LruCache::unbounded(), stats }) }
    }

    /// The encodings of `texts`, from the cache where present; the others from one call to
    /// `encode` (with only the missing texts, in order), then kept.
    pub fn get_or_encode<F>(&self, texts: &[&str], encode: F) -> crate::Result<Vec<Arc<EncodedText>>>
    where
        F: FnOnce(&[&str]) -> crate::Result<Vec<EncodedText>>,
    {
        let mut found: Vec<Option<Arc<EncodedText>>> = {
            let mut inner = self.lock();
            if inner.stats.budget_bytes == 0 {
                drop(inner);
                return Ok(encode(texts)?.into_iter().map(Arc::new).collect());
            }
            let found: Vec<_> = texts.iter().map(|t| inner.map.get(*t).cloned()).collect();
            let hits = found.iter().filter(|f| f.is_some()).count() as u64;
            inner.stats.hits += hits;
            inner.stats.misses += texts.len() as u64 - hits;
            found
        };
        let missing: Vec<&str> = texts.iter().zip(&found).filter(|(_, f)| f.is_none()).map(|(t, _)| *t).collect();
        if !missing.is_empty() {
            let mut fresh = encode(&missing)?.into_iter().map(Arc::new);
            let mut inner = self.lock();
            for (slot, text) in found.iter_mut().zip(texts).filter(|(slot, _)| slot.is_none()) {
                let encoded = fresh.next().ok_or_else(internal)?;
                inner.insert(text, Arc::clone(&encoded));
                *slot = Some(encoded);
            }
        }
        found.into_iter().map(|f| f.ok_or_else(internal)).collect()
    }

    /// Counts since creation, and what is held now.
    pub fn stats(&self) -> CacheStats {
        let inner = self.lock();
        CacheStats { entries: inner.map.len(), ..inner.stats }
    }

    /// Changes the budget (0 turns the cache off), evicting what no longer fits.
    pub fn set_budget(&self, budget_bytes: usize) {
        let mut inner = self.lock();
        inner.stats.budget_bytes = budget_bytes;
        inner.evict_to_budget();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere while the lock was held cannot leave the map half-updated in a way
        // that matters (entries are whole `Arc`s), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    fn insert(&mut self, text: &str, encoded: Arc<EncodedText>) {
        let size = entry_bytes(text, &encoded);
        // One entry larger than a quarter of the budget would push out many short ones.
        if size > self.stats.budget_bytes / 4 {
            return;
        }
        if let Some(old) = self.map.put(text.to_string(), encoded) {
            self.stats.bytes = self.stats.bytes.saturating_sub(entry_bytes(text, &old));
        }
        self.stats.bytes += size;
        self.evict_to_budget();
    }

    fn evict_to_budget(&mut self) {
        while self.stats.bytes > self.stats.budget_bytes {
            match self.map.pop_lru() {
                Some((text, old)) => self.stats.bytes = self.stats.bytes.saturating_sub(entry_bytes(&text, &old)),
                None => {
                    self.stats.bytes = 0;
                    break;
                }
            }
        }
    }
}

/// The heap an entry holds: its key, its floats, its offsets, and a fixed overhead for the map.
fn entry_bytes(text: &str, encoded: &EncodedText) -> usize {
    const OVERHEAD: usize = 128;
    OVERHEAD
        + text.len()
        + std::mem::size_of::<f32>()
            * (encoded.sentence.len() + encoded.tokens.len() + encoded.adapted.as_ref().map_or(0, |a| a.len()))
        + std::mem::size_of::<(usize, usize)>() * encoded.offsets.len()
}

fn internal() -> crate::Error {
    crate::Error::InvalidArgument("internal: the encoding cache lost an utterance".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2};
    use std::cell::Cell;

    fn fake(text: &str, tokens: usize) -> EncodedText {
        let seed = text.len() as f32;
        EncodedText {
            sentence: Array1::from_elem(4, seed),
            tokens: Array2::from_elem((tokens, 4), seed),
            offsets: vec![(0, text.len()); tokens],
            truncated: false,
            adapted: None,
        }
    }

    #[test]
    fn a_repeated_text_is_encoded_once_and_answers_the_same() {
        let cache = EncodingCache::new(1 << 20);
        let calls = Cell::new(0);
        let encode = |texts: &[&str]| {
            calls.set(calls.get() + texts.len());
            Ok(texts.iter().map(|t| fake(t, 3)).collect())
        };
        let first = cache.get_or_encode(&["bonjour", "merci beaucoup"], encode).unwrap();
        let second = cache.get_or_encode(&["merci beaucoup", "oui", "bonjour"], encode).unwrap();
        assert_eq!(calls.get(), 3, "only 'oui' is new the second time");
        assert_eq!(second[0].sentence, first[1].sentence);
        assert_eq!(second[2].sentence, first[0].sentence);
        assert_eq!(second[1].sentence[0], 3.0);
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.entries), (2, 3, 3));
    }

    #[test]
    fn the_budget_evicts_the_least_recently_used_first() {
        let one = entry_bytes("aaaa", &fake("aaaa", 10));
        let cache = EncodingCache::new(4 * one + one / 2);
        let encode = |texts: &[&str]| Ok(texts.iter().map(|t| fake(t, 10)).collect());
        cache.get_or_encode(&["aaaa", "bbbb", "cccc", "dddd"], encode).unwrap();
        cache.get_or_encode(&["aaaa"], encode).unwrap(); // now the most recent
        cache.get_or_encode(&["eeee"], encode).unwrap(); // evicts "bbbb"
        let stats = cache.stats();
        assert_eq!(stats.entries, 4);
        assert!(stats.bytes <= stats.budget_bytes);
        let before = cache.stats().misses;
        cache.get_or_encode(&["aaaa", "cccc", "dddd", "eeee"], encode).unwrap();
        assert_eq!(cache.stats().misses, before, "these four are still held");
        cache.get_or_encode(&["bbbb"], encode).unwrap();
        assert_eq!(cache.stats().misses, before + 1, "'bbbb' was evicted");
    }

    #[test]
    fn a_zero_budget_turns_it_off_and_an_oversized_entry_is_not_kept() {
        let off = EncodingCache::new(0);
        let encode = |texts: &[&str]| Ok(texts.iter().map(|t| fake(t, 2)).collect());
        off.get_or_encode(&["a", "a"], encode).unwrap();
        assert_eq!(off.stats(), CacheStats::default());

        let small = EncodingCache::new(4 * entry_bytes("short", &fake("short", 2)));
        small
            .get_or_encode(&["short", "long message"], |texts: &[&str]| {
                Ok(texts.iter().map(|t| fake(t, if t.len() > 5 { 1000 } else { 2 })).collect())
            })
            .unwrap();
        assert_eq!(small.stats().entries, 1);
    }

    #[test]
    fn an_encoder_error_is_passed_on_and_nothing_is_kept() {
        let cache = EncodingCache::new(1 << 20);
        let failed = cache.get_or_encode(&["x"], |_| Err(crate::Error::InvalidArgument("boom".into())));
        assert!(failed.is_err());
        assert_eq!(cache.stats().entries, 0);
    }
}
