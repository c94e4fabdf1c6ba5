//! `Vars`: the variables of one evaluation, indexed once so that each substitution is one probe
//! of a small open-addressing table instead of a search of the JSON object. Identifiers are
//! hashed when a template is parsed; an event's names are hashed when its `Vars` are built.

use std::sync::OnceLock;

use serde_json::{Map, Value as Json};

use crate::value::Value;

/// A name with its hash, computed once (when a template is parsed).
#[derive(Debug, Clone)]
pub(crate) struct Name {
    pub text: Box<str>,
    pub hash: u64,
}

impl Name {
    pub(crate) fn new(text: &str) -> Name {
        Name {
            text: text.into(),
            hash: hash_name(text),
        }
    }
}

/// A per-process random seed, so that no chosen set of field names can make lookups collide.
fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x9e37_79b9_7f4a_7c15);
        h.finish()
    })
}

const K1: u64 = 0x9e37_79b9_7f4a_7c15;
const K2: u64 = 0xc2b2_ae3d_27d4_eb4f;

/// A fast seeded hash of a name; never 0, which marks an empty slot. It reads the first and
/// last 8 bytes (all of a name up to 16 bytes) and the length with two independent multiplies:
/// a filter in front of the byte comparison, so longer names that differ only in the middle
/// share a hash and are told apart by that comparison.
#[inline]
pub(crate) fn hash_name(s: &str) -> u64 {
    let b = s.as_bytes();
    let n = b.len();
    let (first, last) = if n >= 8 {
        (word(b, 0), word(b, n - 8))
    } else if n >= 4 {
        (u64::from(half(b, 0)), u64::from(half(b, n - 4)))
    } else if n > 0 {
        let packed = u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16;
        (packed, 0)
    } else {
        (0, 0)
    };
    let h = (first ^ seed()).wrapping_mul(K1) ^ (last ^ n as u64).rotate_left(32).wrapping_mul(K2);
    (h ^ (h >> 29)) | 1
}

#[inline]
fn word(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

#[inline]
fn half(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

/// What a name is bound to: a JSON value of the caller's, or a string.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bound<'a> {
    Json(&'a Json),
    Str(&'a str),
}

impl<'a> Bound<'a> {
    #[inline]
    pub(crate) fn value(self) -> Value<'a> {
        match self {
            Bound::Json(j) => Value::from_json(j),
            Bound::Str(s) => Value::String(std::borrow::Cow::Borrowed(s)),
        }
    }
}

/// Name equality without a call, 8 bytes at a time (the hashes already matched).
#[inline]
fn same_name(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a == b;
    }
    let mut i = 0;
    while i + 8 < n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    // The last word, overlapping the one before it.
    word(a, n - 8) == word(b, n - 8)
}

/// The variables of an evaluation: names bound to values borrowed from the caller (an event's
/// JSON fields, plus any extra names such as the event type).
///
/// Build it once per event and render every template against it; [`Vars::recycle`] keeps its
/// allocation for the next event.
///
/// ```
/// use serde_json::json;
/// let event = json!({"callId": "c-42"});
/// let mut vars = cti_el::Vars::from_json(&event);
/// vars.insert_str("xelionEvent", "newCallEvent");
/// let t = cti_el::Template::parse("${xelionEvent}/${callId}")?;
/// let mut out = String::new();
/// t.render_to(&vars, &mut out)?;
/// assert_eq!(out, "newCallEvent/c-42");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Vars<'a> {
    /// Slot hashes; 0 is empty. The length is a power of two, at least twice the entries.
    hashes: Vec<u64>,
    /// Slot entries, parallel to `hashes`.
    entries: Vec<(&'a str, Bound<'a>)>,
    len: usize,
}

