//! `amber backup verify`: a backup read back whole (download, decompress, decode) and
//! compared with its catalog entry; the verdict is recorded in the entry.

use std::time::Instant;

use amber_persist::rdb::RdbError;

use serde::Serialize;

use super::catalog::{self, Entry};
use super::repo::{self, Repo};
use super::{find, load_catalog, print_json, stream, VerifyArgs};
use crate::progress::Progress;
use crate::{human, Failure, Outcome};

#[derive(Serialize)]
struct VerifyResult {
    id: String,
    ok: bool,
    problems: Vec<String>,
    keys: u64,
    raw_size: u64,
    seconds: f64,
}

/// Reads a backup back whole and compares it with its entry. Problems found are returned;
/// `Err` only when the repository could not be read at all.
pub struct Checked {
    pub problems: Vec<String>,
    /// The RDB holds content amber cannot decode; checksums were still compared.
    pub unsupported: Option<String>,
}

pub fn check_backup(repo: &Repo, e: &Entry, quiet: bool) -> Result<Checked, Failure> {
    let mut unsupported = None;
    let mut problems = Vec::new();
    let r = match repo.reader(&e.object) {
        Ok(r) => r,
        Err(err) if repo::is_not_found(&err) => {
            return Ok(Checked {
                problems: vec![format!("the data object {} is missing", e.object)],
                unsupported,
            })
        }
        Err(err) => return Err(Failure(format!("can't read {}: {err}", e.object))),
    };
    let size_differs = (r.size() != e.stored_size).then(|| {
        format!(
            "the stored object is {} bytes, the catalog says {}",
            r.size(),
            e.stored_size
        )
    });
    let mut unpack = match stream::Unpack::new(r) {
        Ok(u) => u,
        Err(err) => {
            return Ok(Checked {
                problems: vec![format!("can't start decompressing: {err}")],
                unsupported,
            })
        }
    };
    let mut bar = Progress::new("verifying", e.raw_size, quiet);
    let summary = stream::summarize(&mut unpack, |o| bar.update(o));
    bar.finish();
    let (raw, stored) = unpack.finish_each();
    // The stored object's checksum first: when it differs, the object changed after the
    // backup was taken, and whatever the decoder says next is only a consequence.
    match stored {
        Ok((n, sha)) if sha != e.stored_sha256 => {
            problems.extend(size_differs);
            problems.push(format!(
                "SHA-256 mismatch: the stored object {} ({n} bytes) hashes to {sha}, the catalog recorded {} when the backup was taken: the file was changed or damaged since",
                e.object, e.stored_sha256
            ));
            return Ok(Checked {
                problems,
                unsupported,
            });
        }
        Ok(_) => problems.extend(size_differs),
        Err(err) => {
            return Ok(Checked {
                problems: vec![format!("can't read the stored object {}: {err}", e.object)],
                unsupported,
            })
        }
    }
    match &summary {
        Ok(s) => {
            if s.databases != e.databases || s.keys != e.keys || s.expires != e.expires {
                problems.push(format!(
                    "the RDB holds {} keys ({} with expiry) in {} databases, the catalog says {} ({}) in {}",
                    s.keys,
                    s.expires,
                    s.databases.len(),
                    e.keys,
                    e.expires,
                    e.databases.len()
                ));
            }
        }
        Err(RdbError::Io(err)) => {
            problems.push(format!("the stored object does not decompress: {err}"))
        }
        Err(err @ RdbError::Unsupported { .. }) => unsupported = Some(err.to_string()),
        Err(err) => problems.push(format!("the RDB does not decode: {err}")),
    }
    let rdb_len = summary.as_ref().map(|s| s.rdb_len).ok();
    let decoded_whole = summary.is_ok() || unsupported.is_some();
    match raw {
        Ok((raw_n, raw_sha)) => {
            if raw_sha != e.raw_sha256 || raw_n != e.raw_size {
                problems.push(format!(
                    "SHA-256 mismatch of the decompressed RDB: {raw_sha} ({raw_n} bytes), the catalog recorded {} ({} bytes)",
                    e.raw_sha256, e.raw_size
                ));
            }
            if let Some(l) = rdb_len {
                if l != raw_n {
                    problems.push(format!(
                        "{} bytes after the RDB's end",
                        raw_n.saturating_sub(l)
                    ));
                }
            }
        }
        Err(err) => {
            if decoded_whole {
                problems.push(format!("the stored object does not decompress: {err}"));
            }
        }
    }
    Ok(Checked {
        problems,
        unsupported,
    })
}

pub(super) fn verify(a: VerifyArgs) -> Result<Outcome, Failure> {
    let repo = Repo::open(&a.repo, false)?;
    let targets = if a.all {
        let (entries, bad) = load_catalog(&repo)?;
        for b in &bad {
            eprintln!("amber: unreadable catalog entry {b}");
        }
        entries
    } else {
        vec![find(&repo, a.id.as_deref().unwrap_or("latest"))?]
    };
    let mut results = Vec::new();
    for mut e in targets {
        let t = Instant::now();
        let Checked {
            mut problems,
            unsupported,
        } = check_backup(&repo, &e, a.quiet || a.json)?;
        let intact = problems.is_empty();
        let ok = intact && unsupported.is_none();
        if let (true, Some(u)) = (intact, &unsupported) {
            problems.push(format!(
                "checksums match, but the RDB holds what amber cannot decode: {u}"
            ));
        }
        e.unsupported = unsupported;
        e.verified = ok;
        e.verified_at = Some(catalog::rfc3339(catalog::now_ms()));
        e.verified_how = Some("read back by verify".into());
        e.verify_error = if intact {
            None
        } else {
            Some(problems.join("; "))
        };
        repo.put(&Entry::key(&e.id), e.to_json(), false)
            .map_err(|err| Failure(format!("can't update the catalog entry {}: {err}", e.id)))?;
        let r = VerifyResult {
            id: e.id.clone(),
            ok,
            problems,
            keys: e.keys,
            raw_size: e.raw_size,
            seconds: t.elapsed().as_secs_f64(),
        };
        if !a.json {
            if r.ok {
                if a.quiet {
                    results.push(r);
                    continue;
                }
                println!(
                    "{}: OK ({} keys, {} raw, {:.1}s)",
                    r.id,
                    human::count(r.keys),
                    human::size(r.raw_size),
                    r.seconds
                );
            } else {
                println!("{}: NOT OK", r.id);
                for p in &r.problems {
                    println!("  {p}");
                }
            }
        }
        results.push(r);
    }
    let all_ok = results.iter().all(|r| r.ok);
    if a.json {
        #[derive(Serialize)]
        struct Out {
            ok: bool,
            results: Vec<VerifyResult>,
        }
        print_json(&Out {
            ok: all_ok,
            results,
        })?;
    } else if a.all && !(a.quiet && all_ok) {
        println!(
            "{} of {} backups verified OK",
            results.iter().filter(|r| r.ok).count(),
            results.len()
        );
    }
    Ok(if all_ok {
        Outcome::Ok
    } else {
        Outcome::Problem
    })
}
