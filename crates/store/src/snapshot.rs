//! Point-in-time snapshots without fork, without copying the dataset, and without a pause.
//!
//! The main thread owns the keyspace, so the main thread walks it; a writer thread only ever
//! sees entries handed to it (cheap clones: inline keys and small strings are copied,
//! collections and long strings are `Arc`s). Serialize-before-write at entry granularity:
//!
//! ```text
//!   begin_snapshot     gen += 1; every segment "not yet walked" for this snapshot (O(1))
//!   main thread, between client batches (Db::snapshot_step):
//!       next segment not yet walked ─▶ clone its entries with mark < gen ─▶ queue
//!   main thread, before any write to an entry in a segment not yet walked:
//!       entry.mark < gen ─▶ clone the entry as it is (the before-image) ─▶ queue
//!       then entry.mark = gen (the walk skips it), and the write happens in place
//!   writer thread:     Snapshot::next_batch ─▶ encode ─▶ file, socket, ...
//! ```
//!
//! Entries created while a snapshot runs carry the newest `gen`, so no walk emits them. A
//! write costs one clone of the one entry it touches, the first time only; a walk step costs
//! one clone per entry and is bounded (`budget`) so clients are served between steps. The
//! queue is bounded for walking (`HIGH_WATER`), not for before-images, which never wait.
//!
//! Several snapshots may run at once (BGSAVE and a replica's SYNC): each has its own `gen`,
//! and an entry counts as handled by snapshot k when its mark is at least k's gen, because a
//! write stamps the newest gen after handing a before-image to every older snapshot that
//! still needs one.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::db::{Entry, Segment};

/// Entries queued for the writer above which the walk pauses (before-images still go in).
pub const HIGH_WATER: usize = 32 * 1024;

#[derive(Default)]
struct Queue {
    /// Each batch with the bytes it holds (see `Shared::held`).
    batches: VecDeque<(Vec<Entry>, usize)>,
    entries: usize,
    /// Every entry of the snapshot is in `batches` (or was taken from it).
    done: bool,
}

/// What the main thread and the writer share.
pub(crate) struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    keys_done: AtomicUsize,
    /// Bytes held only for this snapshot, queued or about to be: the full size of each
    /// before-image (the live key was changed or deleted, so nothing else holds its old
    /// value) and the entry slot of each walked copy (its value is shared with the live key).
    /// Eviction does not count them (Redis does not count a fork's copy-on-write pages).
    held: AtomicUsize,
    /// The writer gave up (error, cancel) or was dropped: the walk stops.
    cancelled: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        match self.queue.lock() {
            Ok(q) => q,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn push(&self, batch: Vec<Entry>, bytes: usize, done: bool) {
        if batch.is_empty() && !done {
            return;
        }
        let mut q = self.lock();
        if !batch.is_empty() {
            q.entries += batch.len();
            q.batches.push_back((batch, bytes));
        }
        q.done |= done;
        drop(q);
        self.ready.notify_one();
    }

    fn queued(&self) -> usize {
        self.lock().entries
    }

    /// See `held`.
    pub(crate) fn held_bytes(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }
}

/// The writer's handle on one database's snapshot. Dropping it abandons the snapshot.
pub struct Snapshot {
    shared: Arc<Shared>,
}

