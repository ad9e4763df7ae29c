//! Writing the dataset as an RDB file: SAVE, BGSAVE, save points, and the status INFO reports.
//!
//! Both SAVE and BGSAVE take the same fork-less point-in-time snapshot (`Db::begin_snapshot`,
//! see amber-store's `snapshot.rs`) and feed it to the same writer:
//!
//! ```text
//!   main thread            begin_snapshot per db (O(1), microseconds)
//!     │                    between client batches: snapshot_step walks ~200 µs of segments
//!     │                    a write to an entry not walked yet hands over its before-image
//!     ▼                    (cloned entries: keys and small strings copied, the rest shared)
//!   writer thread (SCHED_BATCH for BGSAVE, rewrite, SYNC; SAVE blocks and only walks meanwhile)
//!     header, aux ─▶ per db: SELECTDB, RESIZEDB, next_batch ─▶ encode ─▶ file ─▶ ... EOF+CRC
//!     temp file (O_EXCL, 0600) ─▶ fsync ─▶ rename over dbfilename ─▶ fsync dir
//! ```
//!
//! The writer knows nothing of the server: `SnapshotJob::write_to` takes any `Write`, so the AOF
//! rewrite, replication and backup can reuse it with another sink.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use amber_persist::rdb::{self, EncodeOptions, Encoder};
use amber_persist::PCode;
use amber_store::db::NO_EXPIRE;
use amber_store::snapshot::Snapshot;

use crate::server::Server;

/// Why a save failed, with the code users look up (P004 DISK_FULL, P005 WRITE_ERR).
#[derive(Clone, Debug)]
pub(crate) struct SaveFailure {
    pub(crate) code: &'static str,
    pub(crate) name: &'static str,
    /// What failed and why, in Redis's words ("Write error saving DB on disk(write): ...").
    pub(crate) message: String,
}

impl SaveFailure {
    pub(crate) fn from_io(op: &str, e: &io::Error) -> SaveFailure {
        let code = PCode::from_io(e);
        SaveFailure {
            code: code.code(),
            name: code.name(),
            message: format!("Write error saving DB on disk({op}): {e}"),
        }
    }

    pub(crate) fn cancelled() -> SaveFailure {
        SaveFailure {
            code: PCode::WriteErr.code(),
            name: PCode::WriteErr.name(),
            message: "Background saving cancelled".into(),
        }
    }

    /// The log line: the code first, so that it can be grepped and looked up.
    pub(crate) fn log_line(&self) -> String {
        format!("{} {}: {}", self.code, self.name, self.message)
    }
}

/// Progress of the snapshot being written, shared with INFO.
#[derive(Default)]
pub(crate) struct Progress {
    pub(crate) keys_done: AtomicU64,
    pub(crate) keys_total: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) cancel: AtomicBool,
}

/// What a snapshot is written as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// An RDB file (dump.rdb, or an AOF base with the RDB preamble: `aof_base` set).
    Rdb { aof_base: bool },
    /// An AOF base of commands (aof-use-rdb-preamble no), with a leading #TS annotation
    /// when `timestamp`.
    Commands { timestamp: bool },
}

struct DbJob {
    index: usize,
    keys: u64,
    expires: u64,
    snapshot: Snapshot,
}

