//! `amber check-rdb FILE`: decodes the whole file (CRC64 included) into counters, never into a
//! keyspace, and reports what it holds; on a problem, where (offset), what was being read, and
//! the last key read whole. Same spirit as redis-check-rdb.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use amber_persist::rdb::{Decoder, Item, RdbError, RdbType};
use serde::Serialize;

use crate::{human, progress::Progress, Failure, Outcome};

#[derive(clap::Args)]
pub struct Args {
    /// The RDB file (dump.rdb, or an AOF base `*.base.rdb`).
    file: PathBuf,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Serialize, Default)]
struct DbReport {
    db: u64,
    keys: u64,
    expires: u64,
    already_expired: u64,
    /// Keys per logical type (string, list, set, zset, hash).
    types: BTreeMap<&'static str, u64>,
    /// Keys per encoding in the file (hash listpack, set intset, ...).
    encodings: BTreeMap<&'static str, u64>,
}

#[derive(Serialize)]
struct Problem {
    /// P002 RDB_CORRUPT, or UNSUPPORTED for valid content Amber cannot hold.
    code: &'static str,
    offset: u64,
    message: String,
    /// The last key read whole before the problem, to find the spot in a large file.
    after_key: Option<String>,
}

#[derive(Serialize)]
struct Report {
    file: String,
    size: u64,
    rdb_version: Option<u32>,
    aux: BTreeMap<String, String>,
    databases: Vec<DbReport>,
    keys: u64,
    expires: u64,
    already_expired: u64,
    /// "ok" (verified), "disabled" (written with rdbchecksum no), or null when not reached.
    checksum: Option<&'static str>,
    ok: bool,
    problem: Option<Problem>,
}

/// The logical type of an RDB value type.
pub fn logical_type(t: RdbType) -> &'static str {
    use RdbType::*;
    match t {
        String => "string",
        List | ListZiplist | ListQuicklist | ListQuicklist2 => "list",
        Set | SetIntset | SetListpack => "set",
        ZSet | ZSet2 | ZSetZiplist | ZSetListpack => "zset",
        Hash | HashZipmap | HashZiplist | HashListpack => "hash",
        _ => "other",
    }
}

struct Counting<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n += k as u64;
        Ok(k)
    }
}

pub fn run(a: Args) -> Result<Outcome, Failure> {
    let f = File::open(&a.file)
        .map_err(|e| Failure(format!("can't open {}: {e}", a.file.display())))?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut report = Report {
        file: a.file.display().to_string(),
        size,
        rdb_version: None,
        aux: BTreeMap::new(),
        databases: Vec::new(),
        keys: 0,
        expires: 0,
        already_expired: 0,
        checksum: None,
        ok: false,
        problem: None,
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let mut bar = Progress::new("checking", size, a.quiet || a.json);
    let mut last_key: Option<Vec<u8>> = None;
    let result = check(
        Counting {
            inner: BufReader::with_capacity(1 << 20, f),
            n: 0,
        },
        &mut report,
        now_ms,
        &mut last_key,
        &mut bar,
    );
    bar.finish();
    if let Err(e) = result {
        let (code, offset) = match &e {
            RdbError::Corrupt { offset, .. } => ("P002 RDB_CORRUPT", *offset),
            RdbError::Unsupported { offset, .. } => ("UNSUPPORTED", *offset),
            RdbError::Io(_) => ("P002 RDB_CORRUPT", 0),
        };
        if let RdbError::Io(io) = &e {
            if io.kind() != std::io::ErrorKind::UnexpectedEof {
                return Err(Failure(format!("reading {}: {io}", a.file.display())));
            }
        }
        report.problem = Some(Problem {
            code,
            offset,
            message: e.to_string(),
            after_key: last_key.map(|k| amber_persist::rdb::error::show_key(&k)),
        });
    } else {
        report.ok = true;
    }
    if a.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => return Err(Failure(format!("can't write JSON: {e}"))),
        }
    } else {
        print_text(&report);
    }
    Ok(if report.ok {
        Outcome::Ok
    } else {
        Outcome::Problem
    })
}

