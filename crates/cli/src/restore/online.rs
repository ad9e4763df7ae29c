//! `amber restore ID --into HOST:PORT`: RESTORE per key into a running server, pipelined
//! with a bounded number of commands in flight (replies read on another thread), absolute
//! TTLs, and a progress bar over the backup's bytes.

use std::cell::RefCell;
use std::io::{self, BufReader, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use amber_persist::rdb::{create_dump, to_value, Decoder, EncodeOptions, Item, RdbEntry};
use serde::Serialize;

use super::offline::Want;
use super::pick::Skipped;
use super::{cut, Args};
use crate::backup::catalog::{self, Entry};
use crate::backup::repo::Repo;
use crate::backup::stream::Unpack;
use crate::backup::{self, print_json};
use amber_resp::encode_command;

use crate::client::{read_reply, Client, Reply};
use crate::progress::Progress;
use crate::{human, Failure, Outcome};

/// What the reply to a pipelined command is about.
enum Expect {
    Select(u64),
    Restore(u64, Vec<u8>),
    Exists(u64, Vec<u8>),
}

#[derive(Default, Serialize)]
pub(super) struct Tally {
    pub(super) restored: u64,
    busy: u64,
    existing: u64,
    errors: u64,
    /// A few keys and messages, to see what went wrong.
    pub(super) samples: Vec<String>,
}

impl Tally {
    fn sample(&mut self, s: String) {
        if self.samples.len() < 10 {
            self.samples.push(s);
        }
    }
}

/// Commands written on this thread, replies read on another; the channel bounds how many
/// are in flight. Each reply goes with what was expected of it (`E`) to the reader's
/// handler, which tallies into `T`.
pub(super) struct Pipe<E, T> {
    w: io::BufWriter<TcpStream>,
    tx: Option<SyncSender<E>>,
    reader: Option<JoinHandle<io::Result<T>>>,
    buf: Vec<u8>,
}

const IN_FLIGHT: usize = 1000;

impl<E: Send + 'static, T: Default + Send + 'static> Pipe<E, T> {
    /// A pipeline on the connection of `c` (already authenticated).
    pub(super) fn over(
        c: &Client,
        handle: impl FnMut(E, Reply, &mut T) -> io::Result<()> + Send + 'static,
    ) -> Result<Self, Failure> {
        let stream = c
            .writer
            .get_ref()
            .try_clone()
            .map_err(|e| Failure(e.to_string()))?;
        Self::new(stream, handle).map_err(|e| Failure(e.to_string()))
    }

    fn new(
        stream: TcpStream,
        mut handle: impl FnMut(E, Reply, &mut T) -> io::Result<()> + Send + 'static,
    ) -> io::Result<Self> {
        stream.set_read_timeout(Some(Duration::from_secs(300)))?;
        let r = stream.try_clone()?;
        let (tx, rx) = mpsc::sync_channel::<E>(IN_FLIGHT);
        let reader = std::thread::Builder::new()
            .name("replies".into())
            .spawn(move || {
                let mut r = BufReader::with_capacity(1 << 16, r);
                let mut t = T::default();
                while let Ok(e) = rx.recv() {
                    let reply = read_reply(&mut r)?;
                    handle(e, reply, &mut t)?;
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

    pub(super) fn cmd(&mut self, args: &[&[u8]], e: E) -> io::Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        encode_command(&mut buf, args);
        let sent = self.raw(&buf, e);
        self.buf = buf;
        sent
    }

    /// A command already encoded (RESP), whose one reply `e` describes.
    pub(super) fn raw(&mut self, bytes: &[u8], e: E) -> io::Result<()> {
        self.w.write_all(bytes)?;
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

    pub(super) fn finish(mut self) -> io::Result<T> {
        self.w.flush()?;
        self.tx = None;
        match self.reader.take().map(|h| h.join()) {
            Some(Ok(r)) => r,
            _ => Err(io::Error::other("the reply reader panicked")),
        }
    }
}

/// The replies to SELECT, RESTORE and EXISTS.
fn restore_reply(e: Expect, reply: Reply, t: &mut Tally) -> io::Result<()> {
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
    Ok(())
}

fn show(k: &[u8]) -> String {
    amber_persist::rdb::error::show_key(k)
}

/// Streams the backup's entries to `f` (db, the decoded entry, its value's bytes in the RDB,
/// the RDB version), then checks both hashes.
fn for_each_entry(
    repo: &Repo,
    e: &Want,
    bar: &mut Progress,
    mut f: impl FnMut(u64, RdbEntry, Option<&[u8]>, u32) -> io::Result<()>,
) -> Result<(), String> {
    let r = repo.reader(e.object).map_err(|x| x.to_string())?;
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
                        let raw = held.slice(ent.value_offset, end);
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

/// What RESTOREing an RDB's keys did.
#[derive(Serialize, Default)]
pub(super) struct Restored {
    pub(super) tally: Tally,
    pub(super) expired_skipped: u64,
    /// RESTORE payloads cut from the RDB bytes as they are, and re-encoded ones (an RDB
    /// newer than Redis 7.0's version 10).
    pub(super) payloads_cut: u64,
    pub(super) payloads_reencoded: u64,
    /// Keys restored per database.
    #[serde(skip)]
    pub(super) per_db: std::collections::BTreeMap<u64, u64>,
    /// The soonest TTL among the keys restored (Unix ms).
    #[serde(skip)]
    pub(super) first_expiry: Option<i64>,
}

#[derive(Serialize)]
struct OnlineReport {
    ok: bool,
    backup: String,
    into: String,
    replace: bool,
    refused: bool,
    #[serde(flatten)]
    keys: Restored,
    seconds: f64,
    problem: Option<String>,
    /// Newer backups `latest` passed over, and why.
    skipped: Vec<Skipped>,
}

pub(super) fn run(
    a: &Args,
    repo: &Repo,
    entry: &Entry,
    addr: &str,
    skipped: Vec<Skipped>,
) -> Result<Outcome, Failure> {
    let t0 = Instant::now();
    let mut c = backup::connect(addr, &a.auth, Duration::from_secs(30))?;
    let mut report = OnlineReport {
        ok: false,
        backup: entry.id.clone(),
        into: addr.to_string(),
        replace: a.replace,
        refused: false,
        keys: Restored::default(),
        seconds: 0.0,
        problem: None,
        skipped,
    };
    // Without --replace, look first: refusing halfway would leave a half-restored server.
    if !a.replace {
        if let Some(t) = existing_keys(a, &mut c, repo, entry, addr)? {
            report.refused = true;
            report.problem = Some(format!(
                "{} of the backup's keys already exist in {addr} (BUSYKEY); nothing was restored. --replace overwrites them",
                t.existing
            ));
            report.keys.tally = t;
            report.seconds = t0.elapsed().as_secs_f64();
            return finish_online(a, report);
        }
    }
    let (keys, problem) = restore_all(a, &c, repo, &want(entry), addr)?;
    report.keys = keys;
    report.problem = problem;
    report.seconds = t0.elapsed().as_secs_f64();
    report.ok = report.problem.is_none();
    finish_online(a, report)
}

/// EXISTS for every key of the backup in a database the server already has keys in: the
/// tally when some exist.
fn existing_keys(
    a: &Args,
    c: &mut Client,
    repo: &Repo,
    entry: &Entry,
    addr: &str,
) -> Result<Option<Tally>, Failure> {
    let holding = keyspace(c, addr)?;
    let busy: Vec<u64> = entry
        .databases
        .iter()
        .map(|d| d.db)
        .filter(|db| holding.contains_key(db))
        .collect();
    if busy.is_empty() {
        return Ok(None);
    }
    let mut pipe = Pipe::over(c, restore_reply)?;
    let mut cur = u64::MAX;
    let mut bar = Progress::new("checking", entry.raw_size, a.quiet || a.json);
    for_each_entry(repo, &want(entry), &mut bar, |db, e, _, _| {
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
    Ok((t.existing > 0).then_some(t))
}

/// The databases of the server at `c` that hold keys, and how many (INFO keyspace).
pub(super) fn keyspace(
    c: &mut Client,
    addr: &str,
) -> Result<std::collections::BTreeMap<u64, u64>, Failure> {
    let ks = match c.info("keyspace") {
        Ok(Ok(i)) => i,
        Ok(Err(e)) => return Err(Failure(format!("INFO keyspace: {e}"))),
        Err(e) => return Err(Failure(format!("{addr}: {e}"))),
    };
    let mut out = std::collections::BTreeMap::new();
    for (k, v) in &ks.fields {
        if let Some(db) = k.strip_prefix("db").and_then(|d| d.parse().ok()) {
            let keys = v
                .split(',')
                .find_map(|f| f.strip_prefix("keys="))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            out.insert(db, keys);
        }
    }
    Ok(out)
}

fn want(e: &Entry) -> Want<'_> {
    Want {
        object: &e.object,
        raw_size: e.raw_size,
        raw_sha256: &e.raw_sha256,
        stored_sha256: &e.stored_sha256,
    }
}

/// RESTORE (ABSTTL) of every key of the RDB `rdb` not yet expired, pipelined, with the
/// value's bytes cut from the RDB when the server reads them as they are: the counts, and
/// what went wrong (reading the RDB, the connection, BUSYKEY or other RESTORE errors).
pub(super) fn restore_all(
    a: &Args,
    c: &Client,
    repo: &Repo,
    rdb: &Want,
    addr: &str,
) -> Result<(Restored, Option<String>), Failure> {
    let mut pipe = Pipe::over(c, restore_reply)?;
    let now = catalog::now_ms();
    let mut cur = u64::MAX;
    let opts = EncodeOptions::default();
    let limits = amber_store::Limits::default();
    let mut bar = Progress::new("restoring", rdb.raw_size, a.quiet || a.json);
    let mut done = Restored::default();
    let streamed = for_each_entry(repo, rdb, &mut bar, |db, e, raw, version| {
        let ttl = match e.expire_ms {
            Some(t) if t <= now => {
                done.expired_skipped += 1;
                return Ok(());
            }
            Some(t) => {
                done.first_expiry = Some(done.first_expiry.map_or(t, |f| f.min(t)));
                t
            }
            None => 0,
        };
        if db != cur {
            pipe.cmd(&[b"SELECT", db.to_string().as_bytes()], Expect::Select(db))?;
            cur = db;
        }
        let payload = match raw.and_then(|b| cut::payload(e.rdb_type, b, version)) {
            Some(p) => {
                done.payloads_cut += 1;
                p
            }
            None => {
                done.payloads_reencoded += 1;
                create_dump(&to_value(e.value, &limits), &opts)
            }
        };
        *done.per_db.entry(db).or_insert(0) += 1;
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
    let mut problem = match pipe.finish() {
        Ok(t) => {
            done.tally = t;
            None
        }
        Err(e) => Some(format!("{addr}: {e}")),
    };
    if let Err(e) = streamed {
        problem = Some(match problem {
            Some(p) => format!("{e}; {p}"),
            None => e,
        });
    }
    if problem.is_none() && (done.tally.busy > 0 || done.tally.errors > 0) {
        problem = Some(format!(
            "{} keys already existed (BUSYKEY), {} RESTOREs failed",
            done.tally.busy, done.tally.errors
        ));
    }
    Ok((done, problem))
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
                human::count(r.keys.tally.restored),
                r.backup,
                r.into,
                r.seconds,
                human::count(r.keys.expired_skipped)
            );
            if let Some(p) = &r.problem {
                println!("PROBLEM: {p}");
            }
        }
        for s in &r.keys.tally.samples {
            println!("  {s}");
        }
    }
    Ok(if r.ok { Outcome::Ok } else { Outcome::Problem })
}