impl<'a> Vars<'a> {
    /// No variables.
    pub fn new() -> Vars<'a> {
        Vars::default()
    }

    /// The fields of a JSON object (any other JSON value gives no variables).
    pub fn from_json(vars: &'a Json) -> Vars<'a> {
        let mut v = Vars::new();
        if let Json::Object(map) = vars {
            v.extend_map(map);
        }
        v
    }

    /// The fields of a JSON object.
    pub fn from_map(map: &'a Map<String, Json>) -> Vars<'a> {
        let mut v = Vars::new();
        v.extend_map(map);
        v
    }

    /// Empties these variables for values of another lifetime, keeping the allocation.
    pub fn recycle<'b>(self) -> Vars<'b> {
        let mut hashes = self.hashes;
        hashes.iter_mut().for_each(|h| *h = 0);
        // An in-place collect: the slots keep their allocation under the new lifetime.
        let entries = self
            .entries
            .into_iter()
            .map(|_| ("", Bound::Str("")))
            .collect();
        Vars {
            hashes,
            entries,
            len: 0,
        }
    }

    /// Unbinds every name, keeping the allocation (for the next event of the same lifetime).
    pub fn clear(&mut self) {
        if self.len > 0 {
            self.hashes.iter_mut().for_each(|h| *h = 0);
            self.len = 0;
        }
    }

    /// Binds every field of `map` (replacing names already bound).
    pub fn extend_map(&mut self, map: &'a Map<String, Json>) {
        self.reserve(map.len());
        for (k, v) in map {
            self.bind(k, Bound::Json(v));
        }
    }

    /// Binds `name` to a JSON value (replacing it if already bound).
    pub fn insert(&mut self, name: &'a str, value: &'a Json) {
        self.reserve(1);
        self.bind(name, Bound::Json(value));
    }

    /// Binds `name` to a string (replacing it if already bound).
    pub fn insert_str(&mut self, name: &'a str, value: &'a str) {
        self.reserve(1);
        self.bind(name, Bound::Str(value));
    }

    /// How many names are bound.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no name is bound.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value bound to `name`, if any.
    pub fn get(&self, name: &str) -> Option<Value<'a>> {
        self.lookup(hash_name(name), name).map(Bound::value)
    }

    /// The value bound to a name whose hash is known.
    #[inline]
    pub(crate) fn lookup(&self, hash: u64, name: &str) -> Option<Bound<'a>> {
        if self.hashes.is_empty() {
            return None;
        }
        let mask = self.hashes.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let h = self.hashes[i];
            if h == hash {
                let (n, v) = self.entries[i];
                if same_name(n.as_bytes(), name.as_bytes()) {
                    return Some(v);
                }
            } else if h == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// Makes room for `more` entries at a load factor of at most one half.
    fn reserve(&mut self, more: usize) {
        let need = (self.len + more) * 2;
        if need <= self.hashes.len() {
            return;
        }
        let cap = need.next_power_of_two().max(16);
        let old_hashes = std::mem::replace(&mut self.hashes, vec![0; cap]);
        let old_entries = std::mem::replace(&mut self.entries, vec![("", Bound::Str("")); cap]);
        self.len = 0;
        for (h, (n, v)) in old_hashes.into_iter().zip(old_entries) {
            if h != 0 {
                self.place(h, n, v);
            }
        }
    }

    #[inline]
    fn bind(&mut self, name: &'a str, value: Bound<'a>) {
        self.place(hash_name(name), name, value);
    }

    /// Stores an entry; room was reserved.
    #[inline]
    fn place(&mut self, hash: u64, name: &'a str, value: Bound<'a>) {
        let mask = self.hashes.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let h = self.hashes[i];
            if h == 0 {
                self.hashes[i] = hash;
                self.entries[i] = (name, value);
                self.len += 1;
                return;
            }
            if h == hash && self.entries[i].0 == name {
                self.entries[i].1 = value;
                return;
            }
            i = (i + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn binds_fields_and_extra_names_the_later_binding_wins() {
        let event = json!({"a": 1, "xelionEvent": "field", "s": "x"});
        let mut vars = Vars::from_json(&event);
        assert_eq!(vars.get("a"), Some(Value::Long(1)));
        assert_eq!(vars.get("xelionEvent"), Some(Value::String("field".into())));
        vars.insert_str("xelionEvent", "newCallEvent");
        assert_eq!(
            vars.get("xelionEvent"),
            Some(Value::String("newCallEvent".into()))
        );
        assert_eq!(vars.len(), 3);
        assert_eq!(vars.get("missing"), None);
        assert_eq!(Vars::new().get("a"), None);
    }

    #[test]
    fn grows_and_recycles() {
        let big: Map<String, Json> = (0..100).map(|i| (format!("k{i}"), json!(i))).collect();
        let vars = Vars::from_map(&big);
        for i in 0..100 {
            assert_eq!(vars.get(&format!("k{i}")), Some(Value::Long(i)));
        }
        let small = json!({"k1": "one"});
        let mut again = vars.recycle();
        assert!(again.is_empty());
        again.extend_map(small.as_object().unwrap());
        assert_eq!(again.get("k1"), Some(Value::String("one".into())));
        assert_eq!(again.get("k1x"), None);
        assert_eq!(again.get("k2"), None);
    }
}
