//! `amber restore ID`: a backup back into service.
//!
//! - `--data-dir DIR [--config redis.conf]`: offline, for a stopped server. Refuses while
//!   anything uses DIR (see `inuse`). Downloads and checks the backup into temp files first,
//!   then moves what was there aside (DIR/amber-restore-<time>/, never deleted), then
//!   installs: DIR/<dbfilename> (temp → fsync → rename → fsync dir) and, when the server
//!   will start with `appendonly yes`, a fresh AOF directory whose base is the same RDB
//!   (the AOF wins at start: a dump.rdb alone would be ignored).
//! - `--into HOST:PORT [--replace]`: online, into a running server: RESTORE per key,
//!   pipelined, with absolute TTLs; without --replace, refuses if any key already exists.

pub mod aof_base;
pub mod cut;
pub mod inuse;

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use amber_persist::io::AtomicFile;
use amber_persist::rdb::{create_dump, to_value, Decoder, EncodeOptions, Item, RdbEntry};
use serde::Serialize;

use crate::backup::catalog::{self, Entry};
use crate::backup::repo::Repo;
use crate::backup::stream::Unpack;
use crate::backup::{self, print_json, AuthArgs, RepoArg};
use crate::client::{encode_command, read_reply, Reply};
use crate::progress::Progress;
use crate::redis_conf::Conf;
use crate::{human, Failure, Outcome};