/// A point-in-time snapshot of every database, ready to be written by any thread.
pub(crate) struct SnapshotJob {
    opts: EncodeOptions,
    /// IDLE or FREQ per key, by the maxmemory-policy at the snapshot's start.
    access: crate::evict::AccessSave,
    format: Format,
    aux: Vec<(&'static str, Vec<u8>)>,
    /// The function libraries' code at the snapshot's moment.
    functions: Vec<Vec<u8>>,
    dbs: Vec<DbJob>,
    key_save_delay_us: i64,
    pub(crate) progress: Arc<Progress>,
    /// What `save_file` writes through (the server's storage).
    storage: Arc<dyn amber_persist::storage::Storage>,
}

impl SnapshotJob {
    /// Starts the snapshot: from now on the databases can change freely, the job still writes
    /// them as they are at this moment.
    pub(crate) fn begin(srv: &mut Server, format: Format) -> SnapshotJob {
        let t0 = Instant::now();
        let aof_base = matches!(format, Format::Rdb { aof_base: true });
        let opts = EncodeOptions {
            compression: srv.config.rdbcompression,
            checksum: srv.config.rdbchecksum,
        };
        let aux: Vec<(&'static str, Vec<u8>)> = vec![
            ("redis-ver", crate::REDIS_VERSION.as_bytes().to_vec()),
            ("redis-bits", b"64".to_vec()),
            (
                "ctime",
                (crate::server::unix_ms() / 1000).to_string().into_bytes(),
            ),
            (
                "used-mem",
                crate::sys::alloc::used_memory().to_string().into_bytes(),
            ),
            (
                "aof-base",
                if aof_base {
                    b"1".to_vec()
                } else {
                    b"0".to_vec()
                },
            ),
        ];
        let progress = Arc::new(Progress::default());
        let mut dbs = Vec::new();
        let mut total = 0u64;
        for (index, db) in srv.dbs.iter_mut().enumerate() {
            if db.is_empty() {
                continue;
            }
            let keys = db.len() as u64;
            let expires = db.volatile_len() as u64;
            total += keys;
            let snapshot = db.begin_snapshot();
            dbs.push(DbJob {
                index,
                keys,
                expires,
                snapshot,
            });
        }
        srv.snapshot_wake.notify_one();
        srv.stats.latest_snapshot_start_usec = t0.elapsed().as_micros() as u64;
        progress.keys_total.store(total, Ordering::Relaxed);
        SnapshotJob {
            opts,
            access: crate::evict::AccessSave::of(&srv.config),
            format,
            aux,
            functions: srv.scripting.library_codes(),
            dbs,
            key_save_delay_us: srv.config.rdb_key_save_delay,
            progress,
            storage: srv.storage.clone(),
        }
    }

    /// Adds an aux field to the RDB header (replication: repl-stream-db, repl-id, repl-offset).
    /// They come before aof-base, as in Redis's header.
    pub(crate) fn add_aux(&mut self, key: &'static str, value: Vec<u8>) {
        let at = self.aux.iter().position(|(k, _)| *k == "aof-base");
        self.aux.insert(at.unwrap_or(self.aux.len()), (key, value));
    }

    /// Writes the whole snapshot to `w`: an RDB stream (header to checksum), or commands.
    /// Returns the keys written.
    pub(crate) fn write_to<W: Write>(&self, w: W) -> io::Result<u64> {
        match self.format {
            Format::Rdb { .. } => {
                let mut enc = Encoder::new(w, self.opts)?;
                for (k, v) in &self.aux {
                    enc.aux(k, v)?;
                }
                // As Redis: the libraries after the aux fields, before the databases.
                for code in &self.functions {
                    enc.function(code)?;
                }
                let keys = self.write_dbs(&mut enc, |enc, db| {
                    enc.select_db(db.index as u64)?;
                    enc.resize_db(db.keys, db.expires)
                })?;
                enc.finish()?;
                Ok(keys)
            }
            Format::Commands { timestamp } => {
                let mut out = CommandOut(w);
                if timestamp {
                    let mut b = Vec::new();
                    amber_persist::aof::encode_timestamp(&mut b, crate::server::unix_ms() / 1000);
                    out.raw(&b)?;
                }
                // An AOF rewrite without preamble loads the libraries first (rewriteFunctions).
                for code in &self.functions {
                    let mut b = Vec::new();
                    amber_resp::encode_command(&mut b, &[b"FUNCTION", b"LOAD", code]);
                    out.raw(&b)?;
                }
                let keys = self.write_dbs(&mut out, |out, db| {
                    let mut b = Vec::new();
                    amber_persist::aof::encode_select(&mut b, db.index as u32);
                    out.raw(&b)
                })?;
                out.0.flush()?;
                Ok(keys)
            }
        }
    }

    /// Writes every database: `start` opens it, then its entries follow in the order the
    /// main thread hands them over.
    fn write_dbs<O: RawOut>(
        &self,
        out: &mut O,
        start: impl Fn(&mut O, &DbJob) -> io::Result<()>,
    ) -> io::Result<u64> {
        let mut keys = 0u64;
        let mut buf = Vec::new();
        for db in &self.dbs {
            start(out, db)?;
            while let Some(batch) = db.snapshot.next_batch() {
                if self.progress.cancel.load(Ordering::Relaxed) {
                    return Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled"));
                }
                let n = batch.len() as u64;
                self.delay(n);
                buf.clear();
                let now = crate::server::unix_ms();
                for e in &batch {
                    let expire = (e.expire != NO_EXPIRE).then_some(e.expire);
                    match self.format {
                        Format::Rdb { .. } => rdb::write_entry_with_access(
                            &mut buf,
                            &e.key,
                            &e.value,
                            expire,
                            self.access.info(e.lru(), now),
                            &self.opts,
                        ),
                        Format::Commands { .. } => amber_persist::aof::rewrite::write_key_commands(
                            &mut buf, &e.key, &e.value, expire,
                        ),
                    }
                }
                drop(batch);
                out.raw(&buf)?;
                keys += n;
                self.progress.keys_done.fetch_add(n, Ordering::Relaxed);
                self.progress
                    .bytes
                    .fetch_add(buf.len() as u64, Ordering::Relaxed);
                if buf.capacity() > 4 << 20 {
                    buf = Vec::new();
                }
            }
        }
        Ok(keys)
    }

