//! `amber backup create|list|show|verify|prune`: consistent snapshots of a running server in
//! a backup repository (see `repo` for its layout, `catalog` for the entry format).

//!
//! ```text
//! mod.rs     the command line (clap), dispatch, list and show, what the commands share
//! create.rs  create: BGSAVE + copy (--local) or a replica's snapshot, stored, entry last
//! verify.rs  verify: read back whole and compared with the entry
//! prune.rs   prune: retention and unfinished uploads
//! repo.rs    the repository: a local directory or s3://bucket/prefix, same layout
//! s3.rs      s3:// URLs, the AWS settings, what S3 errors mean
//! transfer.rs  streaming upload and download of one object
//! ```

pub mod catalog;
pub(crate) mod create;
pub mod local;
mod prune;
pub mod repo;
pub mod retention;
pub mod s3;
pub mod stream;
pub mod sync;
mod transfer;
mod verify;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::client::Client;
use crate::{human, Failure, Outcome};
use catalog::Entry;
use repo::Repo;

#[derive(clap::Args, Clone)]
pub struct RepoArg {
    /// The backup repository: a directory, or s3://BUCKET/PREFIX on S3-compatible storage
    /// (created by the first `backup create`).
    #[arg(long, env = "AMBER_BACKUP_REPO", value_name = "REPO")]
    pub repo: String,
    /// With s3://: the S3 endpoint URL (else AWS_ENDPOINT_URL, else AWS itself).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// With s3://: the bucket's region (else AWS_REGION, AWS_DEFAULT_REGION, us-east-1).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
}

#[derive(clap::Args, Clone, Default)]
pub struct AuthArgs {
    /// ACL user for AUTH.
    #[arg(long)]
    pub user: Option<String>,
    /// Password for AUTH (or env AMBER_PASSWORD, then REDISCLI_AUTH).
    #[arg(long)]
    pub pass: Option<String>,
}

impl AuthArgs {
    pub fn password(&self) -> Option<String> {
        self.pass
            .clone()
            .or_else(|| std::env::var("AMBER_PASSWORD").ok())
            .or_else(|| std::env::var("REDISCLI_AUTH").ok())
            .filter(|p| !p.is_empty())
    }
}

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Take a snapshot of a running server into the repository.
    Create(CreateArgs),
    /// List the backups in the repository.
    List(ListArgs),
    /// Show one backup's catalog entry.
    Show(ShowArgs),
    /// Read backups back: checksums of stored and raw bytes, the whole RDB decoded.
    Verify(VerifyArgs),
    /// Remove backups the retention rules do not keep (dry run unless --apply).
    Prune(PruneArgs),
}

