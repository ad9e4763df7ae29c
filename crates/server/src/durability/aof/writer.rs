//! The AOF's background thread and the file operations it shares with the main thread:
//! under `always` it writes and fdatasyncs what the main thread queued (group commit), under
//! `everysec` it fdatasyncs once a second. A failed write is handed back to the main thread
//! (`Aof::take_writer_failure`), which retries it; a failed fsync is never retried.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use amber_persist::storage::StorageFile;
use tokio::sync::{watch, Notify};

use crate::config::AppendFsync;
use crate::durability::aof::{fail_always, AofFailure};

/// What the writer thread (appendfsync always) and the fsync thread share with the main one.
pub(crate) struct Shared {
    /// Bytes waiting for the writer thread (always), with the file they go to.
    pub(crate) pending: Mutex<Pending>,
    pub(crate) wake: Condvar,
    /// Set when an fsync failed off the main thread.
    pub(crate) failed: Mutex<Option<AofFailure>>,
    /// Set by the writer thread (`always`) when a write failed: what it could not write is
    /// back at the front of `pending`, and it touches nothing until the main thread has
    /// taken those bytes back (`reclaim_pending`) and cleared this.
    pub(crate) write_failed: Mutex<Option<AofFailure>>,
    pub(crate) stop: AtomicBool,
    /// Logical offset written to the file.
    pub(crate) written: AtomicU64,
    /// Logical offset known to be on disk.
    pub(crate) synced: AtomicU64,
    /// When the fsync in progress started (0: none), for aof_delayed_fsync.
    pub(crate) fsync_started_ms: AtomicU64,
    /// True while the everysec fdatasync runs. The main thread holds it across its writes
    /// and does not write while it is true (`Aof::postpone_for_fsync`): on ext4 a write
    /// during an fdatasync can have its new file size committed without its data, and a
    /// power cut then leaves a tail of zeros that no loader accepts.
    pub(crate) fsync_gate: Mutex<bool>,
    /// Rung after each everysec fsync, so that a postponed write goes out at once (the
    /// flush task's Notify).
    pub(crate) fsync_done: Arc<Notify>,
    /// Publishes the offset up to which replies may go out. Sent on the main thread only
    /// (`durable_relay`), so waking the waiting clients is a local, cheap wake.
    pub(crate) durable: watch::Sender<u64>,
    /// True while a failed write is waiting to be retried: clients whose own writes are
    /// durable stop waiting for the rest (see `Wait`). Sent on the main thread only.
    pub(crate) write_blocked: watch::Sender<bool>,
    /// The writer thread rings this after each fsync under `always` (one cross-thread wake
    /// per fsync, however many clients wait on it).
    pub(crate) synced_wake: Notify,
    pub(crate) policy: Mutex<AppendFsync>,
    /// no-appendfsync-on-rewrite yes and a rewrite is running: everysec skips its fsyncs.
    pub(crate) skip_fsync: AtomicBool,
    /// The slowest fsync under `always` (either thread) since the latency monitor last
    /// looked, in ms (its aof-fsync-always event).
    pub(crate) slowest_fsync_ms: AtomicU64,
    /// The clock the everysec fsync goes by, and how many times the thread has looked at
    /// it (a test that moves the clock waits for the next look).
    pub(crate) clock: Clock,
    pub(crate) ticks: AtomicU64,
    pub(crate) log: crate::sys::log::Logger,
}

/// The file appended to, shared by the main thread and the writer thread.
pub(crate) type AofFile = Arc<dyn StorageFile>;

/// The clock of the everysec fsync: the real one, or (tests) one that only moves when told.
pub(crate) struct Clock {
    base: Instant,
    /// Milliseconds past `base` of the manual clock; 0: the real clock.
    manual_ms: AtomicU64,
}

impl Clock {
    pub(crate) fn real() -> Clock {
        Clock {
            base: Instant::now(),
            manual_ms: AtomicU64::new(0),
        }
    }

    pub(crate) fn now(&self) -> Instant {
        match self.manual_ms.load(Ordering::Relaxed) {
            0 => Instant::now(),
            ms => self.base + Duration::from_millis(ms),
        }
    }

    fn is_manual(&self) -> bool {
        self.manual_ms.load(Ordering::Relaxed) != 0
    }

    /// Stops the clock at `ms` (> 0) past its start; later calls move it.
    #[cfg(test)]
    pub(crate) fn set_manual(&self, ms: u64) {
        self.manual_ms.store(ms.max(1), Ordering::Relaxed);
    }
}

