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
    /// A pipeline on the connection of `c` (already authenticated).
    fn over(c: &Client) -> Result<Pipe, Failure> {
        let stream = c
            .writer
            .get_ref()
            .try_clone()
            .map_err(|e| Failure(e.to_string()))?;
        Pipe::new(stream).map_err(|e| Failure(e.to_string()))
    }

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

/// Streams the backup's entries to `f` (db, the decoded entry, its value's bytes in the RDB,
/// the RDB version), then checks both hashes.
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
        tally: Tally::default(),
        expired_skipped: 0,
        payloads_cut: 0,
        payloads_reencoded: 0,
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
            report.tally = t;
            report.seconds = t0.elapsed().as_secs_f64();
            return finish_online(a, report);
        }
    }
    let streamed = restore_all(a, &c, repo, entry, addr, &mut report)?;
    report.seconds = t0.elapsed().as_secs_f64();
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

/// EXISTS for every key of the backup in a database the server already has keys in: the
/// tally when some exist.
fn existing_keys(
    a: &Args,
    c: &mut Client,
    repo: &Repo,
    entry: &Entry,
    addr: &str,
) -> Result<Option<Tally>, Failure> {
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
    if busy.is_empty() {
        return Ok(None);
    }
    let mut pipe = Pipe::over(c)?;
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
    Ok((t.existing > 0).then_some(t))
}

/// RESTORE (ABSTTL) of every key not yet expired, pipelined, with the value's bytes cut from
/// the RDB when the server reads them as they are. The counts, the tally and a pipe failure
/// go into `report`; the error of reading the backup is returned.
fn restore_all(
    a: &Args,
    c: &Client,
    repo: &Repo,
    entry: &Entry,
    addr: &str,
    report: &mut OnlineReport,
) -> Result<Result<(), String>, Failure> {
    let mut pipe = Pipe::over(c)?;
    let now = catalog::now_ms();
    let mut cur = u64::MAX;
    let opts = EncodeOptions::default();
    let limits = amber_store::Limits::default();
    let mut bar = Progress::new("restoring", entry.raw_size, a.quiet || a.json);
    let (mut expired, mut cut_n, mut reencoded) = (0u64, 0u64, 0u64);
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
        let payload = match raw.and_then(|b| cut::payload(e.rdb_type, b, version)) {
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
    match tally {
        Ok(t) => report.tally = t,
        Err(e) => report.problem = Some(format!("{addr}: {e}")),
    }
    Ok(streamed)
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
