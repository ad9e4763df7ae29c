//! The ordered index of a "skiplist" sorted set: an order-statistic treap over (score,
//! member), its nodes in an arena addressed by u32. Every node keeps the size of its subtree,
//! so rank, select-by-rank and range bounds are O(log n) expected.

use std::cmp::Ordering;

use super::cmp_entry;
use crate::value::Blob;

const NIL: u32 = u32::MAX;

#[derive(Clone, Debug)]
pub(super) struct Node {
    pub(super) score: f64,
    pub(super) member: Blob,
    left: u32,
    right: u32,
    size: u32,
    prio: u32,
}

/// An order-statistic treap over (score, member), nodes in an arena addressed by u32.
#[derive(Clone, Debug)]
pub struct OrderIndex {
    pub(super) nodes: Vec<Node>,
    free: Vec<u32>,
    root: u32,
    rng: u64,
}

impl Default for OrderIndex {
    fn default() -> Self {
        OrderIndex {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NIL,
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

impl OrderIndex {
    pub fn len(&self) -> usize {
        self.size(self.root) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.root == NIL
    }

    fn size(&self, t: u32) -> u32 {
        if t == NIL {
            0
        } else {
            self.nodes[t as usize].size
        }
    }

    fn update(&mut self, t: u32) {
        let n = &self.nodes[t as usize];
        let s = 1 + self.size(n.left) + self.size(n.right);
        self.nodes[t as usize].size = s;
    }

    fn next_prio(&mut self) -> u32 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    }

    fn less(&self, a: u32, b: u32) -> bool {
        let (x, y) = (&self.nodes[a as usize], &self.nodes[b as usize]);
        cmp_entry(x.score, &x.member, y.score, &y.member).is_lt()
    }

    /// Splits `t` into (keys < key(k), keys >= key(k)).
    fn split(&mut self, t: u32, k: u32) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        if self.less(t, k) {
            let (a, b) = self.split(self.nodes[t as usize].right, k);
            self.nodes[t as usize].right = a;
            self.update(t);
            (t, b)
        } else {
            let (a, b) = self.split(self.nodes[t as usize].left, k);
            self.nodes[t as usize].left = b;
            self.update(t);
            (a, t)
        }
    }

    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.nodes[a as usize].prio > self.nodes[b as usize].prio {
            let r = self.merge(self.nodes[a as usize].right, b);
            self.nodes[a as usize].right = r;
            self.update(a);
            a
        } else {
            let l = self.merge(a, self.nodes[b as usize].left);
            self.nodes[b as usize].left = l;
            self.update(b);
            b
        }
    }

    fn insert_node(&mut self, t: u32, n: u32) -> u32 {
        if t == NIL {
            return n;
        }
        if self.nodes[n as usize].prio > self.nodes[t as usize].prio {
            let (l, r) = self.split(t, n);
            let node = &mut self.nodes[n as usize];
            node.left = l;
            node.right = r;
            self.update(n);
            return n;
        }
        if self.less(n, t) {
            let l = self.insert_node(self.nodes[t as usize].left, n);
            self.nodes[t as usize].left = l;
        } else {
            let r = self.insert_node(self.nodes[t as usize].right, n);
            self.nodes[t as usize].right = r;
        }
        self.update(t);
        t
    }

    /// Adds (score, member), returning its node's arena id; the caller guarantees it is not
    /// present.
    pub fn insert(&mut self, score: f64, member: Blob) -> u32 {
        let prio = self.next_prio();
        let node = Node {
            score,
            member,
            left: NIL,
            right: NIL,
            size: 1,
            prio,
        };
        let n = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        self.root = self.insert_node(self.root, n);
        n
    }

    fn remove_rec(&mut self, t: u32, score: f64, member: &[u8]) -> (u32, bool) {
        if t == NIL {
            return (NIL, false);
        }
        let node = &self.nodes[t as usize];
        match cmp_entry(score, member, node.score, &node.member) {
            Ordering::Less => {
                let (l, found) = self.remove_rec(node.left, score, member);
                self.nodes[t as usize].left = l;
                if found {
                    self.update(t);
                }
                (t, found)
            }
            Ordering::Greater => {
                let (r, found) = self.remove_rec(node.right, score, member);
                self.nodes[t as usize].right = r;
                if found {
                    self.update(t);
                }
                (t, found)
            }
            Ordering::Equal => {
                let (l, r) = (node.left, node.right);
                let m = self.merge(l, r);
                let freed = &mut self.nodes[t as usize];
                freed.member = Blob::new();
                freed.size = 0; // marks a free slot
                self.free.push(t);
                (m, true)
            }
        }
    }

    /// Removes (score, member); returns whether it was present.
    pub fn remove(&mut self, score: f64, member: &[u8]) -> bool {
        let (root, found) = self.remove_rec(self.root, score, member);
        self.root = root;
        found
    }

    /// The number of elements before (score, member).
    pub fn rank(&self, score: f64, member: &[u8]) -> usize {
        self.partition_point(|m, s| cmp_entry(s, m, score, member).is_lt())
    }

    /// The element of rank `i`.
    pub fn select(&self, mut i: usize) -> Option<(&[u8], f64)> {
        let mut t = self.root;
        while t != NIL {
            let n = &self.nodes[t as usize];
            let ls = self.size(n.left) as usize;
            match i.cmp(&ls) {
                Ordering::Less => t = n.left,
                Ordering::Equal => return Some((&n.member, n.score)),
                Ordering::Greater => {
                    i -= ls + 1;
                    t = n.right;
                }
            }
        }
        None
    }

    /// The number of leading elements satisfying a predicate that holds for a prefix.
    pub fn partition_point(&self, pred: impl Fn(&[u8], f64) -> bool) -> usize {
        let mut t = self.root;
        let mut count = 0usize;
        while t != NIL {
            let n = &self.nodes[t as usize];
            if pred(&n.member, n.score) {
                count += self.size(n.left) as usize + 1;
                t = n.right;
            } else {
                t = n.left;
            }
        }
        count
    }

    /// Walks arena slots from `cursor`, returning up to `count` live elements and the cursor
    /// to continue from (0 when done). A node keeps its slot for its whole life (a score
    /// update frees and immediately reuses the same slot), so a scan over slots returns every
    /// element present from its start to its end, whatever changes in between.
    pub fn scan_slots(&self, cursor: usize, count: usize) -> (Vec<(&[u8], f64)>, usize) {
        let mut out = Vec::new();
        let mut i = cursor;
        while i < self.nodes.len() && out.len() < count.max(1) {
            let n = &self.nodes[i];
            if n.size > 0 {
                out.push((n.member.as_slice(), n.score));
            }
            i += 1;
        }
        let next = if i >= self.nodes.len() { 0 } else { i };
        (out, next)
    }

    /// The live elements in arena order.
    pub fn live(&self) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        self.nodes
            .iter()
            .filter(|n| n.size > 0)
            .map(|n| (n.member.as_slice(), n.score))
    }

    /// In-order iteration.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        let mut stack = Vec::new();
        let mut t = self.root;
        std::iter::from_fn(move || {
            while t != NIL {
                stack.push(t);
                t = self.nodes[t as usize].left;
            }
            let top = stack.pop()?;
            let n = &self.nodes[top as usize];
            t = n.right;
            Some((n.member.as_slice(), n.score))
        })
    }
}
