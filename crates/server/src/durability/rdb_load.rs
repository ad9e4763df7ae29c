//! Loading an RDB file into databases: at start (on a thread, while clients get -LOADING and
//! INFO shows the progress) and for DEBUG RELOAD.
//!
//! Parsing is amber-persist's `Decoder`; this module only applies what it yields. A file that
//! is corrupt, truncated or holds something Amber cannot represent is refused whole: the server
//! never starts on a partial dataset.

use std::cell::RefCell;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use amber_persist::rdb::{self, Decoder, Item, RdbError};
use amber_store::db::NO_EXPIRE;
use amber_store::{Db, Key, Limits};

use crate::server::Server;

/// What INFO shows while loading (loading_* fields).
pub(crate) struct LoadProgress {
    pub(crate) started: Instant,
    pub(crate) started_unix: i64,
    pub(crate) total_bytes: u64,
    pub(crate) loaded_bytes: Arc<AtomicU64>,
}

impl LoadProgress {
    pub(crate) fn new(total_bytes: u64) -> LoadProgress {
        LoadProgress {
            started: Instant::now(),
            started_unix: crate::server::unix_ms() / 1000,
            total_bytes,
            loaded_bytes: Arc::new(AtomicU64::new(0)),
        }
    }
}

/// The result of a successful load.
pub(crate) struct Loaded {
    pub(crate) dbs: Vec<Db>,
    pub(crate) keys_loaded: u64,
    pub(crate) keys_expired: u64,
    pub(crate) empty_keys_skipped: u64,
    pub(crate) rdb_version: u32,
    /// The `used-mem` aux field (loading_rdb_used_mem).
    pub(crate) used_mem: u64,
    pub(crate) aof_base: bool,
    /// The replication history the file records (repl-stream-db, repl-id, repl-offset).
    pub(crate) history: crate::replication::resume::SavedHistory,
    /// The stored and the computed CRC-64 (None before version 5). They differ only when
    /// loaded with rdbchecksum no; a stored 0 means the file was saved without a checksum.
    pub(crate) crc: Option<(u64, u64)>,
    /// The function libraries' code (RDB_OPCODE_FUNCTION2), in file order.
    pub(crate) functions: Vec<Vec<u8>>,
}

/// Why a load failed. `P002` for a corrupt or unreadable file.
#[derive(Debug)]
pub(crate) struct LoadFailure {
    pub(crate) message: String,
}

impl std::fmt::Display for LoadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", amber_persist::PCode::RdbCorrupt, self.message)
    }
}

/// Counts bytes read, for the progress INFO shows.
struct Counting<R> {
    inner: R,
    n: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n.fetch_add(k as u64, Ordering::Relaxed);
        Ok(k)
    }
}

/// Keys inserted together, in directory order.
const BATCH: usize = 1 << 20;

/// Applies decoded RDB items to fresh databases: the part of loading that is not parsing,
/// shared by dump.rdb and the RDB preamble of an AOF base.
pub(crate) struct Applier<'a> {
    pub(crate) out: Loaded,
    db: usize,
    /// Keys decoded and not yet inserted (into `db`), inserted in batches in directory order.
    batch: Vec<(Key, amber_store::Value, i64)>,
    /// When set, batches go to the inserter thread (see `Inserter`), which owns the databases
    /// meanwhile: decoding and inserting overlap.
    sink: Option<std::sync::mpsc::SyncSender<InsertMsg>>,
    /// The databases' hashers, to prepare batches on this thread when a sink takes them.
    hashers: Vec<amber_store::db::BatchHasher>,
    databases: usize,
    limits: &'a Limits,
    /// Keys whose expiry is before this are skipped and counted as expired.
    expire_before: Option<i64>,
    lru: u32,
    /// key-load-delay, microseconds per key (see Config::key_load_delay).
    pub(crate) key_delay_us: i64,
    /// Under an LFU policy (FREQ applies, not IDLE), and the time they are relative to.
    lfu: bool,
    now_ms: i64,
    /// Keys whose saved IDLE or FREQ sets their clock word, set once they are inserted.
    clocks: Vec<(usize, Key, u32)>,
}

