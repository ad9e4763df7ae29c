//! The file state and writing by policy: what was fed (`buf`) goes to the incr file on the
//! main thread (everysec / no; `always` when nothing could run meanwhile) or to the writer
//! thread (`always`, group commit); the offsets `written` / `synced` / `durable` follow.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::writer::{write_all_at_end, writer_failed};
use super::{fail_always, Aof, AofFailure};
use crate::config::AppendFsync;

impl Aof {
    /// The logical offset at the start of `buf`.
    pub(super) fn written_base(&self) -> u64 {
        self.written
    }

    /// Under `always`, whether this batch is fsynced on the main thread: the writer thread
    /// has nothing queued or in flight, and nothing that does not wait for the AOF ran in
    /// the last 100 ms.
    pub(super) fn sync_inline(&self) -> bool {
        const READS_WINDOW_MS: i64 = 100;
        self.shared.synced.load(Ordering::Acquire) >= self.written
            && crate::server::unix_ms().saturating_sub(self.unlogged_at_ms) > READS_WINDOW_MS
    }

    /// Writes and fdatasyncs `buf` on this thread (`always`, see `sync_inline`). A failed
    /// write is cut back and `buf` kept for a retry (nothing of it was acknowledged); a
    /// failed fsync exits, as in the writer thread.
    pub(super) fn write_and_sync_here(&mut self) {
        let end = self.written + self.buf.len() as u64;
        let t = Instant::now();
        self.write_tried_at = t;
        if let Err(e) = write_all_at_end(&*self.file, &self.buf, self.file_len) {
            self.set_write_failure(Some(AofFailure::from_io(&e)));
            return;
        }
        let written = Instant::now();
        self.slowest_write_ms = self.slowest_write_ms.max(ms_since(t, written));
        self.shared
            .fsync_started_ms
            .store(crate::server::unix_ms() as u64, Ordering::Relaxed);
        let r = self.file.sync_data();
        let done = Instant::now();
        self.last_sync = done.saturating_duration_since(t);
        self.shared
            .slowest_fsync_ms
            .fetch_max(ms_since(written, done), Ordering::Relaxed);
        self.shared.fsync_started_ms.store(0, Ordering::Relaxed);
        if let Err(e) = r {
            self.shared.stop.store(true, Ordering::Relaxed);
            fail_always(&self.log, &e);
        }
        self.set_write_failure(None);
        self.buf_handed_over();
        self.shared.written.store(end, Ordering::Release);
        self.shared.synced.store(end, Ordering::Release);
        let _ = self.shared.durable.send(end);
    }

    /// `buf` went to the file (written, or queued for the writer thread): account for it.
    pub(super) fn buf_handed_over(&mut self) {
        let n = self.buf.len() as u64;
        self.file_len += n;
        self.current_size += n;
        self.written += n;
        self.buf.clear();
    }

    /// Hands what was fed to the file, by policy, at once. Called before switching files and
    /// wherever the bytes must be in the file now.
    pub(crate) fn flush(&mut self, policy: AppendFsync) {
        self.flush_by(policy, false);
    }

    /// `flush`, except that under everysec the write waits while the fsync thread's
    /// fdatasync runs (`postpone_for_fsync`). The flush task (after the ready clients ran, so
    /// one write covers many) and the cron flush this way.
    pub(crate) fn flush_or_postpone(&mut self, policy: AppendFsync) {
        self.flush_by(policy, true);
    }

    fn flush_by(&mut self, policy: AppendFsync, may_postpone: bool) {
        // The writer thread acts by the policy it is told (CONFIG SET appendfsync changes it):
        // told on every flush, or a switch to `always` leaves queued bytes nobody writes.
        if let Ok(mut p) = self.shared.policy.lock() {
            *p = policy;
        }
        self.take_writer_failure();
        // A failed write is retried by the cron only (`retry_write`), once a second.
        if self.buf.is_empty() || self.write_failure.is_some() {
            return;
        }
        self.flush_now(policy, may_postpone);
    }

    /// Under everysec, while the fsync thread's fdatasync runs, a write is postponed for up
    /// to two seconds, as Redis's flushAppendOnlyFile does; the fsync thread rings the flush
    /// task when it is done. Past two seconds it is written anyway (aof_delayed_fsync).
    fn postpone_for_fsync(&mut self, fsyncing: bool) -> bool {
        if !fsyncing {
            self.postponed_since = None;
            return false;
        }
        match self.postponed_since {
            None => {
                self.postponed_since = Some(Instant::now());
                true
            }
            Some(t) if t.elapsed() < Duration::from_secs(2) => true,
            Some(_) => {
                self.postponed_since = None;
                self.delayed_fsync += 1;
                self.log.notice("Asynchronous AOF fsync is taking too long (disk is busy?). Writing the AOF buffer without waiting for fsync to complete, this may slow down Redis.");
                false
            }
        }
    }

