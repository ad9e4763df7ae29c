//! Which backup `amber restore ID` restores, decided before a byte moves.
//!
//! A named backup is restored, or refused when restoring it would not be sound: its last
//! verification failed (unless `--force`), or it holds what cannot go in key by key and the
//! restore is online. `latest` means the newest backup that would not be refused, and the
//! newer ones passed over are reported with why.

use serde::Serialize;

use crate::backup::catalog::Entry;
use crate::backup::repo::Repo;
use crate::backup::{self};
use crate::Failure;

/// A newer backup `latest` passed over.
#[derive(Clone, Serialize)]
pub struct Skipped {
    pub id: String,
    pub why: String,
}

pub enum Choice {
    Restore(Box<Entry>, Vec<Skipped>),
    /// Nothing is restored; the message says why and what to do.
    Refuse(String, Vec<Skipped>),
}

/// Why this restore refuses `e` (None: it does not), and what would make it go.
fn refusal(e: &Entry, online: bool, force: bool) -> Option<(String, &'static str)> {
    if !e.verified && !force {
        if let Some(err) = &e.verify_error {
            return Some((
                format!("its last verification failed ({err})"),
                "--force restores it anyway",
            ));
        }
    }
    match (&e.unsupported, online) {
        (Some(u), true) => Some((
            format!("it holds what amber cannot restore key by key ({u})"),
            "restore it offline with --data-dir",
        )),
        _ => None,
    }
}

pub fn choose(repo: &Repo, id: &str, online: bool, force: bool) -> Result<Choice, Failure> {
    if id != "latest" {
        let e = backup::find(repo, id)?;
        let Some((why, fix)) = refusal(&e, online, force) else {
            return Ok(Choice::Restore(Box::new(e), Vec::new()));
        };
        let mut msg = format!("backup {} is not restored: {why}; {fix}", e.id);
        if let Some(ok) = newest_restorable(repo, online, force)?.filter(|ok| ok.id != e.id) {
            msg.push_str(&format!(
                ". The newest restorable backup is {} ({})",
                ok.id, ok.time
            ));
        }
        return Ok(Choice::Refuse(msg, Vec::new()));
    }
    let (entries, _) = backup::load_catalog(repo)?;
    if entries.is_empty() {
        return Err(Failure(format!("{} holds no backup", repo.location)));
    }
    let mut skipped = Vec::new();
    let mut fixes: Vec<&str> = Vec::new();
    for e in entries.into_iter().rev() {
        match refusal(&e, online, force) {
            None => return Ok(Choice::Restore(Box::new(e), skipped)),
            Some((why, fix)) => {
                if !fixes.contains(&fix) {
                    fixes.push(fix);
                }
                skipped.push(Skipped { id: e.id, why });
            }
        }
    }
    let msg = format!(
        "no backup in {} can be restored this way (each is listed with why): {}",
        repo.location,
        fixes.join("; ")
    );
    Ok(Choice::Refuse(msg, skipped))
}

fn newest_restorable(repo: &Repo, online: bool, force: bool) -> Result<Option<Entry>, Failure> {
    let (entries, _) = backup::load_catalog(repo)?;
    Ok(entries
        .into_iter()
        .rev()
        .find(|e| refusal(e, online, force).is_none()))
}

/// Text lines for the backups `latest` passed over.
pub fn skipped_lines(skipped: &[Skipped]) -> impl Iterator<Item = String> + '_ {
    skipped
        .iter()
        .map(|s| format!("skipped backup {}: {}", s.id, s.why))
}
