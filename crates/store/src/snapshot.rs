//! Point-in-time snapshots without fork and without copying the dataset.
//!
//! `Db::begin_snapshot` records every segment (an `Arc` clone each: microseconds even at
//! millions of keys) in a slot. From then on two parties serialize segments, each exactly once:
//!
//! ```text
//!   writer thread:  Snapshot::drain  ── takes slot i ──> sink.segment(db, &old segment)
//!   main thread:    write to segment i ── Db::before_write ── takes slot i first (if still
//!                   there) ──> sink.segment(db, &old segment), then mutates in place
//! ```
//!
//! Whoever takes a slot serializes the segment as it was when the snapshot began; the main
//! thread does it just before its first write to that segment (Dragonfly's serialize-before-
//! write), so the segment is no longer shared and the write copies nothing. Only when the writer
//! thread holds a segment at the very moment the main thread writes to it does `Arc::make_mut`
//! copy that one segment (at most `SPLIT_AT` entries). Extra memory is therefore bounded by what
//! the sink buffers, not by the write rate.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::db::Segment;

/// Receives each segment of a snapshot exactly once, as it was when the snapshot began.
/// Called on the writer thread and on the main thread (before a write), so implementations
/// must be cheap to share: typically encode into a buffer and hand it to the writer.
pub trait SegmentSink: Send + Sync {
    fn segment(&self, db: usize, segment: &Segment);
}

pub(crate) struct Shared {
    pub(crate) db: usize,
    pub(crate) slots: Vec<Mutex<Option<Arc<Segment>>>>,
    pub(crate) sink: Arc<dyn SegmentSink>,
    pub(crate) remaining: AtomicUsize,
    pub(crate) keys_done: AtomicUsize,
    pub(crate) keys_total: usize,
}

impl Shared {
    /// Serializes slot `i` if nobody has yet. Returns whether this call did it.
    pub(crate) fn take(&self, i: usize) -> bool {
        let seg = match self.slots.get(i) {
            Some(slot) => match slot.lock() {
                Ok(mut s) => s.take(),
                Err(poisoned) => poisoned.into_inner().take(),
            },
            None => None,
        };
        match seg {
            Some(seg) => {
                self.sink.segment(self.db, &seg);
                self.keys_done.fetch_add(seg.len(), Ordering::Relaxed);
                self.remaining.fetch_sub(1, Ordering::AcqRel);
                true
            }
            None => false,
        }
    }
}

/// The writer thread's handle on one database's snapshot.
pub struct Snapshot {
    pub(crate) shared: Arc<Shared>,
}

impl Snapshot {
    /// Serializes every segment the main thread has not already serialized. Run it on the
    /// background thread; when it returns, every segment has been handed to the sink once.
    /// (The main thread never blocks on the writer, so this cannot deadlock: a segment it took
    /// is serialized within its current command.)
    pub fn drain(&self) {
        for i in 0..self.shared.slots.len() {
            self.shared.take(i);
        }
        // A segment the main thread took may still be on its way into the sink: wait for it,
        // so that when this returns the sink has received every segment.
        while !self.is_complete() {
            std::thread::yield_now();
        }
    }

    /// How many segment slots the snapshot has (the unit `take` works on).
    pub fn segments(&self) -> usize {
        self.shared.slots.len()
    }

    /// Serializes slot `i` unless the main thread already did. A writer that interleaves
    /// `take` with flushing its sink keeps at most one segment's encoding buffered; after the
    /// last slot it must wait for `is_complete` (a segment taken by the main thread may still
    /// be on its way into the sink).
    pub fn take(&self, i: usize) -> bool {
        self.shared.take(i)
    }

    pub fn db(&self) -> usize {
        self.shared.db
    }

    /// Keys in the database when the snapshot began.
    pub fn keys_total(&self) -> usize {
        self.shared.keys_total
    }

    /// Keys serialized so far, by either party.
    pub fn keys_done(&self) -> usize {
        self.shared.keys_done.load(Ordering::Relaxed)
    }

    pub fn is_complete(&self) -> bool {
        self.shared.remaining.load(Ordering::Acquire) == 0
    }
}