#[derive(clap::Args)]
pub struct Args {
    /// The backup id (see `amber backup list`), or `latest`.
    id: String,
    #[command(flatten)]
    repo: RepoArg,
    /// Offline restore into this data directory (the server must be stopped).
    #[arg(long, value_name = "DIR", conflicts_with = "into")]
    data_dir: Option<PathBuf>,
    /// The configuration the server will start with: dir, dbfilename, appendonly,
    /// appendfilename, appenddirname and pidfile are read from it.
    #[arg(long, value_name = "redis.conf", conflicts_with = "into")]
    config: Option<PathBuf>,
    /// The RDB file name (default: the config's dbfilename, else dump.rdb).
    #[arg(long, conflicts_with = "into")]
    dbfilename: Option<String>,
    /// Online restore into a running server.
    #[arg(long, value_name = "HOST:PORT")]
    into: Option<String>,
    /// With --into: overwrite keys that exist (RESTORE ... REPLACE).
    #[arg(long, requires = "into")]
    replace: bool,
    #[command(flatten)]
    auth: AuthArgs,
    /// Restore a backup whose last verification failed.
    #[arg(long)]
    force: bool,
    #[arg(long)]
    json: bool,
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(a: Args) -> Result<Outcome, Failure> {
    let repo = Repo::open(&a.repo.repo, false)?;
    let entry = backup::find(&repo, &a.id)?;
    if !entry.verified && entry.verify_error.is_some() && !a.force {
        return Err(Failure(format!(
            "backup {} failed verification ({}); --force restores it anyway",
            entry.id,
            entry.verify_error.as_deref().unwrap_or("")
        )));
    }
    if let (Some(_), Some(u)) = (&a.into, &entry.unsupported) {
        return Err(Failure(format!(
            "backup {} holds what amber cannot restore key by key ({u}); restore it offline with --data-dir",
            entry.id
        )));
    }
    match &a.into {
        Some(addr) => online(&a, &repo, &entry, addr),
        None => offline(&a, &repo, &entry),
    }
}

fn stamp_now() -> String {
    let t = catalog::rfc3339(catalog::now_ms());
    // 2025-01-31T12:34:56.789Z → 20250131T123456Z
    let digits: String = t[..19]
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    format!("{digits}Z")
}

fn fsync_dir(d: &Path) -> io::Result<()> {
    File::open(d)?.sync_all()
}

#[derive(Serialize)]
struct OfflineReport {
    ok: bool,
    backup: String,
    data_dir: String,
    refused: Vec<String>,
    moved_aside: Vec<(String, String)>,
    written: Vec<String>,
    appendonly: bool,
    keys: u64,
    raw_size: u64,
    problem: Option<String>,
    notes: Vec<String>,
    start_with: Option<String>,
}

fn new_file(p: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(p)
}

fn offline(a: &Args, repo: &Repo, entry: &Entry) -> Result<Outcome, Failure> {
    let conf = match &a.config {
        Some(p) => Conf::load(p).map_err(Failure)?,
        None => Conf::default(),
    };
    let mut notes = Vec::new();
    let dir = match (&a.data_dir, conf.get("dir")) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) if Path::new(d).is_absolute() => PathBuf::from(d),
        _ => {
            return Err(Failure(
                "give --data-dir DIR (or a --config with an absolute dir)".into(),
            ))
        }
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure(format!("can't create {}: {e}", dir.display())))?;
    let dir = std::fs::canonicalize(&dir)
        .map_err(|e| Failure(format!("can't open {}: {e}", dir.display())))?;
    if let (Some(_), Some(cd)) = (&a.data_dir, conf.get("dir")) {
        let same = Path::new(cd).is_relative() || std::fs::canonicalize(cd).is_ok_and(|c| c == dir);
        if !same {
            notes.push(format!(
                "the config's dir is {cd}, not {}: the server will not see this restore unless started with --dir {}",
                dir.display(),
                dir.display()
            ));
        }
    }
    let dbfilename = a
        .dbfilename
        .clone()
        .unwrap_or_else(|| conf.dbfilename().to_string());
    let appendfilename = conf.appendfilename().to_string();
    let appenddirname = conf.appenddirname().to_string();
    for n in [&dbfilename, &appendfilename, &appenddirname] {
        if !aof_base::plain_name(n) {
            return Err(Failure(format!(
                "'{n}' is not a plain file name; restore does not write it"
            )));
        }
    }
    // Without a config, an existing AOF directory says the server runs with AOF on.
    let write_aof = conf.appendonly() || (a.config.is_none() && dir.join(&appenddirname).is_dir());
    if write_aof && !conf.appendonly() {
        notes.push(format!(
            "{} exists, so the server probably runs with appendonly yes: the AOF base is written too (give --config to be sure)",
            dir.join(&appenddirname).display()
        ));
    }
    let mut report = OfflineReport {
        ok: false,
        backup: entry.id.clone(),
        data_dir: dir.display().to_string(),
        refused: Vec::new(),
        moved_aside: Vec::new(),
        written: Vec::new(),
        appendonly: write_aof,
        keys: entry.keys,
        raw_size: entry.raw_size,
        problem: None,
        notes,
        start_with: None,
    };
    let pidfile = conf.get("pidfile").map(PathBuf::from);
    let users = inuse::users(&dir, pidfile.as_deref());
    let lock = if users.is_empty() {
        inuse::lock(&dir).map_err(|e| report.refused.push(e)).ok()
    } else {
        None
    };
    for u in &users {
        report.refused.push(format!(
            "process {} ({}) uses {}: {}",
            u.pid,
            u.name,
            dir.display(),
            u.how
        ));
    }
    if !report.refused.is_empty() {
        report.problem = Some("the data directory is in use; stop the server first".into());
        return finish_offline(a, report);
    }

    // 1. Download into temp files, checking as we go.
    let stamp = stamp_now();
    let target = dir.join(&dbfilename);
    let mut rdb = AtomicFile::create(&target, true)
        .map_err(|e| Failure(format!("can't write into {}: {e}", dir.display())))?;
    let aof_tmp = dir.join(format!(".amber-restore-{stamp}.{appenddirname}"));
    let cleanup = |p: &Path| {
        let _ = std::fs::remove_dir_all(p);
    };
    let mut base = if write_aof {
        std::fs::create_dir(&aof_tmp)
            .and_then(|()| new_file(&aof_tmp.join(aof_base::base_name(&appendfilename))))
            .map(Some)
            .map_err(|e| Failure(format!("can't create {}: {e}", aof_tmp.display())))?
    } else {
        None
    };
    let result = (|| -> io::Result<Option<String>> {
        let r = repo.reader(&entry.object)?;
        let mut unpack = Unpack::new(r)?;
        let mut bar = Progress::new("restoring", entry.raw_size, a.quiet || a.json);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let k = match unpack.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Ok(Some(format!("the stored backup does not decompress: {e}"))),
            };
            rdb.write_all(&buf[..k])?;
            if let Some(b) = base.as_mut() {
                b.write_all(&buf[..k])?;
            }
            bar.update(unpack.raw_bytes());
        }
        bar.finish();
        let (raw_n, raw_sha, _, stored_sha) = unpack.finish()?;
        if stored_sha != entry.stored_sha256 {
            return Ok(Some(
                "SHA-256 of the stored object differs from the catalog".into(),
            ));
        }
        if raw_sha != entry.raw_sha256 || raw_n != entry.raw_size {
            return Ok(Some(
                "SHA-256 of the restored RDB differs from the catalog".into(),
            ));
        }
        if let Some(b) = base.take() {
            b.sync_all()?;
            new_file(&aof_tmp.join(aof_base::incr_name(&appendfilename)))?.sync_all()?;
            let mut m = new_file(&aof_tmp.join(aof_base::manifest_name(&appendfilename)))?;
            m.write_all(aof_base::manifest(&appendfilename).as_bytes())?;
            m.sync_all()?;
            fsync_dir(&aof_tmp)?;
        }
        Ok(None)
    })();
    match result {
        Ok(None) => {}
        Ok(Some(problem)) => {
            drop(rdb);
            cleanup(&aof_tmp);
            report.problem = Some(format!(
                "{problem}; nothing in {} was changed",
                dir.display()
            ));
            return finish_offline(a, report);
        }
        Err(e) => {
            drop(rdb);
            cleanup(&aof_tmp);
            return Err(Failure(format!(
                "restoring into {}: {e} (nothing there was changed)",
                dir.display()
            )));
        }
    }

    // 2. Move what is there aside.
    // A fresh directory: two restores within a second must not overwrite what the first
    // moved aside.
    let aside = (0..)
        .map(|n| match n {
            0 => dir.join(format!("amber-restore-{stamp}")),
            n => dir.join(format!("amber-restore-{stamp}-{n}")),
        })
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .unwrap_or_else(|| dir.join(format!("amber-restore-{stamp}-x")));
    let mut to_move = vec![dbfilename.clone()];
    if dir.join(&appenddirname).exists() {
        to_move.push(appenddirname.clone());
    }
    for name in to_move {
        let from = dir.join(&name);
        if std::fs::symlink_metadata(&from).is_err() {
            continue;
        }
        let moved = std::fs::create_dir_all(&aside).and_then(|()| {
            let to = aside.join(&name);
            if std::fs::symlink_metadata(&to).is_ok() {
                return Err(io::Error::other(format!("{} exists", to.display())));
            }
            std::fs::rename(&from, to)
        });
        if let Err(e) = moved {
            drop(rdb);
            cleanup(&aof_tmp);
            return Err(Failure(format!("can't move {} aside: {e}", from.display())));
        }
        report.moved_aside.push((
            from.display().to_string(),
            aside.join(&name).display().to_string(),
        ));
    }
    if !report.moved_aside.is_empty() {
        fsync_dir(&aside)
            .and_then(|()| fsync_dir(&dir))
            .map_err(|e| Failure(format!("fsync {}: {e}", dir.display())))?;
    }

    // 3. Install.
    rdb.commit()
        .map_err(|e| Failure(format!("can't install {}: {e}", target.display())))?;
    report.written.push(target.display().to_string());
    if write_aof {
        let aof_dir = dir.join(&appenddirname);
        std::fs::rename(&aof_tmp, &aof_dir)
            .and_then(|()| fsync_dir(&dir))
            .map_err(|e| Failure(format!("can't install {}: {e}", aof_dir.display())))?;
        for n in [
            aof_base::base_name(&appendfilename),
            aof_base::incr_name(&appendfilename),
            aof_base::manifest_name(&appendfilename),
        ] {
            report.written.push(aof_dir.join(n).display().to_string());
        }
    }
    // Root restoring for a server that runs as another user: the files must be the
    // server's, like the directory (the guide's `chown -R redis:redis` step).
    if let Some(n) = give_to_dir_owner(&dir, &report.written) {
        report.notes.push(n);
    }
    drop(lock);
    report.ok = true;
    report.start_with = Some(match &a.config {
        Some(c) => format!("redis-server {}", c.display()),
        None => format!(
            "redis-server --dir {} --dbfilename {dbfilename} --appendonly {}",
            dir.display(),
            if write_aof { "yes" } else { "no" }
        ),
    });
    finish_offline(a, report)
}

