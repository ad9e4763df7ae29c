//! Streams (Redis 7.0's t_stream.c): entries keyed by 128-bit IDs in listpack nodes ordered by
//! their master ID (see node.rs), and consumer groups (groups.rs).

pub mod groups;
pub mod node;

use std::collections::BTreeMap;

use crate::listpack::LpEntry;
pub use groups::{Consumer, Group, Nack};

/// An entry ID: milliseconds and sequence, ordered as one 128-bit number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// The next ID (streamIncrID); `None` past the last one.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous ID (streamDecrID); `None` before 0-0.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    pub fn to_bytes(self) -> Vec<u8> {
        format!("{}-{}", self.ms, self.seq).into_bytes()
    }

    /// The 16 big-endian bytes Redis uses as the radix-tree key.
    pub fn encode(self) -> [u8; 16] {
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&self.ms.to_be_bytes());
        k[8..].copy_from_slice(&self.seq.to_be_bytes());
        k
    }

    pub fn decode(k: &[u8]) -> Option<StreamId> {
        if k.len() != 16 {
            return None;
        }
        let ms = u64::from_be_bytes(k[..8].try_into().ok()?);
        let seq = u64::from_be_bytes(k[8..].try_into().ok()?);
        Some(StreamId { ms, seq })
    }
}

/// Group entries_read when unknown (SCG_INVALID_ENTRIES_READ).
pub const INVALID_ENTRIES_READ: i64 = -1;

/// How an XADD names its ID.
#[derive(Clone, Copy, Debug)]
pub enum AddId {
    /// `*`
    Auto,
    /// `ms-*`
    Ms(u64),
    /// `ms-seq`
    Exact(StreamId),
}

#[derive(Debug, PartialEq, Eq)]
pub enum AddError {
    /// The ID is not greater than the last one (EDOM).
    NotGreater,
    /// The elements are too large for a node (ERANGE).
    TooLarge,
}

/// Node size limits: stream-node-max-bytes and stream-node-max-entries.
#[derive(Clone, Copy, Debug)]
pub struct NodeLimits {
    pub max_bytes: u64,
    pub max_entries: u64,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            max_bytes: 4096,
            max_entries: 100,
        }
    }
}

/// Largest listpack a node may grow to (STREAM_LISTPACK_MAX_SIZE).
const LISTPACK_MAX_SIZE: u64 = 1 << 30;