    /// `flush` without the guard: hands `buf` to the file now (or, with `may_postpone`,
    /// once no everysec fsync runs).
    pub(super) fn flush_now(&mut self, policy: AppendFsync, may_postpone: bool) {
        self.last_batch_clients = std::mem::take(&mut self.batch_clients);
        self.returned_clients = 0;
        self.batch_seq += 1;
        if policy != AppendFsync::Always {
            // After a switch from `always`, the writer thread finishes its queue first.
            self.wait_writer_idle();
        }
        match policy {
            AppendFsync::Always if self.sync_inline() => self.write_and_sync_here(),
            AppendFsync::Always => {
                let end = self.written + self.buf.len() as u64;
                let mut p = match self.shared.pending.lock() {
                    Ok(p) => p,
                    Err(e) => e.into_inner(),
                };
                if p.file.as_ref().is_some_and(|f| !Arc::ptr_eq(f, &self.file))
                    && !p.data.is_empty()
                {
                    // Bytes for the previous file are still queued: let them go first.
                    drop(p);
                    self.wait_writer_idle();
                    p = match self.shared.pending.lock() {
                        Ok(p) => p,
                        Err(e) => e.into_inner(),
                    };
                }
                if p.data.is_empty() {
                    p.at = self.file_len;
                }
                p.data.extend_from_slice(&self.buf);
                p.end = end;
                p.file = Some(self.file.clone());
                drop(p);
                self.shared.wake.notify_one();
                self.buf_handed_over();
            }
            AppendFsync::Everysec | AppendFsync::No => {
                // Held across the write: an everysec fsync never starts during it.
                let shared = self.shared.clone();
                let gate = match shared.fsync_gate.lock() {
                    Ok(g) => g,
                    Err(e) => e.into_inner(),
                };
                if may_postpone && policy == AppendFsync::Everysec && self.postpone_for_fsync(*gate)
                {
                    return;
                }
                let t = Instant::now();
                self.write_tried_at = t;
                let r = write_all_at_end(&*self.file, &self.buf, self.file_len);
                self.slowest_write_ms = self.slowest_write_ms.max(ms_since(t, Instant::now()));
                match r {
                    Ok(()) => {
                        self.buf_handed_over();
                        self.shared.written.store(self.written, Ordering::Release);
                        self.set_write_failure(None);
                        // The fsync thread is not woken: it fsyncs on its own clock, once
                        // a second (a wake-up per write would cost two context switches).
                        let _ = self.shared.durable.send(self.written);
                    }
                    Err(e) => self.set_write_failure(Some(AofFailure::from_io(&e))),
                }
            }
        }
    }

    /// Waits (on the main thread) until the writer thread has no queued bytes. When it
    /// could not write them, they come back to `buf` (`take_writer_failure`).
    pub(super) fn wait_writer_idle(&mut self) {
        {
            let mut p = match self.shared.pending.lock() {
                Ok(p) => p,
                Err(e) => e.into_inner(),
            };
            while !p.data.is_empty()
                && !self.shared.stop.load(Ordering::Relaxed)
                && !writer_failed(&self.shared)
            {
                p = match self.shared.wake.wait_timeout(p, Duration::from_millis(10)) {
                    Ok((p, _)) => p,
                    Err(e) => e.into_inner().0,
                };
            }
        }
        self.take_writer_failure();
    }

    /// Flushes and fsyncs everything now (switching files, shutdown, appendonly no).
    pub(crate) fn flush_and_sync(&mut self, policy: AppendFsync) -> std::io::Result<()> {
        self.flush(policy);
        if policy == AppendFsync::Always {
            self.wait_writer_idle();
        }
        if let Some(f) = &self.write_failure {
            return Err(std::io::Error::other(f.reason.clone()));
        }
        if let Err(e) = self.file.sync_data() {
            // Whatever was not on disk yet may be lost for good, and a later fsync that
            // succeeds would not say so (it leaves a hole in the file).
            self.poison(AofFailure::from_io(&e));
            return Err(e);
        }
        self.shared.synced.store(self.written, Ordering::Release);
        Ok(())
    }

    /// Appends to `file`, a new empty incr file, from now on (a rewrite began). The caller
    /// has flushed and fsynced the current one (`flush_and_sync`) in the same step, so
    /// nothing is queued for it; nothing here can fail.
    pub(crate) fn switch_to(&mut self, file: Box<dyn amber_persist::storage::StorageFile>) {
        self.file = Arc::from(file);
        self.file_len = 0;
        self.selected_db = None;
        if let Ok(mut p) = self.shared.pending.lock() {
            p.file = Some(self.file.clone());
        }
    }

    /// aof_pending_bio_fsync: an fsync is running.
    pub(crate) fn fsync_in_progress(&self) -> bool {
        self.shared.fsync_started_ms.load(Ordering::Relaxed) != 0
    }
}

fn ms_since(from: Instant, to: Instant) -> u64 {
    to.saturating_duration_since(from).as_millis() as u64
}
