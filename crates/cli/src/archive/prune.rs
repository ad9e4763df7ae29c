//! `amber archive prune`: retention of archive timelines (a dry run unless --apply).
//!
//! A timeline is its base and its segments: they expire together, never a segment alone
//! (a segment without the base and the segments before it restores nothing). A timeline is
//! kept when a rule keeps it:
//! - `--keep-last N`: the N newest timelines;
//! - `--keep-within DUR`: every timeline some moment of the last DUR restores from. A moment
//!   restores from the newest timeline whose base is at or before it, so the window is cut at
//!   the newest base at or before now - DUR: that timeline and the newer ones stay, the older
//!   ones go whole. (`amber archive --base-every` starts a new timeline, hence a new base, at
//!   that interval, so that old history can expire while the archiver runs.)
//!
//! and the newest timeline is always kept, whatever the rules say, so a prune never breaks
//! the newest restorable timeline (nor the one the archiver is extending).
//!
//! Deletion order per timeline: its entry first (from then on no restore or status lists
//! it), then the segments' entries and objects, then the base. A prune killed midway leaves
//! objects of a timeline without an entry: such leftovers, and those of an archiver killed
//! while storing a base (written before the entry), are removed once their newest object is
//! older than --orphan-grace (a younger one may be a base being stored right now).

use std::collections::BTreeMap;

use serde::Serialize;

use super::layout::{self, Timeline};
use super::status::{describe, TimelineStatus};
use super::PruneArgs;
use crate::backup::catalog;
use crate::backup::print_json;
use crate::backup::repo::{self, Repo};
use crate::backup::retention::parse_duration;
use crate::{Failure, Outcome};

#[derive(Serialize)]
struct Item {
    #[serde(flatten)]
    timeline: TimelineStatus,
    keep: bool,
    reasons: Vec<&'static str>,
}

#[derive(Serialize)]
struct Report {
    repository: String,
    applied: bool,
    timelines: Vec<Item>,
    /// Timelines deleted (with --apply) or that would be.
    removed: Vec<String>,
    /// Objects deleted (or to delete), with their stored bytes.
    removed_objects: usize,
    removed_bytes: u64,
    /// What stays restorable: from the oldest kept timeline's base to the newest's end.
    restorable_from: Option<String>,
    restorable_to: Option<String>,
    orphans_removed: Vec<String>,
    orphans_kept_young: Vec<String>,
}

/// The rules, as given.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rules {
    pub keep_last: Option<usize>,
    pub keep_within_ms: Option<i64>,
}

/// Keep or not, and why, for timelines sorted oldest first (their base times).
pub fn plan(times_ms: &[i64], r: Rules, now_ms: i64) -> Vec<(bool, Vec<&'static str>)> {
    let n = times_ms.len();
    // The newest base at or before the window's start: the window is cut there.
    let cut = r.keep_within_ms.map(|w| {
        let start = now_ms.saturating_sub(w);
        times_ms.iter().rposition(|t| *t <= start).unwrap_or(0)
    });
    (0..n)
        .map(|i| {
            let mut reasons = Vec::new();
            if r.keep_last.is_some_and(|k| n - i <= k) {
                reasons.push("last");
            }
            if cut.is_some_and(|c| i >= c) {
                reasons.push("within");
            }
            if i + 1 == n {
                reasons.push("newest");
            }
            let keep = !reasons.is_empty();
            if !keep {
                reasons.push("no rule keeps it");
            }
            (keep, reasons)
        })
        .collect()
}

