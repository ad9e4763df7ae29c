//! `amber check-rdb FILE`: decodes the whole file (CRC64 included) into counters, never into a
//! keyspace, and reports what it holds; on a problem, where (offset), what was being read, and
//! the last key read whole. Same spirit as redis-check-rdb.
//!
//! Every value is validated even when the CRC does not match, so a mismatch is reported with
//! what can be known: whether every entry still decodes, and, when exactly one changed byte
//! explains it, the offset and the key that holds it. `--salvage OUT` writes every entry that
//! decodes (up to the first structural error) into a new RDB with a correct CRC
//! (`amber_persist::rdb::salvage`).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use amber_persist::io::AtomicFile;
use amber_persist::rdb::error::show_key;
use amber_persist::rdb::salvage::{self, Checksum, Holder, Salvaged};
use amber_persist::rdb::{EncodeOptions, Encoder, Item, RdbType};
use amber_persist::PCode;
use amber_store::Limits;
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
    /// Write every key that decodes into a new RDB file OUT (with a correct CRC), up to the
    /// first structural error; report what was kept and lost. OUT must not exist.
    #[arg(long, value_name = "OUT")]
    salvage: Option<PathBuf>,
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
    /// `PCode::RdbCorrupt`'s label, or UNSUPPORTED for valid content Amber cannot hold.
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
    /// "ok" (verified), "disabled" (written with rdbchecksum no), "absent" (RDB version < 5),
    /// "mismatch", or null when not reached.
    checksum: Option<&'static str>,
    /// On a mismatch: the one changed byte that explains it, if there is one.
    changed_byte: Option<ChangedByteReport>,
    ok: bool,
    problem: Option<Problem>,
    salvage: Option<SalvageReport>,
}

#[derive(Serialize)]
struct ChangedByteReport {
    offset: u64,
    /// The byte now in the file, and the one that was written.
    current: Option<u8>,
    original: Option<u8>,
    /// The byte is in the stored checksum: the data is as written.
    in_trailer: bool,
    /// The key whose value (or name) holds the byte; null for the header, an AUX field or an
    /// opcode.
    key: Option<String>,
    db: Option<u64>,
}

#[derive(Serialize)]
struct SalvageReport {
    output: String,
    /// Keys written to `output`.
    kept: u64,
    /// Where the walk stopped (a structural error); null when it read the whole file.
    stopped_at: Option<u64>,
    /// Bytes of the input after the stop: whatever keys they held are lost.
    bytes_not_read: u64,
    /// Keys the file's RESIZEDB hints announced and the salvage did not keep (an estimate of
    /// the loss after a stop; 0 without hints).
    announced_not_kept: u64,
    /// Keys present twice in a database: the second one is dropped (Redis refuses them).
    duplicates_dropped: u64,
    duplicates: Vec<String>,
    /// The value that holds a located changed byte, kept as read (so altered).
    altered_key: Option<String>,
    /// What the kept values can be trusted for, in words.
    note: String,
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

/// Counts the bytes read, for the progress bar.
struct Counting<'a, R> {
    inner: R,
    n: &'a Cell<u64>,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n.set(self.n.get() + k as u64);
        Ok(k)
    }
}

