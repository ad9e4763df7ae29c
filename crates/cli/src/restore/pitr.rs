//! `amber restore --to-time T | --to-offset N [--timeline ID]`: point-in-time recovery from an
//! archive (`amber archive`), offline into a data directory.
//!
//! ```text
//! timeline:  the newest whose base is at or before T (or --timeline)
//! staged:    DIR/.amber-restore-<time>.<appenddirname>/
//!              <appendfilename>.1.base.rdb   the timeline's base (both SHA-256s checked)
//!              <appendfilename>.1.incr.aof   the archived commands up to the cut
//!              <appendfilename>.manifest
//! then:      dump.rdb and the AOF directory moved aside, the staged directory renamed in
//! ```
//!
//! The result loads with `appendonly yes`: the server reads the RDB base and replays the
//! commands, the same work as loading its own AOF (no second encoding of the dataset here).
//!
//! The cut: every command that arrived at the archiver at or before T (ms, the archiver's
//! clock) and ends at or before offset N; a MULTI ... EXEC block goes whole or not at all.
//! Segments are read in stream order and each is checked (sizes, SHA-256s, records) before
//! any of its commands is written: a bad or missing segment stops the replay at the end of the
//! last good one, the restore says so, and exits 3 (a partial restore) unless --allow-partial.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::mpsc;

use serde::Serialize;

use super::aof_base::FreshAof;
use super::offline::{self, OfflineReport, Staged, Want};
use super::writeback::Writeback;
use super::Args;
use crate::archive::layout::{self, Segment, Timeline};
use crate::archive::segment;
use crate::backup::catalog;
use crate::backup::print_json;
use crate::backup::repo::Repo;
use crate::{Failure, Outcome};

/// Where to stop: both bounds hold.
#[derive(Clone, Copy)]
struct Limit {
    time_ms: i64,
    offset: u64,
}

/// `latest`, RFC 3339 (2025-01-31T12:34:56.789Z, or with +HH:MM), or Unix seconds (with a
/// fraction).
pub fn parse_time(s: &str) -> Result<i64, Failure> {
    let s = s.trim();
    if s == "latest" {
        return Ok(i64::MAX);
    }
    if let Ok(secs) = s.parse::<f64>() {
        if (0.0..1e12).contains(&secs) {
            return Ok((secs * 1000.0).floor() as i64);
        }
    }
    rfc3339_ms(s).ok_or_else(|| {
        Failure(format!(
            "'{s}' is not a time: give latest, 2025-01-31T12:34:56.789Z, or Unix seconds"
        ))
    })
}

fn num(s: &str) -> Option<i64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, mo, d) = (num(&s[0..4])?, num(&s[5..7])?, num(&s[8..10])?);
    let (h, mi, sec) = (num(&s[11..13])?, num(&s[14..16])?, num(&s[17..19])?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut ms = 0;
    if let Some(f) = rest.strip_prefix('.') {
        let digits = f.bytes().take_while(u8::is_ascii_digit).count();
        let frac = &f[..digits];
        let mut v = num(frac)?;
        for _ in digits..3 {
            v *= 10;
        }
        for _ in 3..digits {
            v /= 10;
        }
        ms = v;
        rest = &f[digits..];
    }
    let tz = match rest {
        "Z" | "z" | "" => 0,
        r if r.len() == 6 && matches!(&r[0..1], "+" | "-") && &r[3..4] == ":" => {
            let m = num(&r[1..3])? * 60 + num(&r[4..6])?;
            if r.starts_with('-') {
                -m
            } else {
                m
            }
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant), the inverse of catalog::civil_from_days.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + mi - tz) * 60_000 + sec * 1000 + ms)
}

#[derive(Serialize, Default, Clone)]
struct Point {
    /// The last stream byte applied (replication offset).
    offset: u64,
    /// Arrival time at the archiver of the last command applied.
    time: Option<String>,
    time_ms: Option<i64>,
    /// The last data command applied (PINGs of the source are skipped) and where it ends.
    last_command: Option<String>,
    last_command_offset: Option<u64>,
}

#[derive(Serialize)]
struct Report {
    #[serde(flatten)]
    files: OfflineReport,
    timeline: String,
    to_time: Option<String>,
    to_offset: Option<u64>,
    restored_to: Point,
    commands_applied: u64,
    segments_applied: usize,
    /// The restore stopped before the requested point because of damage or a gap (exit 3
    /// unless --allow-partial).
    partial: bool,
    stopped: Option<String>,
}

/// Copies the archived stream into an AOF, within the limit.
struct Replay {
    lim: Limit,
    at: Point,
    commands: u64,
    /// An open MULTI: its bytes and how many commands.
    tx: Option<(Vec<u8>, u64)>,
    /// The requested point is reached: nothing more is applied.
    done: bool,
}

