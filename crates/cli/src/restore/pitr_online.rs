//! `amber restore --to-time T | --to-offset N --into HOST:PORT`: point-in-time recovery into a
//! running server (Amber or Redis).
//!
//! ```text
//! refuse:   the target holds keys and --replace is not given (nothing is written)
//! base:     the timeline's base, RESTORE per key, as `restore ID --into` (online.rs)
//! replay:   SELECT 0 (a replica starts the stream in db 0), then the archived commands up to
//!           the cut (see `archived`), written as they are on the same connection, pipelined:
//!           a MULTI ... EXEC block is sent whole, SELECT / FLUSHDB / FLUSHALL as written
//! check:    every reply: an error reply (or an error inside an EXEC's replies) is reported
//!           with the command and its offset, nothing more is sent, and the restore fails
//! verify:   (the target was empty) the keys per database after the base equal the keys the
//!           base restored; DEBUG DIGEST of the target at the end, reported
//! ```
//!
//! What is verified, and what is not: with an empty target, each key of the base was RESTOREd
//! with an OK reply and the target's key counts per database match the base's (unless a TTL
//! ran out meanwhile, which is said); each archived command was acknowledged without an error.
//! The final DEBUG DIGEST is the fingerprint of the restored point: the same point restored
//! offline (`--to-offset <offset> --data-dir DIR`, started as a server) reports the same
//! digest, which is how the tests verify it; the tool cannot compute it on its own (that takes
//! a server to execute the commands). With --replace over a non-empty target, the keys that
//! were there stay (unless the base or the commands overwrite them), so neither count nor
//! digest describe the archive alone: only the replies are checked.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::archived::{self, describe, Limit, Mark, Reached};
use super::offline::Want;
use super::online::{self, Pipe, Restored};
use super::Args;
use crate::archive::layout::Timeline;
use crate::archive::segment;
use crate::backup::repo::Repo;
use crate::backup::{self, print_json};
use crate::client::{Client, Reply};
use crate::progress::Progress;
use crate::{human, Failure, Outcome};

/// A command the target answered with an error.
#[derive(Serialize, Clone, Debug)]
struct Rejected {
    /// Where the command ends in the stream (replication offset).
    offset: u64,
    command: String,
    error: String,
}

#[derive(Serialize)]
struct Report {
    ok: bool,
    into: String,
    replace: bool,
    refused: bool,
    #[serde(flatten)]
    pitr: Reached,
    /// The base's keys RESTOREd.
    base: Restored,
    /// Commands the target rejected (the first ones), and how many in all.
    rejected: Vec<Rejected>,
    rejected_total: u64,
    /// What was checked after the restore and held; what could not be checked, and why.
    verified: Vec<String>,
    not_verified: Vec<String>,
    /// DEBUG DIGEST of the target after the restore.
    digest: Option<String>,
    seconds: f64,
    problem: Option<String>,
    notes: Vec<String>,
}

/// What the reply to a replayed command is about: the segment's cut bytes, where the
/// command (or, for EXEC, the whole MULTI ... EXEC block) is in them, and the stream offset
/// of that range's start.
enum Sent {
    Select,
    One {
        seg: Arc<Vec<u8>>,
        at: usize,
        len: usize,
        start: u64,
    },
    Exec {
        seg: Arc<Vec<u8>>,
        at: usize,
        len: usize,
        start: u64,
    },
}

#[derive(Default)]
struct Replies {
    rejected: Vec<Rejected>,
    total: u64,
}

const KEEP_REJECTED: usize = 10;

impl Replies {
    fn reject(&mut self, seg: &[u8], at: usize, len: usize, start: u64, error: String) {
        self.total += 1;
        if self.rejected.len() >= KEEP_REJECTED {
            return;
        }
        let bytes = seg.get(at..at + len).unwrap_or_default();
        let command = match segment::split(bytes) {
            Ok((cmds, _)) if !cmds.is_empty() => describe(&cmds[0].args),
            _ => "?".into(),
        };
        self.rejected.push(Rejected {
            offset: start + len as u64,
            command,
            error,
        });
    }
}