pub fn run(a: Args) -> Result<Outcome, Failure> {
    let f = File::open(&a.file)
        .map_err(|e| Failure(format!("can't open {}: {e}", a.file.display())))?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut out = match &a.salvage {
        Some(o) => Some(open_output(&a.file, o)?),
        None => None,
    };
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
        changed_byte: None,
        ok: false,
        problem: None,
        salvage: None,
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let mut bar = Progress::new("checking", size, a.quiet || a.json);
    let read = Cell::new(0u64);
    let input = Counting {
        inner: BufReader::with_capacity(1 << 20, f),
        n: &read,
    };
    let walked = salvage::salvage(input, out.as_mut(), &Limits::default(), |item| {
        count(&mut report, item, now_ms);
        bar.update(read.get());
    });
    bar.finish();
    let walked = walked.map_err(|e| Failure(format!("reading {}: {e}", a.file.display())))?;
    judge(&mut report, &walked, &a.file)?;
    if let (Some(enc), Some(path)) = (out, &a.salvage) {
        report.salvage = Some(write_salvage(enc, path, &walked, &report, size)?);
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

/// The salvage output: a temp file beside OUT, renamed over it when complete. OUT must not
/// exist (nothing is overwritten in a recovery) and must not be the file checked.
fn open_output(input: &Path, out: &Path) -> Result<Encoder<AtomicFile>, Failure> {
    if out.exists() {
        return Err(Failure(format!(
            "{} exists: give --salvage a new file name (nothing is overwritten)",
            out.display()
        )));
    }
    let same = match (input.canonicalize(), out.parent()) {
        (Ok(i), Some(d)) => {
            let d = if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            };
            d.canonicalize()
                .map(|d| out.file_name().is_some_and(|n| d.join(n) == i))
                .unwrap_or(false)
        }
        _ => false,
    };
    if same {
        return Err(Failure(
            "--salvage needs a file other than the one checked".into(),
        ));
    }
    let f = AtomicFile::create(out, true)
        .map_err(|e| Failure(format!("can't create {}: {e}", out.display())))?;
    Encoder::new(f, EncodeOptions::default())
        .map_err(|e| Failure(format!("can't write {}: {e}", out.display())))
}

/// Counts one item into the report.
fn count(report: &mut Report, item: &Item, now_ms: i64) {
    match item {
        Item::Aux { key, value } => {
            report.aux.insert(
                String::from_utf8_lossy(key).into_owned(),
                String::from_utf8_lossy(value).into_owned(),
            );
        }
        Item::SelectDb(n) => report.databases.push(DbReport {
            db: *n,
            ..DbReport::default()
        }),
        Item::Entry(e) => {
            if report.databases.is_empty() {
                report.databases.push(DbReport::default());
            }
            let Some(d) = report.databases.last_mut() else {
                return;
            };
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
        }
        Item::ResizeDb { .. } | Item::Eof { .. } | Item::Function(_) => {}
    }
}

/// The verdict: the structural stop or the checksum, and the changed byte located.
fn judge(report: &mut Report, w: &Salvaged, file: &Path) -> Result<(), Failure> {
    report.rdb_version = (w.version > 0).then_some(w.version);
    let after_key = w.last_key.as_ref().map(|(_, k)| show_key(k));
    if let Some(stop) = &w.stop {
        report.problem = Some(Problem {
            code: if stop.unsupported {
                "UNSUPPORTED"
            } else {
                PCode::RdbCorrupt.label()
            },
            offset: stop.offset,
            message: stop.message.clone(),
            after_key,
        });
        return Ok(());
    }
    report.checksum = Some(match &w.checksum {
        Checksum::Ok => "ok",
        Checksum::NotStored => "disabled",
        Checksum::NotInFormat => "absent",
        Checksum::NotReached => return Ok(()),
        Checksum::Mismatch { .. } => "mismatch",
    });
    let Checksum::Mismatch {
        stored,
        computed,
        changed_byte,
    } = &w.checksum
    else {
        report.ok = true;
        return Ok(());
    };
    report.problem = Some(Problem {
        code: PCode::RdbCorrupt.label(),
        offset: w.eof_offset.map_or(0, |o| o + 1),
        message: format!("RDB checksum mismatch: stored {stored:016x}, computed {computed:016x}"),
        after_key,
    });
    if let Some(cb) = changed_byte {
        let current = byte_at(file, cb.offset);
        let holder = if cb.in_trailer {
            Holder::Other
        } else {
            File::open(file)
                .ok()
                .and_then(|f| salvage::entry_at(BufReader::new(f), cb.offset).ok())
                .unwrap_or(Holder::Other)
        };
        let (key, db) = match holder {
            Holder::Entry { db, key, .. } => (Some(show_key(&key)), Some(db)),
            Holder::Other => (None, None),
        };
        report.changed_byte = Some(ChangedByteReport {
            offset: cb.offset,
            current,
            original: current.map(|c| c ^ cb.xor),
            in_trailer: cb.in_trailer,
            key,
            db,
        });
    }
    Ok(())
}

fn byte_at(file: &Path, offset: u64) -> Option<u8> {
    use std::os::unix::fs::FileExt;
    let mut b = [0u8; 1];
    File::open(file).ok()?.read_exact_at(&mut b, offset).ok()?;
    Some(b[0])
}

/// Finishes the salvaged file (EOF, CRC, fsync, rename) and says what it holds.
fn write_salvage(
    enc: Encoder<AtomicFile>,
    path: &Path,
    w: &Salvaged,
    report: &Report,
    size: u64,
) -> Result<SalvageReport, Failure> {
    let f = enc
        .finish()
        .map_err(|e| Failure(format!("can't write {}: {e}", path.display())))?;
    f.commit()
        .map_err(|e| Failure(format!("can't write {}: {e}", path.display())))?;
    let altered = report
        .changed_byte
        .as_ref()
        .filter(|c| !c.in_trailer)
        .and_then(|c| c.key.clone());
    Ok(SalvageReport {
        output: path.display().to_string(),
        kept: w.kept_total(),
        stopped_at: w.stop.as_ref().map(|s| s.offset),
        bytes_not_read: w.stop.as_ref().map_or(0, |s| size.saturating_sub(s.offset)),
        announced_not_kept: w.announced_not_kept(),
        duplicates_dropped: w.duplicates_dropped,
        duplicates: w
            .duplicates
            .iter()
            .map(|(db, k)| format!("{} (DB {db})", show_key(k)))
            .collect(),
        altered_key: altered,
        note: trust_note(w, report, size),
    })
}

/// What the kept values can be trusted for: said plainly, since the CRC covers the whole
/// file and a changed byte inside a string still decodes.
fn trust_note(w: &Salvaged, report: &Report, size: u64) -> String {
    let packed = "listpack, ziplist, intset and LZF values check their own structure, but the bytes of a string are not checked by anything but the file's CRC";
    if w.stop.is_some() {
        return format!("The walk stopped at a structural error and could not reach the CRC at the end, so the kept keys cannot be verified against it: they decode ({packed}). Keys after the stop are lost: an RDB has no markers to resume at safely.");
    }
    match (&w.checksum, &report.changed_byte) {
        (Checksum::Ok, _) => "The checksum matched: every kept key is as written.".into(),
        (Checksum::NotStored | Checksum::NotInFormat, _) => {
            format!("The file has no checksum: the kept keys decode ({packed}), their bytes cannot be verified.")
        }
        (_, Some(c)) if c.in_trailer => {
            "Only the stored checksum is damaged (one byte of it): the data is as written.".into()
        }
        (_, Some(c)) => format!(
            "One changed byte explains the checksum mismatch (offset {}), inside {}: that value is kept as read, so it is altered. Every other key is as written, unless more than one byte changed and by chance looked like one (odds about 1 in {}).",
            c.offset,
            c.key
                .as_ref()
                .map_or("no key (the header, an AUX field or an opcode)".to_string(), |k| format!("key '{k}'")),
            odds(size)
        ),
        _ => format!("No single changed byte explains the checksum mismatch: more than one byte differs from what was written. Every kept key decodes ({packed}), so any value may hold altered bytes and nothing in the file tells which: compare with a backup before trusting them."),
    }
}

/// About 2^64 / (size * 255), the odds against a larger damage looking like one byte.
fn odds(size: u64) -> String {
    let x = 2f64.powi(64) / (size.max(1) as f64 * 255.0);
    format!("10^{}", x.log10().floor() as i64)
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
                Some("absent") => {
                    println!("Checksum not verified: RDB versions before 5 have none")
                }
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
            if r.checksum == Some("mismatch") {
                print_mismatch(r);
            } else {
                match &p.after_key {
                    Some(k) => println!("  the last key read whole was '{k}'"),
                    None => println!("  no key was read whole before the problem"),
                }
            }
            if r.checksum != Some("mismatch") {
                println!(
                    "  read before the problem: {} keys in {} databases",
                    human::count(r.keys),
                    r.databases.len()
                );
            }
            println!("RDB is NOT OK");
        }
    }
    if let Some(s) = &r.salvage {
        print_salvage(s);
    }
}

