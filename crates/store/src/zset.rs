//! Sorted sets: a vector ordered by (score, member) while small ("listpack"), a member→score
//! map plus an ordered index beyond ("skiplist").

use crate::value::Blob;

#[derive(Clone, Debug)]
pub enum ZSet {
    Pack(Vec<(Blob, f64)>),
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::Pack(Vec::new())
    }
}

impl ZSet {
    pub fn len(&self) -> usize {
        match self {
            ZSet::Pack(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Pack(_) => "listpack",
        }
    }
}