#[derive(Default)]
pub(crate) struct Pending {
    pub(crate) data: Vec<u8>,
    /// Logical offset at the end of `data`.
    pub(crate) end: u64,
    /// Where `data` starts in the file.
    pub(crate) at: u64,
    pub(crate) file: Option<AofFile>,
}

/// The background thread: under `always` it writes and fdatasyncs what the main thread
/// queued (one fsync for everything queued meanwhile); under `everysec` it fdatasyncs once a
/// second what the main thread wrote.
pub(crate) fn background(sh: Arc<Shared>, file: AofFile) {
    let mut w = Writer {
        last_sync: sh.clock.now(),
        sh,
        file,
        last_batch: 0,
        last_fsync: Duration::ZERO,
    };
    loop {
        if w.sh.stop.load(Ordering::Relaxed) {
            return;
        }
        let policy = match w.sh.policy.lock() {
            Ok(p) => *p,
            Err(e) => *e.into_inner(),
        };
        if policy == AppendFsync::Always {
            w.always_step();
        } else {
            w.timed_step(policy);
        }
    }
}

/// The background thread's state.
struct Writer {
    sh: Arc<Shared>,
    file: AofFile,
    last_sync: Instant,
    /// Group commit under `always`: the size of the last batch and how long its fsync took.
    last_batch: usize,
    last_fsync: Duration,
}

impl Writer {
    /// `always`: writes and fdatasyncs the next queued batch.
    fn always_step(&mut self) {
        let (data, end, at, f) = {
            let mut p = match self.sh.pending.lock() {
                Ok(p) => p,
                Err(e) => e.into_inner(),
            };
            while (p.data.is_empty() || writer_failed(&self.sh))
                && !self.sh.stop.load(Ordering::Relaxed)
            {
                p = match self.sh.wake.wait_timeout(p, Duration::from_millis(100)) {
                    Ok((p, _)) => p,
                    Err(e) => e.into_inner().0,
                };
                let pol = match self.sh.policy.lock() {
                    Ok(p) => *p,
                    Err(e) => *e.into_inner(),
                };
                if pol != AppendFsync::Always {
                    break;
                }
            }
            if p.data.is_empty() || writer_failed(&self.sh) {
                return;
            }
            // The clients of the batch just made durable are sending their next commands
            // now. If much less than that batch is queued, give them up to half an fsync
            // to arrive so that one fsync covers them all, rather than splitting the
            // clients into alternating groups. A lone client never waits: what it sent
            // is all the last batch had.
            let linger = (self.last_fsync / 2).min(Duration::from_millis(1));
            let until = Instant::now() + linger;
            while p.data.len() < self.last_batch / 2 && !self.sh.stop.load(Ordering::Relaxed) {
                let now = Instant::now();
                if now >= until {
                    break;
                }
                p = match self.sh.wake.wait_timeout(p, until - now) {
                    Ok((p, _)) => p,
                    Err(e) => e.into_inner().0,
                };
            }
            self.last_batch = p.data.len();
            (std::mem::take(&mut p.data), p.end, p.at, p.file.clone())
        };
        if let Some(f) = f {
            if !Arc::ptr_eq(&f, &self.file) {
                self.file = f;
            }
        }
        // Append at the file's end as the main thread accounts it. A failed write is cut
        // back and handed back to the main thread, which retries it (nothing of it was
        // acknowledged).
        if let Err(e) = write_all_at_end(&*self.file, &data, at) {
            let mut p = match self.sh.pending.lock() {
                Ok(p) => p,
                Err(e) => e.into_inner(),
            };
            let mut back = data;
            back.extend_from_slice(&p.data);
            p.data = back;
            p.at = at;
            if let Ok(mut f) = self.sh.write_failed.lock() {
                *f = Some(AofFailure::from_io(&e));
            }
            drop(p);
            self.sh.synced_wake.notify_one();
            self.sh.wake.notify_all();
            return;
        }
        let r = {
            self.sh
                .fsync_started_ms
                .store(crate::server::unix_ms() as u64, Ordering::Relaxed);
            let t = Instant::now();
            let r = self.file.sync_data();
            self.last_fsync = t.elapsed();
            self.sh
                .slowest_fsync_ms
                .fetch_max(self.last_fsync.as_millis() as u64, Ordering::Relaxed);
            self.sh.fsync_started_ms.store(0, Ordering::Relaxed);
            r
        };
        match r {
            Ok(()) => {
                self.sh.written.store(end, Ordering::Release);
                self.sh.synced.store(end, Ordering::Release);
                self.sh.synced_wake.notify_one();
            }
            Err(e) => {
                // An fsync failed: nothing of this batch is acknowledged; exit.
                if let Ok(mut f) = self.sh.failed.lock() {
                    *f = Some(AofFailure::from_io(&e));
                }
                self.sh.stop.store(true, Ordering::Relaxed);
                fail_always(&self.sh.log, &e);
            }
        }
        self.sh.wake.notify_all();
    }