impl<'a> Applier<'a> {
    /// With `expire_before`, keys whose expiry is before it are skipped and counted, as a
    /// Redis master does loading dump.rdb. Without (an AOF base), every key is loaded: the
    /// incr files that follow were written against that exact keyspace (Redis's
    /// RDBFLAGS_AOF_PREAMBLE), and nothing expires while they are replayed.
    pub(crate) fn new(
        databases: usize,
        limits: &'a Limits,
        expire_before: Option<i64>,
        lru: u32,
    ) -> Self {
        Applier {
            out: Loaded {
                dbs: (0..databases).map(|_| Db::new()).collect(),
                keys_loaded: 0,
                keys_expired: 0,
                empty_keys_skipped: 0,
                rdb_version: 0,
                used_mem: 0,
                aof_base: false,
                history: Default::default(),
                crc: None,
                functions: Vec::new(),
            },
            db: 0,
            batch: Vec::with_capacity(BATCH),
            sink: None,
            hashers: Vec::new(),
            databases,
            limits,
            expire_before,
            lru,
            key_delay_us: 0,
            lfu: false,
            now_ms: 0,
            clocks: Vec::new(),
        }
    }

    /// Keys' saved IDLE (LRU) or FREQ (LFU, when `lfu`) are applied, relative to `now_ms`.
    pub(crate) fn keep_clocks(&mut self, lfu: bool, now_ms: i64) {
        self.lfu = lfu;
        self.now_ms = now_ms;
    }

    /// Sets the clock words of the keys that carried IDLE or FREQ (Redis's
    /// objectSetLRUOrLFU), once every key is in.
    fn apply_clocks(&mut self) {
        for (db, key, word) in std::mem::take(&mut self.clocks) {
            if let Some(e) = self.out.dbs[db].get(&key) {
                e.touch(word);
            }
        }
    }

    /// Inserts the pending batch. A key present twice is corruption, as Redis says.
    fn flush(&mut self) -> Result<(), LoadFailure> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let db = self.db;
        let n = self.batch.len() as u64;
        self.out.keys_loaded += n;
        if let Some(tx) = &self.sink {
            let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
            let prepared = self.hashers[db].prepare(batch);
            return tx
                .send(InsertMsg::Batch(db, prepared))
                .map_err(|_| LoadFailure {
                    message: "the inserting thread stopped".into(),
                });
        }
        if let Some(k) = self.out.dbs[db].insert_batch(&mut self.batch, self.lru) {
            return Err(LoadFailure {
                message: format!(
                    "RDB has duplicated key '{}' in DB {db}",
                    amber_persist::rdb::error::show_key(&k)
                ),
            });
        }
        Ok(())
    }

    /// Applies one item. Returns true at the end of the stream.
    pub(crate) fn apply(&mut self, item: Item) -> Result<bool, LoadFailure> {
        if !matches!(item, Item::Entry(_)) {
            self.flush()?;
        }
        let out = &mut self.out;
        match item {
            Item::Eof {
                stored_crc,
                computed_crc,
            } => {
                out.crc = stored_crc.map(|c| (c, computed_crc));
                return Ok(true);
            }
            Item::Function(code) => out.functions.push(code),
            Item::SelectDb(n) => {
                let databases = self.databases;
                if n >= databases as u64 {
                    return Err(LoadFailure {
                        message: format!(
                            "FATAL: Data file was created with a Redis server configured to handle more than {databases} databases"
                        ),
                    });
                }
                self.db = n as usize;
            }
            // The key count up front: lay the database out at once instead of growing it.
            Item::ResizeDb { keys, .. } => {
                let n = usize::try_from(keys).unwrap_or(0).min(1 << 32);
                match &self.sink {
                    Some(tx) => {
                        let _ = tx.send(InsertMsg::Reserve(self.db, n));
                    }
                    None => out.dbs[self.db].reserve(n),
                }
            }
            Item::Aux { key, value } => match key.as_slice() {
                b"used-mem" => {
                    out.used_mem = std::str::from_utf8(&value)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0)
                }
                b"aof-base" => out.aof_base = value == b"1",
                k => {
                    out.history.aux(k, &value);
                }
            },
            Item::Entry(e) => {
                if let (Some(t), Some(now)) = (e.expire_ms, self.expire_before) {
                    if t < now {
                        out.keys_expired += 1;
                        return Ok(false);
                    }
                }
                key_load_delay(self.key_delay_us);
                let value = rdb::to_value(e.value, self.limits);
                let expire = e.expire_ms.unwrap_or(NO_EXPIRE);
                if let Some(word) = crate::evict::loaded_word(self.lfu, self.now_ms, e.idle, e.freq)
                {
                    self.clocks.push((self.db, Key::from_slice(&e.key), word));
                }
                self.batch.push((Key::from_slice(&e.key), value, expire));
                if self.batch.len() >= BATCH {
                    self.flush()?;
                }
            }
        }
        Ok(false)
    }
}

