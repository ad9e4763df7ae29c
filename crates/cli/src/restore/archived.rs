//! What the point-in-time restores share, offline (`pitr`) and online (`pitr_online`): the
//! point asked for (`Limit`), the timeline picked for it, and the archived stream cut at it.
//!
//! The cut: every command that arrived at the archiver at or before T (ms, the archiver's
//! clock) and ends at or before offset N; a MULTI ... EXEC block goes whole or not at all.
//! Segments are read in stream order, fetched and checked ahead on another thread (sizes,
//! SHA-256s, records), and each is parsed whole before any of its commands is handed on: a bad
//! or missing segment stops the replay at the end of the last good one, and the report says so.

use std::io;
use std::sync::mpsc;

use serde::Serialize;

use super::Args;
use crate::archive::layout::{self, Segment, Timeline};
use crate::archive::segment;
use crate::backup::catalog;
use crate::backup::repo::Repo;
use crate::progress::Progress;
use crate::Failure;

/// Where to stop: both bounds hold.
#[derive(Clone, Copy)]
pub(super) struct Limit {
    pub(super) time_ms: i64,
    pub(super) offset: u64,
}

impl Limit {
    /// The point --to-time / --to-offset ask for (no bound: the end of the archive).
    pub(super) fn of(a: &Args) -> Result<Limit, Failure> {
        Ok(Limit {
            time_ms: match &a.to_time {
                Some(t) => parse_time(t)?,
                None => i64::MAX,
            },
            offset: a.to_offset.unwrap_or(u64::MAX),
        })
    }
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
pub(super) struct Point {
    /// The last stream byte applied (replication offset).
    pub(super) offset: u64,
    /// Arrival time at the archiver of the last command applied.
    pub(super) time: Option<String>,
    pub(super) time_ms: Option<i64>,
    /// The last data command applied (PINGs of the source are skipped) and where it ends.
    pub(super) last_command: Option<String>,
    pub(super) last_command_offset: Option<u64>,
}

/// Where a point-in-time restore got to: the same fields offline and online.
#[derive(Serialize)]
pub(super) struct Reached {
    pub(super) timeline: String,
    pub(super) to_time: Option<String>,
    pub(super) to_offset: Option<u64>,
    pub(super) restored_to: Point,
    pub(super) commands_applied: u64,
    pub(super) segments_applied: usize,
    /// The restore stopped before the requested point because of damage or a gap (exit 3
    /// unless --allow-partial).
    pub(super) partial: bool,
    pub(super) stopped: Option<String>,
}

impl Reached {
    pub(super) fn new(a: &Args, tl: &Timeline) -> Reached {
        Reached {
            timeline: tl.id.clone(),
            to_time: a.to_time.clone(),
            to_offset: a.to_offset,
            restored_to: Point {
                offset: tl.start_offset,
                time_ms: Some(tl.time_ms),
                time: Some(catalog::rfc3339(tl.time_ms)),
                ..Point::default()
            },
            commands_applied: 0,
            segments_applied: 0,
            partial: false,
            stopped: None,
        }
    }

    /// The point in one line, and the last command applied (the text report).
    pub(super) fn lines(&self, into: &str) -> Vec<String> {
        let p = &self.restored_to;
        let mut out = vec![format!(
            "{} timeline {} into {}: offset {}, time {}, {} commands after the base",
            if self.partial {
                "PARTIALLY RESTORED"
            } else {
                "Restored"
            },
            self.timeline,
            into,
            p.offset,
            p.time.as_deref().unwrap_or("?"),
            self.commands_applied
        )];
        if let Some(c) = &p.last_command {
            out.push(format!("  last command applied: {c}"));
        }
        out
    }
}

/// Cuts the archived stream at the limit: whole data commands and whole MULTI ... EXEC
/// blocks, in stream order.
struct Replay {
    lim: Limit,
    at: Point,
    commands: u64,
    /// An open MULTI: its bytes and how many commands.
    tx: Option<(Vec<u8>, u64)>,
    /// The requested point is reached: nothing more is applied.
    done: bool,
    /// Where each unit (a command, or a transaction) ends in the segment's output.
    marks: Vec<Mark>,
}

/// A unit of the output: it ends at `end` in the bytes and at stream offset `offset`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Mark {
    pub(super) end: usize,
    pub(super) offset: u64,
}