    /// `everysec` / `no`: sleeps until the next fsync is due, and under everysec does it.
    fn timed_step(&mut self, policy: AppendFsync) {
        {
            let p = match self.sh.pending.lock() {
                Ok(p) => p,
                Err(e) => e.into_inner(),
            };
            // Sleep until the next fsync is due; a policy change or stop wakes it.
            let wait = if policy == AppendFsync::Everysec {
                Duration::from_secs(1)
                    .saturating_sub(self.since_sync())
                    .max(Duration::from_millis(1))
            } else {
                Duration::from_millis(100)
            };
            // A manual clock moves without waking anyone: look at it often.
            let wait = if self.sh.clock.is_manual() {
                wait.min(Duration::from_millis(2))
            } else {
                wait
            };
            let _ = self.sh.wake.wait_timeout(p, wait);
        }
        if let Ok(p) = self.sh.pending.lock() {
            if let Some(f) = &p.file {
                if !Arc::ptr_eq(f, &self.file) {
                    self.file = f.clone();
                }
            }
        }
        if policy == AppendFsync::Everysec
            && self.since_sync() >= Duration::from_secs(1)
            && !self.sh.skip_fsync.load(Ordering::Relaxed)
        {
            if self.sh.written.load(Ordering::Acquire) > self.sh.synced.load(Ordering::Acquire) {
                // Waits for a write in progress; no write starts until the gate is open.
                set_gate(&self.sh, true);
                let w = self.sh.written.load(Ordering::Acquire);
                self.sh
                    .fsync_started_ms
                    .store(crate::server::unix_ms() as u64, Ordering::Relaxed);
                let r = self.file.sync_data();
                self.sh.fsync_started_ms.store(0, Ordering::Relaxed);
                set_gate(&self.sh, false);
                self.sh.fsync_done.notify_one();
                match r {
                    Ok(()) => self.sh.synced.store(w, Ordering::Release),
                    Err(e) => {
                        if let Ok(mut f) = self.sh.failed.lock() {
                            *f = Some(AofFailure::from_io(&e));
                        }
                    }
                }
            }
            self.last_sync = self.sh.clock.now();
        }
        self.sh.ticks.fetch_add(1, Ordering::Release);
    }

    fn since_sync(&self) -> Duration {
        self.sh
            .clock
            .now()
            .saturating_duration_since(self.last_sync)
    }
}

fn set_gate(sh: &Shared, fsyncing: bool) {
    match sh.fsync_gate.lock() {
        Ok(mut g) => *g = fsyncing,
        Err(e) => *e.into_inner() = fsyncing,
    }
}

/// Writes `data` at `offset` of `file` whole. A short or failed write is cut back to
/// `offset`, so the file never ends in half a command.
pub(crate) fn write_all_at_end(
    file: &dyn StorageFile,
    data: &[u8],
    offset: u64,
) -> std::io::Result<()> {
    reserve_ahead(file, offset, data.len() as u64);
    let r = file.write_at(data, offset);
    if r.is_err() {
        let _ = file.set_len(offset);
    }
    r
}

/// How far ahead of the end the AOF reserves disk blocks.
const RESERVE_CHUNK: u64 = 4 << 20;

/// When a write crosses a `RESERVE_CHUNK` boundary (or starts the file), reserves the blocks
/// of the chunk it ends in and of the next one without changing the file's size
/// (`StorageFile::reserve`, fallocate FALLOC_FL_KEEP_SIZE): the fdatasync after an append
/// then has no blocks to allocate. The file's content and size are exactly what was
/// written; a filesystem without fallocate, or a full disk, just skips it (the write itself
/// reports a full disk).
fn reserve_ahead(file: &dyn StorageFile, offset: u64, len: u64) {
    let end = offset.saturating_add(len);
    if offset != 0 && offset / RESERVE_CHUNK == end / RESERVE_CHUNK {
        return;
    }
    file.reserve(end / RESERVE_CHUNK * RESERVE_CHUNK, RESERVE_CHUNK * 2);
}

/// The writer thread could not write what is queued and waits for the main thread.
pub(crate) fn writer_failed(sh: &Shared) -> bool {
    match sh.write_failed.lock() {
        Ok(f) => f.is_some(),
        Err(e) => e.into_inner().is_some(),
    }
}
