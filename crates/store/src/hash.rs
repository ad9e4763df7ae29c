//! Hashes: a listpack-like vector of pairs in insertion order while small, a hash table beyond
//! `hash-max-listpack-entries` / `hash-max-listpack-value`. Conversion is one way, as in Redis.

use hashbrown::HashMap;

use crate::value::Blob;

#[derive(Clone, Debug)]
pub enum Hash {
    /// Reported as "listpack"; keeps insertion order like Redis's listpack.
    Pack(Vec<(Blob, Blob)>),
    /// Reported as "hashtable".
    Table(HashMap<Blob, Blob>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Pack(Vec::new())
    }
}

impl Hash {
    pub fn len(&self) -> usize {
        match self {
            Hash::Pack(v) => v.len(),
            Hash::Table(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Pack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }
}
