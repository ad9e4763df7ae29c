//! Lists. Redis 7.0 always reports "quicklist" for lists, whatever their size.

use std::collections::VecDeque;

use crate::value::Blob;

#[derive(Clone, Debug, Default)]
pub struct List {
    pub items: VecDeque<Blob>,
}

impl List {
    pub fn new() -> Self {
        List {
            items: VecDeque::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }
}