impl Snapshot {
    /// The next entries of the snapshot, each exactly once across calls, as they were when the
    /// snapshot began; `None` when there are no more. Blocks while the main thread has not
    /// produced more (it must be running `Db::snapshot_step`).
    pub fn next_batch(&self) -> Option<Batch> {
        let mut q = self.shared.lock();
        loop {
            if let Some((entries, bytes)) = q.batches.pop_front() {
                q.entries -= entries.len();
                self.shared
                    .keys_done
                    .fetch_add(entries.len(), Ordering::Relaxed);
                return Some(Batch {
                    entries,
                    bytes,
                    shared: self.shared.clone(),
                });
            }
            if q.done {
                return None;
            }
            q = match self.shared.ready.wait_timeout(q, Duration::from_millis(50)) {
                Ok((q, _)) => q,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Keys handed to the writer so far.
    pub fn keys_done(&self) -> usize {
        self.shared.keys_done.load(Ordering::Relaxed)
    }
}

/// Entries of a snapshot handed to its writer. The bytes they hold stay counted as the
/// snapshot's (`Shared::held`) until the batch is dropped or turned into an iterator.
pub struct Batch {
    entries: Vec<Entry>,
    bytes: usize,
    shared: Arc<Shared>,
}

impl std::ops::Deref for Batch {
    type Target = Vec<Entry>;
    fn deref(&self) -> &Vec<Entry> {
        &self.entries
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.shared.held.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl IntoIterator for Batch {
    type Item = Entry;
    type IntoIter = std::vec::IntoIter<Entry>;
    fn into_iter(mut self) -> Self::IntoIter {
        std::mem::take(&mut self.entries).into_iter()
    }
}

impl<'a> IntoIterator for &'a Batch {
    type Item = &'a Entry;
    type IntoIter = std::slice::Iter<'a, Entry>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        self.shared.cancelled.store(true, Ordering::Release);
    }
}

/// The main thread's side of one running snapshot of one database.
pub(crate) struct Walk {
    pub(crate) shared: Arc<Shared>,
    /// Entries with a mark below this belong to the snapshot.
    pub(crate) gen: u8,
    /// Per segment index (same length as the database's segments): already walked.
    pub(crate) walked: Vec<bool>,
    /// The next segment index the walk looks at.
    cursor: usize,
    /// Segments dropped from the database (FLUSHDB) before the walk reached them.
    orphans: Vec<Arc<Segment>>,
    /// Before-images not yet handed over (handed at the next step), and their bytes.
    pre: Vec<Entry>,
    pre_bytes: usize,
}

impl Walk {
    pub(crate) fn begin(gen: u8, segments: usize) -> (Walk, Snapshot) {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            keys_done: AtomicUsize::new(0),
            held: AtomicUsize::new(0),
            cancelled: AtomicBool::new(false),
        });
        let walk = Walk {
            shared: shared.clone(),
            gen,
            walked: vec![false; segments],
            cursor: 0,
            orphans: Vec::new(),
            pre: Vec::new(),
            pre_bytes: 0,
        };
        (walk, Snapshot { shared })
    }

    /// Before `e` (in segment `si`) changes: hands its before-image over if this snapshot
    /// still needs it.
    #[inline]
    pub(crate) fn before_write(&mut self, si: usize, e: &Entry) {
        if e.mark() < self.gen && !self.walked[si] {
            let bytes = std::mem::size_of::<Entry>() + crate::memory::usage(&e.key, &e.value, 5);
            self.pre_bytes += bytes;
            self.shared.held.fetch_add(bytes, Ordering::Relaxed);
            self.pre.push(e.clone());
        }
    }

    /// The database drops every segment (FLUSHDB): the walk keeps those it has not walked.
    pub(crate) fn orphan(&mut self, segs: &[Arc<Segment>], new_len: usize) {
        for (i, s) in segs.iter().enumerate() {
            if !self.walked[i] && !s.is_empty() {
                self.orphans.push(s.clone());
            }
        }
        self.walked = vec![true; new_len];
        self.cursor = 0;
    }

    /// Renumbers this walk's generation through `map` (see `Db::renumber_marks`), and the
    /// marks of the segments it kept from a FLUSHDB with `renumber`.
    pub(crate) fn renumber(&mut self, map: &[u8; 256], renumber: impl Fn(&mut Arc<Segment>)) {
        self.gen = map[usize::from(self.gen)];
        self.orphans.iter_mut().for_each(renumber);
    }

    /// Bytes held for this snapshot (see `Shared::held`).
    pub(crate) fn held_bytes(&self) -> usize {
        self.shared.held_bytes()
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.shared.cancelled.load(Ordering::Acquire)
    }

    /// One step: hands over the before-images, then walks whole segments until `budget`
    /// entries were looked at, `deadline` passed, or the queue is full. Returns (entries
    /// handed over, finished).
    pub(crate) fn step(
        &mut self,
        segs: &[Arc<Segment>],
        budget: usize,
        deadline: Option<Instant>,
    ) -> (usize, bool) {
        self.step_bounded(segs, budget, deadline, true)
    }

    /// Walks everything left at once, however full the queue (see `Db::begin_snapshot`).
    pub(crate) fn finish(&mut self, segs: &[Arc<Segment>]) {
        self.step_bounded(segs, usize::MAX, None, false);
    }

    fn step_bounded(
        &mut self,
        segs: &[Arc<Segment>],
        budget: usize,
        deadline: Option<Instant>,
        high_water: bool,
    ) -> (usize, bool) {
        let pre = std::mem::take(&mut self.pre);
        let pre_bytes = std::mem::take(&mut self.pre_bytes);
        let mut produced = pre.len();
        self.shared.push(pre, pre_bytes, false);
        if high_water && self.shared.queued() >= HIGH_WATER {
            return (produced, false);
        }
        let gen = self.gen;
        let mut batch = Vec::new();
        let mut walked = 0usize;
        let mut finished = false;
        loop {
            if walked >= budget || (walked > 0 && deadline.is_some_and(|d| Instant::now() >= d)) {
                break;
            }
            let seg = if let Some(o) = self.orphans.pop() {
                o
            } else if self.cursor < segs.len() {
                let i = self.cursor;
                self.cursor += 1;
                if self.walked[i] {
                    continue;
                }
                self.walked[i] = true;
                segs[i].clone()
            } else {
                finished = true;
                break;
            };
            walked += seg.len();
            batch.extend(seg.iter().filter(|e| e.mark() < gen).cloned());
        }
        produced += batch.len();
        let bytes = batch.len() * std::mem::size_of::<Entry>();
        self.shared.held.fetch_add(bytes, Ordering::Relaxed);
        self.shared.push(batch, bytes, finished);
        (produced, finished)
    }
}