/// Chowns `files` (and the AOF directory) to the owner of `dir` when they differ.
fn give_to_dir_owner(dir: &Path, files: &[String]) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let d = std::fs::metadata(dir).ok()?;
    let mut paths: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
    if let Some(parent) = paths.iter().find_map(|p| p.parent().filter(|q| *q != dir)) {
        paths.push(parent.to_path_buf());
    }
    let mut changed = 0;
    for p in &paths {
        let Ok(m) = std::fs::metadata(p) else {
            continue;
        };
        if m.uid() != d.uid() || m.gid() != d.gid() {
            if std::os::unix::fs::chown(p, Some(d.uid()), Some(d.gid())).is_err() {
                return Some(format!(
                    "could not give {} to the directory's owner (uid {}): the server may not be able to read it",
                    p.display(),
                    d.uid()
                ));
            }
            changed += 1;
        }
    }
    (changed > 0).then(|| {
        format!(
            "files given to uid {} gid {}, the owner of {}",
            d.uid(),
            d.gid(),
            dir.display()
        )
    })
}

fn finish_offline(a: &Args, r: OfflineReport) -> Result<Outcome, Failure> {
    if a.json {
        print_json(&r)?;
    } else {
        for x in &r.refused {
            println!("refused: {x}");
        }
        for (f, t) in &r.moved_aside {
            println!("moved aside: {f} -> {t}");
        }
        for w in &r.written {
            println!("wrote: {w}");
        }
        for n in &r.notes {
            println!("note: {n}");
        }
        match &r.problem {
            Some(p) => println!("NOT RESTORED: {p}"),
            None => {
                println!(
                    "Restored backup {} ({} keys, {}) into {}{}",
                    r.backup,
                    human::count(r.keys),
                    human::size(r.raw_size),
                    r.data_dir,
                    if r.appendonly {
                        " as dump.rdb and as the AOF base (appendonly yes loads the AOF)"
                    } else {
                        ""
                    }
                );
                if let Some(s) = &r.start_with {
                    println!("Start the server: {s}");
                }
            }
        }
    }
    Ok(if r.ok { Outcome::Ok } else { Outcome::Problem })
}