pub(super) fn prune(a: PruneArgs) -> Result<Outcome, Failure> {
    let rules = Rules {
        keep_last: a.keep_last,
        keep_within_ms: a
            .keep_within
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(Failure)?,
    };
    if rules.keep_last.is_none() && rules.keep_within_ms.is_none() {
        return Err(Failure(
            "give at least one of --keep-last, --keep-within".into(),
        ));
    }
    if rules.keep_last == Some(0) {
        return Err(Failure(
            "--keep-last 0 would keep nothing; the newest timeline is always kept, give 1 or more"
                .into(),
        ));
    }
    let grace_ms = parse_duration(&a.orphan_grace).map_err(Failure)?;
    let repo = Repo::open(&a.repo, false)?;
    let now = catalog::now_ms();
    let (tls, _) = layout::timelines(&repo)?;
    let times: Vec<i64> = tls.iter().map(|t| t.time_ms).collect();
    let decisions = plan(&times, rules, now);
    let mut report = Report {
        repository: repo.location.clone(),
        applied: a.apply,
        timelines: Vec::new(),
        removed: Vec::new(),
        removed_objects: 0,
        removed_bytes: 0,
        restorable_from: None,
        restorable_to: None,
        orphans_removed: Vec::new(),
        orphans_kept_young: Vec::new(),
    };
    for (tl, (keep, reasons)) in tls.iter().zip(decisions) {
        let (segs, _) = layout::segments(&repo, &tl.id)?;
        let st = describe(tl, &segs);
        if keep {
            report
                .restorable_from
                .get_or_insert_with(|| st.restorable_from.clone());
            report.restorable_to = Some(st.restorable_to.clone());
        } else {
            let (objects, bytes) = remove_timeline(&repo, tl, a.apply)?;
            report.removed.push(tl.id.clone());
            report.removed_objects += objects;
            report.removed_bytes += bytes;
        }
        report.timelines.push(Item {
            timeline: st,
            keep,
            reasons,
        });
    }
    leftovers(&repo, &tls, grace_ms, now, a.apply, &mut report)?;
    if a.json {
        print_json(&report)?;
    } else if !a.quiet {
        print_text(&report, &a.orphan_grace);
    }
    Ok(Outcome::Ok)
}

/// Deletes (with `apply`) a timeline: entry, segments, base. Returns the objects and the
/// stored bytes it held.
fn remove_timeline(repo: &Repo, tl: &Timeline, apply: bool) -> Result<(usize, u64), Failure> {
    let prefix = format!("archive/{}", tl.id);
    let mut objects = repo
        .list(&prefix)
        .map_err(|e| Failure(format!("can't list {}: {e}", repo.location)))?;
    let bytes = objects.iter().map(|m| m.size).sum();
    let n = objects.len();
    if !apply {
        return Ok((n, bytes));
    }
    // The entry first; then segment entries before their objects (an entry never names a
    // missing object while the timeline is listed); the base last.
    let entry = layout::timeline_key(&tl.id);
    let rank = |k: &str| {
        if k == entry {
            0
        } else if k.ends_with(".json") {
            1
        } else if k == tl.base.object {
            3
        } else {
            2
        }
    };
    objects.sort_by_key(|m| rank(m.location.as_ref()));
    for m in objects {
        let key = m.location.to_string();
        match repo.delete(&key) {
            Ok(()) => {}
            Err(e) if repo::is_not_found(&e) => {}
            Err(e) => return Err(Failure(format!("can't delete {key}: {e}"))),
        }
    }
    Ok((n, bytes))
}

/// Objects under archive/<id>/ of ids with no timeline entry: removed when the newest of
/// them is older than the grace period.
fn leftovers(
    repo: &Repo,
    tls: &[Timeline],
    grace_ms: i64,
    now: i64,
    apply: bool,
    report: &mut Report,
) -> Result<(), Failure> {
    let all = repo
        .list("archive")
        .map_err(|e| Failure(format!("can't list {}: {e}", repo.location)))?;
    let mut groups: BTreeMap<String, Vec<object_store::ObjectMeta>> = BTreeMap::new();
    for m in all {
        let key = m.location.to_string();
        let Some(id) = key
            .strip_prefix("archive/")
            .and_then(|r| r.split_once('/'))
            .map(|(id, _)| id.to_string())
        else {
            continue;
        };
        if tls.iter().any(|t| t.id == id) {
            continue;
        }
        groups.entry(id).or_default().push(m);
    }
    for (id, objs) in groups {
        let newest = objs
            .iter()
            .map(|m| m.last_modified.timestamp_millis())
            .max()
            .unwrap_or(0);
        let name = format!("archive/{id}/ ({} objects)", objs.len());
        if now - newest < grace_ms {
            report.orphans_kept_young.push(name);
            continue;
        }
        if apply {
            for m in &objs {
                match repo.delete(m.location.as_ref()) {
                    Ok(()) => {}
                    Err(e) if repo::is_not_found(&e) => {}
                    Err(e) => return Err(Failure(format!("can't delete {}: {e}", m.location))),
                }
            }
        }
        report.orphans_removed.push(name);
    }
    Ok(())
}