fn describe(args: &[Vec<u8>]) -> String {
    let mut words: Vec<String> = args
        .iter()
        .take(6)
        .map(|a| {
            let t = String::from_utf8_lossy(&a[..a.len().min(40)]).into_owned();
            if a.len() > 40 {
                format!("{t}...")
            } else {
                t
            }
        })
        .collect();
    if args.len() > 6 {
        words.push(format!("... ({} arguments)", args.len()));
    }
    words.join(" ")
}

impl Replay {
    /// The commands of one checked segment, into `out`; stops at the limit. `Err`: the
    /// segment does not parse (nothing of it should be kept).
    fn segment(&mut self, raw: &[u8], s: &Segment, out: &mut Vec<u8>) -> Result<(), String> {
        // Where the last data command applied is in `raw` (described once, at the end; None
        // when a transaction came last, which describes itself).
        let mut last: Option<(usize, usize)> = None;
        let base = raw.as_ptr() as usize;
        let result = self.records(raw, s, out, &mut |bytes: Option<&[u8]>| {
            last = bytes.map(|b| {
                let at = b.as_ptr() as usize - base;
                (at, at + b.len())
            });
        });
        if let Some((a, b)) = last {
            if let Ok((cmds, _)) = segment::split(&raw[a..b]) {
                if let Some(p) = cmds.first() {
                    self.at.last_command = Some(describe(&p.args));
                }
            }
        }
        result
    }

    fn records(
        &mut self,
        raw: &[u8],
        s: &Segment,
        out: &mut Vec<u8>,
        last: &mut dyn FnMut(Option<&[u8]>),
    ) -> Result<(), String> {
        for r in segment::records(raw, s.start_offset)? {
            if r.ms > self.lim.time_ms {
                self.done = true;
                return Ok(());
            }
            let (cmds, used) = segment::scan_all(r.bytes)?;
            if used != r.bytes.len() {
                return Err(format!(
                    "a record at offset {} ends inside a command",
                    r.start
                ));
            }
            let mut pos = 0usize;
            for p in cmds {
                let bytes = &r.bytes[pos..pos + p.len];
                pos += p.len;
                let end = r.start + pos as u64;
                let name = bytes[p.name.0..p.name.1].to_ascii_lowercase();
                if let Some((tx, n)) = &mut self.tx {
                    tx.extend_from_slice(bytes);
                    *n += 1;
                    if name != b"exec" && name != b"discard" {
                        continue;
                    }
                    if end > self.lim.offset {
                        self.done = true;
                        return Ok(());
                    }
                    if let Some((tx, n)) = self.tx.take() {
                        if name == b"exec" {
                            out.extend_from_slice(&tx);
                            last(None);
                            self.at.last_command = Some(format!("MULTI ... EXEC ({n} commands)"));
                            self.at.last_command_offset = Some(end);
                            self.commands += n;
                        }
                    }
                } else if name == b"multi" {
                    self.tx = Some((bytes.to_vec(), 1));
                    continue;
                } else {
                    if end > self.lim.offset {
                        self.done = true;
                        return Ok(());
                    }
                    if !segment::no_data(&name) {
                        out.extend_from_slice(bytes);
                        last(Some(bytes));
                        self.at.last_command_offset = Some(end);
                        self.commands += 1;
                    }
                }
                self.at.offset = end;
                self.at.time_ms = Some(r.ms);
            }
        }
        Ok(())
    }
}

fn choose(repo: &Repo, a: &Args, lim: Limit) -> Result<Timeline, Failure> {
    let (tls, _) = layout::timelines(repo)?;
    if tls.is_empty() {
        return Err(Failure(format!(
            "{} holds no archive timeline",
            repo.location
        )));
    }
    if let Some(id) = &a.timeline {
        return tls
            .into_iter()
            .find(|t| &t.id == id)
            .ok_or_else(|| Failure(format!("no timeline {id} in {}", repo.location)));
    }
    let oldest = catalog::rfc3339(tls[0].time_ms);
    tls.into_iter()
        .rev()
        .find(|t| t.time_ms <= lim.time_ms && t.start_offset <= lim.offset)
        .ok_or_else(|| {
            Failure(format!(
                "nothing archived at or before that point: the oldest timeline's base is from {oldest}"
            ))
        })
}

