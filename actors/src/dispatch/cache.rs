//! Compiled mappings shared by every delivery: a mapping's templates are parsed once per
//! version, not once per event.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::render::{CompiledMapping, TemplateError};
use crate::domain::MappingId;
use crate::store::EventUriMapping;

/// Mapping id -> compiled mapping, bounded (the least recently used entry goes first). Cheap
/// to clone: clones share the entries.
///
/// A PUT of mappings may change a mapping in place under the same id, so
/// [`MappingCache::compiled`] compares the cached entry's source with the mapping it is given
/// and compiles again when they differ.
#[derive(Clone)]
pub struct MappingCache {
    inner: Arc<Inner>,
}

struct Inner {
    capacity: usize,
    entries: Mutex<HashMap<MappingId, Entry>>,
    /// A logical clock for recency.
    clock: AtomicU64,
}

struct Entry {
    compiled: Arc<CompiledMapping>,
    last_used: u64,
}

impl MappingCache {
    /// The default bound: far more mappings than a server's tenants have.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// A cache holding at most `capacity` compiled mappings (at least one).
    pub fn new(capacity: usize) -> Self {
        MappingCache {
            inner: Arc::new(Inner {
                capacity: capacity.max(1),
                entries: Mutex::new(HashMap::new()),
                clock: AtomicU64::new(0),
            }),
        }
    }

    /// The compiled form of `m`: the cached one if it was compiled from this very mapping,
    /// else compiled now and cached. A mapping that does not parse is not cached.
    pub fn compiled(&self, m: &EventUriMapping) -> Result<Arc<CompiledMapping>, TemplateError> {
        if let Some(hit) = self.get(m.id).filter(|c| c.compiled_from(m)) {
            return Ok(hit);
        }
        // Parsing happens outside the lock; two deliveries racing on a miss both parse, and
        // the later insert wins (both results are the same).
        let compiled = Arc::new(CompiledMapping::compile(m)?);
        self.insert(compiled.clone());
        Ok(compiled)
    }

    /// The cached compiled mapping of an id, if any (the latest version compiled).
    pub fn get(&self, id: MappingId) -> Option<Arc<CompiledMapping>> {
        let now = self.tick();
        let mut entries = self.lock();
        let entry = entries.get_mut(&id)?;
        entry.last_used = now;
        Some(entry.compiled.clone())
    }

    /// Caches a compiled mapping, evicting the least recently used entry when full.
    pub fn insert(&self, compiled: Arc<CompiledMapping>) {
        let now = self.tick();
        let mut entries = self.lock();
        if entries.len() >= self.inner.capacity && !entries.contains_key(&compiled.id) {
            let oldest = entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(id, _)| *id);
            if let Some(id) = oldest {
                entries.remove(&id);
            }
        }
        entries.insert(
            compiled.id,
            Entry {
                compiled,
                last_used: now,
            },
        );
    }

    /// Forgets a mapping (deleted or replaced).
    pub fn invalidate(&self, id: MappingId) {
        self.lock().remove(&id);
    }

    /// How many compiled mappings are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn tick(&self) -> u64 {
        self.inner.clock.fetch_add(1, Ordering::Relaxed)
    }

    /// The map; a panic elsewhere while it was held cannot leave it half-changed (every
    /// change is one map operation), so a poisoned lock is taken as is.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<MappingId, Entry>> {
        self.inner
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for MappingCache {
    fn default() -> Self {
        MappingCache::new(Self::DEFAULT_CAPACITY)
    }
}

impl std::fmt::Debug for MappingCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappingCache")
            .field("capacity", &self.inner.capacity)
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CrmContextId, HttpMethod, XelionEvent};
    use serde_json::json;

    fn mapping(id: i64, uri: &str) -> EventUriMapping {
        EventUriMapping {
            id: MappingId(id),
            crm_context_id: CrmContextId(1),
            xelion_event: XelionEvent::NewCall,
            crm_resource_uri: uri.to_string(),
            crm_resource_payload: Some(json!({"callId": "${callId}"})),
            method: HttpMethod::Post,
            headers: None,
            created_at: "2026-01-01T00:00:00.000000000".into(),
        }
    }

    #[test]
    fn a_mapping_is_compiled_once_and_again_when_it_changes_in_place() {
        let cache = MappingCache::new(10);
        let m = mapping(1, "https://crm.example/a?c=${callId}");
        let first = cache.compiled(&m).unwrap();
        let again = cache.compiled(&m.clone()).unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "the second lookup parses nothing"
        );
        // A PUT keeps the id but changes the template: the new version is used.
        let changed = mapping(1, "https://crm.example/b?c=${callId}");
        let newer = cache.compiled(&changed).unwrap();
        assert!(!Arc::ptr_eq(&first, &newer));
        assert!(newer.compiled_from(&changed));
        assert_eq!(cache.len(), 1);
        assert!(Arc::ptr_eq(&cache.get(MappingId(1)).unwrap(), &newer));
    }

    #[test]
    fn broken_mappings_are_not_cached() {
        let cache = MappingCache::new(10);
        let e = cache
            .compiled(&mapping(2, "https://crm.example/a?c=${callId"))
            .unwrap_err();
        assert_eq!(e.location(), "crmResourceUri");
        assert!(cache.is_empty());
    }

    #[test]
    fn the_cache_is_bounded_and_keeps_the_recently_used() {
        let cache = MappingCache::new(3);
        for id in 1..=3 {
            cache.compiled(&mapping(id, "https://x.example/")).unwrap();
        }
        // Use 1, so 2 is the least recently used when 4 arrives.
        assert!(cache.get(MappingId(1)).is_some());
        cache.compiled(&mapping(4, "https://x.example/")).unwrap();
        assert_eq!(cache.len(), 3);
        assert!(cache.get(MappingId(2)).is_none());
        for id in [1, 3, 4] {
            assert!(cache.get(MappingId(id)).is_some(), "{id}");
        }
        // Clones share the entries.
        let clone = cache.clone();
        clone.invalidate(MappingId(4));
        assert!(cache.get(MappingId(4)).is_none());
    }
}