/// Checks one reply of the replay (on the reply thread); `failed` tells the sender to stop.
fn check(e: Sent, reply: Reply, t: &mut Replies, failed: &AtomicBool) -> io::Result<()> {
    match (e, reply) {
        (Sent::Select, Reply::Error(m)) => {
            return Err(io::Error::other(format!("SELECT 0: {m}")));
        }
        (Sent::Select, _) => {}
        (
            Sent::One {
                seg,
                at,
                len,
                start,
            },
            Reply::Error(m),
        ) => {
            t.reject(&seg, at, len, start, m);
            failed.store(true, Ordering::Relaxed);
        }
        (Sent::One { .. }, _) => {}
        (
            Sent::Exec {
                seg,
                at,
                len,
                start,
            },
            reply,
        ) => {
            let block = seg.get(at..at + len).unwrap_or_default();
            let (cmds, _) = segment::scan_all(block).map_err(io::Error::other)?;
            let mut errors: Vec<(usize, String)> = Vec::new();
            match reply {
                // The queued commands: MULTI first, EXEC last.
                Reply::Array(Some(items)) => {
                    for (i, r) in items.into_iter().enumerate() {
                        if let Reply::Error(m) = r {
                            errors.push((i + 1, m));
                        }
                    }
                }
                Reply::Error(m) => errors.push((cmds.len().saturating_sub(1), m)),
                other => errors.push((
                    cmds.len().saturating_sub(1),
                    format!("EXEC answered {}", other.text()),
                )),
            }
            for (i, m) in errors {
                let from: usize = cmds.iter().take(i).map(|c| c.len).sum();
                let clen = cmds.get(i).map_or(0, |c| c.len);
                t.reject(block, from, clen, start + from as u64, m);
                failed.store(true, Ordering::Relaxed);
            }
        }
    }
    Ok(())
}

/// Writes the cut commands of one segment (`marks` end each unit) into the pipe.
fn send_units(
    pipe: &mut Pipe<Sent, Replies>,
    buf: Vec<u8>,
    marks: &[Mark],
) -> Result<(), io::Error> {
    let seg = Arc::new(buf);
    let mut prev = 0usize;
    for m in marks {
        let unit = &seg[prev..m.end];
        let start = m.offset - unit.len() as u64;
        let (cmds, _) = segment::scan_all(unit).map_err(io::Error::other)?;
        let tx = cmds
            .first()
            .is_some_and(|c| unit[c.name.0..c.name.1].eq_ignore_ascii_case(b"multi"));
        let mut pos = 0usize;
        for (i, c) in cmds.iter().enumerate() {
            let at = prev + pos;
            let bytes = &seg[at..at + c.len];
            let e = if tx && i + 1 == cmds.len() {
                Sent::Exec {
                    seg: seg.clone(),
                    at: prev,
                    len: unit.len(),
                    start,
                }
            } else {
                Sent::One {
                    seg: seg.clone(),
                    at,
                    len: c.len,
                    start: start + pos as u64,
                }
            };
            pipe.raw(bytes, e)?;
            pos += c.len;
        }
        prev = m.end;
    }
    Ok(())
}

/// Replays the cut stream of `tl` over `c`: the point reached, the notes, and the replies'
/// outcome.
fn replay(
    a: &Args,
    repo: &Repo,
    tl: &Timeline,
    lim: Limit,
    c: &Client,
    report: &mut Report,
) -> Result<Replies, Failure> {
    let failed = Arc::new(AtomicBool::new(false));
    let seen = failed.clone();
    let mut pipe = Pipe::over(c, move |e, r, t: &mut Replies| check(e, r, t, &seen))?;
    let addr = &report.into;
    let mut bar = Progress::new("replaying", 0, a.quiet || a.json);
    let sent = pipe.cmd(&[b"SELECT", b"0"], Sent::Select).and_then(|()| {
        archived::replay_segments(
            repo,
            tl,
            lim,
            &mut report.pitr,
            Some(&mut bar),
            &mut |_, buf, marks| {
                send_units(&mut pipe, std::mem::take(buf), marks)?;
                Ok(!failed.load(Ordering::Relaxed))
            },
        )
    });
    let replies = pipe.finish();
    let notes = sent.map_err(|e| Failure(format!("replaying into {addr}: {e}")))?;
    report.notes.extend(notes);
    replies.map_err(|e| Failure(format!("{addr}: {e}")))
}