pub(super) fn run(a: &Args, repo: &Repo) -> Result<Outcome, Failure> {
    let lim = Limit {
        time_ms: match &a.to_time {
            Some(t) => parse_time(t)?,
            None => i64::MAX,
        },
        offset: a.to_offset.unwrap_or(u64::MAX),
    };
    let tl = choose(repo, a, lim)?;
    let mut t = offline::target(a)?;
    t.write_aof = true;
    let mut files = OfflineReport {
        ok: false,
        backup: tl.id.clone(),
        data_dir: t.dir.display().to_string(),
        refused: Vec::new(),
        moved_aside: Vec::new(),
        written: Vec::new(),
        appendonly: true,
        keys: tl.base.keys,
        raw_size: tl.base.raw_size,
        problem: None,
        notes: t.notes.clone(),
        start_with: None,
        skipped: Vec::new(),
    };
    let lock = offline::lock_unused(&t, &mut files.refused);
    let mut report = Report {
        files,
        timeline: tl.id.clone(),
        to_time: a.to_time.clone(),
        to_offset: a.to_offset,
        restored_to: Point {
            offset: tl.start_offset,
            ..Point::default()
        },
        commands_applied: 0,
        segments_applied: 0,
        partial: false,
        stopped: None,
    };
    if !report.files.refused.is_empty() {
        report.files.problem = Some("the data directory is in use; stop the server first".into());
        return finish(a, report);
    }
    let stamp = offline::stamp_now();
    let aof_tmp = t
        .dir
        .join(format!(".amber-restore-{stamp}.{}", t.appenddirname));
    let fresh = FreshAof::new(&t.appendfilename);
    std::fs::create_dir(&aof_tmp)
        .map_err(|e| Failure(format!("can't create {}: {e}", aof_tmp.display())))?;
    let staged = Staged {
        rdb: None,
        aof_tmp,
        fresh,
        stamp,
    };
    match stage(a, repo, &tl, lim, &staged, &t.appendfilename, &mut report) {
        Ok(None) => {}
        Ok(Some(problem)) => {
            staged.discard();
            report.files.problem = Some(format!(
                "{problem}; nothing in {} was changed",
                t.dir.display()
            ));
            return finish(a, report);
        }
        Err(e) => {
            staged.discard();
            return Err(Failure(format!(
                "restoring into {}: {e} (nothing there was changed)",
                t.dir.display()
            )));
        }
    }
    let staged = offline::move_aside(&t, staged, &mut report.files)?;
    offline::install(&t, staged, &mut report.files)?;
    drop(lock);
    report.files.ok = true;
    report.files.start_with = Some(offline::start_command(
        tl.source.amber_version.is_some(),
        a.config.as_deref(),
        &t.conf,
        &t.dir,
        &t.dbfilename,
        true,
    ));
    finish(a, report)
}

/// Writes the staged AOF directory: base, commands up to the limit, manifest. `Some`: the
/// base is not what its entry says (nothing usable).
///
/// Three threads at once: the base is downloaded, checked and written; the segments are
/// fetched and checked ahead (a few at most); this thread cuts and writes the commands.
fn stage(
    a: &Args,
    repo: &Repo,
    tl: &Timeline,
    lim: Limit,
    staged: &Staged,
    appendfilename: &str,
    report: &mut Report,
) -> std::io::Result<Option<String>> {
    let base = offline::new_file(&staged.aof_tmp.join(&staged.fresh.base_name))?;
    let want = Want {
        object: &tl.base.object,
        raw_size: tl.base.raw_size,
        raw_sha256: &tl.base.raw_sha256,
        stored_sha256: &tl.base.stored_sha256,
    };
    let incr = offline::new_file(&staged.aof_tmp.join(&staged.fresh.incr_name))?;
    let segs = layout::segments(repo, &tl.id)
        .map_err(|f| std::io::Error::other(f.0))?
        .0;
    let (n, gap_at) = layout::contiguous(tl.start_offset, &segs);
    // The segments the limit can reach: those after begin past it.
    let reach = segs[..n]
        .iter()
        .take_while(|s| s.first_ms <= lim.time_ms && s.start_offset < lim.offset)
        .count();
    let mut rp = Replay {
        lim,
        at: report.restored_to.clone(),
        commands: 0,
        tx: None,
        done: false,
    };
    rp.at.time_ms = Some(tl.time_ms);
    let quiet = a.quiet || a.json;
    let base_problem = std::thread::scope(|sc| -> std::io::Result<Option<String>> {
        let base_job = sc.spawn(|| offline::download(repo, &want, quiet, None, Some(base)));
        let (tx, rx) = mpsc::sync_channel(AHEAD);
        let todo = &segs[..reach];
        sc.spawn(move || {
            for s in todo {
                let r = layout::load_segment(repo, s);
                let last = !matches!(r, Ok(Ok(_)));
                if tx.send(r).is_err() || last {
                    break;
                }
            }
        });
        let replayed = replay(&rx, todo, &mut rp, incr, report);
        // The loader stops at its next send.
        drop(rx);
        let base = base_job
            .join()
            .map_err(|_| std::io::Error::other("the base download panicked"))?;
        replayed?;
        base
    })?;
    if let Some(p) = base_problem {
        return Ok(Some(format!("the base of timeline {}: {p}", tl.id)));
    }
    if report.stopped.is_none() && !rp.done && reach < n {
        // The next segment begins past the limit.
        rp.done = true;
    }
    if report.stopped.is_none() && !rp.done && n < segs.len() {
        report.stopped = Some(format!(
            "no segment starts at offset {gap_at}: {} segments after the gap are unreachable",
            segs.len() - n
        ));
    }
    if let Some(why) = &report.stopped {
        report.partial = true;
        report.files.notes.push(format!(
            "stopped at the last good point before the requested one: {why}"
        ));
    } else if !rp.done && (lim.time_ms != i64::MAX || lim.offset != u64::MAX) {
        report.files.notes.push(format!(
            "the archive of timeline {} ends at offset {} ({}), before the requested point: restored to its end",
            tl.id,
            rp.at.offset,
            rp.at.time_ms.map(catalog::rfc3339).unwrap_or_default()
        ));
    }
    staged
        .fresh
        .manifest
        .write_atomic(&staged.aof_tmp, appendfilename)?;
    rp.at.time = rp.at.time_ms.map(catalog::rfc3339);
    report.restored_to = rp.at;
    report.commands_applied = rp.commands;
    Ok(None)
}