#[derive(clap::Args)]
pub struct CreateArgs {
    #[command(flatten)]
    repo: RepoArg,
    /// The server, HOST:PORT (default 127.0.0.1:6379 with --local).
    #[arg(long, value_name = "HOST:PORT")]
    from: Option<String>,
    #[command(flatten)]
    auth: AuthArgs,
    /// A server on this machine: BGSAVE, wait for it, copy DIR/dump.rdb.
    #[arg(long)]
    local: bool,
    /// With --local: the server's data directory (default: the server's CONFIG GET dir, as
    /// `amber doctor` finds it).
    #[arg(long, value_name = "DATA_DIR", requires = "local")]
    dir: Option<PathBuf>,
    /// With --local: the RDB file name (default: the server's CONFIG GET dbfilename, else
    /// dump.rdb).
    #[arg(long)]
    dbfilename: Option<String>,
    /// Don't announce the EOF capability: the server saves to its own disk first (its
    /// dbfilename, as BGSAVE would) and sends a sized payload. Redis's disk-based replication;
    /// it also skips the repl-diskless-sync-delay wait (5 s by default).
    #[arg(long)]
    disk_sync: bool,
    /// zstd level (1 fastest .. 19 smallest).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=19))]
    zstd_level: i32,
    /// Seconds to wait for the snapshot to start (and for BGSAVE with --local).
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Print the catalog entry as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Print nothing on success: no progress bar, no summary (for cron). Problems are still
    /// printed, and the exit code says how it went.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    repo: RepoArg,
    /// Print the backups (and leftovers of unfinished ones) as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct ShowArgs {
    /// A backup id, or `latest`.
    id: String,
    #[command(flatten)]
    repo: RepoArg,
    /// Print the catalog entry as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// A backup id, or `latest`.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    id: Option<String>,
    /// Every backup in the repository.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    repo: RepoArg,
    /// Print the results as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Print only problems: nothing when every backup checked is OK (for cron).
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    #[command(flatten)]
    repo: RepoArg,
    /// Keep the N newest.
    #[arg(long, value_name = "N")]
    keep_last: Option<usize>,
    /// Keep the newest of each of the D most recent days (UTC) that have a backup.
    #[arg(long, value_name = "D")]
    keep_daily: Option<usize>,
    /// Keep the newest of each of the W most recent ISO weeks that have a backup.
    #[arg(long, value_name = "W")]
    keep_weekly: Option<usize>,
    /// Remove backups older than this (30d, 12h, 2w, 1d12h), whatever keeps them.
    #[arg(long, value_name = "DUR")]
    max_age: Option<String>,
    /// Data without a catalog entry (a backup killed midway) older than this goes too.
    #[arg(long, value_name = "DUR", default_value = "1h")]
    orphan_grace: String,
    /// Delete for real (the default is a dry run that prints what would go).
    #[arg(long)]
    apply: bool,
    /// Print what is kept and removed as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Print nothing unless something fails (for cron).
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(cmd: Cmd) -> Result<Outcome, Failure> {
    match cmd {
        Cmd::Create(a) => create::create(a),
        Cmd::List(a) => list(a),
        Cmd::Show(a) => show(a),
        Cmd::Verify(a) => verify::verify(a),
        Cmd::Prune(a) => prune::prune(a),
    }
}

pub fn print_json<T: Serialize>(v: &T) -> Result<(), Failure> {
    let s =
        serde_json::to_string_pretty(v).map_err(|e| Failure(format!("can't write JSON: {e}")))?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{s}");
    Ok(())
}

/// Connects and authenticates.
pub fn connect(addr: &str, auth: &AuthArgs, timeout: Duration) -> Result<Client, Failure> {
    let mut c = Client::connect(addr, timeout)
        .map_err(|e| Failure(format!("can't connect to {addr}: {e}")))?;
    let pass = auth.password();
    match c.auth(auth.user.as_deref(), pass.as_deref()) {
        Ok(Ok(())) => Ok(c),
        Ok(Err(e)) => Err(Failure(format!("{addr} refused AUTH: {e}"))),
        Err(e) => Err(Failure(format!("{addr}: {e}"))),
    }
}

fn print_entry(e: &Entry) {
    println!("Backup {}", e.id);
    println!("  time:      {}", e.time);
    println!(
        "  source:    {} ({}), {}, run_id {}",
        e.source.address,
        e.source.method,
        e.source.server_label(),
        e.source.run_id.as_deref().unwrap_or("?")
    );
    if let Some(f) = &e.source.file {
        println!("  file:      {f}");
    }
    println!(
        "  RDB:       version {}, {} keys ({} with expiry), checksum {}",
        e.rdb_version,
        human::count(e.keys),
        human::count(e.expires),
        e.checksum
    );
    for d in &e.databases {
        println!(
            "    db{}: {} keys, {} with expiry",
            d.db,
            human::count(d.keys),
            human::count(d.expires)
        );
    }
    println!(
        "  size:      {} raw, {} stored ({}, {:.1}x)",
        human::size(e.raw_size),
        human::size(e.stored_size),
        e.compression,
        e.raw_size as f64 / (e.stored_size.max(1) as f64)
    );
    println!("  sha256:    raw {}", e.raw_sha256);
    println!("             stored {}", e.stored_sha256);
    println!("  object:    {}", e.object);
    match (&e.verified_at, e.verified) {
        (Some(t), true) => println!(
            "  verified:  yes, {t} ({})",
            e.verified_how.as_deref().unwrap_or("")
        ),
        (Some(t), false) => println!(
            "  verified:  FAILED {t}: {}",
            e.verify_error.as_deref().unwrap_or("")
        ),
        _ => println!("  verified:  no"),
    }
    if let Some(u) = &e.unsupported {
        println!("  content amber cannot decode: {u}");
    }
}

/// Every readable catalog entry, oldest first, and the names of unreadable ones.
pub fn load_catalog(repo: &Repo) -> Result<(Vec<Entry>, Vec<String>), Failure> {
    let (read, bad) = repo
        .read_parsed("catalog", ".json", Entry::from_json)
        .map_err(|e| Failure(format!("can't list {}: {e}", repo.location)))?;
    let mut entries: Vec<Entry> = read.into_iter().map(|(_, e)| e).collect();
    entries.sort_by(|a, b| a.time_ms.cmp(&b.time_ms).then_with(|| a.id.cmp(&b.id)));
    Ok((entries, bad))
}

/// The entry named `id` (`latest`: the newest).
pub fn find(repo: &Repo, id: &str) -> Result<Entry, Failure> {
    if id == "latest" {
        let (entries, _) = load_catalog(repo)?;
        return entries
            .into_iter()
            .last()
            .ok_or_else(|| Failure(format!("{} holds no backup", repo.location)));
    }
    if !catalog::valid_id(id) {
        return Err(Failure(format!("'{id}' is not a backup id")));
    }
    match repo.get(&Entry::key(id)) {
        Ok(b) => Entry::from_json(&b).map_err(|e| Failure(format!("catalog entry {id}: {e}"))),
        Err(e) if repo::is_not_found(&e) => {
            Err(Failure(format!("no backup {id} in {}", repo.location)))
        }
        Err(e) => Err(Failure(format!("catalog entry {id}: {e}"))),
    }
}

#[derive(Serialize)]
struct ListReport {
    repository: String,
    backups: Vec<Entry>,
    unreadable_entries: Vec<String>,
    /// Data objects without a catalog entry (a backup that did not finish).
    orphan_objects: Vec<String>,
    /// Partial uploads left by a killed backup.
    partial_uploads: usize,
}

/// Data objects no entry names.
fn orphans(repo: &Repo, entries: &[Entry]) -> Result<Vec<object_store::ObjectMeta>, Failure> {
    let data = repo
        .list("data")
        .map_err(|e| Failure(format!("can't list {}: {e}", repo.location)))?;
    Ok(data
        .into_iter()
        .filter(|m| !entries.iter().any(|e| e.object == m.location.as_ref()))
        .collect())
}

fn list(a: ListArgs) -> Result<Outcome, Failure> {
    let repo = Repo::open(&a.repo, false)?;
    let (entries, bad) = load_catalog(&repo)?;
    let orphan = orphans(&repo, &entries)?;
    let partial = repo
        .unfinished()
        .map_err(|e| Failure(format!("can't list {}: {e}", repo.location)))?
        .len();
    if a.json {
        print_json(&ListReport {
            repository: repo.location.clone(),
            backups: entries,
            unreadable_entries: bad,
            orphan_objects: orphan.iter().map(|m| m.location.to_string()).collect(),
            partial_uploads: partial,
        })?;
        return Ok(Outcome::Ok);
    }
    println!(
        "{:<28} {:<24} {:<21} {:>12} {:>10} {:>10}  verified",
        "ID", "TIME", "SOURCE", "KEYS", "RAW", "STORED"
    );
    for e in &entries {
        println!(
            "{:<28} {:<24} {:<21} {:>12} {:>10} {:>10}  {}",
            e.id,
            e.time,
            e.source.address,
            human::count(e.keys),
            human::size(e.raw_size),
            human::size(e.stored_size),
            match (e.verified, &e.verified_at) {
                (true, _) => "yes",
                (false, Some(_)) => "FAILED",
                _ => "no",
            }
        );
    }
    println!("{} backups in {}", entries.len(), repo.location);
    for b in &bad {
        println!("unreadable catalog entry: {b}");
    }
    if !orphan.is_empty() || partial > 0 {
        println!(
            "{} data objects without an entry and {partial} partial uploads (unfinished backups; `backup prune --apply` removes them)",
            orphan.len()
        );
    }
    Ok(Outcome::Ok)
}

fn show(a: ShowArgs) -> Result<Outcome, Failure> {
    let repo = Repo::open(&a.repo, false)?;
    let e = find(&repo, &a.id)?;
    if a.json {
        print_json(&e)?;
    } else {
        print_entry(&e);
    }
    Ok(Outcome::Ok)
}
