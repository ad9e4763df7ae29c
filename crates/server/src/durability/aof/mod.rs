//! The append-only file, server side: feeding effects, writing and fsyncing them by policy,
//! and when a client may see its reply. Files, manifest and parsing are amber-persist's
//! (`aof`); the rewrite and loading drivers are in `aof_rewrite.rs` and `aof_load.rs`.
//!
//! ```text
//!   call() ─▶ propagated effects ─▶ feed: SELECT when the db changes, #TS annotations,
//!             RESP commands into `buf`          (aof.appended grows)
//!   conn: after a batch that appended, ask for a flush and wait until `durable` >= its end
//!   flush task (after the ready clients ran: one write for many):
//!     everysec / no: write(buf) on the main thread   ─▶ durable = written
//!                    fsync thread: fdatasync once a second
//!     always:        hand buf to the writer thread: write + fdatasync ─▶ durable = synced
//!                    (group commit: what arrives meanwhile goes in the next fsync)
//!                    or, when nothing could run meanwhile, write + fdatasync right here,
//!                    after lingering (up to half an fsync) for the clients the last
//!                    fsync acknowledged, so that they all share the next one
//! ```
//!
//! Under `always` the fsync runs on the main thread when the writer thread is idle and no
//! command was answered without the AOF lately (pure write load): every client of the batch
//! waits for that fsync anyway, and handing it to another thread only adds two cross-CPU
//! wake-ups per batch. While the writer thread is busy, or reads (anything that appends
//! nothing) are being served, batches go to the writer thread, so that those replies never
//! wait for the disk and the next batch is prepared while the fsync runs.
//!
//! A failed write (under any policy) is truncated back and retried by the cron once a second
//! (ENOSPC: P004, the rest: P005); writes are refused with MISCONF meanwhile, the clients whose
//! own writes it holds wait, and every other reply goes out at once (`Wait`). A failed fsync is never retried and trusted: under
//! `always` the server exits before acknowledging anything it may have lost (as Redis does);
//! under `everysec` writes are refused until a rewrite has produced fresh files from memory.

pub(crate) mod load;
pub(crate) mod rewrite;
mod writer;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use amber_persist::aof::command::encode_command;
use tokio::sync::{watch, Notify};

use crate::config::AppendFsync;
use crate::durability::aof::writer::{
    background, write_all_at_end, writer_failed, AofFile, Clock, Pending, Shared,
};
use crate::server::Server;

/// Status that outlives the AOF being on (INFO's aof_last_* fields).
#[derive(Debug)]
pub(crate) struct AofStatus {
    pub(crate) rewrites: u64,
    pub(crate) rewrites_consecutive_failures: u64,
    pub(crate) last_rewrite_time_sec: i64,
    pub(crate) last_bgrewrite_ok: bool,
    pub(crate) last_write_ok: bool,
}

impl Default for AofStatus {
    fn default() -> Self {
        AofStatus {
            rewrites: 0,
            rewrites_consecutive_failures: 0,
            last_rewrite_time_sec: -1,
            last_bgrewrite_ok: true,
            last_write_ok: true,
        }
    }
}

/// Why writes are refused, with the code users look up.
#[derive(Clone, Debug)]
pub(crate) struct AofFailure {
    pub(crate) code: &'static str,
    pub(crate) name: &'static str,
    /// strerror text, as Redis puts it in its MISCONF reply.
    pub(crate) reason: String,
}

impl AofFailure {
    pub(crate) fn from_io(e: &std::io::Error) -> AofFailure {
        let full = matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT));
        let reason = strerror_of(e);
        if full {
            AofFailure {
                code: "P004",
                name: "DISK_FULL",
                reason,
            }
        } else {
            AofFailure {
                code: "P005",
                name: "WRITE_ERR",
                reason,
            }
        }
    }
}

/// An I/O error as Redis prints it: the C library's text for its errno (`strerror`).
pub(crate) fn strerror_of(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => strerror(n),
        None => e.to_string(),
    }
}

