//! In-process cache of KPI answers (moka, TinyLFU eviction bounded by bytes).
//!
//! An answer is keyed by org, the org's data version and the fully resolved query, and holds
//! the serialized response body. Every committed change to an org's sales data bumps its data
//! version, so the next read misses and recomputes: a cached answer is never stale, and old
//! versions simply age out.

use crate::domain::OrgId;
use axum::body::Bytes;
use moka::sync::Cache;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    org: u64,
    version: u64,
    query: String,
}

#[derive(Clone)]
pub struct KpiCache {
    inner: Option<Cache<Key, Bytes>>,
}

impl KpiCache {
    /// A cache of at most `mb` MiB of answers; 0 turns it off.
    pub fn new(mb: u64) -> KpiCache {
        let inner = (mb > 0).then(|| {
            Cache::builder()
                .max_capacity(mb.saturating_mul(1 << 20))
                .weigher(|k: &Key, v: &Bytes| {
                    u32::try_from(k.query.len() + v.len() + 64).unwrap_or(u32::MAX)
                })
                .build()
        });
        KpiCache { inner }
    }

    /// The cached answer for `query` at `version`, or compute, keep and return it.
    pub fn get_or_try<E>(
        &self,
        org: OrgId,
        version: u64,
        query: String,
        compute: impl FnOnce() -> Result<Bytes, E>,
    ) -> Result<Bytes, E> {
        let Some(cache) = &self.inner else {
            return compute();
        };
        let key = Key {
            org: org.0,
            version,
            query,
        };
        if let Some(hit) = cache.get(&key) {
            metrics::counter!("kpi_cache_hits_total").increment(1);
            return Ok(hit);
        }
        metrics::counter!("kpi_cache_misses_total").increment(1);
        let answer = compute()?;
        cache.insert(key, answer.clone());
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_kept_per_org_version_and_query() {
        let c = KpiCache::new(1);
        let mut calls = 0;
        let mut get = |org: u64, v: u64, q: &str| {
            c.get_or_try::<()>(OrgId(org), v, q.into(), || {
                calls += 1;
                Ok(Bytes::from(format!("{org}/{v}/{q}")))
            })
            .unwrap()
        };
        assert_eq!(get(1, 1, "a"), "1/1/a");
        assert_eq!(get(1, 1, "a"), "1/1/a");
        assert_eq!(get(1, 2, "a"), "1/2/a");
        assert_eq!(get(2, 2, "a"), "2/2/a");
        assert_eq!(get(1, 2, "b"), "1/2/b");
        assert_eq!(calls, 4);
    }

    #[test]
    fn errors_are_not_kept_and_a_zero_size_cache_always_computes() {
        let c = KpiCache::new(1);
        assert_eq!(
            c.get_or_try(OrgId(1), 1, "q".into(), || Err("bad")),
            Err("bad")
        );
        assert_eq!(
            c.get_or_try::<()>(OrgId(1), 1, "q".into(), || Ok(Bytes::from("ok"))),
            Ok(Bytes::from("ok"))
        );
        let off = KpiCache::new(0);
        let mut calls = 0;
        for _ in 0..3 {
            off.get_or_try::<()>(OrgId(1), 1, "q".into(), || {
                calls += 1;
                Ok(Bytes::new())
            })
            .unwrap();
        }
        assert_eq!(calls, 3);
    }
}