/// How XADD/XTRIM trim.
#[derive(Clone, Copy, Debug)]
pub enum TrimBy {
    MaxLen(u64),
    MinId(StreamId),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stream {
    /// Master ID → node listpack.
    nodes: BTreeMap<StreamId, Vec<u8>>,
    pub length: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted_entry_id: StreamId,
    pub entries_added: u64,
    pub groups: BTreeMap<Vec<u8>, Group>,
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    /// The nodes in ID order (master ID, listpack bytes).
    pub fn nodes(&self) -> impl DoubleEndedIterator<Item = (&StreamId, &Vec<u8>)> {
        self.nodes.iter()
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Adds a node as loaded from a file, after `node::decode` checked it; its IDs must follow
    /// the previous node's. Returns the live entries it holds.
    pub fn push_node(&mut self, master: StreamId, lp: Vec<u8>) -> Result<u64, &'static str> {
        let d = node::decode(&lp, master)?;
        if d.entries.is_empty() || d.count == 0 {
            return Err("stream node is empty");
        }
        if let Some((_, last)) = self.nodes.iter().next_back() {
            let prev_last = node::decode(last, *self.nodes.keys().next_back().unwrap_or(&master))
                .ok()
                .and_then(|p| p.entries.last().map(|e| e.id));
            if prev_last.is_some_and(|p| p >= master) {
                return Err("stream nodes out of order");
            }
        }
        let live = d.count as u64;
        drop(d);
        self.nodes.insert(master, lp);
        Ok(live)
    }

    /// The ID the next entry would get, or an error (streamAppendItem's first half).
    fn new_id(&self, want: AddId) -> Result<StreamId, AddError> {
        let id = match want {
            AddId::Exact(id) => id,
            AddId::Ms(ms) => {
                if self.last_id.ms == ms {
                    if self.last_id.seq == u64::MAX {
                        // Redis's streamAppendItem fails here without setting errno, and
                        // XADD answers "Elements are too large" unless an earlier failure
                        // left EDOM behind: the usual answer.
                        return Err(AddError::TooLarge);
                    }
                    StreamId::new(ms, self.last_id.seq + 1)
                } else {
                    StreamId::new(ms, 0)
                }
            }
            AddId::Auto => return Err(AddError::NotGreater),
        };
        if id <= self.last_id {
            return Err(AddError::NotGreater);
        }
        Ok(id)
    }

    /// Appends an entry (streamAppendItem). `now_ms` makes the `*` ID; pairs are field, value.
    pub fn add(
        &mut self,
        want: AddId,
        now_ms: u64,
        pairs: &[(&[u8], &[u8])],
        limits: NodeLimits,
    ) -> Result<StreamId, AddError> {
        let id = match want {
            AddId::Auto => {
                // streamNextID: the current time, or one more than the last ID.
                if now_ms > self.last_id.ms {
                    StreamId::new(now_ms, 0)
                } else {
                    self.last_id.incr().unwrap_or(StreamId::MIN)
                }
            }
            other => self.new_id(other)?,
        };
        if id <= self.last_id {
            return Err(AddError::NotGreater);
        }
        let total: u64 = pairs.iter().map(|(f, v)| (f.len() + v.len()) as u64).sum();
        if total > LISTPACK_MAX_SIZE {
            return Err(AddError::TooLarge);
        }
        let mut max_bytes = limits.max_bytes;
        if max_bytes == 0 || max_bytes > LISTPACK_MAX_SIZE {
            max_bytes = LISTPACK_MAX_SIZE;
        }
        let tail = self.nodes.iter_mut().next_back();
        let mut appended = false;
        if let Some((master, lp)) = tail {
            let full = lp.len() as u64 + total >= max_bytes
                || (limits.max_entries != 0 && node::slots(lp) as u64 >= limits.max_entries);
            if full {
                // A full node stays as it is: give back the spare capacity (lpShrinkToFit).
                // A copy, not shrink_to_fit: mimalloc's realloc keeps a block in place while
                // the new size is at least half of it, so shrinking would free nothing.
                *lp = lp.as_slice().to_vec();
            } else {
                node::append(lp, *master, id, pairs);
                appended = true;
            }
        }
        if !appended {
            self.nodes.insert(id, node::new_node(id, pairs));
        }
        self.length += 1;
        self.entries_added = self.entries_added.wrapping_add(1);
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
        Ok(id)
    }

    /// Visits the live entries with IDs in `[start, end]`, forwards or backwards, until `f`
    /// returns false (streamIterator).
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        mut f: impl FnMut(StreamId, &[(LpEntry<'_>, LpEntry<'_>)]) -> bool,
    ) {
        if start > end {
            return;
        }
        if !rev {
            let from = self
                .nodes
                .range(..=start)
                .next_back()
                .map(|(k, _)| *k)
                .unwrap_or(StreamId::MIN);
            for (master, lp) in self.nodes.range(from..) {
                if *master > end {
                    return;
                }
                // Decoded as far as the range needs (COUNT 10 reads ten entries, not the node).
                let stopped = node::walk(lp, *master, |id, flags, pairs| {
                    if id < start || flags & node::FLAG_DELETED != 0 {
                        return true;
                    }
                    id <= end && f(id, pairs)
                });
                if stopped {
                    return;
                }
            }
        } else {
            for (master, lp) in self.nodes.range(..=end).rev() {
                let Ok(d) = node::decode(lp, *master) else {
                    continue;
                };
                for e in d.entries.iter().rev() {
                    if e.id > end || e.deleted() {
                        continue;
                    }
                    if e.id < start || !f(e.id, &e.pairs) {
                        return;
                    }
                }
            }
        }
    }