// ---- online ----

/// What the reply to a pipelined command is about.
enum Expect {
    Select(u64),
    Restore(u64, Vec<u8>),
    Exists(u64, Vec<u8>),
}

#[derive(Default, Serialize)]
struct Tally {
    restored: u64,
    busy: u64,
    existing: u64,
    errors: u64,
    /// A few keys and messages, to see what went wrong.
    samples: Vec<String>,
}

impl Tally {
    fn sample(&mut self, s: String) {
        if self.samples.len() < 10 {
            self.samples.push(s);
        }
    }
}

/// Commands written on this thread, replies read on another; the channel bounds how many
/// are in flight.
struct Pipe {
    w: io::BufWriter<TcpStream>,
    tx: Option<SyncSender<Expect>>,
    reader: Option<JoinHandle<io::Result<Tally>>>,
    buf: Vec<u8>,
}

const IN_FLIGHT: usize = 1000;

impl Pipe {
    fn new(stream: TcpStream) -> io::Result<Pipe> {
        stream.set_read_timeout(Some(Duration::from_secs(300)))?;
        let r = stream.try_clone()?;
        let (tx, rx) = mpsc::sync_channel::<Expect>(IN_FLIGHT);
        let reader = std::thread::Builder::new()
            .name("replies".into())
            .spawn(move || {
                let mut r = BufReader::with_capacity(1 << 16, r);
                let mut t = Tally::default();
                while let Ok(e) = rx.recv() {
                    let reply = read_reply(&mut r)?;
                    match (e, reply) {
                        (Expect::Select(db), Reply::Error(m)) => {
                            return Err(io::Error::other(format!("SELECT {db}: {m}")))
                        }
                        (Expect::Select(_), _) => {}
                        (Expect::Restore(..), Reply::Status(_)) => t.restored += 1,
                        (Expect::Restore(db, k), Reply::Error(m)) if m.starts_with("BUSYKEY") => {
                            t.busy += 1;
                            t.sample(format!("db{db} '{}' exists", show(&k)));
                        }
                        (Expect::Restore(db, k), Reply::Error(m)) => {
                            t.errors += 1;
                            t.sample(format!("db{db} '{}': {m}", show(&k)));
                        }
                        (Expect::Exists(db, k), Reply::Int(n)) => {
                            if n > 0 {
                                t.existing += 1;
                                t.sample(format!("db{db} '{}' exists", show(&k)));
                            }
                        }
                        (_, other) => {
                            t.errors += 1;
                            t.sample(format!("unexpected reply {}", other.text()));
                        }
                    }
                }
                Ok(t)
            })?;
        Ok(Pipe {
            w: io::BufWriter::with_capacity(1 << 20, stream),
            tx: Some(tx),
            reader: Some(reader),
            buf: Vec::new(),
        })
    }

