//! The point-in-time snapshots running over a database (see `snapshot.rs`): starting them,
//! advancing them, renumbering their 8-bit generations, and the before-image hook each write
//! calls.

use std::sync::Arc;

use super::{Db, Entry, Segment};
use crate::snapshot::{Shared, Snapshot, Walk};

/// The snapshots being walked, and those walked to the end whose writer still reads their
/// queue (for the bytes they hold). A clone of the database does not inherit them.
#[derive(Default)]
pub(super) struct Walks(pub(super) Vec<Walk>, pub(super) Vec<Arc<Shared>>);

impl Clone for Walks {
    fn clone(&self) -> Self {
        Walks::default()
    }
}

impl std::fmt::Debug for Walks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Walks({})", self.0.len())
    }
}

/// Hands the before-image of `e` (in segment `si`) to every snapshot that still needs it,
/// then stamps it with the newest generation. Call before changing or removing `e`.
#[inline]
pub(super) fn before_write(walks: &mut Walks, gen: u8, si: usize, e: &mut Entry) {
    if walks.0.is_empty() {
        return;
    }
    for w in walks.0.iter_mut() {
        w.before_write(si, e);
    }
    e.set_mark(gen);
}

impl Db {
    /// Starts a point-in-time snapshot of this database (see `snapshot.rs`), in O(1). The
    /// returned handle yields the entries as they are now, while the database keeps changing;
    /// `snapshot_step` must be called on this thread until `snapshot_in_progress` is false
    /// (or the handle is dropped), or the handle's reader waits.
    pub fn begin_snapshot(&mut self) -> Snapshot {
        if self.gen == u8::MAX {
            // 8-bit generations hold up to 254 running snapshots at once: beyond, the oldest
            // ones are walked to the end now (their queue grows instead of waiting).
            while self.walks.0.len() >= usize::from(u8::MAX) - 1 {
                let mut oldest = self.walks.0.remove(0);
                oldest.finish(&self.segs);
            }
            self.renumber_marks();
        }
        self.gen += 1;
        let (walk, snap) = Walk::begin(self.gen, self.segs.len());
        self.walks.0.push(walk);
        snap
    }

    /// Makes room for a new generation when the 8-bit marks ran out: maps every mark `m` to
    /// the number of running snapshot generations at or below it, and each running snapshot's
    /// generation the same way. Every comparison `mark < gen` a running walk makes gives the
    /// same answer as before (m < g iff fewer generations lie at or below m than at or below
    /// g, g being one of them), and the newest generation becomes the number of running
    /// snapshots. O(keys), once per about 250 snapshots.
    fn renumber_marks(&mut self) {
        let mut gens: Vec<u8> = self.walks.0.iter().map(|w| w.gen).collect();
        gens.sort_unstable();
        gens.dedup();
        let mut map = [0u8; 256];
        for (m, slot) in map.iter_mut().enumerate() {
            *slot = gens.partition_point(|&g| usize::from(g) <= m) as u8;
        }
        let renumber = |seg: &mut Arc<Segment>| {
            if seg
                .table
                .iter()
                .any(|e| map[usize::from(e.mark())] != e.mark())
            {
                for e in Arc::make_mut(seg).table.iter_mut() {
                    e.set_mark(map[usize::from(e.mark())]);
                }
            }
        };
        self.segs.iter_mut().for_each(renumber);
        for w in self.walks.0.iter_mut() {
            w.renumber(&map, renumber);
        }
        self.gen = map[usize::from(self.gen)];
    }

    /// Advances every snapshot of this database by whole segments, up to about `budget`
    /// entries and until `deadline` (see `Walk::step`). Returns how many entries were handed
    /// over.
    pub fn snapshot_step(&mut self, budget: usize, deadline: Option<std::time::Instant>) -> usize {
        let mut produced = 0;
        let segs = &self.segs;
        let draining = &mut self.walks.1;
        // A writer that dropped its handle reads no more.
        draining.retain(|s| Arc::strong_count(s) > 1);
        self.walks.0.retain_mut(|w| {
            if w.is_cancelled() {
                return false;
            }
            let (n, finished) = w.step(segs, budget, deadline);
            produced += n;
            if finished {
                draining.push(w.shared.clone());
            }
            !finished
        });
        produced
    }

    /// Bytes the snapshots hold for themselves, walked or still queued for their writer:
    /// before-images and queued copies (eviction leaves them out of used memory, see
    /// `snapshot.rs`).
    pub fn snapshot_held_bytes(&self) -> usize {
        let walking: usize = self.walks.0.iter().map(|w| w.held_bytes()).sum();
        let draining: usize = self.walks.1.iter().map(|s| s.held_bytes()).sum();
        walking + draining
    }

    /// Whether a snapshot of this database is still being walked.
    pub fn snapshot_in_progress(&self) -> bool {
        !self.walks.0.is_empty()
    }
}