pub(super) fn describe(args: &[Vec<u8>]) -> String {
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
                            self.marks.push(Mark {
                                end: out.len(),
                                offset: end,
                            });
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
                        self.marks.push(Mark {
                            end: out.len(),
                            offset: end,
                        });
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

/// The timeline to restore from: --timeline, else the newest whose base is at or before
/// the limit.
pub(super) fn choose(repo: &Repo, a: &Args, lim: Limit) -> Result<Timeline, Failure> {
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

/// What a restore does with each checked segment's cut commands: the segment, its bytes
/// (which it may take), where each unit ends. `false` stops the replay there.
pub(super) type Apply<'a> = dyn FnMut(&Segment, &mut Vec<u8>, &[Mark]) -> io::Result<bool> + 'a;

/// Segments fetched and checked ahead of the replay.
const AHEAD: usize = 4;

type Loaded = io::Result<Result<Vec<u8>, String>>;

/// Hands the commands of `tl`'s archived stream up to `lim` to `apply`, one checked segment
/// at a time: the segment, its cut commands (whole units), and where each unit ends
/// (`apply` may take the bytes). `apply` returning false stops the replay there. Fills `r`
/// (the point reached, partial or not) and returns the notes for the report.
pub(super) fn replay_segments(
    repo: &Repo,
    tl: &Timeline,
    lim: Limit,
    r: &mut Reached,
    bar: Option<&mut Progress>,
    apply: &mut Apply<'_>,
) -> io::Result<Vec<String>> {
    let segs = layout::segments(repo, &tl.id)
        .map_err(|f| io::Error::other(f.0))?
        .0;
    let (n, gap_at) = layout::contiguous(tl.start_offset, &segs);
    // The segments the limit can reach: those after begin past it.
    let reach = segs[..n]
        .iter()
        .take_while(|s| s.first_ms <= lim.time_ms && s.start_offset < lim.offset)
        .count();
    let mut rp = Replay {
        lim,
        at: r.restored_to.clone(),
        commands: 0,
        tx: None,
        done: false,
        marks: Vec::new(),
    };
    let todo = &segs[..reach];
    let mut bar = bar;
    if let Some(b) = bar.as_mut() {
        b.set_total(todo.iter().map(|s| s.end_offset - s.start_offset).sum());
    }
    let mut progressed = |s: &Segment, buf: &mut Vec<u8>, m: &[Mark]| {
        let go_on = apply(s, buf, m)?;
        if let Some(b) = bar.as_mut() {
            b.update(s.end_offset - tl.start_offset);
        }
        Ok(go_on)
    };
    let halted = std::thread::scope(|sc| -> io::Result<bool> {
        let (tx, rx) = mpsc::sync_channel(AHEAD);
        sc.spawn(move || {
            for s in todo {
                let r = layout::load_segment(repo, s);
                let last = !matches!(r, Ok(Ok(_)));
                if tx.send(r).is_err() || last {
                    break;
                }
            }
        });
        // The loader stops at its next send once `rx` is dropped.
        feed(&rx, todo, &mut rp, r, &mut progressed)
    })?;
    if let Some(b) = bar {
        b.finish();
    }
    let mut notes = Vec::new();
    if r.stopped.is_none() && !rp.done && reach < n {
        // The next segment begins past the limit.
        rp.done = true;
    }
    if r.stopped.is_none() && !rp.done && !halted && n < segs.len() {
        r.stopped = Some(format!(
            "no segment starts at offset {gap_at}: {} segments after the gap are unreachable",
            segs.len() - n
        ));
    }
    if let Some(why) = &r.stopped {
        r.partial = true;
        notes.push(format!(
            "stopped at the last good point before the requested one: {why}"
        ));
    } else if !rp.done && !halted && (lim.time_ms != i64::MAX || lim.offset != u64::MAX) {
        notes.push(format!(
            "the archive of timeline {} ends at offset {} ({}), before the requested point: restored to its end",
            tl.id,
            rp.at.offset,
            rp.at.time_ms.map(catalog::rfc3339).unwrap_or_default()
        ));
    }
    rp.at.time = rp.at.time_ms.map(catalog::rfc3339);
    r.restored_to = rp.at;
    r.commands_applied = rp.commands;
    Ok(notes)
}

/// The checked segments `rx` delivers (those of `todo`, in order), cut and handed to
/// `apply`, up to the limit or the first bad segment. Ok(true): `apply` stopped it.
fn feed(
    rx: &mpsc::Receiver<Loaded>,
    todo: &[Segment],
    rp: &mut Replay,
    r: &mut Reached,
    apply: &mut Apply<'_>,
) -> io::Result<bool> {
    let mut buf = Vec::new();
    for s in todo {
        if rp.done {
            break;
        }
        let loaded = rx
            .recv()
            .map_err(|_| io::Error::other("the segment loader stopped"))?;
        let raw = match loaded? {
            Ok(raw) => raw,
            Err(p) => {
                r.stopped = Some(format!("segment {p}"));
                break;
            }
        };
        buf.clear();
        rp.marks.clear();
        let saved = (rp.at.clone(), rp.commands, rp.tx.clone());
        if let Err(p) = rp.segment(&raw, s, &mut buf) {
            (rp.at, rp.commands, rp.tx) = saved;
            r.stopped = Some(format!("segment {}: {p}", s.object));
            break;
        }
        let go_on = apply(s, &mut buf, &rp.marks)?;
        r.segments_applied += 1;
        if !go_on {
            return Ok(true);
        }
    }
    Ok(false)
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