    /// The entry `id` as owned field/value pairs, if it exists.
    pub fn get(&self, id: StreamId) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = None;
        self.range(id, id, false, |_, pairs| {
            out = Some(
                pairs
                    .iter()
                    .map(|(f, v)| (node::text(*f).into_owned(), node::text(*v).into_owned()))
                    .collect(),
            );
            false
        });
        out
    }

    pub fn exists(&self, id: StreamId) -> bool {
        let mut found = false;
        self.range(id, id, false, |_, _| {
            found = true;
            false
        });
        found
    }

    /// The first (or last) live ID (streamGetEdgeID); `None` when empty.
    pub fn edge_id(&self, first: bool) -> Option<StreamId> {
        let mut out = None;
        self.range(StreamId::MIN, StreamId::MAX, !first, |id, _| {
            out = Some(id);
            false
        });
        out
    }

    /// The first entry's ID, deleted or not (streamGetEdgeID without skipping tombstones).
    pub fn first_slot_id(&self) -> Option<StreamId> {
        let (master, lp) = self.nodes.iter().next()?;
        node::decode(lp, *master)
            .ok()?
            .entries
            .first()
            .map(|e| e.id)
    }

    /// Marks an entry deleted, dropping its node when it held no other live entry
    /// (streamDeleteItem). Does not touch first_id / max_deleted_entry_id.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&master, lp)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        let Ok(d) = node::decode(lp, master) else {
            return false;
        };
        let Some(e) = d.entries.iter().find(|e| e.id == id && !e.deleted()) else {
            return false;
        };
        if d.count == 1 {
            drop(d);
            self.nodes.remove(&master);
        } else {
            let mut elems = d.elems.clone();
            elems[e.at] = LpEntry::Int(e.flags | node::FLAG_DELETED);
            elems[0] = LpEntry::Int(d.count - 1);
            elems[1] = LpEntry::Int(d.deleted + 1);
            let new = node::encode(&elems);
            drop(d);
            *lp = new;
        }
        self.length -= 1;
        true
    }

    /// Trims from the head (streamTrim); `limit` 0 is no limit. Returns entries removed and
    /// updates first_id.
    pub fn trim(&mut self, by: TrimBy, approx: bool, limit: u64) -> u64 {
        let mut deleted: u64 = 0;
        let masters: Vec<StreamId> = self.nodes.keys().copied().collect();
        for master in masters {
            if let TrimBy::MaxLen(max) = by {
                if self.length <= max {
                    break;
                }
            }
            let Some(lp) = self.nodes.get(&master) else {
                continue;
            };
            let Ok(d) = node::decode(lp, master) else {
                break;
            };
            let entries = d.count as u64;
            if limit != 0 && deleted + entries > limit {
                break;
            }
            let remove_node = match by {
                TrimBy::MaxLen(max) => self.length.saturating_sub(entries) >= max,
                TrimBy::MinId(min) => d.entries.last().is_some_and(|e| e.id < min),
            };
            if remove_node {
                drop(d);
                self.nodes.remove(&master);
                self.length = self.length.saturating_sub(entries);
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            let mut elems = d.elems.clone();
            let mut from_node: i64 = 0;
            for e in &d.entries {
                let stop = match by {
                    TrimBy::MaxLen(max) => self.length <= max,
                    TrimBy::MinId(min) => e.id >= min,
                };
                if stop {
                    break;
                }
                if !e.deleted() {
                    elems[e.at] = LpEntry::Int(e.flags | node::FLAG_DELETED);
                    from_node += 1;
                    self.length -= 1;
                }
            }
            deleted += from_node as u64;
            elems[0] = LpEntry::Int(d.count - from_node);
            elems[1] = LpEntry::Int(d.deleted + from_node);
            let new = node::encode(&elems);
            drop(d);
            if let Some(lp) = self.nodes.get_mut(&master) {
                *lp = new;
            }
            // Redis trims within one node at most: the rest is beyond the limit.
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.edge_id(true).unwrap_or(StreamId::MIN);
        }
        deleted
    }

    /// Whether deleted entries may lie in `[start, end]` (streamRangeHasTombstones).
    pub fn range_has_tombstones(&self, start: Option<StreamId>, end: Option<StreamId>) -> bool {
        if self.length == 0 || self.max_deleted_entry_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_entry_id {
            return false;
        }
        let s = start.unwrap_or(StreamId::MIN);
        let e = end.unwrap_or(StreamId::MAX);
        s <= self.max_deleted_entry_id && self.max_deleted_entry_id <= e
    }

    /// streamEstimateDistanceFromFirstEverEntry.
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        let added = self.entries_added as i64;
        if self.length == 0 && id <= self.last_id {
            return added;
        }
        if id == self.last_id {
            return added;
        } else if id > self.last_id {
            return INVALID_ENTRIES_READ;
        }
        if self.max_deleted_entry_id.is_zero() || self.max_deleted_entry_id < self.first_id {
            // Wrapping as Redis's long long arithmetic: a file may hold any counts.
            if id < self.first_id {
                return added.wrapping_sub(self.length as i64);
            } else if id == self.first_id {
                return added.wrapping_sub(self.length as i64).wrapping_add(1);
            }
        }
        INVALID_ENTRIES_READ
    }

    /// A group's lag (streamReplyWithCGLag); `None` when it cannot be known.
    pub fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        let added = self.entries_added as i64;
        if g.entries_read != INVALID_ENTRIES_READ
            && !self.range_has_tombstones(Some(g.last_id), None)
        {
            return Some(added.wrapping_sub(g.entries_read));
        }
        let read = self.estimate_distance(g.last_id);
        (read != INVALID_ENTRIES_READ).then_some(added.wrapping_sub(read))
    }

    /// Bytes held by the nodes (for MEMORY USAGE).
    pub fn node_bytes(&self) -> usize {
        self.nodes.values().map(|lp| lp.capacity()).sum()
    }
}

#[cfg(test)]
mod tests;
