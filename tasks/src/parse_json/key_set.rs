//! A set of byte strings (deduplication keys in Arrow's row format) kept in one buffer:
//! a million keys cost one allocation that grows, not a million, and the table holds
//! 16 bytes per key.

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use std::hash::BuildHasher;

/// Where a key's bytes are in the buffer.
#[derive(Clone, Copy)]
struct Slot {
    start: usize,
    len: usize,
}

/// Byte strings, each held once.
#[derive(Default)]
pub struct KeySet {
    bytes: Vec<u8>,
    slots: HashTable<Slot>,
    hasher: RandomState,
}

impl KeySet {
    /// Adds `key`; whether it was not there before.
    pub fn insert(&mut self, key: &[u8]) -> bool {
        let hash = self.hasher.hash_one(key);
        if self.find(hash, key) {
            return false;
        }
        let slot = Slot {
            start: self.bytes.len(),
            len: key.len(),
        };
        self.bytes.extend_from_slice(key);
        let (bytes, hasher) = (&self.bytes, &self.hasher);
        self.slots.insert_unique(hash, slot, |s| {
            hasher.hash_one(&bytes[s.start..s.start + s.len])
        });
        true
    }

    /// Whether `key` is in the set.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.find(self.hasher.hash_one(key), key)
    }

    /// Whether the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn find(&self, hash: u64, key: &[u8]) -> bool {
        self.slots
            .find(hash, |s| &self.bytes[s.start..s.start + s.len] == key)
            .is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_is_new_once() {
        let mut set = KeySet::default();
        assert!(set.is_empty());
        let keys: Vec<Vec<u8>> = (0..10_000u32)
            .map(|i| i.to_le_bytes().repeat(i as usize % 5 + 1))
            .collect();
        assert!(keys.iter().all(|k| set.insert(k)));
        assert!(keys.iter().all(|k| !set.insert(k)));
        assert!(keys.iter().all(|k| set.contains(k)));
        assert!(!set.contains(b"absent"));
        assert!(set.insert(b""));
        assert!(!set.insert(b""));
    }
}