    /// rdb-key-save-delay: a test aid that slows the save down, as in Redis.
    fn delay(&self, keys: u64) {
        let d = self.key_save_delay_us;
        if d > 0 {
            std::thread::sleep(Duration::from_micros((d as u64).saturating_mul(keys)));
        } else if d < 0 {
            std::thread::sleep(Duration::from_nanos(d.unsigned_abs().saturating_mul(keys)));
        }
    }

    /// Writes the snapshot to `dir/name` safely: a temp file created O_EXCL with mode 0600,
    /// fsync, rename over the target, fsync the directory. On failure the old file is intact
    /// and the temp file is gone.
    pub(crate) fn save_file(
        &self,
        dir: &Path,
        name: &str,
        incremental_fsync: bool,
    ) -> Result<u64, SaveFailure> {
        let target = dir.join(name);
        let mut file = amber_persist::io::AtomicFile::create_on(
            self.storage.clone(),
            &target,
            incremental_fsync,
        )
        .map_err(|e| SaveFailure::from_io("open", &e))?;
        let keys = match self.write_to(&mut file) {
            Ok(k) => k,
            Err(e) if self.progress.cancel.load(Ordering::Relaxed) => {
                let _ = e;
                return Err(SaveFailure::cancelled());
            }
            Err(e) => return Err(SaveFailure::from_io("write", &e)),
        };
        file.commit()
            .map_err(|e| SaveFailure::from_io("fsync/rename", &e))?;
        Ok(keys)
    }
}

/// Where encoded entries go: the RDB encoder (which keeps the CRC) or a plain writer.
trait RawOut {
    fn raw(&mut self, bytes: &[u8]) -> io::Result<()>;
}

impl<W: Write> RawOut for Encoder<W> {
    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        Encoder::raw(self, bytes)
    }
}

struct CommandOut<W>(W);

impl<W: Write> RawOut for CommandOut<W> {
    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes)
    }
}

/// How long one snapshot step may take between client batches: short enough that no client
/// notices, long enough that a walk of millions of keys finishes in seconds under load.
pub(crate) const STEP_TIME: Duration = Duration::from_micros(200);

/// Advances every running snapshot (the main thread's half of a fork-less snapshot, see
/// amber-store's `snapshot.rs`) by whole segments until `deadline` (at least one segment per
/// call). Returns (whether any snapshot runs, entries handed over).
pub(crate) fn snapshot_step(srv: &mut Server, deadline: Option<Instant>) -> (bool, usize) {
    let mut active = false;
    let mut produced = 0;
    let budget = if deadline.is_some() {
        usize::MAX
    } else {
        1 << 16
    };
    for db in srv.dbs.iter_mut() {
        if db.snapshot_in_progress() {
            produced += db.snapshot_step(budget, deadline);
            active |= db.snapshot_in_progress();
        }
    }
    (active, produced)
}

