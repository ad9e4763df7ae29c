//! `amber backup create`: a snapshot of a running server into the repository, taken from a
//! BGSAVE on this machine (`--local`) or over the replication protocol, decoded while it
//! streams. The catalog entry is written last: a backup exists only once it is complete.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use amber_persist::rdb::RdbError;
use serde::Serialize;

use super::catalog::{self, Entry, Source};
use super::repo::{ObjectWriter, Repo};
use super::stream::{self, Taken};
use super::{connect, local, print_entry, print_json, sync, CreateArgs};
use crate::client::{Client, Info};
use crate::progress::Progress;
use crate::{human, Failure, Outcome};

#[derive(Serialize)]
struct CreateReport<'a> {
    ok: bool,
    entry: Option<&'a Entry>,
    problem: Option<String>,
}

/// The backup being taken: its id, when it started, the object its data goes to.
struct Job {
    id: String,
    started_ms: i64,
    started: Instant,
    data_key: String,
}

/// What was taken: where from, the stream's hashes and verdict, and the data object written
/// but not yet published.
type Snapshot<'r> = (Source, Taken, ObjectWriter<'r>);

pub(super) fn create(a: CreateArgs) -> Result<Outcome, Failure> {
    if !a.local && a.from.is_none() {
        return Err(Failure(
            "give --from HOST:PORT (or --local for a server on this machine)".into(),
        ));
    }
    let repo = Repo::open(&a.repo, true)?;
    let addr = a
        .from
        .clone()
        .unwrap_or_else(|| "127.0.0.1:6379".to_string());
    let started_ms = catalog::now_ms();
    let id = catalog::new_id(started_ms);
    let job = Job {
        data_key: Entry::data_key(&id),
        id,
        started_ms,
        started: Instant::now(),
    };
    let mut c = connect(&addr, &a.auth, Duration::from_secs(30))?;
    let snapshot = if a.local {
        take_local(&a, &mut c, &addr, &repo, &job.data_key)?
    } else {
        Some(take_network(&a, &mut c, &addr, &repo, &job.data_key)?)
    };
    drop(c);
    match snapshot {
        Some(s) => store(&a, &repo, &job, s),
        None => Ok(Outcome::Problem),
    }
}

/// Says that no backup was made, and why (`what`: taken, stored).
fn not_made(a: &CreateArgs, what: &str, problem: String) -> Result<(), Failure> {
    if a.json {
        print_json(&CreateReport {
            ok: false,
            entry: None,
            problem: Some(problem.clone()),
        })?;
    }
    eprintln!("amber: backup not {what}: {problem}");
    Ok(())
}

fn timeout(a: &CreateArgs) -> Duration {
    Duration::from_secs(a.timeout.max(1))
}

fn writer<'r>(repo: &'r Repo, data_key: &str) -> Result<ObjectWriter<'r>, Failure> {
    repo.writer(data_key)
        .map_err(|e| Failure(format!("can't store into {}: {e}", repo.location)))
}