pub(super) fn run(a: &Args, repo: &Repo, addr: &str) -> Result<Outcome, Failure> {
    let t0 = Instant::now();
    let lim = Limit::of(a)?;
    let tl = archived::choose(repo, a, lim)?;
    let mut c = backup::connect(addr, &a.auth, Duration::from_secs(30))?;
    let mut report = Report {
        ok: false,
        into: addr.to_string(),
        replace: a.replace,
        refused: false,
        pitr: Reached::new(a, &tl),
        base: Restored::default(),
        rejected: Vec::new(),
        rejected_total: 0,
        verified: Vec::new(),
        not_verified: Vec::new(),
        digest: None,
        seconds: 0.0,
        problem: None,
        notes: Vec::new(),
    };
    if let Some(u) = &tl.base.unsupported {
        report.refused = true;
        report.problem = Some(format!(
            "the base of timeline {} holds what amber cannot restore key by key ({u}); restore it offline with --data-dir",
            tl.id
        ));
        return finish(a, report, t0);
    }
    let before = online::keyspace(&mut c, addr)?;
    let held: u64 = before.values().sum();
    if held > 0 && !a.replace {
        report.refused = true;
        report.problem = Some(format!(
            "{addr} already holds {held} keys ({}); nothing was restored. A point-in-time restore replays commands that assume the base alone: restore into an empty server, or give --replace to apply it over what is there",
            before
                .iter()
                .map(|(db, n)| format!("db{db}: {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return finish(a, report, t0);
    }
    let want = Want {
        object: &tl.base.object,
        raw_size: tl.base.raw_size,
        raw_sha256: &tl.base.raw_sha256,
        stored_sha256: &tl.base.stored_sha256,
    };
    let (base, problem) = online::restore_all(a, &c, repo, &want, addr)?;
    report.base = base;
    if let Some(p) = problem {
        report.problem = Some(format!(
            "the base of timeline {}: {p}; the commands were not replayed",
            tl.id
        ));
        return finish(a, report, t0);
    }
    if held == 0 {
        check_counts(&mut c, addr, &mut report)?;
    }
    let replies = replay(a, repo, &tl, lim, &c, &mut report)?;
    report.rejected_total = replies.total;
    report.rejected = replies.rejected;
    if replies.total > 0 {
        let first = &report.rejected[0];
        report.problem = Some(format!(
            "{addr} rejected {} archived command(s), the first at offset {}: {}: {}; the replay stopped at the end of the segment being sent when that was seen",
            replies.total, first.offset, first.command, first.error
        ));
    } else {
        report.verified.push(format!(
            "{} archived commands acknowledged without an error",
            report.pitr.commands_applied
        ));
    }
    take_digest(&mut c, held, &mut report);
    finish(a, report, t0)
}

/// With an empty target: its keys per database after the base equal what the base restored.
fn check_counts(c: &mut Client, addr: &str, report: &mut Report) -> Result<(), Failure> {
    let after = online::keyspace(c, addr)?;
    let want = &report.base.per_db;
    let now = crate::backup::catalog::now_ms();
    if report.base.first_expiry.is_some_and(|t| t <= now) {
        report.not_verified.push(
            "the key counts after the base: a restored key's TTL ran out during the restore".into(),
        );
    } else if &after == want {
        report.verified.push(format!(
            "after the base: {} keys, the base's count in every database",
            want.values().sum::<u64>()
        ));
    } else {
        report.problem = Some(format!(
            "after the base, {addr} holds {:?} keys per database where the base restored {:?}",
            after, want
        ));
    }
    Ok(())
}

fn take_digest(c: &mut Client, held: u64, report: &mut Report) {
    match c.call(&[b"DEBUG", b"DIGEST"]) {
        Ok(r @ (Reply::Status(_) | Reply::Bulk(Some(_)))) => report.digest = Some(r.text()),
        Ok(r) => report
            .not_verified
            .push(format!("DEBUG DIGEST: the target answered {}", r.text())),
        Err(e) => report.not_verified.push(format!("DEBUG DIGEST: {e}")),
    }
    if held > 0 && report.digest.is_some() {
        report.notes.push(
            "the target held keys before (--replace): its digest covers them too, not the archive alone"
                .into(),
        );
    }
}

fn finish(a: &Args, mut r: Report, t0: Instant) -> Result<Outcome, Failure> {
    r.seconds = t0.elapsed().as_secs_f64();
    r.ok = r.problem.is_none();
    if a.json {
        print_json(&r)?;
    } else if r.refused {
        println!("REFUSED: {}", r.problem.as_deref().unwrap_or(""));
    } else {
        for n in &r.notes {
            println!("note: {n}");
        }
        println!(
            "Base of timeline {}: {} keys restored ({} already expired, skipped)",
            r.pitr.timeline,
            human::count(r.base.tally.restored),
            human::count(r.base.expired_skipped)
        );
        for s in &r.base.tally.samples {
            println!("  {s}");
        }
        if r.problem.is_none() || r.rejected_total > 0 {
            for l in r.pitr.lines(&r.into) {
                println!("{l}");
            }
        }
        for x in &r.rejected {
            println!(
                "  REJECTED at offset {}: {}: {}",
                x.offset, x.command, x.error
            );
        }
        for v in &r.verified {
            println!("verified: {v}");
        }
        for v in &r.not_verified {
            println!("not verified: {v}");
        }
        if let Some(d) = &r.digest {
            println!("DEBUG DIGEST of {}: {d}", r.into);
        }
        println!("({:.1}s)", r.seconds);
        if let Some(p) = &r.problem {
            println!("PROBLEM: {p}");
        }
    }
    Ok(match (r.ok, r.pitr.partial) {
        (false, _) => Outcome::Problem,
        (true, true) if !a.allow_partial => Outcome::Partial,
        _ => Outcome::Ok,
    })
}