/// The C library's text for an errno (what Redis prints), without Rust's " (os error N)".
pub(crate) fn strerror(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

pub(crate) struct Aof {
    /// `dir/appenddirname`.
    pub(crate) dir: PathBuf,
    pub(crate) manifest: amber_persist::aof::manifest::Manifest,
    /// The incr file appended to.
    file: AofFile,
    /// Size of the incr file being appended to, as far as writes succeeded.
    file_len: u64,
    /// Effects fed and not yet handed to the file.
    pub(crate) buf: Vec<u8>,
    selected_db: Option<usize>,
    last_ts_secs: i64,
    /// Logical offset of the end of what was fed (handed out to waiting clients).
    pub(crate) appended: u64,
    /// Logical offset written by the main thread (everysec / no).
    written: u64,
    shared: Arc<Shared>,
    pub(crate) durable: watch::Receiver<u64>,
    flush_notify: Arc<Notify>,
    /// Size of the base plus incr files (aof_current_size) and the base size at the last
    /// rewrite (aof_base_size), for automatic rewrites.
    pub(crate) current_size: u64,
    pub(crate) base_size: u64,
    /// A write failed: writes are refused with MISCONF until one succeeds (`set_write_failure`).
    write_failure: Option<AofFailure>,
    /// When the failed write was last tried: it is retried once a second (`retry_write`).
    write_tried_at: Instant,
    /// An fsync failed: writes are refused until a rewrite writes fresh files.
    pub(crate) fsync_poisoned: Option<AofFailure>,
    poisoned_at: Option<Instant>,
    pub(crate) delayed_fsync: u64,
    /// appendonly was just turned on and no manifest names the incr yet: the first
    /// rewrite's base makes it the AOF (Redis's AOF_WAIT_REWRITE).
    pub(crate) awaiting_base: bool,
    /// Feeding is off while the AOF itself is being replayed.
    pub(crate) replaying: bool,
    /// When a command last ran that appended nothing (a read, mostly): its reply did not
    /// wait for the AOF, and an fsync on the main thread would have delayed it.
    unlogged_at_ms: i64,
    /// The slowest write since the latency monitor last looked, in ms (aof-write).
    slowest_write_ms: u64,
    /// Clients waiting for what is in `buf`, and how many the last batch under `always`
    /// acknowledged (they are about to send their next commands: see `flush_task`).
    batch_clients: u32,
    last_batch_clients: u32,
    /// Of `batch_clients`, those the last batch acknowledged; and the batch's number.
    returned_clients: u32,
    batch_seq: u64,
    /// Batches to flush without lingering, and the current back-off (see `linger`).
    linger_skip: u32,
    linger_backoff: u32,
    /// How long the last write + fdatasync on the main thread took.
    last_sync: Duration,
    threads: Vec<std::thread::JoinHandle<()>>,
    log: crate::sys::log::Logger,
}

/// Where the AOF starts appending, and the sizes that drive automatic rewrites.
pub(crate) struct OpenArgs {
    pub(crate) dir: PathBuf,
    pub(crate) manifest: amber_persist::aof::manifest::Manifest,
    /// The incr file to append to, and its length.
    pub(crate) file: Box<dyn amber_persist::storage::StorageFile>,
    pub(crate) file_len: u64,
    pub(crate) current_size: u64,
    pub(crate) base_size: u64,
    /// Logical offset to continue from (offsets never go back, even across appendonly
    /// no/yes, so that a client waiting on an old offset is never stuck).
    pub(crate) start: u64,
}

impl Aof {
    /// Starts appending to `a.file` (an incr file of `a.manifest`).
    pub(crate) fn open(policy: AppendFsync, a: OpenArgs, log: crate::sys::log::Logger) -> Aof {
        let OpenArgs {
            dir,
            manifest,
            file,
            file_len,
            current_size,
            base_size,
            start,
        } = a;
        let (tx, rx) = watch::channel(start);
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            failed: Mutex::new(None),
            write_failed: Mutex::new(None),
            stop: AtomicBool::new(false),
            written: AtomicU64::new(start),
            synced: AtomicU64::new(start),
            fsync_started_ms: AtomicU64::new(0),
            durable: tx,
            write_blocked: watch::channel(false).0,
            synced_wake: Notify::new(),
            policy: Mutex::new(policy),
            skip_fsync: AtomicBool::new(false),
            slowest_fsync_ms: AtomicU64::new(0),
            clock: Clock::real(),
            ticks: AtomicU64::new(0),
            log: log.clone(),
        });
        let file: AofFile = Arc::from(file);
        let mut threads = Vec::new();
        let sh = shared.clone();
        let f = file.clone();
        if let Ok(t) = std::thread::Builder::new()
            .name("amber-aof".into())
            .spawn(move || background(sh, f))
        {
            threads.push(t);
        }
        Aof {
            dir,
            manifest,
            file,
            file_len,
            buf: Vec::with_capacity(64 * 1024),
            selected_db: None,
            last_ts_secs: 0,
            appended: start,
            written: start,
            shared,
            durable: rx,
            flush_notify: Arc::new(Notify::new()),
            current_size,
            base_size,
            write_failure: None,
            write_tried_at: Instant::now(),
            fsync_poisoned: None,
            poisoned_at: None,
            delayed_fsync: 0,
            awaiting_base: false,
            replaying: false,
            unlogged_at_ms: i64::MIN,
            slowest_write_ms: 0,
            batch_clients: 0,
            last_batch_clients: 0,
            returned_clients: 0,
            batch_seq: 1,
            linger_skip: 0,
            linger_backoff: 0,
            last_sync: Duration::ZERO,
            threads,
            log,
        }
    }

    /// Appends one effect (Redis's feedAppendOnlyFile).
    pub(crate) fn feed(&mut self, db: usize, args: &[Vec<u8>], timestamps: bool) {
        if self.replaying {
            return;
        }
        if timestamps {
            let now = crate::server::unix_ms() / 1000;
            if now != self.last_ts_secs {
                self.last_ts_secs = now;
                let line = format!("#TS:{now}\r\n");
                self.buf.extend_from_slice(line.as_bytes());
            }
        }
        if self.selected_db != Some(db) {
            let n = db.to_string();
            encode_command(&mut self.buf, &[b"SELECT", n.as_bytes()]);
            self.selected_db = Some(db);
        }
        let parts: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        encode_command(&mut self.buf, &parts);
        self.appended = self.written_base() + self.buf.len() as u64;
    }

    /// The logical offset at the start of `buf`.
    fn written_base(&self) -> u64 {
        self.written
    }

    /// A command ran that appended nothing (see `unlogged_at_ms`).
    pub(crate) fn note_unlogged(&mut self, now_ms: i64) {
        self.unlogged_at_ms = now_ms;
    }

    /// Under `always`, whether this batch is fsynced on the main thread: the writer thread
    /// has nothing queued or in flight, and nothing that does not wait for the AOF ran in
    /// the last 100 ms.
    fn sync_inline(&self) -> bool {
        const READS_WINDOW_MS: i64 = 100;
        self.shared.synced.load(Ordering::Acquire) >= self.written
            && crate::server::unix_ms().saturating_sub(self.unlogged_at_ms) > READS_WINDOW_MS
    }

    /// Writes and fdatasyncs `buf` on this thread (`always`, see `sync_inline`). A failed
    /// write is cut back and `buf` kept for a retry (nothing of it was acknowledged); a
    /// failed fsync exits, as in the writer thread.
    fn write_and_sync_here(&mut self) {
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
    fn buf_handed_over(&mut self) {
        let n = self.buf.len() as u64;
        self.file_len += n;
        self.current_size += n;
        self.written += n;
        self.buf.clear();
    }

    pub(crate) fn flush_notify(&self) -> Arc<Notify> {
        self.flush_notify.clone()
    }

    /// Hands what was fed to the file, by policy. Called by the flush task (after the ready
    /// clients ran, so one write covers many), by the cron, and before switching files.
    pub(crate) fn flush(&mut self, policy: AppendFsync) {
        if let Ok(mut p) = self.shared.policy.lock() {
            *p = policy;
        }
        self.take_writer_failure();
        // A failed write is retried by the cron only (`retry_write`), once a second.
        if self.buf.is_empty() || self.write_failure.is_some() {
            return;
        }
        self.flush_now(policy);
    }

    /// `flush` without the guard: hands `buf` to the file now.
    fn flush_now(&mut self, policy: AppendFsync) {
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
                if policy == AppendFsync::Everysec {
                    let started = self.shared.fsync_started_ms.load(Ordering::Relaxed);
                    if started != 0
                        && (crate::server::unix_ms() as u64).saturating_sub(started) > 2000
                    {
                        self.delayed_fsync += 1;
                    }
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
    fn wait_writer_idle(&mut self) {
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

    /// The writer thread could not write what was queued: those bytes (and any queued after
    /// them) come back to the front of `buf`, the accounting goes back to where they
    /// started, and writes are refused until the cron's retry succeeds on this thread.
    fn take_writer_failure(&mut self) {
        let failed = match self.shared.write_failed.lock() {
            Ok(mut f) => f.take(),
            Err(e) => e.into_inner().take(),
        };
        let Some(f) = failed else {
            return;
        };
        let data = {
            let mut p = match self.shared.pending.lock() {
                Ok(p) => p,
                Err(e) => e.into_inner(),
            };
            std::mem::take(&mut p.data)
        };
        self.shared.wake.notify_all();
        let n = data.len() as u64;
        self.file_len = self.file_len.saturating_sub(n);
        self.current_size = self.current_size.saturating_sub(n);
        self.written = self.written.saturating_sub(n);
        let mut buf = data;
        buf.extend_from_slice(&self.buf);
        self.buf = buf;
        self.write_tried_at = Instant::now();
        self.set_write_failure(Some(f));
    }

    /// Enters or leaves the state where a failed write waits for its retry (MISCONF for
    /// writes meanwhile), logging the change as Redis does.
    fn set_write_failure(&mut self, f: Option<AofFailure>) {
        match (&self.write_failure, &f) {
            (None, Some(f)) => self.log.warning(&format!(
                "{} {}: Error writing to the AOF file: {}. Writes get MISCONF and the write is \
                 retried every second; reads are served meanwhile.",
                f.code, f.name, f.reason
            )),
            (Some(_), None) => self
                .log
                .notice("AOF write error looks solved, Amber can write again."),
            _ => {}
        }
        let blocked = f.is_some();
        self.write_failure = f;
        self.shared.write_blocked.send_if_modified(|b| {
            let changed = *b != blocked;
            *b = blocked;
            changed
        });
    }

    /// The cron's retry of a failed write, once a second (Redis's serverCron does the same).
    pub(crate) fn retry_write(&mut self, policy: AppendFsync) {
        self.take_writer_failure();
        if self.write_failure.is_none() || self.write_tried_at.elapsed() < Duration::from_secs(1) {
            return;
        }
        if self.buf.is_empty() {
            self.set_write_failure(None);
            return;
        }
        if policy == AppendFsync::Always {
            // On this thread, so that its success clears the failure at once.
            self.wait_writer_idle();
            if self.write_failure.is_some() && !self.buf.is_empty() {
                self.write_and_sync_here();
            }
        } else {
            self.flush_now(policy);
        }
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

    /// An fsync failed: the kernel may have dropped those pages, and a retried fsync would
    /// say nothing about them. Writes are refused until a rewrite has written fresh files
    /// (the cron schedules it).
    fn poison(&mut self, f: AofFailure) {
        self.log.warning(&format!(
            "{} {}: Error syncing the AOF file: {}. Writes are refused until a rewrite has written the AOF again from memory.",
            f.code, f.name, f.reason
        ));
        self.fsync_poisoned = Some(f);
        self.poisoned_at = Some(Instant::now());
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

    /// A failure reported by the background thread (always: write or fsync; everysec: fsync).
    pub(crate) fn take_background_failure(&self) -> Option<AofFailure> {
        match self.shared.failed.lock() {
            Ok(mut f) => f.take(),
            Err(e) => e.into_inner().take(),
        }
    }

    /// aof_pending_bio_fsync: an fsync is running.
    pub(crate) fn fsync_in_progress(&self) -> bool {
        self.shared.fsync_started_ms.load(Ordering::Relaxed) != 0
    }

    /// When the fsync failure that refuses writes happened.
    pub(crate) fn poisoned_since(&self) -> Option<Instant> {
        self.fsync_poisoned.as_ref().and(self.poisoned_at)
    }

    /// Why writes are refused, if they are.
    pub(crate) fn refusal(&self) -> Option<&AofFailure> {
        self.fsync_poisoned.as_ref().or(self.write_failure.as_ref())
    }

    pub(crate) fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.wake.notify_all();
        self.shared.synced_wake.notify_one();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
impl Aof {
    /// The clock the everysec fsync goes by (a test holds it).
    pub(crate) fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// How many times the background thread has looked at that clock.
    pub(crate) fn ticks(&self) -> u64 {
        self.shared.ticks.load(Ordering::Acquire)
    }
}

impl Drop for Aof {
    fn drop(&mut self) {
        self.stop();
    }
}

fn ms_since(from: Instant, to: Instant) -> u64 {
    to.saturating_duration_since(from).as_millis() as u64
}

/// Hands the AOF's write and fsync durations to the latency monitor.
pub(crate) fn drain_latency(srv: &mut Server) {
    let threshold = srv.config.latency_monitor_threshold;
    let Some(aof) = srv.aof.as_mut() else {
        return;
    };
    let fsync = aof.shared.slowest_fsync_ms.swap(0, Ordering::Relaxed);
    let write = std::mem::take(&mut aof.slowest_write_ms);
    srv.latency.note(threshold, "aof-write", write);
    srv.latency.note(threshold, "aof-fsync-always", fsync);
}

/// Feeds the effects of the command that just finished (or of the expire cycle) to the AOF,
/// and drops them.
pub(crate) fn feed_propagated(srv: &mut Server) {
    if srv.propagated.is_empty() {
        return;
    }
    let props = std::mem::take(&mut srv.propagated);
    let ts = srv.config.aof_timestamp_enabled;
    if let Some(aof) = srv.aof.as_mut() {
        for (db, args) in &props {
            aof.feed(*db, args, ts);
        }
    }
    let mut props = props;
    props.clear();
    srv.propagated = props;
}

/// MISCONF for AOF errors: writes are refused while the AOF cannot be written.
pub(crate) fn writes_denied(srv: &Server) -> Option<String> {
    let f = srv.aof.as_ref()?.refusal()?;
    Some(format!(
        "MISCONF Errors writing to the AOF file: {}",
        f.reason
    ))
}

/// What a connection waits for before its replies may go out (see `wait_point`).
pub(crate) struct Wait {
    durable: watch::Receiver<u64>,
    write_blocked: watch::Receiver<bool>,
    flush: Arc<Notify>,
    need: u64,
    own: u64,
}

impl Wait {
    /// Asks for a flush and waits until the replies may go out: once `need` is durable; or,
    /// while a failed write waits for its retry, once `own` is (the client's own writes).
    pub(crate) async fn done(mut self) {
        self.flush.notify_one();
        loop {
            let durable = *self.durable.borrow_and_update();
            let blocked = *self.write_blocked.borrow_and_update();
            if durable >= self.need || (blocked && durable >= self.own) {
                return;
            }
            tokio::select! {
                r = self.durable.changed() => if r.is_err() { return },
                r = self.write_blocked.changed() => if r.is_err() { return },
            }
        }
    }
}

/// What a connection must wait for before its replies may go out: the AOF offset its
/// commands reached (`Client::aof_need`: what they may have seen), unless that is already
/// durable. While a failed write (a full disk) waits for its retry, only the client's own
/// writes are waited for (`own`): reads, INFO and admin commands answer from memory (as in
/// Redis, which keeps serving them), and may show the writes the failed one holds.
pub(crate) fn wait_point(srv: &mut Server, need: u64, own: u64, batch: &mut u64) -> Option<Wait> {
    let aof = srv.aof.as_mut()?;
    let durable = *aof.durable.borrow();
    if durable >= need || (aof.write_failure.is_some() && durable >= own) {
        return None;
    }
    if need > aof.written && *batch != aof.batch_seq {
        aof.batch_clients = aof.batch_clients.saturating_add(1);
        if *batch + 1 == aof.batch_seq {
            aof.returned_clients = aof.returned_clients.saturating_add(1);
        }
        *batch = aof.batch_seq;
    }
    Some(Wait {
        durable: aof.durable.clone(),
        write_blocked: aof.shared.write_blocked.subscribe(),
        flush: aof.flush_notify(),
        need,
        own,
    })
}

/// The AOF end offset now: what a client that just ran a command must wait for.
pub(crate) fn appended(srv: &Server) -> u64 {
    srv.aof.as_ref().map(|a| a.appended).unwrap_or(0)
}

/// Publishes, on the main thread, what the writer thread made durable under `always`, and
/// takes back what it could not write.
async fn durable_relay(srv: std::rc::Rc<std::cell::RefCell<Server>>, sh: Arc<Shared>) {
    loop {
        sh.synced_wake.notified().await;
        if sh.stop.load(Ordering::Relaxed) {
            return;
        }
        if writer_failed(&sh) {
            let mut s = srv.borrow_mut();
            if let Some(aof) = s.aof.as_mut().filter(|a| Arc::ptr_eq(&a.shared, &sh)) {
                aof.take_writer_failure();
            }
        }
        let synced = sh.synced.load(Ordering::Acquire);
        sh.durable.send_if_modified(|d| {
            let newer = synced > *d;
            if newer {
                *d = synced;
            }
            newer
        });
    }
}

/// The flush task: writes what was fed once the clients that are ready have run.
pub(crate) async fn flush_task(srv: std::rc::Rc<std::cell::RefCell<Server>>, notify: Arc<Notify>) {
    if let Some(sh) = srv.borrow().aof.as_ref().map(|a| a.shared.clone()) {
        tokio::task::spawn_local(durable_relay(srv.clone(), sh));
    }
    let timer = crate::net::timer::Timer::new().ok();
    loop {
        notify.notified().await;
        // Let every client that is ready run its batch first: one write for all of them.
        tokio::task::yield_now().await;
        if let Some(t) = &timer {
            linger(&srv, &notify, t).await;
        }
        let mut s = srv.borrow_mut();
        let policy = s.config.appendfsync;
        match s.aof.as_mut() {
            Some(aof) => aof.flush(policy),
            None => return,
        }
        drain_latency(&mut s);
    }
}

/// Under `always`, before an fsync on the main thread: the clients the last fsync
/// acknowledged are sending their next commands. While fewer of them are in this batch, wait
/// up to half an fsync for the rest, so that one fsync covers them all instead of the clients
/// splitting into groups that take turns (each group paying a whole fsync). A lone client, or
/// a batch as large as the last one, never waits; and when waiting brought fewer than half of
/// the missing clients (clients that think between commands), it is skipped for the next 1,
/// 2, 4 ... 64 batches.
async fn linger(
    srv: &std::rc::Rc<std::cell::RefCell<Server>>,
    notify: &Notify,
    timer: &crate::net::timer::Timer,
) {
    const MAX_LINGER: Duration = Duration::from_millis(1);
    const MAX_SKIP: u32 = 64;
    let (until, before) = {
        let mut s = srv.borrow_mut();
        let policy = s.config.appendfsync;
        let Some(aof) = s.aof.as_mut() else {
            return;
        };
        if policy != AppendFsync::Always
            || aof.returned_clients >= aof.last_batch_clients
            || !aof.sync_inline()
        {
            return;
        }
        if aof.linger_skip > 0 {
            aof.linger_skip -= 1;
            return;
        }
        let wait = (aof.last_sync / 2).min(MAX_LINGER);
        (Instant::now() + wait, aof.returned_clients)
    };
    loop {
        let now = Instant::now();
        if now >= until {
            break;
        }
        tokio::select! {
            _ = notify.notified() => {}
            _ = timer.sleep(until - now) => break,
        }
        tokio::task::yield_now().await;
        let s = srv.borrow();
        if s.aof
            .as_ref()
            .is_none_or(|a| a.returned_clients >= a.last_batch_clients)
        {
            break;
        }
    }
    let mut s = srv.borrow_mut();
    if let Some(aof) = s.aof.as_mut() {
        let missing = aof.last_batch_clients.saturating_sub(before);
        let came = aof.returned_clients.saturating_sub(before);
        if came.saturating_mul(2) >= missing {
            aof.linger_backoff = 0;
        } else {
            aof.linger_backoff = aof.linger_backoff.saturating_mul(2).clamp(1, MAX_SKIP);
            aof.linger_skip = aof.linger_backoff;
        }
    }
}

/// Called when a background write or fsync failed under `always`: the writes of that batch
/// were not acknowledged, and none may be from now on. Redis exits; so does Amber.
pub(crate) fn fail_always(log: &crate::sys::log::Logger, e: &std::io::Error) -> ! {
    let f = AofFailure::from_io(e);
    log.warning(&format!(
        "{} {}: Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting... ({})",
        f.code, f.name, f.reason
    ));
    std::process::exit(1);
}

/// serverCron's part: pick up failures of the background thread, retry a failed write,
/// recover from a failed fsync by rewriting, and automatic rewrites.
pub(crate) fn cron(srv: &mut Server) {
    drain_latency(srv);
    let policy = srv.config.appendfsync;
    let Some(aof) = srv.aof.as_mut() else {
        // BGREWRITEAOF scheduled with appendonly no.
        crate::durability::aof::rewrite::cron(srv);
        return;
    };
    if let Some(f) = aof.take_background_failure() {
        aof.poison(f);
    }
    aof.retry_write(policy);
    if !aof.buf.is_empty() {
        aof.flush(policy);
    }
    // no-appendfsync-on-rewrite: under everysec, no fsync while a rewrite runs (Redis skips
    // them under always too; Amber keeps `always` durable whatever this says).
    let rewriting = srv.aof_rewrite.running.is_some();
    let skip = srv.config.no_appendfsync_on_rewrite && rewriting;
    aof.shared.skip_fsync.store(skip, Ordering::Relaxed);
    // The rewrite that recovers waits a second, so a failing disk is not hammered.
    let poisoned = aof.fsync_poisoned.is_some()
        && !rewriting
        && aof
            .poisoned_at
            .is_some_and(|t| t.elapsed() >= Duration::from_secs(1));
    if poisoned {
        srv.aof_rewrite.scheduled = true;
    }
    srv.aof_status.last_write_ok = srv.aof.as_ref().is_none_or(|a| a.refusal().is_none());
    crate::durability::aof::rewrite::cron(srv);
}

/// CONFIG SET appendonly yes (startAppendOnly): appends to a new incr file at once and
/// writes the base with a rewrite; the manifest names them once the base is done. A rewrite
/// started with appendonly no is stopped first and started again for the AOF, as in Redis.
pub(crate) fn start_at_runtime(srv: &mut Server) -> Result<(), String> {
    if srv.aof.is_some() {
        return Ok(());
    }
    crate::durability::aof::rewrite::cancel(srv);
    let name = srv.config.appendfilename.clone();
    let dir = PathBuf::from(&srv.config.appenddirname);
    std::fs::create_dir_all(&dir).map_err(|e| format!("Can't create the AOF directory: {e}"))?;
    let mut manifest =
        crate::durability::aof::load::read_manifest(&dir, &name)?.unwrap_or_default();
    let incr = manifest.next_incr(&name).clone();
    let file = crate::durability::aof::rewrite::create_incr(&*srv.storage, &incr.path_in(&dir))
        .map_err(|e| format!("Can't open the append-only file: {e}"))?;
    // Base and incrs of an earlier AOF in the directory become history once this one's base
    // is written; until then they stay where they are.
    if let Some(mut b) = manifest.base.take() {
        b.kind = amber_persist::aof::AofFileType::History;
        manifest.history.insert(0, b);
    }
    let start = srv.aof_status_offset();
    let log = srv.log.clone();
    let mut aof = Aof::open(
        srv.config.appendfsync,
        OpenArgs {
            dir,
            manifest,
            file,
            file_len: 0,
            current_size: 0,
            base_size: 0,
            start,
        },
        log,
    );
    aof.awaiting_base = true;
    srv.aof = Some(aof);
    if let Some(rc) = srv.self_ref.upgrade() {
        let notify = srv.aof.as_ref().map(|a| a.flush_notify());
        if let Some(n) = notify {
            tokio::task::spawn_local(flush_task(rc, n));
        }
    }
    if let Err(e) = crate::durability::aof::rewrite::start(srv) {
        srv.aof = None;
        return Err(e);
    }
    Ok(())
}

/// CONFIG SET appendonly no (stopAppendOnly): flushes and fsyncs, stops a rewrite, closes.
pub(crate) fn stop_at_runtime(srv: &mut Server) {
    crate::durability::aof::rewrite::cancel(srv);
    let policy = srv.config.appendfsync;
    if let Some(mut aof) = srv.aof.take() {
        if let Err(e) = aof.flush_and_sync(policy) {
            srv.log.warning(&format!("Fail to fsync the AOF file: {e}"));
        }
        srv.aof_offset = aof.appended;
        aof.stop();
    }
}

/// On shutdown: the last writes reach the disk before the process exits.
pub(crate) fn on_shutdown(srv: &mut Server) {
    crate::durability::aof::rewrite::cancel(srv);
    let policy = srv.config.appendfsync;
    if let Some(aof) = srv.aof.as_mut() {
        srv.log.notice("Calling fsync() on the AOF file.");
        if let Err(e) = aof.flush_and_sync(policy) {
            srv.log.warning(&format!("Fail to fsync the AOF file: {e}"));
        }
    }
}

impl Server {
    /// Where a newly opened AOF continues its logical offsets.
    pub(crate) fn aof_status_offset(&self) -> u64 {
        self.aof
            .as_ref()
            .map(|a| a.appended)
            .unwrap_or(self.aof_offset)
    }
}
