//! The query-result cache: answers keyed by collection, the collection's write version and the
//! canonical text of the parsed request (so field order does not matter). A write bumps the
//! version, so older entries become unreachable at once — a query after an acknowledged write
//! never sees the pre-write answer — and age out of the byte-bounded cache.

use std::sync::Arc;
use std::time::Duration;

use crate::config::CacheConfig;

type Key = (String, u64, String);

pub struct ResultCache {
    cache: moka::sync::Cache<Key, Arc<str>>,
}

impl ResultCache {
    pub fn new(config: &CacheConfig) -> Option<ResultCache> {
        if !config.enabled || config.capacity_bytes == 0 {
            return None;
        }
        let cache = moka::sync::Cache::builder()
            .max_capacity(config.capacity_bytes)
            .weigher(|k: &Key, v: &Arc<str>| {
                let bytes = k.0.len() + k.2.len() + v.len() + 64;
                u32::try_from(bytes).unwrap_or(u32::MAX)
            })
            .time_to_live(Duration::from_secs(config.ttl_secs.max(1)))
            .eviction_listener(|_, _, cause| {
                if cause.was_evicted() {
                    metrics::counter!("vicinity_result_cache_evictions_total").increment(1);
                }
            })
            .build();
        Some(ResultCache { cache })
    }

    /// The key of a request for `collection` at write `version`, by the canonical text of the
    /// parsed request (which leaves out `cache`, the bypass switch).
    pub fn key(collection: &str, version: u64, canonical: String) -> Key {
        (collection.to_string(), version, format!("c{canonical}"))
    }

    /// The key of a body's exact text: a repeated request (the same bytes, the common case)
    /// is answered without parsing it. Entries are made beside the canonical ones.
    pub fn exact_key(collection: &str, version: u64, body: &str) -> Key {
        (collection.to_string(), version, format!("r{body}"))
    }

    /// A lookup by [`ResultCache::exact_key`]: a hit counts as a hit, a miss is not counted
    /// (the canonical lookup that follows counts it).
    pub fn get_exact(&self, key: &Key) -> Option<Arc<str>> {
        let found = self.cache.get(key);
        if found.is_some() {
            metrics::counter!("vicinity_result_cache_hits_total").increment(1);
        }
        found
    }

    pub fn get(&self, key: &Key) -> Option<Arc<str>> {
        let found = self.cache.get(key);
        match found {
            Some(_) => metrics::counter!("vicinity_result_cache_hits_total").increment(1),
            None => metrics::counter!("vicinity_result_cache_misses_total").increment(1),
        }
        found
    }

    pub fn insert(&self, key: Key, value: Arc<str>) {
        self.cache.insert(key, value);
    }

    /// Publishes the cache's size (the counters are updated as they happen).
    pub fn publish(&self) {
        metrics::gauge!("vicinity_result_cache_bytes").set(self.cache.weighted_size() as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_collection_the_version_and_the_request() {
        let key = |c: &str, v: u64, text: &str| ResultCache::key(c, v, text.to_string());
        assert_eq!(key("c", 3, "{}"), key("c", 3, "{}"));
        assert_ne!(key("c", 3, "{}"), key("c", 4, "{}"));
        assert_ne!(key("c", 3, "{}"), key("d", 3, "{}"));
    }

    #[test]
    fn exact_keys_never_meet_canonical_ones_and_follow_the_version() {
        let text = r#"{"limit":10,"query":[1,2]}"#;
        assert_ne!(ResultCache::exact_key("c", 3, text), ResultCache::key("c", 3, text.to_string()));
        assert_ne!(ResultCache::exact_key("c", 3, text), ResultCache::exact_key("c", 4, text));
    }
}