/// A checksum mismatch: every entry decoded; what the CRC says about where.
fn print_mismatch(r: &Report) {
    println!("  every key decodes: the damage does not break the file's structure");
    match &r.changed_byte {
        Some(c) if c.in_trailer => println!(
            "  one changed byte explains it, in the stored checksum itself (offset {}): the data is as written",
            c.offset
        ),
        Some(c) => {
            let was = match (c.current, c.original) {
                (Some(now), Some(orig)) => format!(": 0x{now:02x}, written as 0x{orig:02x}"),
                _ => String::new(),
            };
            let place = match (&c.key, c.db) {
                (Some(k), Some(db)) => format!("inside key '{k}' (DB {db}): that value is altered, the other keys are as written"),
                _ => "outside any key (the header, an AUX field or an opcode): the keys are as written".into(),
            };
            println!("  one changed byte explains it, at offset {}{was}", c.offset);
            println!("  {place}");
        }
        None => {
            println!("  no single changed byte explains it: more than one byte changed, and any value");
            println!("  may hold altered bytes (a changed byte inside a string still decodes); nothing");
            println!("  in the file tells which");
        }
    }
    println!("  the server loads it only with rdbchecksum no; `amber check-rdb FILE --salvage OUT` copies the keys into a new file");
}

fn print_salvage(s: &SalvageReport) {
    println!("Salvaged {} keys into {}", human::count(s.kept), s.output);
    if let Some(at) = s.stopped_at {
        println!(
            "  stopped at offset {at}: the {} after it are lost{}",
            human::size(s.bytes_not_read),
            if s.announced_not_kept > 0 {
                format!(
                    " (the file announced {} more keys)",
                    human::count(s.announced_not_kept)
                )
            } else {
                String::new()
            }
        );
    }
    if s.duplicates_dropped > 0 {
        println!(
            "  {} duplicated keys dropped (the first kept): {}",
            human::count(s.duplicates_dropped),
            s.duplicates.join(", ")
        );
    }
    if let Some(k) = &s.altered_key {
        println!("  kept as read, altered: '{k}'");
    }
    println!("  {}", s.note);
}