/// `--local`: BGSAVE, then copy the server's dump file, again when a save replaced it during
/// the copy (three tries). `None` when the save failed (already reported).
fn take_local<'r>(
    a: &CreateArgs,
    c: &mut Client,
    addr: &str,
    repo: &'r Repo,
    data_key: &str,
) -> Result<Option<Snapshot<'r>>, Failure> {
    let info = match c.info("server") {
        Ok(Ok(i)) => i,
        Ok(Err(e)) => return Err(Failure(format!("INFO server: {e}"))),
        Err(e) => return Err(Failure(format!("{addr}: {e}"))),
    };
    let dbfilename = match &a.dbfilename {
        Some(n) => n.clone(),
        None => config_get(c, "dbfilename").unwrap_or_else(|| "dump.rdb".into()),
    };
    let dir = local_dir(c, addr, a.dir.as_deref())?;
    let save_took = match local::bgsave_and_wait(c, &dir, timeout(a)) {
        Ok(t) => t,
        Err(e) => {
            let msg = format!("{} {}", e.code.code(), e.message);
            not_made(a, "taken", msg)?;
            return Ok(None);
        }
    };
    if !a.json && !a.quiet {
        eprintln!("BGSAVE done in {:.1}s", save_took.as_secs_f64());
    }
    let path = dir.join(&dbfilename);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (f, st) = local::open_checked(&path)
            .map_err(|e| Failure(format!("can't open {}: {e}", path.display())))?;
        let mut bar = Progress::new(
            "copying",
            f.metadata().map(|m| m.len()).unwrap_or(0),
            a.quiet || a.json,
        );
        let w = writer(repo, data_key)?;
        let mut src = std::io::BufReader::with_capacity(1 << 20, f);
        let (taken, w) = stream::take(&mut src, w, a.zstd_level, &mut bar)
            .map_err(|e| Failure(format!("copying {}: {e}", path.display())))?;
        bar.finish();
        match local::still_same(&path, st, &taken.raw_sha256) {
            Ok(Ok(())) => {
                let mut s = source_from_info(addr, "local", &info);
                s.file = Some(path.display().to_string());
                return Ok(Some((s, taken, w)));
            }
            Ok(Err(why)) if attempt < 3 => {
                drop(w);
                eprintln!("amber: {why}; copying again");
            }
            Ok(Err(why)) => return Err(Failure(why)),
            Err(e) => return Err(Failure(format!("re-reading {}: {e}", path.display()))),
        }
    }
}

/// The server's directory, as this machine sees it (`--local` means the server runs here,
/// whatever address reaches it); `given` (--dir) must be that same directory.
fn local_dir(c: &mut Client, addr: &str, given: Option<&Path>) -> Result<PathBuf, Failure> {
    let server_dir = config_get(c, "dir").map(PathBuf::from);
    match crate::doctor::local::data_dir(true, server_dir.as_deref(), given) {
        Some((dir, own)) => match &server_dir {
            Some(sd) if !own => Err(Failure(format!(
                "{addr} saves into {}, not {}: is --dir right?",
                sd.display(),
                dir.display()
            ))),
            _ => Ok(dir),
        },
        None => Err(Failure(match &server_dir {
            Some(sd) => format!(
                "{addr} saves into {}, which is not a directory on this machine: is the server local? (else give --dir DATA_DIR)",
                sd.display()
            ),
            None => {
                format!("{addr} did not tell its directory (CONFIG GET dir): give --dir DATA_DIR")
            }
        })),
    }
}

/// `--from`: the snapshot a replica would get (SYNC / PSYNC with rdb-only).
fn take_network<'r>(
    a: &CreateArgs,
    c: &mut Client,
    addr: &str,
    repo: &'r Repo,
    data_key: &str,
) -> Result<Snapshot<'r>, Failure> {
    let hs = match sync::start(c, a.disk_sync, timeout(a)) {
        Ok(h) => h,
        Err(sync::SyncError::Refused(e)) => {
            let hint = if e.contains("unknown command") {
                " (this server has no replication; for a server on this machine use --local)"
            } else {
                ""
            };
            return Err(Failure(format!("{addr} refused the snapshot: {e}{hint}")));
        }
        Err(sync::SyncError::Io(e)) => {
            return Err(Failure(format!("{addr}: handshake failed: {e}")))
        }
    };
    let total = match hs.transfer {
        sync::Transfer::Length(n) => n,
        sync::Transfer::Mark(_) => 0,
    };
    let mut s = source_from_info(addr, "network", &hs.info);
    s.replid = hs.replid.clone();
    s.repl_offset = hs.offset;
    if !hs.rdb_only && !a.quiet && !a.json {
        eprintln!("amber: the server does not know REPLCONF rdb-only; it will stream commands after the snapshot (ignored)");
    }
    let mut bar = Progress::new("receiving", total, a.quiet || a.json);
    let w = writer(repo, data_key)?;
    let mut payload = sync::Payload::new(&mut c.reader, hs.transfer);
    let (taken, w) = stream::take(&mut payload, w, a.zstd_level, &mut bar)
        .map_err(|e| Failure(format!("receiving the snapshot from {addr}: {e}")))?;
    bar.finish();
    Ok((s, taken, w))
}