fn print_text(r: &Report, grace: &str) {
    let verb = if r.applied { "removed" } else { "would remove" };
    for i in &r.timelines {
        let t = &i.timeline;
        println!(
            "{} timeline {}  {} .. {}  {} segments  ({})",
            if i.keep { "keep  " } else { "remove" },
            t.id,
            t.restorable_from,
            t.restorable_to,
            t.segments,
            i.reasons.join(", ")
        );
    }
    for o in &r.orphans_removed {
        println!("{verb} leftovers of an unfinished timeline: {o}");
    }
    for o in &r.orphans_kept_young {
        println!("keep   leftovers {o} (younger than --orphan-grace {grace}; may be a base being stored)");
    }
    if let (Some(f), Some(t)) = (&r.restorable_from, &r.restorable_to) {
        println!("restorable after the prune: {f} .. {t}");
    }
    println!(
        "{}: {} of {} timelines ({} objects, {}){}",
        if r.applied {
            "Removed"
        } else {
            "Dry run, would remove"
        },
        r.removed.len(),
        r.timelines.len(),
        r.removed_objects,
        crate::human::size(r.removed_bytes),
        if r.applied {
            ""
        } else {
            " (add --apply to delete)"
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn kept(times: &[i64], r: Rules, now: i64) -> Vec<bool> {
        plan(times, r, now).into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn the_window_is_cut_at_the_newest_base_before_it() {
        // Bases at 0h, 10h, 20h, 30h; now 35h.
        let t = [0, 10 * H, 20 * H, 30 * H];
        let within = |h| Rules {
            keep_within_ms: Some(h * H),
            ..Rules::default()
        };
        // Window from 25h: it starts inside the 20h timeline, which must stay.
        assert_eq!(kept(&t, within(10), 35 * H), [false, false, true, true]);
        // Window from exactly 20h: the 20h base covers it, the older go.
        assert_eq!(kept(&t, within(15), 35 * H), [false, false, true, true]);
        // Window from 19h: the 10h timeline restores 19h.
        assert_eq!(kept(&t, within(16), 35 * H), [false, true, true, true]);
        // A window older than everything keeps everything.
        assert_eq!(kept(&t, within(100), 35 * H), [true; 4]);
        // A window inside the newest timeline: only it.
        assert_eq!(kept(&t, within(1), 35 * H), [false, false, false, true]);
    }

    #[test]
    fn keep_last_and_the_newest_always_stays() {
        let t = [0, H, 2 * H];
        let last = |n| Rules {
            keep_last: Some(n),
            ..Rules::default()
        };
        assert_eq!(kept(&t, last(2), 3 * H), [false, true, true]);
        assert_eq!(kept(&t, last(5), 3 * H), [true, true, true]);
        // Either rule keeps.
        let both = Rules {
            keep_last: Some(1),
            keep_within_ms: Some(2 * H),
        };
        assert_eq!(kept(&t, both, 3 * H), [false, true, true]);
        let p = plan(&t, last(1), 3 * H);
        assert_eq!(p[2].1, ["last", "newest"]);
        assert_eq!(p[0].1, ["no rule keeps it"]);
        assert!(plan(&[], last(1), 0).is_empty());
    }
}