/// `SnapshotJob::save_file` for the saves that block the server (SAVE, SHUTDOWN, DEBUG
/// RELOAD, the first AOF base): the file is written on a helper thread while this thread
/// walks the snapshot.
pub(crate) fn save_file_blocking(
    srv: &mut Server,
    job: SnapshotJob,
    dir: &Path,
    name: &str,
    incremental_fsync: bool,
) -> SaveResult {
    std::thread::scope(|scope| {
        let writer = std::thread::Builder::new()
            .name("amber-save".into())
            .spawn_scoped(scope, || job.save_file(dir, name, incremental_fsync))
            .map_err(|e| SaveFailure {
                code: PCode::ForkFail.code(),
                name: PCode::ForkFail.name(),
                message: format!("Can't save: can't start the snapshot thread: {e}"),
            })?;
        while !writer.is_finished() {
            if snapshot_step(srv, None).1 == 0 {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        match writer.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Schedules the calling thread as a batch job (SCHED_BATCH) at the server's own nice level.
/// Snapshot writers (BGSAVE, AOF rewrite, a replica's SYNC) call it.
///
/// A batch thread gets the same share of the CPU as the main thread, as Redis's fork child
/// does, but its wakeups never preempt a running thread: when a batch of entries is ready,
/// the main thread finishes serving its clients first. The writers used to run at nice 10:
/// with the main thread and redis-benchmark saturating both cores of a loaded machine, a
/// writer then got a tenth of a core and spent 17-37 s of a 25-41 s BGSAVE of 3M keys waiting
/// for a CPU (2-3 s running); queue full, the walk stopped, and the save took 1.2-2x Redis's
/// while new keys kept arriving (see bench/rdb.py, inserts case).
pub(crate) fn background_priority() {
    // SAFETY: plain syscall on the calling thread (pid 0); failure only leaves the policy as
    // is. Switching between non-real-time policies needs no privilege.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_BATCH, &param);
    }
}

/// What a finished save reports back to the main thread.
pub(crate) type SaveResult = Result<u64, SaveFailure>;

/// A BGSAVE in progress.
pub(crate) struct BgSave {
    pub(crate) started: Instant,
    pub(crate) progress: Arc<Progress>,
    /// `rdb_changes_since_last_save` when it started: what a success subtracts.
    pub(crate) dirty_before: u64,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// RDB persistence state (INFO persistence's rdb_* fields).
pub(crate) struct RdbState {
    /// Unix seconds of the last successful save (LASTSAVE).
    pub(crate) lastsave: i64,
    pub(crate) last_bgsave_ok: bool,
    pub(crate) last_failure: Option<SaveFailure>,
    /// Unix seconds of the last BGSAVE attempt: failed save points retry after 5 s.
    pub(crate) lastbgsave_try: i64,
    pub(crate) last_bgsave_time_sec: i64,
    pub(crate) saves: u64,
    pub(crate) scheduled: bool,
    pub(crate) bgsave: Option<BgSave>,
    pub(crate) last_load_keys_loaded: u64,
    pub(crate) last_load_keys_expired: u64,
}

impl RdbState {
    pub(crate) fn new(now_unix: i64) -> RdbState {
        RdbState {
            lastsave: now_unix,
            last_bgsave_ok: true,
            last_failure: None,
            lastbgsave_try: 0,
            last_bgsave_time_sec: -1,
            saves: 0,
            scheduled: false,
            bgsave: None,
            last_load_keys_loaded: 0,
            last_load_keys_expired: 0,
        }
    }
}

/// Seconds Redis waits before a save point retries a failed BGSAVE.
const BGSAVE_RETRY_DELAY: i64 = 5;

/// Saves go to the working directory: the process runs in `dir` (chdir at start and on
/// CONFIG SET dir), as Redis does.
fn target_dir() -> PathBuf {
    PathBuf::from(".")
}

/// SAVE: writes the snapshot on the calling (main) thread.
pub(crate) fn save_now(srv: &mut Server) -> SaveResult {
    crate::durability::rdb_guard::keep_aside(srv);
    srv.rdb.saves += 1;
    let mut job = SnapshotJob::begin(srv, Format::Rdb { aof_base: false });
    for (k, v) in crate::replication::resume::save_info(srv).unwrap_or_default() {
        job.add_aux(k, v);
    }
    let dir = target_dir();
    let name = srv.config.dbfilename.clone();
    let fsync = srv.config.rdb_save_incremental_fsync;
    let r = save_file_blocking(srv, job, &dir, &name, fsync);
    match &r {
        Ok(_) => {
            srv.log.notice("DB saved on disk");
            srv.dirty = 0;
            srv.rdb.lastsave = crate::server::unix_ms() / 1000;
            srv.rdb.last_bgsave_ok = true;
            srv.rdb.last_failure = None;
        }
        Err(f) => srv.log.warning(&f.log_line()),
    }
    r
}

/// BGSAVE: starts the snapshot and hands it to a writer thread. Returns at once.
pub(crate) fn bgsave_start(srv: &mut Server) -> Result<(), SaveFailure> {
    let now = crate::server::unix_ms() / 1000;
    srv.rdb.lastbgsave_try = now;
    crate::durability::rdb_guard::keep_aside(srv);
    srv.rdb.saves += 1;
    let mut job = SnapshotJob::begin(srv, Format::Rdb { aof_base: false });
    for (k, v) in crate::replication::resume::save_info(srv).unwrap_or_default() {
        job.add_aux(k, v);
    }
    let progress = job.progress.clone();
    let dir = target_dir();
    let name = srv.config.dbfilename.clone();
    let fsync = srv.config.rdb_save_incremental_fsync;
    let (tx, rx) = tokio::sync::oneshot::channel::<SaveResult>();
    let thread = std::thread::Builder::new()
        .name("amber-bgsave".into())
        .spawn(move || {
            background_priority();
            let r = job.save_file(&dir, &name, fsync);
            drop(job);
            let _ = tx.send(r);
        })
        .map_err(|e| {
            srv.rdb.last_bgsave_ok = false;
            SaveFailure {
                code: PCode::ForkFail.code(),
                name: PCode::ForkFail.name(),
                message: format!("Can't save in background: can't start the snapshot thread: {e}"),
            }
        })?;
    srv.rdb.bgsave = Some(BgSave {
        started: Instant::now(),
        progress,
        dirty_before: srv.dirty,
        thread: Some(thread),
    });
    srv.log.notice(&format!(
        "Background saving started by pid {} (fork-less snapshot)",
        std::process::id()
    ));
    if let Some(rc) = srv.self_ref.upgrade() {
        tokio::task::spawn_local(async move {
            let r = rx.await.unwrap_or_else(|_| Err(SaveFailure::cancelled()));
            let mut s = rc.borrow_mut();
            bgsave_done(&mut s, r);
        });
    }
    Ok(())
}

/// Records the end of a BGSAVE, as Redis's backgroundSaveDoneHandler does.
pub(crate) fn bgsave_done(srv: &mut Server, r: SaveResult) {
    let Some(mut bg) = srv.rdb.bgsave.take() else {
        return;
    };
    if let Some(t) = bg.thread.take() {
        let _ = t.join();
    }
    srv.rdb.last_bgsave_time_sec = bg.started.elapsed().as_secs() as i64;
    match r {
        Ok(_) => {
            srv.log.notice("DB saved on disk");
            srv.log.notice("Background saving terminated with success");
            srv.dirty = srv.dirty.saturating_sub(bg.dirty_before);
            srv.rdb.lastsave = crate::server::unix_ms() / 1000;
            srv.rdb.last_bgsave_ok = true;
            srv.rdb.last_failure = None;
        }
        Err(f) => {
            srv.log.warning(&f.log_line());
            srv.log.warning("Background saving error");
            srv.rdb.last_bgsave_ok = false;
            srv.rdb.last_failure = Some(f);
        }
    }
}

/// Stops a BGSAVE in progress and waits for its thread (SHUTDOWN, FLUSHALL). Its temp file
/// is removed; the previous dump stays.
pub(crate) fn bgsave_cancel(srv: &mut Server) {
    if let Some(mut bg) = srv.rdb.bgsave.take() {
        bg.progress.cancel.store(true, Ordering::Relaxed);
        if let Some(t) = bg.thread.take() {
            let _ = t.join();
        }
        srv.log.notice("Background saving cancelled");
    }
}

/// serverCron's part: start a BGSAVE when a save point is reached, or a scheduled one.
pub(crate) fn cron(srv: &mut Server) {
    if srv.rdb.bgsave.is_some() || srv.aof_rewrite.running.is_some() {
        return;
    }
    let now = crate::server::unix_ms() / 1000;
    if srv.rdb.scheduled {
        srv.rdb.scheduled = false;
        if let Err(f) = bgsave_start(srv) {
            srv.log.warning(&f.log_line());
        }
        return;
    }
    let elapsed = now - srv.rdb.lastsave;
    let retry_ok = now - srv.rdb.lastbgsave_try > BGSAVE_RETRY_DELAY || srv.rdb.last_bgsave_ok;
    let point = srv
        .config
        .save_params
        .iter()
        .find(|(secs, changes)| srv.dirty >= *changes && elapsed > *secs as i64 && retry_ok)
        .copied();
    if let Some((secs, changes)) = point {
        srv.log
            .notice(&format!("{changes} changes in {secs} seconds. Saving..."));
        if let Err(f) = bgsave_start(srv) {
            srv.log.warning(&f.log_line());
        }
    }
}

/// Whether writes are refused because the last background save failed (Redis's MISCONF).
pub(crate) fn writes_denied(srv: &Server) -> bool {
    srv.config.stop_writes_on_bgsave_error
        && !srv.config.save_params.is_empty()
        && !srv.rdb.last_bgsave_ok
}

pub(crate) const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";
