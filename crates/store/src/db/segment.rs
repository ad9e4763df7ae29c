//! Segments: where a hash lands in the directory (`prefix`), the small hash table each
//! segment is, and how the database splits a full segment or lays segments out in advance.

use std::hash::BuildHasher;
use std::sync::Arc;

use super::entry_table::EntryTable;
use super::{Db, Entry};

/// A segment splits when an insert finds it this full: the capacity of a 1024-bucket index.
pub const SPLIT_AT: usize = 896;

/// The 32-bit directory position of a hash.
///
/// It is not uniform on purpose. With uniform positions, every segment of a given depth holds
/// the same number of keys, so all of them split at the same moment and every table sits at
/// the same load: at unlucky sizes (1M keys) all of them just past a split, half empty. Mapping
/// the top 16 hash bits through log2(1 + x) makes density vary by 2x across the directory, so
/// neighbouring segments differ in size by up to an octave, split at different times, and the
/// indexes average about two-thirds full at any size (and splits, each a burst of rehashing,
/// are spread over time).
///
/// The bits used are below hashbrown's 7-bit tag (the top bits) and above the bits a segment's
/// table uses for its buckets (the low ones).
#[inline]
pub(super) fn prefix(hash: u64) -> u32 {
    let hi = log_curve(((hash >> 41) & 0xffff) as u32);
    (hi << 16) | ((hash >> 25) & 0xffff) as u32
}

/// x in [0, 65536) → 65536 · log2(1 + x/65536), monotonic, below 65536: interpolated
/// linearly between 257 points of the curve (514 bytes, which stay in cache; a full table
/// of 65,536 values took 128 KiB and cost a cache miss per key on a large keyspace, 11 % of
/// the lookup's samples under SET -P 16). The interpolation is off by under 3 in 65,536.
#[inline]
fn log_curve(x: u32) -> u32 {
    let points = log_points();
    let (i, frac) = ((x >> 8) as usize, x & 0xff);
    let (lo, hi) = (points[i], points[i + 1]);
    lo + (((hi - lo) * frac) >> 8)
}

/// 65536 · log2(1 + k/256) for k in 0..=256 (the last is 65536).
fn log_points() -> &'static [u32; 257] {
    static POINTS: std::sync::OnceLock<[u32; 257]> = std::sync::OnceLock::new();
    POINTS.get_or_init(|| {
        let mut p = [0u32; 257];
        for (k, slot) in p.iter_mut().enumerate() {
            *slot = (65536.0 * (1.0 + k as f64 / 256.0).log2()).round() as u32;
        }
        p
    })
}

#[derive(Clone, Debug, Default)]
pub struct Segment {
    pub(super) table: EntryTable,
    /// Keys of this segment that carry an expiry.
    pub(super) volatile: usize,
    /// Bumped on every insert, removal and split: positions may have changed (SCAN uses it).
    pub(super) version: u16,
    /// How many top prefix bits all keys of this segment share.
    pub(super) depth: u8,
}

impl Segment {
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.table.iter()
    }

    /// The first prefix this segment covers, given any prefix inside it.
    pub(super) fn start_of(&self, p: u64) -> u64 {
        if self.depth == 0 {
            0
        } else {
            let shift = 32 - u32::from(self.depth);
            (p >> shift) << shift
        }
    }

    /// One past the last prefix this segment covers.
    pub(super) fn end_of(&self, p: u64) -> u64 {
        self.start_of(p) + (1u64 << (32 - u32::from(self.depth)))
    }
}