/// Redis's debugDelay for key-load-delay: `us` microseconds, or for a negative -n one
/// microsecond with probability 1/n.
fn key_load_delay(us: i64) {
    let us = if us < 0 {
        u64::from(rand::random::<u64>().is_multiple_of(us.unsigned_abs()))
    } else {
        us as u64
    };
    if us > 0 {
        std::thread::sleep(std::time::Duration::from_micros(us));
    }
}

/// How to load a file: the configuration that matters.
#[derive(Clone, Copy)]
pub(crate) struct LoadOptions {
    pub(crate) databases: usize,
    pub(crate) limits: Limits,
    pub(crate) lru: u32,
    /// An LFU maxmemory-policy: saved FREQ counters apply (saved IDLE times otherwise).
    pub(crate) lfu: bool,
    /// rdbchecksum: a CRC mismatch refuses the file (yes) or is only logged (no).
    pub(crate) verify_crc: bool,
    pub(crate) key_load_delay: i64,
}

impl LoadOptions {
    pub(crate) fn of(s: &Server) -> LoadOptions {
        LoadOptions {
            databases: s.config.databases,
            limits: s.config.limits,
            lru: s.new_lru(),
            lfu: s.config.maxmemory_policy.is_lfu(),
            verify_crc: s.config.rdbchecksum,
            key_load_delay: s.config.key_load_delay,
        }
    }
}

/// Reads a whole RDB stream into `databases` fresh databases.
pub(crate) fn load_stream<R: Read>(
    r: R,
    o: &LoadOptions,
    now_ms: i64,
    loaded_bytes: Arc<AtomicU64>,
) -> Result<Loaded, LoadFailure> {
    let (databases, limits, lru) = (o.databases, &o.limits, o.lru);
    let reader = Counting {
        inner: BufReader::with_capacity(1 << 20, r),
        n: loaded_bytes,
    };
    let fail = |e: RdbError| LoadFailure {
        message: e.to_string(),
    };
    let mut dec = Decoder::new(reader).map_err(fail)?;
    dec.verify_checksum(o.verify_crc);
    let mut ap = Applier::new(databases, limits, Some(now_ms), lru);
    ap.key_delay_us = o.key_load_delay;
    ap.keep_clocks(o.lfu, crate::server::unix_ms());
    ap.out.rdb_version = dec.version();
    ap.hashers = ap.out.dbs.iter().map(Db::batch_hasher).collect();
    let inserter = Inserter::start(std::mem::take(&mut ap.out.dbs), lru)?;
    ap.sink = Some(inserter.tx.clone());
    let decoded = (|| loop {
        match dec.next().map_err(fail)? {
            None => {
                return Err(LoadFailure {
                    message: format!(
                        "corrupt RDB at offset {}: the file ends without the EOF marker",
                        dec.offset()
                    ),
                })
            }
            Some(item) => {
                if ap.apply(item)? {
                    return Ok(());
                }
            }
        }
    })();
    ap.sink = None;
    let dbs = inserter.finish()?;
    decoded?;
    ap.out.dbs = dbs;
    ap.apply_clocks();
    ap.out.empty_keys_skipped = dec.empty_keys_skipped();
    Ok(ap.out)
}

