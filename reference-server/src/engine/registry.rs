//! A map split into shards, each behind its own read-write lock, so lookups by different
//! requests (tokens, users, rooms) do not queue behind one global lock.

use crate::sync::{read, write, RwLock};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};

const SHARDS: usize = 16;

pub struct Registry<K, V> {
    hasher: RandomState,
    shards: Vec<RwLock<HashMap<K, V>>>,
}

impl<K: Hash + Eq, V: Clone> Default for Registry<K, V> {
    fn default() -> Self {
        Registry {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
        }
    }
}

impl<K: Hash + Eq, V: Clone> Registry<K, V> {
    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> &RwLock<HashMap<K, V>> {
        &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS]
    }

    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        read(self.shard(key)).get(key).cloned()
    }

    /// Insert unless present; `false` when the key was taken.
    pub fn insert_new(&self, key: K, value: V) -> bool {
        let mut shard = write(self.shard(&key));
        if shard.contains_key(&key) {
            return false;
        }
        shard.insert(key, value);
        true
    }

    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        write(self.shard(key)).remove(key)
    }

    /// Every value (no order), for rare whole-server walks.
    pub fn values(&self) -> Vec<V> {
        self.shards.iter().flat_map(|s| read(s).values().cloned().collect::<Vec<_>>()).collect()
    }

    pub fn retain(&self, mut keep: impl FnMut(&K, &V) -> bool) {
        for s in &self.shards {
            write(s).retain(|k, v| keep(k, v));
        }
    }
}
