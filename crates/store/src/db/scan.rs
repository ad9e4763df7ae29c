//! SCAN over the keyspace: the cursor encoding and one step of the iteration.

use super::{Db, Entry};

/// Where a SCAN stands, encoded into the u64 cursor users see:
/// `prefix << 32 | version << 16 | position`. `prefix` is the first hash prefix of the segment
/// being read; position 0 starts a segment afresh; cursor 0 starts (and ends) the iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanCursor {
    pub prefix: u64,
    pub version: u16,
    pub position: u16,
}

impl ScanCursor {
    pub fn decode(c: u64) -> ScanCursor {
        ScanCursor {
            prefix: c >> 32,
            version: (c >> 16) as u16,
            position: c as u16,
        }
    }

    pub fn encode(self) -> u64 {
        (self.prefix << 32) | (u64::from(self.version) << 16) | u64::from(self.position)
    }
}

impl Db {
    /// One step of SCAN: calls `f` for entries from `cursor` on until at least `count` were
    /// visited, and returns the next cursor, 0 when the iteration is complete.
    ///
    /// Guarantee (as Redis's): a key present for the whole iteration is visited at least once.
    /// Segments are read in prefix order and splits only add boundaries, so the prefix in a
    /// cursor always starts a segment. Within a segment the position counts entries in table
    /// order; if the segment changed since the cursor was issued, this call reads that segment
    /// again from its first entry and to its end, so nothing is missed and progress is certain.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&Entry)) -> u64 {
        let count = count.max(1);
        let c = ScanCursor::decode(cursor);
        let mut p = c.prefix;
        let mut pos = usize::from(c.position);
        let mut finish = false;
        let mut visited = 0usize;
        let mut first = true;
        while p < (1u64 << 32) {
            let seg = &self.segs[self.dir[self.slot_of_prefix(p)] as usize];
            if first {
                first = false;
                if pos > 0 && (seg.start_of(p) != p || seg.version != c.version) {
                    pos = 0;
                    finish = true;
                }
            }
            let start = seg.start_of(p);
            for (i, e) in seg.table.entries().iter().enumerate().skip(pos) {
                if visited >= count && !finish {
                    return ScanCursor {
                        prefix: start,
                        version: seg.version,
                        position: i as u16,
                    }
                    .encode();
                }
                f(e);
                visited += 1;
            }
            finish = false;
            pos = 0;
            p = seg.end_of(p);
            if visited >= count && p < (1u64 << 32) {
                return ScanCursor {
                    prefix: p,
                    version: 0,
                    position: 0,
                }
                .encode();
            }
        }
        0
    }
}
