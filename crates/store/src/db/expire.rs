//! Expiry times: setting or clearing one, and the active expire cycle's sweep.

use std::hash::BuildHasher;
use std::sync::Arc;

use super::snapshot_walks::before_write;
use super::{Db, Entry, NO_EXPIRE};

impl Db {
    /// Sets or clears (`NO_EXPIRE`) the expiry of an existing key. Returns false if absent.
    pub fn set_expire(&mut self, key: &[u8], expire: i64) -> bool {
        let h = self.hash(key);
        let si = self.seg_of(h);
        let Some(i) = self.segs[si].table.position(h, key) else {
            return false;
        };
        let seg = Arc::make_mut(&mut self.segs[si]);
        let e = seg.table.at_mut(i);
        before_write(&mut self.walks, self.gen, si, e);
        let was = e.has_expire();
        e.expire = expire;
        match (was, expire != NO_EXPIRE) {
            (true, false) => {
                seg.volatile -= 1;
                self.volatile -= 1;
            }
            (false, true) => {
                seg.volatile += 1;
                self.volatile += 1;
            }
            _ => {}
        }
        true
    }

    /// Removes up to `max_checks` expired keys starting from segment `*cursor` (advancing it),
    /// for the active expire cycle. Calls `on_expired` with each removed entry and returns
    /// (keys checked, keys expired).
    pub fn expire_cycle_step(
        &mut self,
        cursor: &mut usize,
        max_checks: usize,
        now: i64,
        mut on_expired: impl FnMut(Entry),
    ) -> (usize, usize) {
        let mut checked = 0;
        let mut expired = 0;
        if self.volatile == 0 {
            return (0, 0);
        }
        let n = self.segs.len();
        let mut segs_seen = 0;
        while checked < max_checks && segs_seen < n {
            let i = *cursor % n;
            *cursor = (*cursor + 1) % n;
            segs_seen += 1;
            let seg = &self.segs[i];
            if seg.volatile == 0 {
                continue;
            }
            checked += seg.volatile;
            if !seg.table.iter().any(|e| e.is_expired(now)) {
                continue;
            }
            let seg = Arc::make_mut(&mut self.segs[i]);
            let mut removed = Vec::new();
            // A removal moves the last entry into the gap: look at the same position again.
            let mut at = 0;
            while at < seg.table.len() {
                let e = seg.table.at_mut(at);
                if !e.is_expired(now) {
                    at += 1;
                    continue;
                }
                before_write(&mut self.walks, self.gen, i, e);
                let h = self.hasher.hash_one(e.key.as_slice());
                removed.push(seg.table.remove_at(at, h, &self.hasher));
            }
            seg.version = seg.version.wrapping_add(1);
            seg.volatile -= removed.len();
            self.volatile -= removed.len();
            self.len -= removed.len();
            expired += removed.len();
            for e in removed {
                on_expired(e);
            }
        }
        (checked, expired)
    }
}
