//! The append-only file, server side: feeding effects, writing and fsyncing them by policy,
//! and when a client may see its reply. Files, manifest and parsing are amber-persist's
//! (`aof`). The path a write takes is drawn in `durability/mod.rs`; here, by file:
//!
//! ```text
//!   mod.rs      the Aof state, open, feed (SELECT, #TS, RESP into `buf`), the cron's
//!               part, appendonly yes/no at runtime, shutdown
//!   flush.rs    file state and writing by policy: main thread (everysec / no, and
//!               `always` when nothing could run meanwhile) or the writer thread (`always`)
//!   writer.rs   the background thread: `always` write + fdatasync (group commit),
//!               everysec fdatasync once a second; the cut-back on a failed write
//!   wait.rs     when a reply may leave (wait_point, Wait), the flush task, the relay of
//!               `synced` to `durable`, the group-commit linger
//!   failure.rs  MISCONF: a failed write retried every second, a failed fsync refusing
//!               writes until a rewrite (or, under `always`, exiting)
//!   load.rs     start-up: load the manifest's files, open the last incr
//!   rewrite.rs  BGREWRITEAOF: the new incr and manifest, the base, the manifest swap
//! ```
//!
//! Under `always` the fsync runs on the main thread when the writer thread is idle and no
//! command was answered without the AOF lately (pure write load): every client of the batch
//! waits for that fsync anyway, and handing it to another thread only adds two cross-CPU
//! wake-ups per batch. While the writer thread is busy, or reads (anything that appends
//! nothing) are being served, batches go to the writer thread, so that those replies never
//! wait for the disk and the next batch is prepared while the fsync runs.

pub(crate) mod failure;
mod flush;
pub(crate) mod load;
pub(crate) mod rewrite;
mod wait;
mod writer;

pub(crate) use failure::{fail_always, strerror_of, writes_denied, AofFailure};
pub(crate) use wait::{appended, flush_task, wait_point};

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use amber_persist::aof::command::encode_command;
use tokio::sync::{watch, Notify};

use crate::config::AppendFsync;
use crate::durability::aof::writer::{background, AofFile, Clock, Pending, Shared};
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
    /// Under everysec, since when a write has been waiting for the fsync thread's
    /// fdatasync to finish (`postpone_for_fsync`).
    postponed_since: Option<Instant>,
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
        let flush_notify = Arc::new(Notify::new());
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            failed: Mutex::new(None),
            write_failed: Mutex::new(None),
            stop: AtomicBool::new(false),
            written: AtomicU64::new(start),
            synced: AtomicU64::new(start),
            fsync_started_ms: AtomicU64::new(0),
            fsync_gate: Mutex::new(false),
            fsync_done: flush_notify.clone(),
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
            flush_notify,
            current_size,
            base_size,
            write_failure: None,
            write_tried_at: Instant::now(),
            fsync_poisoned: None,
            poisoned_at: None,
            delayed_fsync: 0,
            postponed_since: None,
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

    pub(crate) fn flush_notify(&self) -> Arc<Notify> {
        self.flush_notify.clone()
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
        for (db, args) in props.iter().filter(|(_, a)| !replicas_only(a)) {
            aof.feed(*db, args, ts);
        }
    }
    let mut props = props;
    props.clear();
    srv.propagated = props;
}

/// Effects that go to replicas and not to the AOF (Redis's forceCommandPropagation(c,
/// PROPAGATE_REPL)): PUBLISH and SPUBLISH, so that subscribers of replicas get the messages
/// while a replay of the AOF sends none.
fn replicas_only(args: &[Vec<u8>]) -> bool {
    args.first().is_some_and(|name| {
        name.eq_ignore_ascii_case(b"publish") || name.eq_ignore_ascii_case(b"spublish")
    })
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
        aof.flush_or_postpone(policy);
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