/// Segments fetched and checked ahead of the replay.
const AHEAD: usize = 4;

type Loaded = std::io::Result<Result<Vec<u8>, String>>;

/// The commands of the checked segments `rx` delivers (those of `todo`, in order) into the
/// incr file, up to the limit or the first bad segment; the file made durable.
fn replay(
    rx: &mpsc::Receiver<Loaded>,
    todo: &[Segment],
    rp: &mut Replay,
    incr: File,
    report: &mut Report,
) -> std::io::Result<()> {
    let mut incr = BufWriter::with_capacity(1 << 20, Writeback::new(incr));
    let mut buf = Vec::new();
    for s in todo {
        if rp.done {
            break;
        }
        let loaded = rx
            .recv()
            .map_err(|_| std::io::Error::other("the segment loader stopped"))?;
        let raw = match loaded? {
            Ok(raw) => raw,
            Err(p) => {
                report.stopped = Some(format!("segment {p}"));
                break;
            }
        };
        buf.clear();
        let saved = (rp.at.clone(), rp.commands, rp.tx.clone());
        if let Err(p) = rp.segment(&raw, s, &mut buf) {
            (rp.at, rp.commands, rp.tx) = saved;
            report.stopped = Some(format!("segment {}: {p}", s.object));
            break;
        }
        incr.write_all(&buf)?;
        report.segments_applied += 1;
    }
    incr.into_inner().map_err(|e| e.into_error())?.finish()?;
    Ok(())
}

fn finish(a: &Args, r: Report) -> Result<Outcome, Failure> {
    if a.json {
        print_json(&r)?;
    } else {
        for x in &r.files.refused {
            println!("refused: {x}");
        }
        for (f, t) in &r.files.moved_aside {
            println!("moved aside: {f} -> {t}");
        }
        for w in &r.files.written {
            println!("wrote: {w}");
        }
        for n in &r.files.notes {
            println!("note: {n}");
        }
        match &r.files.problem {
            Some(p) => println!("NOT RESTORED: {p}"),
            None => {
                let p = &r.restored_to;
                println!(
                    "{} timeline {} into {}: offset {}, time {}, {} commands after the base",
                    if r.partial {
                        "PARTIALLY RESTORED"
                    } else {
                        "Restored"
                    },
                    r.timeline,
                    r.files.data_dir,
                    p.offset,
                    p.time.as_deref().unwrap_or("?"),
                    r.commands_applied
                );
                if let Some(c) = &p.last_command {
                    println!("  last command applied: {c}");
                }
                if let Some(s) = &r.files.start_with {
                    println!("Start the server (the restore is an AOF: appendonly yes): {s}");
                }
            }
        }
    }
    Ok(match (&r.files.problem, r.partial) {
        (Some(_), _) => Outcome::Problem,
        (None, true) if !a.allow_partial => Outcome::Partial,
        _ => Outcome::Ok,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> i64 {
        parse_time(s).unwrap_or_else(|f| panic!("{s}: {}", f.0))
    }

    #[test]
    fn times() {
        assert_eq!(t("latest"), i64::MAX);
        assert_eq!(t("1700000000.1234"), 1_700_000_000_123);
        assert_eq!(t("2024-12-31T23:59:59.999Z"), 1_735_689_599_999);
        assert_eq!(t("2025-01-01T01:00:00+01:00"), 1_735_689_600_000);
        assert_eq!(t("2000-02-29T00:00:00.123456Z"), 951_782_400_123);
        for bad in [
            "yesterday",
            "2025-13-01T00:00:00Z",
            "2025-01-01",
            "-5",
            "2025-01-01T00:00:00Q",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}