impl Db {
    /// Splits segment `si` by its next prefix bit, doubling the directory when needed.
    pub(super) fn split(&mut self, si: usize) {
        let ld = self.segs[si].depth;
        if ld >= 32 {
            return;
        }
        if ld == self.depth {
            self.dir = self.dir.iter().flat_map(|&s| [s, s]).collect();
            self.depth += 1;
        }
        let hasher = &self.hasher;
        let bit = 1u32 << (31 - u32::from(ld));
        let seg = Arc::make_mut(&mut self.segs[si]);
        let entries = std::mem::take(&mut seg.table).into_entries();
        let hashes: Vec<u64> = entries
            .iter()
            .map(|e| hasher.hash_one(e.key.as_slice()))
            .collect();
        let high_len = hashes.iter().filter(|&&h| prefix(h) & bit != 0).count();
        let half = |n: usize| Segment {
            table: EntryTable::with_capacity(n, SPLIT_AT),
            volatile: 0,
            version: 0,
            depth: ld + 1,
        };
        let mut low = half(entries.len() - high_len);
        let mut high = half(high_len);
        for (e, h) in entries.into_iter().zip(hashes) {
            let half = if prefix(h) & bit != 0 {
                &mut high
            } else {
                &mut low
            };
            half.volatile += usize::from(e.has_expire());
            half.table.push(h, e, hasher);
        }
        low.version = seg.version.wrapping_add(1);
        *seg = low;
        let ni = self.segs.len() as u32;
        self.segs.push(Arc::new(high));
        for w in self.walks.0.iter_mut() {
            let parent = w.walked[si];
            w.walked.push(parent);
        }
        // Directory slots of the old segment whose bit `ld` (from the top) is set move over.
        let shift = u32::from(self.depth) - 1 - u32::from(ld);
        for (slot, s) in self.dir.iter_mut().enumerate() {
            if *s as usize == si && (slot >> shift) & 1 == 1 {
                *s = ni;
            }
        }
    }

    /// A hint that `additional` keys are coming (DEBUG POPULATE, loading a snapshot). On an
    /// empty database, lays out the directory those keys will need at once, so they are not
    /// rehashed split after split as the database grows (each key would move about once per
    /// doubling). Each segment's entry array is sized for the share of keys its prefix range
    /// gets (the prefix map is not uniform, see `prefix`), and its index at about two-thirds
    /// full, which is also the average fill that splitting reaches. A database that is not
    /// empty grows as usual.
    pub fn reserve(&mut self, additional: usize) {
        if self.len != 0 || additional < 4 * SPLIT_AT {
            return;
        }
        // Segments of about two-thirds of SPLIT_AT keys on average.
        let target = (SPLIT_AT * 2 / 3) as f64;
        let want = (additional as f64 / target).log2().floor();
        let depth = want.clamp(1.0, 16.0) as u8;
        let n = 1usize << depth;
        let mut segs = Vec::with_capacity(n);
        for i in 0..n {
            // Share of keys whose prefix falls in [i, i+1) / n: the inverse of the log curve.
            let share = (2f64).powf((i + 1) as f64 / n as f64) - (2f64).powf(i as f64 / n as f64);
            let expected = additional as f64 * share;
            // A segment gets `expected` keys give or take a Poisson spread (4 % at 600): with
            // 12 % more room, few arrays are copied to grow during the load, and the room
            // never written is never resident. Never more than a segment holds before it
            // splits: the hint may come from a file (RDB's RESIZEDB) and be far too big.
            let index = ((expected * 1.15) as usize).clamp(16, SPLIT_AT);
            let entries = ((expected * 1.12) as usize).min(SPLIT_AT);
            segs.push(Arc::new(Segment {
                table: EntryTable::with_capacity(entries, index),
                volatile: 0,
                version: 0,
                depth,
            }));
        }
        self.dir = (0..n as u32).collect();
        self.depth = depth;
        self.segs = segs;
        // The old segments were empty: nothing of a running snapshot is in the new ones.
        for w in self.walks.0.iter_mut() {
            w.walked = vec![true; n];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_curve_is_monotonic_below_65536_and_follows_log2() {
        let mut last = 0;
        for x in 0..65536u32 {
            let y = log_curve(x);
            assert!(y >= last && y < 65536, "{x} -> {y}");
            last = y;
            let exact = 65536.0 * (1.0 + f64::from(x) / 65536.0).log2();
            assert!((f64::from(y) - exact).abs() < 3.0, "{x}: {y} vs {exact}");
        }
        assert_eq!((log_curve(0), log_curve(65535)), (0, 65535));
    }
}