/// What the decoding thread hands the inserting one.
pub(crate) enum InsertMsg {
    Reserve(usize, usize),
    Batch(usize, amber_store::db::PreparedBatch),
}

/// What the inserting thread hands back: the databases, and the first key seen twice.
type Inserted = (Vec<Db>, Option<(usize, Key)>);

/// The thread that inserts decoded keys while the next ones are decoded (loading a dump
/// uses both cores). It owns the databases until `finish`.
struct Inserter {
    tx: std::sync::mpsc::SyncSender<InsertMsg>,
    thread: std::thread::JoinHandle<Inserted>,
}

impl Inserter {
    fn start(mut dbs: Vec<Db>, lru: u32) -> Result<Inserter, LoadFailure> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<InsertMsg>(2);
        let thread = std::thread::Builder::new()
            .name("amber-load-insert".into())
            .spawn(move || {
                let mut dup = None;
                for msg in rx {
                    match msg {
                        InsertMsg::Reserve(db, n) => dbs[db].reserve(n),
                        InsertMsg::Batch(db, batch) => {
                            if let Some(k) = dbs[db].insert_prepared(batch, lru) {
                                dup.get_or_insert((db, k));
                            }
                        }
                    }
                }
                (dbs, dup)
            })
            .map_err(|e| LoadFailure {
                message: format!("can't start the loading thread: {e}"),
            })?;
        Ok(Inserter { tx, thread })
    }

    /// Waits for every batch to be in; a key seen twice is corruption.
    fn finish(self) -> Result<Vec<Db>, LoadFailure> {
        drop(self.tx);
        let (dbs, dup) = self.thread.join().map_err(|_| LoadFailure {
            message: "the inserting thread failed".into(),
        })?;
        if let Some((db, k)) = dup {
            return Err(LoadFailure {
                message: format!(
                    "RDB has duplicated key '{}' in DB {db}",
                    amber_persist::rdb::error::show_key(&k)
                ),
            });
        }
        Ok(dbs)
    }
}

/// Loads `path`. `Ok(None)` when the file does not exist (start empty).
pub(crate) fn load_file(
    path: &Path,
    o: &LoadOptions,
    loaded_bytes: Arc<AtomicU64>,
) -> Result<Option<Loaded>, LoadFailure> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(LoadFailure {
                message: format!("can't open {}: {e}", path.display()),
            })
        }
    };
    load_stream(f, o, crate::server::unix_ms(), loaded_bytes).map(Some)
}

/// Start-up: loads `dir/dbfilename` on a thread while clients are answered -LOADING, then
/// swaps the databases in. A file that cannot be loaded stops the server (P002): starting
/// empty would make the next save overwrite the user's data.
pub(crate) fn load_at_start(srv: &Rc<RefCell<Server>>) {
    let (path, opts) = {
        let s = srv.borrow();
        (PathBuf::from(&s.config.dbfilename), LoadOptions::of(&s))
    };
    let size = match std::fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            crate::net::supervise::ready(&srv.borrow().log);
            return;
        }
        Err(e) => fatal(
            &srv.borrow(),
            &format!("can't open {}: {e}", path.display()),
        ),
    };
    let progress = LoadProgress::new(size);
    let counter = progress.loaded_bytes.clone();
    srv.borrow_mut().loading = Some(progress);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("amber-load".into())
        .spawn(move || {
            let _ = tx.send(load_file(&path, &opts, counter));
        });
    if let Err(e) = spawned {
        fatal(
            &srv.borrow(),
            &format!("can't start the loading thread: {e}"),
        );
    }
    let srv = srv.clone();
    tokio::task::spawn_local(async move {
        let r = rx.await.unwrap_or_else(|_| {
            Err(LoadFailure {
                message: "the loading thread stopped".into(),
            })
        });
        let mut s = srv.borrow_mut();
        match r {
            Ok(Some(l)) => {
                let secs = s
                    .loading
                    .as_ref()
                    .map(|p| p.started.elapsed().as_secs_f64())
                    .unwrap_or(0.0);
                let history = l.history.clone();
                install(&mut s, l);
                s.log
                    .notice(&format!("DB loaded from disk: {secs:.3} seconds"));
                crate::replication::resume::restore(&mut s, &history);
            }
            Ok(None) => {}
            Err(f) => fatal(&s, &f.to_string()),
        }
        s.loading = None;
        crate::net::supervise::ready(&s.log);
    });
}