    fn cmd(&mut self, args: &[&[u8]], e: Expect) -> io::Result<()> {
        self.buf.clear();
        encode_command(&mut self.buf, args);
        self.w.write_all(&self.buf)?;
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| io::Error::other("pipe closed"))?;
        match tx.try_send(e) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(e)) => {
                // Everything queued must reach the server before we wait for its replies.
                self.w.flush()?;
                tx.send(e).map_err(|_| self.reader_failed())
            }
            Err(TrySendError::Disconnected(_)) => Err(self.reader_failed()),
        }
    }

    fn reader_failed(&mut self) -> io::Error {
        self.tx = None;
        match self.reader.take().map(|h| h.join()) {
            Some(Ok(Err(e))) => e,
            _ => io::Error::other("the reply reader stopped"),
        }
    }

    fn finish(mut self) -> io::Result<Tally> {
        self.w.flush()?;
        self.tx = None;
        match self.reader.take().map(|h| h.join()) {
            Some(Ok(r)) => r,
            _ => Err(io::Error::other("the reply reader panicked")),
        }
    }
}

fn show(k: &[u8]) -> String {
    amber_persist::rdb::error::show_key(k)
}

/// Streams the backup's entries to `f` (db, the decoded entry, its bytes in the RDB, the
/// RDB version), then checks both hashes.
fn for_each_entry(
    repo: &Repo,
    e: &Entry,
    bar: &mut Progress,
    mut f: impl FnMut(u64, RdbEntry, Option<&[u8]>, u32) -> io::Result<()>,
) -> Result<(), String> {
    let r = repo.reader(&e.object).map_err(|x| x.to_string())?;
    let mut unpack = Unpack::new(r).map_err(|x| x.to_string())?;
    {
        let rec = Rc::new(RefCell::new(cut::Recorded::default()));
        let tap = cut::Tap {
            inner: &mut unpack,
            rec: rec.clone(),
        };
        let mut dec = Decoder::new(tap).map_err(|x| x.to_string())?;
        let version = dec.version();
        let mut db = 0u64;
        let mut n = 0u64;
        loop {
            let item = dec
                .next()
                .map_err(|x| format!("the backup does not decode: {x}"))?;
            n += 1;
            if n % 256 == 0 {
                bar.update(dec.offset());
            }
            match item {
                Some(Item::SelectDb(d)) => db = d,
                Some(Item::Entry(ent)) => {
                    let end = dec.offset();
                    {
                        let held = rec.borrow();
                        let raw = held.slice(ent.offset, end);
                        f(db, ent, raw, version).map_err(|x| x.to_string())?;
                    }
                    rec.borrow_mut().release(end);
                }
                Some(Item::Eof { .. }) | None => break,
                Some(_) => {}
            }
        }
    }
    let (raw_n, raw_sha, _, stored_sha) = unpack.finish().map_err(|x| x.to_string())?;
    if stored_sha != e.stored_sha256 || raw_sha != e.raw_sha256 || raw_n != e.raw_size {
        return Err("the backup's SHA-256 differs from the catalog".into());
    }
    Ok(())
}

#[derive(Serialize)]
struct OnlineReport {
    ok: bool,
    backup: String,
    into: String,
    replace: bool,
    refused: bool,
    tally: Tally,
    expired_skipped: u64,
    /// RESTORE payloads cut from the RDB bytes as they are, and re-encoded ones (an RDB
    /// newer than Redis 7.0's version 10).
    payloads_cut: u64,
    payloads_reencoded: u64,
    seconds: f64,
    problem: Option<String>,
}