fn check<R: Read>(
    r: Counting<R>,
    report: &mut Report,
    now_ms: i64,
    last_key: &mut Option<Vec<u8>>,
    bar: &mut Progress,
) -> Result<(), RdbError> {
    let mut dec = Decoder::new(r)?;
    report.rdb_version = Some(dec.version());
    let mut db: Option<usize> = None;
    loop {
        bar.update(dec.offset());
        let Some(item) = dec.next()? else {
            return Err(RdbError::corrupt(
                dec.offset(),
                "the file ends without the EOF marker",
            ));
        };
        match item {
            Item::Aux { key, value } => {
                report.aux.insert(
                    String::from_utf8_lossy(&key).into_owned(),
                    String::from_utf8_lossy(&value).into_owned(),
                );
            }
            Item::SelectDb(n) => {
                report.databases.push(DbReport {
                    db: n,
                    ..DbReport::default()
                });
                db = Some(report.databases.len() - 1);
            }
            Item::ResizeDb { .. } => {}
            Item::Entry(e) => {
                let i = match db {
                    Some(i) => i,
                    None => {
                        report.databases.push(DbReport::default());
                        let i = report.databases.len() - 1;
                        db = Some(i);
                        i
                    }
                };
                let d = &mut report.databases[i];
                d.keys += 1;
                report.keys += 1;
                if let Some(t) = e.expire_ms {
                    d.expires += 1;
                    report.expires += 1;
                    if t < now_ms {
                        d.already_expired += 1;
                        report.already_expired += 1;
                    }
                }
                if let Some(t) = RdbType::from_u8(e.rdb_type) {
                    *d.types.entry(logical_type(t)).or_default() += 1;
                    *d.encodings.entry(t.name()).or_default() += 1;
                }
                *last_key = Some(e.key);
            }
            Item::Eof { stored_crc, .. } => {
                report.checksum = Some(match stored_crc {
                    Some(c) if c != 0 => "ok",
                    _ => "disabled",
                });
                return Ok(());
            }
        }
    }
}

fn print_text(r: &Report) {
    println!("Checking RDB file {} ({})", r.file, human::size(r.size));
    if let Some(v) = r.rdb_version {
        println!("RDB version {v}");
    }
    for (k, v) in &r.aux {
        println!("  aux {k} = '{v}'");
    }
    for d in &r.databases {
        let types: Vec<String> = d
            .types
            .iter()
            .map(|(t, n)| format!("{t} {}", human::count(*n)))
            .collect();
        println!(
            "DB {}: {} keys ({}), {} with expiry, {} already expired",
            d.db,
            human::count(d.keys),
            types.join(", "),
            human::count(d.expires),
            human::count(d.already_expired)
        );
        let encs: Vec<String> = d
            .encodings
            .iter()
            .map(|(t, n)| format!("{t} {}", human::count(*n)))
            .collect();
        println!("  encodings: {}", encs.join(", "));
    }
    match &r.problem {
        None => {
            match r.checksum {
                Some("ok") => println!("Checksum OK"),
                _ => println!("Checksum not verified: the file was written with rdbchecksum no"),
            }
            println!(
                "RDB looks OK: {} keys, {} with expiry, {} already expired",
                human::count(r.keys),
                human::count(r.expires),
                human::count(r.already_expired)
            );
        }
        Some(p) => {
            println!("{}: {}", p.code, p.message);
            match &p.after_key {
                Some(k) => println!("  the last key read whole was '{k}'"),
                None => println!("  no key was read whole before the problem"),
            }
            println!(
                "  read before the problem: {} keys in {} databases",
                human::count(r.keys),
                r.databases.len()
            );
            println!("RDB is NOT OK");
        }
    }
}
