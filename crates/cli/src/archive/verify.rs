//! `amber archive verify`: every timeline's base read back (both SHA-256s, the RDB decoded)
//! and every listed segment (both SHA-256s, records, commands parsed, no gap). Exit 1 when
//! anything is wrong; the report names each bad object and the last offset restorable
//! before the first problem.

use std::io::Read;

use serde::Serialize;

use super::layout::{self, Timeline};
use super::segment;
use super::VerifyArgs;
use crate::backup::print_json;
use crate::backup::repo::Repo;
use crate::backup::stream::{summarize, Unpack};
use crate::{Failure, Outcome};

#[derive(Serialize)]
struct TimelineReport {
    timeline: String,
    ok: bool,
    base_ok: bool,
    segments: usize,
    segments_ok: usize,
    /// The last offset a restore reaches before the first problem.
    restorable_to_offset: u64,
    problems: Vec<String>,
}

#[derive(Serialize)]
struct Report {
    ok: bool,
    repository: String,
    timelines: Vec<TimelineReport>,
    unreadable_entries: Vec<String>,
}

/// The base object whole and as its entry says: `Some(problem)` when not.
pub fn check_base(repo: &Repo, tl: &Timeline) -> Result<Option<String>, Failure> {
    let b = &tl.base;
    let r = match repo.reader(&b.object) {
        Ok(r) => r,
        Err(e) => return Ok(Some(format!("base {}: {e}", b.object))),
    };
    let mut u = match Unpack::new(r) {
        Ok(u) => u,
        Err(e) => return Ok(Some(format!("base {}: {e}", b.object))),
    };
    let decoded = if b.unsupported.is_some() {
        std::io::copy(&mut (&mut u).take(u64::MAX), &mut std::io::sink())
            .map(|_| ())
            .map_err(|e| e.to_string())
    } else {
        summarize(&mut u, |_| {})
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let (raw, stored) = u.finish_each();
    let problem = match (decoded, raw, stored) {
        (_, _, Err(e)) => Some(format!("base {}: {e}", b.object)),
        (_, _, Ok((n, sha))) if n != b.stored_size || sha != b.stored_sha256 => Some(format!(
            "base {}: the stored object differs from its entry (size or SHA-256)",
            b.object
        )),
        (_, Ok((n, sha)), _) if n != b.raw_size || sha != b.raw_sha256 => Some(format!(
            "base {}: the RDB differs from its entry (size or SHA-256)",
            b.object
        )),
        (Err(e), _, _) => Some(format!("base {}: {e}", b.object)),
        (_, Err(e), _) => Some(format!("base {}: {e}", b.object)),
        _ => None,
    };
    Ok(problem)
}

fn verify_timeline(repo: &Repo, tl: &Timeline) -> Result<TimelineReport, Failure> {
    let (segs, bad) = layout::segments(repo, &tl.id)?;
    let mut problems = bad;
    let base_problem = check_base(repo, tl)?;
    let base_ok = base_problem.is_none();
    problems.extend(base_problem);
    let (n, end) = layout::contiguous(tl.start_offset, &segs);
    if n < segs.len() {
        problems.push(format!(
            "gap: no segment starts at offset {end}; {} segments after it are unreachable",
            segs.len() - n
        ));
    }
    let mut ok_count = 0;
    let mut reach = tl.start_offset;
    // Past the first problem the reach stays where it was.
    let mut frozen = !base_ok;
    for s in &segs[..n] {
        let checked = layout::load_segment(repo, s)
            .map_err(|e| Failure(format!("reading {}: {e}", s.object)))?
            .and_then(|raw| {
                for r in segment::records(&raw, s.start_offset)? {
                    let (_, used) = segment::split(r.bytes)?;
                    if used != r.bytes.len() {
                        return Err(format!(
                            "{}: a record at offset {} ends inside a command",
                            s.object, r.start
                        ));
                    }
                }
                Ok(())
            });
        match checked {
            Ok(()) => {
                ok_count += 1;
                if !frozen {
                    reach = s.end_offset;
                }
            }
            Err(p) => {
                problems.push(p);
                frozen = true;
            }
        }
    }
    Ok(TimelineReport {
        timeline: tl.id.clone(),
        ok: problems.is_empty(),
        base_ok,
        segments: segs.len(),
        segments_ok: ok_count,
        restorable_to_offset: reach,
        problems,
    })
}

pub(super) fn verify(a: VerifyArgs) -> Result<Outcome, Failure> {
    let repo = Repo::open(&a.repo, false)?;
    let (tls, bad) = layout::timelines(&repo)?;
    let tls: Vec<Timeline> = match &a.timeline {
        Some(id) => {
            let v: Vec<Timeline> = tls.into_iter().filter(|t| &t.id == id).collect();
            if v.is_empty() {
                return Err(Failure(format!("no timeline {id} in {}", repo.location)));
            }
            v
        }
        None => tls,
    };
    let mut out = Vec::new();
    for tl in &tls {
        out.push(verify_timeline(&repo, tl)?);
    }
    let r = Report {
        ok: bad.is_empty() && out.iter().all(|t| t.ok),
        repository: repo.location.clone(),
        timelines: out,
        unreadable_entries: bad,
    };
    if a.json {
        print_json(&r)?;
    } else {
        for t in &r.timelines {
            println!(
                "timeline {}: {} (base {}, {}/{} segments good, restorable to offset {})",
                t.timeline,
                if t.ok { "OK" } else { "DAMAGED" },
                if t.base_ok { "ok" } else { "BAD" },
                t.segments_ok,
                t.segments,
                t.restorable_to_offset
            );
            for p in &t.problems {
                println!("  {p}");
            }
        }
        for b in &r.unreadable_entries {
            println!("unreadable entry: {b}");
        }
        if r.timelines.is_empty() {
            println!("no timeline in {}", r.repository);
        }
    }
    Ok(if r.ok { Outcome::Ok } else { Outcome::Problem })
}
