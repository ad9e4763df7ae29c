//! `amber backup prune`: the retention policy applied (a dry run unless --apply), and the
//! data objects of backups that never finished removed once old enough.

use serde::Serialize;

use super::catalog::{self, Entry};
use super::repo::{self, Repo};
use super::{load_catalog, orphans, print_json, retention, PruneArgs};
use crate::{Failure, Outcome};

#[derive(Serialize)]
struct PruneItem {
    id: String,
    time: String,
    keep: bool,
    reasons: Vec<&'static str>,
}

#[derive(Serialize)]
struct PruneReport {
    applied: bool,
    backups: Vec<PruneItem>,
    removed: Vec<String>,
    orphans_removed: Vec<String>,
    orphans_kept_young: Vec<String>,
}

pub(super) fn prune(a: PruneArgs) -> Result<Outcome, Failure> {
    let grace_ms = retention::parse_duration(&a.orphan_grace).map_err(Failure)?;
    let policy = policy(&a)?;
    let repo = Repo::open(&a.repo, false)?;
    let (entries, _) = load_catalog(&repo)?;
    let now = catalog::now_ms();
    let (items, removed) = prune_backups(&a, &repo, &entries, &policy, now)?;
    let (orphans_removed, orphans_young) =
        prune_unfinished(&a, &repo, &entries, &removed, grace_ms, now)?;
    let report = PruneReport {
        applied: a.apply,
        backups: items,
        removed,
        orphans_removed,
        orphans_kept_young: orphans_young,
    };
    if a.json {
        print_json(&report)?;
    } else if !a.quiet {
        print_text(&a, &report);
    }
    Ok(Outcome::Ok)
}

fn policy(a: &PruneArgs) -> Result<retention::Policy, Failure> {
    let max_age_ms = a
        .max_age
        .as_deref()
        .map(retention::parse_duration)
        .transpose()
        .map_err(Failure)?;
    let policy = retention::Policy {
        keep_last: a.keep_last,
        keep_daily: a.keep_daily,
        keep_weekly: a.keep_weekly,
        max_age_ms,
    };
    if policy.is_empty() {
        return Err(Failure(
            "give at least one of --keep-last, --keep-daily, --keep-weekly, --max-age".into(),
        ));
    }
    Ok(policy)
}

/// The policy's verdict on every backup, and (with --apply) the ids deleted.
fn prune_backups(
    a: &PruneArgs,
    repo: &Repo,
    entries: &[Entry],
    policy: &retention::Policy,
    now: i64,
) -> Result<(Vec<PruneItem>, Vec<String>), Failure> {
    let candidates: Vec<retention::Candidate> = entries
        .iter()
        .map(|e| retention::Candidate {
            id: e.id.clone(),
            time_ms: e.time_ms,
            verified: e.verified,
        })
        .collect();
    let plan = retention::plan(&candidates, policy, now);
    let mut removed = Vec::new();
    let mut items = Vec::new();
    for d in &plan {
        let Some(e) = entries.iter().find(|e| e.id == d.id) else {
            continue;
        };
        if !d.keep && a.apply {
            // Entry first: a crash in between leaves orphan data, never an entry without data.
            repo.delete(&Entry::key(&e.id))
                .map_err(|err| Failure(format!("can't delete {}: {err}", e.id)))?;
            match repo.delete(&e.object) {
                Ok(()) => {}
                Err(err) if repo::is_not_found(&err) => {}
                Err(err) => return Err(Failure(format!("can't delete {}: {err}", e.object))),
            }
            removed.push(e.id.clone());
        }
        items.push(PruneItem {
            id: e.id.clone(),
            time: e.time.clone(),
            keep: d.keep,
            reasons: d.reasons.clone(),
        });
    }
    Ok((items, removed))
}

/// Unfinished backups: data without an entry, partial uploads; young ones may still be in
/// progress. Returns (removed or to remove, kept as young).
fn prune_unfinished(
    a: &PruneArgs,
    repo: &Repo,
    entries: &[Entry],
    removed: &[String],
    grace_ms: i64,
    now: i64,
) -> Result<(Vec<String>, Vec<String>), Failure> {
    let mut orphans_removed = Vec::new();
    let mut orphans_young = Vec::new();
    let entries_after: Vec<Entry> = entries
        .iter()
        .filter(|e| !removed.contains(&e.id))
        .cloned()
        .collect();
    for m in orphans(repo, &entries_after)? {
        let key = m.location.to_string();
        if entries.iter().any(|e| e.object == key) {
            continue; // just pruned above
        }
        let age_ms = (now - m.last_modified.timestamp_millis()).max(0);
        if age_ms < grace_ms {
            orphans_young.push(key);
            continue;
        }
        if a.apply {
            repo.delete(&key)
                .map_err(|err| Failure(format!("can't delete {key}: {err}")))?;
        }
        orphans_removed.push(key);
    }
    let unfinished = repo
        .unfinished()
        .map_err(|e| Failure(format!("can't list {}: {e}", repo.location)))?;
    for u in unfinished {
        if now - u.modified_ms < grace_ms {
            orphans_young.push(u.name);
            continue;
        }
        if a.apply {
            repo.remove_unfinished(&u)
                .map_err(|err| Failure(format!("can't delete {}: {err}", u.name)))?;
        }
        orphans_removed.push(u.name);
    }
    Ok((orphans_removed, orphans_young))
}

fn print_text(a: &PruneArgs, report: &PruneReport) {
    let verb = if a.apply { "removed" } else { "would remove" };
    for i in &report.backups {
        println!(
            "{} {}  {}  ({})",
            if i.keep { "keep  " } else { "remove" },
            i.id,
            i.time,
            i.reasons.join(", ")
        );
    }
    for o in &report.orphans_removed {
        println!("{verb} unfinished backup data {o}");
    }
    for o in &report.orphans_kept_young {
        println!("keep   unfinished backup data {o} (younger than --orphan-grace {}; may be in progress)", a.orphan_grace);
    }
    let n = report.backups.iter().filter(|i| !i.keep).count();
    println!(
        "{}: {n} of {} backups{}",
        if a.apply {
            "Removed"
        } else {
            "Dry run, would remove"
        },
        report.backups.len(),
        if a.apply {
            ""
        } else {
            " (add --apply to delete)"
        }
    );
}