/// Publishes the data object and then the catalog entry, unless the snapshot is not an RDB
/// (content amber cannot decode is stored, marked unverified).
fn store(a: &CreateArgs, repo: &Repo, job: &Job, snapshot: Snapshot) -> Result<Outcome, Failure> {
    let (source, taken, sink) = snapshot;
    let (summary, problem) = match &taken.summary {
        Ok(s) => (Some(s.clone()), None),
        Err(e @ RdbError::Unsupported { .. }) => (None, Some(e.to_string())),
        Err(e) => {
            drop(sink);
            not_made(a, "stored", format!("the snapshot is not a valid RDB: {e}"))?;
            return Ok(Outcome::Problem);
        }
    };
    sink.finish()
        .map_err(|e| Failure(format!("can't store {}: {e}", job.data_key)))?;
    let entry = new_entry(job, source, &taken, summary.as_ref(), problem.clone());
    // Last: only now does the backup exist.
    repo.put(&Entry::key(&job.id), entry.to_json(), true)
        .map_err(|e| Failure(format!("can't write the catalog entry: {e}")))?;
    if a.json {
        print_json(&CreateReport {
            ok: problem.is_none(),
            entry: Some(&entry),
            problem: problem.clone(),
        })?;
    } else {
        if !a.quiet {
            print_entry(&entry);
            let secs = entry.duration_s.max(1e-3);
            println!(
                "Took {:.1}s ({}/s raw)",
                entry.duration_s,
                human::size((entry.raw_size as f64 / secs) as u64)
            );
        }
        if let Some(p) = &problem {
            if a.quiet {
                println!("Backup {}", entry.id);
            }
            println!("NOT VERIFIED: the snapshot holds what amber cannot decode ({p}); stored and checksummed, restorable offline");
        }
    }
    Ok(if problem.is_none() {
        Outcome::Ok
    } else {
        Outcome::Problem
    })
}

fn new_entry(
    job: &Job,
    source: Source,
    taken: &Taken,
    summary: Option<&stream::Summary>,
    unsupported: Option<String>,
) -> Entry {
    let s = summary.cloned().unwrap_or_default();
    let now = catalog::now_ms();
    Entry {
        format: catalog::FORMAT,
        id: job.id.clone(),
        time: catalog::rfc3339(job.started_ms),
        time_ms: job.started_ms,
        source,
        rdb_version: s.rdb_version,
        aux: s.aux,
        databases: s.databases,
        keys: s.keys,
        expires: s.expires,
        checksum: s.checksum,
        raw_size: taken.raw_size,
        raw_sha256: taken.raw_sha256.clone(),
        object: job.data_key.clone(),
        compression: "zstd".into(),
        stored_size: taken.stored_size,
        stored_sha256: taken.stored_sha256.clone(),
        verified: summary.is_some(),
        verified_at: summary.map(|_| catalog::rfc3339(now)),
        verified_how: summary.map(|_| "decoded while taken".to_string()),
        verify_error: None,
        unsupported,
        duration_s: job.started.elapsed().as_secs_f64(),
    }
}

pub(crate) fn source_from_info(addr: &str, method: &str, info: &Info) -> Source {
    Source {
        address: addr.to_string(),
        method: method.into(),
        run_id: info.get("run_id").map(str::to_string),
        redis_version: info.get("redis_version").map(str::to_string),
        amber_version: info.get("amber_version").map(str::to_string),
        ..Source::default()
    }
}

fn config_get(c: &mut Client, name: &str) -> Option<String> {
    match c.call(&[b"CONFIG", b"GET", name.as_bytes()]).ok()? {
        crate::client::Reply::Array(Some(v)) if v.len() == 2 => Some(v[1].text()),
        _ => None,
    }
}