fn online(a: &Args, repo: &Repo, entry: &Entry, addr: &str) -> Result<Outcome, Failure> {
    let t0 = Instant::now();
    let mut c = backup::connect(addr, &a.auth, Duration::from_secs(30))?;
    let mut report = OnlineReport {
        ok: false,
        backup: entry.id.clone(),
        into: addr.to_string(),
        replace: a.replace,
        refused: false,
        tally: Tally::default(),
        expired_skipped: 0,
        payloads_cut: 0,
        payloads_reencoded: 0,
        seconds: 0.0,
        problem: None,
    };
    // Without --replace, look first: refusing halfway would leave a half-restored server.
    if !a.replace {
        let ks = match c.info("keyspace") {
            Ok(Ok(i)) => i,
            Ok(Err(e)) => return Err(Failure(format!("INFO keyspace: {e}"))),
            Err(e) => return Err(Failure(format!("{addr}: {e}"))),
        };
        let busy: Vec<u64> = entry
            .databases
            .iter()
            .map(|d| d.db)
            .filter(|db| ks.get(&format!("db{db}")).is_some())
            .collect();
        if !busy.is_empty() {
            let stream = c
                .writer
                .get_ref()
                .try_clone()
                .map_err(|e| Failure(e.to_string()))?;
            let mut pipe = Pipe::new(stream).map_err(|e| Failure(e.to_string()))?;
            let mut cur = u64::MAX;
            let mut bar = Progress::new("checking", entry.raw_size, a.quiet || a.json);
            for_each_entry(repo, entry, &mut bar, |db, e, _, _| {
                if !busy.contains(&db) {
                    return Ok(());
                }
                if db != cur {
                    pipe.cmd(&[b"SELECT", db.to_string().as_bytes()], Expect::Select(db))?;
                    cur = db;
                }
                pipe.cmd(&[b"EXISTS", &e.key], Expect::Exists(db, e.key.clone()))
            })
            .map_err(|e| Failure(format!("reading backup {}: {e}", entry.id)))?;
            bar.finish();
            let t = pipe.finish().map_err(|e| Failure(format!("{addr}: {e}")))?;
            if t.existing > 0 {
                report.refused = true;
                report.problem = Some(format!(
                    "{} of the backup's keys already exist in {addr} (BUSYKEY); nothing was restored. --replace overwrites them",
                    t.existing
                ));
                report.tally = t;
                report.seconds = t0.elapsed().as_secs_f64();
                return finish_online(a, report);
            }
        }
    }
    let stream = c
        .writer
        .get_ref()
        .try_clone()
        .map_err(|e| Failure(e.to_string()))?;
    let mut pipe = Pipe::new(stream).map_err(|e| Failure(e.to_string()))?;
    let now = catalog::now_ms();
    let mut cur = u64::MAX;
    let mut expired = 0u64;
    let opts = EncodeOptions::default();
    let limits = amber_store::Limits::default();
    let mut bar = Progress::new("restoring", entry.raw_size, a.quiet || a.json);
    let mut cut_n = 0u64;
    let mut reencoded = 0u64;
    let streamed = for_each_entry(repo, entry, &mut bar, |db, e, raw, version| {
        let ttl = match e.expire_ms {
            Some(t) if t <= now => {
                expired += 1;
                return Ok(());
            }
            Some(t) => t,
            None => 0,
        };
        if db != cur {
            pipe.cmd(&[b"SELECT", db.to_string().as_bytes()], Expect::Select(db))?;
            cur = db;
        }
        let payload = match raw.and_then(|b| cut::payload(b, version)) {
            Some(p) => {
                cut_n += 1;
                p
            }
            None => {
                reencoded += 1;
                create_dump(&to_value(e.value, &limits), &opts)
            }
        };
        let ttl = ttl.to_string();
        let mut args: Vec<&[u8]> = vec![b"RESTORE", &e.key, ttl.as_bytes(), &payload];
        if a.replace {
            args.push(b"REPLACE");
        }
        args.push(b"ABSTTL");
        let key = e.key.clone();
        pipe.cmd(&args, Expect::Restore(db, key))
    });
    bar.finish();
    let tally = pipe.finish();
    report.expired_skipped = expired;
    report.payloads_cut = cut_n;
    report.payloads_reencoded = reencoded;
    report.seconds = t0.elapsed().as_secs_f64();
    match tally {
        Ok(t) => report.tally = t,
        Err(e) => report.problem = Some(format!("{addr}: {e}")),
    }
    if let Err(e) = streamed {
        report.problem = Some(match report.problem.take() {
            Some(p) => format!("{e}; {p}"),
            None => e,
        });
    }
    if report.problem.is_none() && (report.tally.busy > 0 || report.tally.errors > 0) {
        report.problem = Some(format!(
            "{} keys already existed (BUSYKEY), {} RESTOREs failed",
            report.tally.busy, report.tally.errors
        ));
    }
    report.ok = report.problem.is_none();
    finish_online(a, report)
}

fn finish_online(a: &Args, r: OnlineReport) -> Result<Outcome, Failure> {
    if a.json {
        print_json(&r)?;
    } else {
        if r.refused {
            println!("REFUSED: {}", r.problem.as_deref().unwrap_or(""));
        } else {
            println!(
                "Restored {} keys from backup {} into {} in {:.1}s ({} already expired, skipped)",
                human::count(r.tally.restored),
                r.backup,
                r.into,
                r.seconds,
                human::count(r.expired_skipped)
            );
            if let Some(p) = &r.problem {
                println!("PROBLEM: {p}");
            }
        }
        for s in &r.tally.samples {
            println!("  {s}");
        }
    }
    Ok(if r.ok { Outcome::Ok } else { Outcome::Problem })
}
