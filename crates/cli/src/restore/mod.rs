//! `amber restore ID`: a backup back into service.
//!
//! - `--data-dir DIR [--config redis.conf]`: offline, for a stopped server. Refuses while
//!   anything uses DIR (see `inuse`). Downloads and checks the backup into temp files first,
//!   then moves what was there aside (DIR/amber-restore-<time>/, never deleted), then
//!   installs: DIR/<dbfilename> (temp → fsync → rename → fsync dir) and, when the server
//!   will start with `appendonly yes`, a fresh AOF directory whose base is the same RDB
//!   (the AOF wins at start: a dump.rdb alone would be ignored).
//! - `--into HOST:PORT [--replace]`: online, into a running server: RESTORE per key,
//!   pipelined, with absolute TTLs; without --replace, refuses if any key already exists.
//! - `--to-time T | --to-offset N`: point-in-time recovery from an archive, offline
//!   (`pitr`) or online (`pitr_online`), on what `archived` shares.

pub mod aof_base;
mod archived;
pub mod cut;
pub mod inuse;
mod offline;
mod online;
pub mod pick;
mod pitr;
mod pitr_online;
mod writeback;

use std::path::PathBuf;

use serde::Serialize;

use crate::backup::print_json;
use crate::backup::repo::Repo;
use crate::backup::{AuthArgs, RepoArg};
use crate::{Failure, Outcome};
use pick::{Choice, Skipped};

#[derive(clap::Args)]
pub struct Args {
    /// The backup id (see `amber backup list`), or `latest`: the newest backup this restore
    /// would not refuse (newer ones whose verification failed are skipped, and named).
    /// Not with --to-time / --to-offset, which restore from the archive (`amber archive`).
    #[arg(required_unless_present_any = ["to_time", "to_offset"], conflicts_with_all = ["to_time", "to_offset"])]
    id: Option<String>,
    /// Point-in-time recovery from the archive: every command that reached the archiver at or
    /// before this time (RFC 3339 such as 2025-01-31T12:34:56.789Z, Unix seconds, or
    /// `latest`), on the base of the newest timeline that starts before it. Offline (with
    /// --data-dir) it writes an AOF (start the server with appendonly yes); online (with
    /// --into) it RESTOREs the base and replays the commands into the running server.
    #[arg(long, value_name = "TIME")]
    to_time: Option<String>,
    /// Point-in-time recovery up to this replication offset (a MULTI/EXEC is never split).
    #[arg(long, value_name = "OFFSET")]
    to_offset: Option<u64>,
    /// With --to-time/--to-offset: this timeline (see `amber archive status`).
    #[arg(long, value_name = "ID")]
    timeline: Option<String>,
    /// With --to-time/--to-offset: a restore that stops early at a damaged or missing segment
    /// exits 0 instead of 3.
    #[arg(long)]
    allow_partial: bool,
    #[command(flatten)]
    repo: RepoArg,
    /// Offline restore into this data directory (the server must be stopped).
    #[arg(long, value_name = "DIR", conflicts_with = "into")]
    data_dir: Option<PathBuf>,
    /// The configuration the server will start with: dir, dbfilename, appendonly,
    /// appendfilename, appenddirname and pidfile are read from it.
    #[arg(long, value_name = "redis.conf", conflicts_with = "into")]
    config: Option<PathBuf>,
    /// The RDB file name (default: the config's dbfilename, else dump.rdb).
    #[arg(long, conflicts_with = "into")]
    dbfilename: Option<String>,
    /// Online restore into a running server.
    #[arg(long, value_name = "HOST:PORT")]
    into: Option<String>,
    /// With --into: overwrite keys that exist (RESTORE ... REPLACE); with --to-time or
    /// --to-offset, restore into a server that holds keys (refused without it).
    #[arg(long, requires = "into")]
    replace: bool,
    #[command(flatten)]
    auth: AuthArgs,
    /// Restore a backup whose last verification failed (with `latest`: the newest backup,
    /// whether its verification failed or not).
    #[arg(long)]
    force: bool,
    /// Print the report as JSON on stdout (no progress bar).
    #[arg(long)]
    json: bool,
    /// No progress bar; the report is still printed.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(a: Args) -> Result<Outcome, Failure> {
    let repo = Repo::open(&a.repo, false)?;
    let Some(id) = a.id.clone() else {
        return match &a.into {
            Some(addr) => pitr_online::run(&a, &repo, addr),
            None => pitr::run(&a, &repo),
        };
    };
    let (entry, skipped) = match pick::choose(&repo, &id, a.into.is_some(), a.force)? {
        Choice::Restore(e, skipped) => (e, skipped),
        Choice::Refuse(problem, skipped) => return refuse(&a, problem, skipped),
    };
    if !a.json && !skipped.is_empty() {
        // Said before the work starts, so that whoever wanted the newer one can stop it.
        for l in pick::skipped_lines(&skipped) {
            println!("note: {l}");
        }
        println!(
            "note: latest restorable backup: {} ({})",
            entry.id, entry.time
        );
    }
    match &a.into {
        Some(addr) => online::run(&a, &repo, &entry, addr, skipped),
        None => offline::offline(&a, &repo, &entry, skipped),
    }
}

#[derive(Serialize)]
struct Refusal {
    ok: bool,
    backup: String,
    refused: bool,
    problem: String,
    skipped: Vec<Skipped>,
}

/// Nothing restored, by decision (exit 1, as every refused restore).
fn refuse(a: &Args, problem: String, skipped: Vec<Skipped>) -> Result<Outcome, Failure> {
    let r = Refusal {
        ok: false,
        backup: a.id.clone().unwrap_or_default(),
        refused: true,
        problem,
        skipped,
    };
    if a.json {
        print_json(&r)?;
    } else {
        println!("REFUSED: {}", r.problem);
        for l in pick::skipped_lines(&r.skipped) {
            println!("  {l}");
        }
    }
    Ok(Outcome::Problem)
}
