//! `amber archive status`: what the repository holds (timelines and the window each can
//! restore) and, with --spool, what the running archiver reports (lag, last upload, errors).

use serde::Serialize;

use super::layout::{self, Segment, Timeline};
use super::StatusArgs;
use crate::backup::catalog;
use crate::backup::print_json;
use crate::backup::repo::Repo;
use crate::{human, Failure, Outcome};

#[derive(Serialize)]
pub struct TimelineStatus {
    pub id: String,
    pub replid: String,
    pub source: String,
    pub base_time: String,
    pub base_keys: u64,
    pub start_offset: u64,
    /// The last offset reachable from the base without a gap.
    pub end_offset: u64,
    pub segments: usize,
    pub commands: u64,
    pub stored_bytes: u64,
    /// Restorable from the base's moment to the last archived command's arrival.
    pub restorable_from: String,
    pub restorable_to: String,
    pub restorable_from_ms: i64,
    pub restorable_to_ms: i64,
    /// Segments listed past a gap (not restorable), if any.
    pub problem: Option<String>,
}

#[derive(Serialize)]
struct Report {
    repository: String,
    timelines: Vec<TimelineStatus>,
    unreadable_entries: Vec<String>,
    /// The running archiver's status file, with `running` (its pid alive and the file fresh),
    /// `lag_bytes` (received, not yet stored) and `lag_seconds` (age of the oldest byte not
    /// yet stored).
    archiver: Option<serde_json::Value>,
}

/// A timeline's reach, from its listed segments.
pub fn describe(tl: &Timeline, segs: &[Segment]) -> TimelineStatus {
    let (n, end) = layout::contiguous(tl.start_offset, segs);
    let good = &segs[..n];
    let to_ms = good
        .last()
        .map_or(tl.time_ms, |s| s.last_ms.max(tl.time_ms));
    TimelineStatus {
        id: tl.id.clone(),
        replid: tl.replid.clone(),
        source: format!("{} ({})", tl.source.address, tl.source.server_label()),
        base_time: tl.time.clone(),
        base_keys: tl.base.keys,
        start_offset: tl.start_offset,
        end_offset: end,
        segments: n,
        commands: good.iter().map(|s| s.commands).sum(),
        stored_bytes: tl.base.stored_size + good.iter().map(|s| s.stored_size).sum::<u64>(),
        restorable_from: catalog::rfc3339(tl.time_ms),
        restorable_to: catalog::rfc3339(to_ms),
        restorable_from_ms: tl.time_ms,
        restorable_to_ms: to_ms,
        problem: (n < segs.len()).then(|| {
            format!(
                "{} segments listed after a gap at offset {end}",
                segs.len() - n
            )
        }),
    }
}

pub(crate) fn archiver(spool: &std::path::Path) -> Option<serde_json::Value> {
    let b = std::fs::read(spool.join("status.json")).ok()?;
    let mut v: serde_json::Value = serde_json::from_slice(&b).ok()?;
    let now = catalog::now_ms();
    let pid = v.get("pid").and_then(|p| p.as_i64()).unwrap_or(0);
    let updated = v.get("updated_ms").and_then(|p| p.as_i64()).unwrap_or(0);
    // SAFETY: kill with signal 0 only checks that the process exists.
    let alive = pid > 0 && unsafe { libc::kill(pid as libc::pid_t, 0) } == 0;
    let stopped = v.get("link").and_then(|l| l.as_str()) == Some("stopped");
    let running = alive && !stopped && now - updated < 5000;
    let received = v.get("received_offset").and_then(|x| x.as_u64());
    let same_tl = v.get("timeline") == v.get("archived_timeline");
    let archived = v.get("archived_offset").and_then(|x| x.as_u64());
    let lag_bytes = match (received, archived, same_tl) {
        (Some(r), Some(a), true) => r.saturating_sub(a),
        (Some(r), _, _) => r,
        _ => 0,
    };
    let lag_s = v
        .get("oldest_unarchived_ms")
        .and_then(|x| x.as_i64())
        .map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0);
    if let Some(o) = v.as_object_mut() {
        o.insert("running".into(), running.into());
        o.insert("lag_bytes".into(), lag_bytes.into());
        o.insert("lag_seconds".into(), lag_s.into());
    }
    Some(v)
}

pub(super) fn status(a: StatusArgs) -> Result<Outcome, Failure> {
    let repo = Repo::open(&a.repo, false)?;
    let (tls, mut bad) = layout::timelines(&repo)?;
    let mut out = Vec::new();
    for tl in &tls {
        let (segs, b) = layout::segments(&repo, &tl.id)?;
        bad.extend(b);
        out.push(describe(tl, &segs));
    }
    let r = Report {
        repository: repo.location.clone(),
        timelines: out,
        unreadable_entries: bad,
        archiver: a.spool.as_deref().and_then(archiver),
    };
    if a.json {
        print_json(&r)?;
        return Ok(Outcome::Ok);
    }
    println!("Archive in {}", r.repository);
    for t in &r.timelines {
        println!(
            "timeline {}  {}  offsets {}..{}  {} segments, {} commands, {} stored",
            t.id,
            t.source,
            t.start_offset,
            t.end_offset,
            t.segments,
            human::count(t.commands),
            human::size(t.stored_bytes)
        );
        println!(
            "  restorable from {} to {}",
            t.restorable_from, t.restorable_to
        );
        if let Some(p) = &t.problem {
            println!("  PROBLEM: {p}");
        }
    }
    if r.timelines.is_empty() {
        println!("no timeline yet");
    }
    for b in &r.unreadable_entries {
        println!("unreadable entry: {b}");
    }
    if let Some(v) = &r.archiver {
        println!(
            "archiver: {} (link {}), lag {} bytes / {:.1}s, last upload {}, last error {}",
            if v["running"].as_bool() == Some(true) {
                "running"
            } else {
                "not running"
            },
            v["link"].as_str().unwrap_or("?"),
            v["lag_bytes"],
            v["lag_seconds"].as_f64().unwrap_or(0.0),
            v["last_upload"].as_str().unwrap_or("never"),
            v["last_error"].as_str().unwrap_or("none")
        );
    }
    Ok(Outcome::Ok)
}
