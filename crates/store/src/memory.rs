//! MEMORY USAGE: an estimate of the bytes a key and its value take in Amber's own layout
//! (not Redis's: the same data costs different amounts in the two). As Redis, a collection
//! is estimated from a sample of its elements (the first `samples`), scaled to its length.

use std::mem::size_of;

use crate::blob::Blob;
use crate::hash::{Hash, TableInner};
use crate::set::Set;
use crate::shared::Shared;
use crate::value::Value;
use crate::zset::{SkipSet, ZSet};
use crate::Key;

/// The keyspace entry (48 bytes) and its share of the spare room of its segment's entry array
/// and of the index's buckets (3 bytes each): about 58 bytes per key (see `db/entry_table.rs`).
const ENTRY: usize = 58;
/// An `Arc`'s counts before the value.
const ARC: usize = 16;
/// A collection table's per-entry overhead (4-byte index slot, control byte, spare index and
/// slot capacity), roughly.
const TABLE_SLOT: usize = 12;

/// Heap bytes behind a blob (inline ones have none).
fn blob_heap(b: &[u8]) -> usize {
    if b.len() <= 22 {
        0
    } else {
        b.len().next_multiple_of(8)
    }
}

fn blob(b: &[u8]) -> usize {
    size_of::<Blob>() + blob_heap(b)
}

/// The average of `f` over the first `samples` items, times `len`.
fn scaled<I: Iterator>(
    len: usize,
    samples: usize,
    items: I,
    f: impl Fn(I::Item) -> usize,
) -> usize {
    let mut n = 0usize;
    let mut sum = 0usize;
    for it in items.take(samples.max(1)) {
        sum = sum.saturating_add(f(it));
        n += 1;
    }
    if n == 0 {
        return 0;
    }
    (sum / n).saturating_mul(len)
}

/// Bytes for `key` holding `v`, sampling at most `samples` elements of a collection.
pub fn usage(key: &Key, v: &Value, samples: usize) -> usize {
    let k = key.as_slice();
    let key_heap = if k.len() <= Key::INLINE {
        0
    } else {
        ARC + k.len()
    };
    let value = match v {
        Value::Int(_) => 0,
        Value::Emb(e) => {
            if e.as_slice().len() <= 15 {
                0
            } else {
                ARC + e.as_slice().len()
            }
        }
        Value::Raw(r) => r.allocated(),
        Value::List(l) => {
            ARC + size_of::<crate::list::List>()
                + scaled(l.len(), samples, l.items.iter(), |b| blob(b.as_slice()))
        }
        // Hashes, sets and sorted sets: a packed encoding is one block (8-byte header and
        // the bytes); a table or skiplist one block of its count and header, plus elements.
        Value::Hash(h) => match h {
            Hash::Pack(p) => p.block_bytes(),
            Hash::Table(_) => {
                Shared::<TableInner<Blob>>::BLOCK
                    + scaled(h.len(), samples, h.iter(), |(f, x)| {
                        blob(f) + blob(x) + TABLE_SLOT
                    })
            }
        },
        Value::Set(s) => match s {
            Set::Ints(v) => v.heap_bytes(),
            Set::Table(_) => {
                Shared::<TableInner<()>>::BLOCK
                    + scaled(s.len(), samples, s.iter(), |m| {
                        blob(m.to_blob().as_slice()) + TABLE_SLOT
                    })
            }
        },
        Value::ZSet(z) => match z {
            ZSet::Pack(p) => p.block_bytes(),
            // Per element an index node (score, member, two links, subtree size and
            // priority: 48 bytes, arena capacity aside) and the node's 4-byte id with its
            // control byte in the lookup table.
            ZSet::Skip(_) => {
                Shared::<SkipSet>::BLOCK
                    + scaled(z.len(), samples, z.iter(), |(m, _)| {
                        blob(m) + size_of::<f64>() + 16 + size_of::<u32>() + 1
                    })
            }
        },
        Value::Stream(st) => ARC + size_of::<crate::stream::Stream>() + stream_bytes(st),
    };
    ENTRY + key_heap + value
}

/// A stream: its node listpacks with a B-tree slot each (master ID and vector, about 48
/// bytes), and per group its pending entries (ID, delivery time and count, owner in the
/// group PEL and the consumer's: about 96 bytes each) and consumers.
fn stream_bytes(s: &crate::stream::Stream) -> usize {
    let nodes = s.node_bytes() + s.node_count() * 48;
    let groups: usize = s
        .groups
        .iter()
        .map(|(name, g)| {
            64 + name.len()
                + g.pel.values().map(|n| 96 + n.consumer.len()).sum::<usize>()
                + g.consumers.keys().map(|c| 64 + c.len()).sum::<usize>()
        })
        .sum();
    nodes + groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list::{End, List};
    use std::sync::Arc;

    #[test]
    fn bigger_values_cost_more_and_sampling_scales() {
        let k = Key::from_slice(b"k");
        let small = usage(&k, &Value::Int(1), 5);
        let big = usage(&k, &Value::raw(vec![b'x'; 1000]), 5);
        assert!(small >= ENTRY && big >= small + 1000);
        let mut l = List::new();
        for _ in 0..100 {
            l.push(End::Right, &[b'y'; 100]);
        }
        let lv = Value::List(Arc::new(l));
        let u = usage(&k, &lv, 5);
        assert!(u > 100 * 100 && u < 100 * 200, "{u}");
        assert_eq!(usage(&k, &lv, 5), usage(&k, &lv, 1000), "uniform elements");
    }

    #[test]
    fn follows_the_layout() {
        let k = Key::from_slice(b"key:1");
        // A 100-byte raw string: one 112-byte block (12-byte header) beside the entry.
        let raw = Value::Raw(crate::RawStr::from_slice(&[b'x'; 100]));
        assert_eq!(usage(&k, &raw, 5), ENTRY + 112);
        // Keys up to 19 bytes and embstr values up to 15 are inline.
        assert_eq!(
            usage(&Key::from_slice(&[b'k'; 19]), &Value::string(b"abc"), 5),
            ENTRY
        );
        assert_eq!(
            usage(&Key::from_slice(&[b'k'; 20]), &Value::Int(7), 5),
            ENTRY + ARC + 20
        );
        // A packed hash: one block, an 8-byte header and the packed bytes (1 length byte per
        // string), no other block.
        let mut h = Hash::default();
        h.set(b"f1", b"value1", &crate::Limits::default());
        h.set(b"f2", b"value2", &crate::Limits::default());
        assert_eq!(usage(&k, &Value::Hash(h), 5), ENTRY + 8 + 2 * (3 + 7));
        // An intset: the header and 2 bytes per small member.
        let s = Set::from_members(
            [crate::set::Member::Int(1), crate::set::Member::Int(2)],
            &crate::Limits::default(),
        );
        assert_eq!(usage(&k, &Value::Set(s), 5), ENTRY + 8 + 2 * 2);
        // A packed sorted set: member length, member and a 1-byte integral score.
        let z = ZSet::from_entries(
            vec![(Blob::from_slice(b"m"), 1.0)],
            &crate::Limits::default(),
        );
        assert_eq!(usage(&k, &Value::ZSet(z), 5), ENTRY + 8 + 3);
    }
}
