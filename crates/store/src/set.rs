//! Sets: a sorted vector of integers ("intset") while every member is an integer and the set
//! is small, a hash set ("hashtable") beyond. Conversion is one way, as in Redis.

use hashbrown::HashSet;

use crate::value::Blob;

#[derive(Clone, Debug)]
pub enum Set {
    Ints(Vec<i64>),
    Table(HashSet<Blob>),
}

impl Default for Set {
    fn default() -> Self {
        Set::Ints(Vec::new())
    }
}

impl Set {
    pub fn len(&self) -> usize {
        match self {
            Set::Ints(v) => v.len(),
            Set::Table(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }
}
