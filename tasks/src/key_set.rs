//! A set of byte strings (silver's deduplication keys, the distinct values the gold
//! queries count) kept in one buffer: a million keys cost one allocation that grows, not
//! a million. Keys are numbered in the order they were first added.

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use std::hash::BuildHasher;

/// Byte strings, each held once.
#[derive(Default)]
pub struct KeySet {
    bytes: Vec<u8>,
    /// Where each key ends in `bytes` (it starts where the one before ends).
    ends: Vec<usize>,
    /// Each key's hash and number. The hash is kept so that growing the table and
    /// telling keys apart need not read the keys, which lie all over `bytes`.
    table: HashTable<(u64, usize)>,
    hasher: RandomState,
}

impl KeySet {
    /// Adds `key`; whether it was not there before.
    pub fn insert(&mut self, key: &[u8]) -> bool {
        self.number(key).1
    }

    /// The number of `key`, added if new; and whether it was new.
    pub fn number(&mut self, key: &[u8]) -> (usize, bool) {
        let hash = self.hasher.hash_one(key);
        if let Some(&(_, n)) = self
            .table
            .find(hash, |&(h, n)| h == hash && self.get(n) == key)
        {
            return (n, false);
        }
        let n = self.ends.len();
        self.bytes.extend_from_slice(key);
        self.ends.push(self.bytes.len());
        self.table.insert_unique(hash, (hash, n), |&(h, _)| h);
        (n, true)
    }

    /// Key number `n`.
    pub fn get(&self, n: usize) -> &[u8] {
        key_at(&self.bytes, &self.ends, n)
    }

    /// Whether `key` is in the set.
    pub fn contains(&self, key: &[u8]) -> bool {
        let hash = self.hasher.hash_one(key);
        self.table
            .find(hash, |&(h, n)| h == hash && self.get(n) == key)
            .is_some()
    }

    /// Whether the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes held, for memory accounting.
    pub fn allocated(&self) -> usize {
        self.bytes.capacity()
            + self.ends.capacity() * std::mem::size_of::<usize>()
            + self.table.capacity() * std::mem::size_of::<(u64, usize)>()
    }
}

fn key_at<'a>(bytes: &'a [u8], ends: &[usize], n: usize) -> &'a [u8] {
    let start = if n == 0 { 0 } else { ends[n - 1] };
    &bytes[start..ends[n]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_is_new_once_and_keeps_its_number() {
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
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(set.number(k), (i, false));
            assert_eq!(set.get(i), &k[..]);
        }
        assert_eq!(set.number(b"new"), (keys.len() + 1, true));
        assert_eq!(set.get(keys.len()), b"");
    }
}