/// Puts loaded databases in place and records what INFO reports about the load.
pub(crate) fn install(s: &mut Server, l: Loaded) {
    if l.empty_keys_skipped > 0 {
        s.log.warning(&format!(
            "Done loading RDB, skipped {} empty keys",
            l.empty_keys_skipped
        ));
    }
    log_checksum(s, l.crc);
    s.log.notice(&format!(
        "Done loading RDB, keys loaded: {}, keys expired: {}.",
        l.keys_loaded, l.keys_expired
    ));
    s.dbs = l.dbs;
    crate::scripting::install_libraries(s, l.functions);
    s.rdb.last_load_keys_loaded = l.keys_loaded;
    s.rdb.last_load_keys_expired = l.keys_expired;
}

/// What Redis logs about the checksum at the end of a load, and, with rdbchecksum no, the
/// mismatch it would not have noticed.
fn log_checksum(s: &Server, crc: Option<(u64, u64)>) {
    match crc {
        Some((0, _)) if s.config.rdbchecksum => s
            .log
            .warning("RDB file was saved with checksum disabled: no check performed."),
        Some((stored, computed)) if stored != 0 && stored != computed => {
            s.log.warning(&format!(
                "RDB checksum mismatch ignored because rdbchecksum is no: stored {stored:016x}, computed {computed:016x}. Every value decoded, but one may hold altered bytes: `amber check-rdb FILE` says which key if a single byte changed"
            ))
        }
        _ => {}
    }
}

fn fatal(s: &Server, why: &str) -> ! {
    s.log.warning(why);
    s.log
        .warning("Fatal error loading the DB, check server logs. Exiting.");
    std::process::exit(1);
}

/// DEBUG RELOAD: loads `dbfilename` on the main thread. With `flush` the loaded data replaces
/// the dataset; without, it is added, and a key present in both is an error unless `merge`
/// (then the file's value wins). Nothing changes when the load fails.
pub(crate) fn reload(s: &mut Server, flush: bool, merge: bool) -> Result<(), String> {
    let path = PathBuf::from(&s.config.dbfilename);
    let r = load_file(&path, &LoadOptions::of(s), Arc::new(AtomicU64::new(0)));
    let loaded = match r {
        Ok(Some(l)) => l,
        Ok(None) => return Err(format!("{} does not exist", path.display())),
        Err(f) => return Err(f.to_string()),
    };
    if flush {
        install(s, loaded);
        return Ok(());
    }
    if !merge {
        for (i, db) in loaded.dbs.iter().enumerate() {
            if let Some(e) = db.iter().find(|e| s.dbs[i].get(&e.key).is_some()) {
                return Err(format!(
                    "RDB has duplicated key '{}' in DB {i}",
                    String::from_utf8_lossy(&e.key)
                ));
            }
        }
    }
    for (i, db) in loaded.dbs.into_iter().enumerate() {
        for e in db.iter() {
            s.dbs[i].insert(e.key.clone(), e.value.clone(), e.expire, e.lru());
        }
    }
    Ok(())
}
