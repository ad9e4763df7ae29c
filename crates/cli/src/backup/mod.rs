//! `amber backup create|list|show|verify|prune`: consistent snapshots of a running server in
//! a backup repository (see `repo` for its layout, `catalog` for the entry format).

pub mod catalog;
pub mod local;
pub mod repo;
pub mod retention;
pub mod stream;
pub mod sync;

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use amber_persist::rdb::RdbError;
use serde::Serialize;

use crate::client::{Client, Info};
use crate::progress::Progress;
use crate::{human, Failure, Outcome};
use catalog::{Entry, Source};
use repo::Repo;

#[derive(clap::Args, Clone)]
pub struct RepoArg {
    /// The backup repository (a directory; created by the first `backup create`).
    #[arg(long, env = "AMBER_BACKUP_REPO", value_name = "REPO")]
    pub repo: PathBuf,
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
        Cmd::Create(a) => create(a),
        Cmd::List(a) => list(a),
        Cmd::Show(a) => show(a),
        Cmd::Verify(a) => verify(a),
        Cmd::Prune(a) => prune(a),
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

fn source_from_info(addr: &str, method: &str, info: &Info) -> Source {
    Source {
        address: addr.to_string(),
        method: method.into(),
        run_id: info.get("run_id").map(str::to_string),
        redis_version: info.get("redis_version").map(str::to_string),
        amber_version: info.get("amber_version").map(str::to_string),
        ..Source::default()
    }
}

#[derive(Serialize)]
struct CreateReport<'a> {
    ok: bool,
    entry: Option<&'a Entry>,
    problem: Option<String>,
}

fn create(a: CreateArgs) -> Result<Outcome, Failure> {
    if !a.local && a.from.is_none() {
        return Err(Failure(
            "give --from HOST:PORT (or --local for a server on this machine)".into(),
        ));
    }
    let repo = Repo::open(&a.repo.repo, true)?;
    let addr = a
        .from
        .clone()
        .unwrap_or_else(|| "127.0.0.1:6379".to_string());
    let started_ms = catalog::now_ms();
    let started = Instant::now();
    let id = catalog::new_id(started_ms);
    let timeout = Duration::from_secs(a.timeout.max(1));
    let mut c = connect(&addr, &a.auth, Duration::from_secs(30))?;
    let data_key = Entry::data_key(&id);
    let mut bar;
    let (source, taken, sink) = if a.local {
        let info = match c.info("server") {
            Ok(Ok(i)) => i,
            Ok(Err(e)) => return Err(Failure(format!("INFO server: {e}"))),
            Err(e) => return Err(Failure(format!("{addr}: {e}"))),
        };
        let dbfilename = match &a.dbfilename {
            Some(n) => n.clone(),
            None => config_get(&mut c, "dbfilename").unwrap_or_else(|| "dump.rdb".into()),
        };
        // --local means the server runs on this machine, whatever address reaches it.
        let server_dir = config_get(&mut c, "dir").map(PathBuf::from);
        let dir = match crate::doctor::local::data_dir(true, server_dir.as_deref(), a.dir.as_deref())
        {
            Some((dir, own)) => match &server_dir {
                Some(sd) if !own => {
                    return Err(Failure(format!(
                        "{addr} saves into {}, not {}: is --dir right?",
                        sd.display(),
                        dir.display()
                    )))
                }
                _ => dir,
            },
            None => {
                return Err(Failure(match &server_dir {
                    Some(sd) => format!(
                        "{addr} saves into {}, which is not a directory on this machine: is the server local? (else give --dir DATA_DIR)",
                        sd.display()
                    ),
                    None => format!(
                        "{addr} did not tell its directory (CONFIG GET dir): give --dir DATA_DIR"
                    ),
                }))
            }
        };
        let save_took = match local::bgsave_and_wait(&mut c, &dir, timeout) {
            Ok(t) => t,
            Err(e) => {
                let msg = format!("{} {}", e.code.code(), e.message);
                if a.json {
                    print_json(&CreateReport {
                        ok: false,
                        entry: None,
                        problem: Some(msg.clone()),
                    })?;
                }
                eprintln!("amber: backup not taken: {msg}");
                return Ok(Outcome::Problem);
            }
        };
        if !a.json && !a.quiet {
            eprintln!("BGSAVE done in {:.1}s", save_took.as_secs_f64());
        }
        let path = dir.join(&dbfilename);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (f, st) = local::open_checked(&path)
                .map_err(|e| Failure(format!("can't open {}: {e}", path.display())))?;
            bar = Progress::new(
                "copying",
                f.metadata().map(|m| m.len()).unwrap_or(0),
                a.quiet || a.json,
            );
            let w = repo
                .writer(&data_key)
                .map_err(|e| Failure(format!("can't store into {}: {e}", repo.location)))?;
            let mut src = std::io::BufReader::with_capacity(1 << 20, f);
            let (taken, w) = stream::take(&mut src, w, a.zstd_level, &mut bar)
                .map_err(|e| Failure(format!("copying {}: {e}", path.display())))?;
            bar.finish();
            match local::still_same(&path, st, &taken.raw_sha256) {
                Ok(Ok(())) => {
                    let mut s = source_from_info(&addr, "local", &info);
                    s.file = Some(path.display().to_string());
                    break (s, taken, w);
                }
                Ok(Err(why)) if attempt < 3 => {
                    drop(w);
                    eprintln!("amber: {why}; copying again");
                }
                Ok(Err(why)) => return Err(Failure(why)),
                Err(e) => return Err(Failure(format!("re-reading {}: {e}", path.display()))),
            }
        }
    } else {
        let hs = match sync::start(&mut c, a.disk_sync, timeout) {
            Ok(h) => h,
            Err(sync::SyncError::Refused(e)) => {
                let hint = if e.contains("unknown command") {
                    " (this server has no replication; for a server on this machine use --local)"
                } else {
                    ""
                };
                return Err(Failure(format!("{addr} refused the snapshot: {e}{hint}")));
            }
            Err(sync::SyncError::Io(e)) => {
                return Err(Failure(format!("{addr}: handshake failed: {e}")))
            }
        };
        let total = match hs.transfer {
            sync::Transfer::Length(n) => n,
            sync::Transfer::Mark(_) => 0,
        };
        let mut s = source_from_info(&addr, "network", &hs.info);
        s.replid = hs.replid.clone();
        s.repl_offset = hs.offset;
        if !hs.rdb_only && !a.quiet && !a.json {
            eprintln!("amber: the server does not know REPLCONF rdb-only; it will stream commands after the snapshot (ignored)");
        }
        bar = Progress::new("receiving", total, a.quiet || a.json);
        let w = repo
            .writer(&data_key)
            .map_err(|e| Failure(format!("can't store into {}: {e}", repo.location)))?;
        let mut payload = sync::Payload::new(&mut c.reader, hs.transfer);
        let (taken, w) = stream::take(&mut payload, w, a.zstd_level, &mut bar)
            .map_err(|e| Failure(format!("receiving the snapshot from {addr}: {e}")))?;
        bar.finish();
        (s, taken, w)
    };
    drop(c);

    let (summary, problem, keep_data) = match &taken.summary {
        Ok(s) => (Some(s.clone()), None, true),
        Err(e @ RdbError::Unsupported { .. }) => (None, Some(e.to_string()), true),
        Err(e) => (
            None,
            Some(format!("the snapshot is not a valid RDB: {e}")),
            false,
        ),
    };
    if !keep_data {
        drop(sink);
        if a.json {
            print_json(&CreateReport {
                ok: false,
                entry: None,
                problem: problem.clone(),
            })?;
        }
        eprintln!("amber: backup not stored: {}", problem.unwrap_or_default());
        return Ok(Outcome::Problem);
    }
    sink.finish()
        .map_err(|e| Failure(format!("can't store {data_key}: {e}")))?;
    let s = summary.clone().unwrap_or_default();
    let now = catalog::now_ms();
    let entry = Entry {
        format: catalog::FORMAT,
        id: id.clone(),
        time: catalog::rfc3339(started_ms),
        time_ms: started_ms,
        source,
        rdb_version: s.rdb_version,
        aux: s.aux.clone(),
        databases: s.databases.clone(),
        keys: s.keys,
        expires: s.expires,
        checksum: s.checksum.clone(),
        raw_size: taken.raw_size,
        raw_sha256: taken.raw_sha256.clone(),
        object: data_key.clone(),
        compression: "zstd".into(),
        stored_size: taken.stored_size,
        stored_sha256: taken.stored_sha256.clone(),
        verified: summary.is_some(),
        verified_at: summary.as_ref().map(|_| catalog::rfc3339(now)),
        verified_how: summary.as_ref().map(|_| "decoded while taken".to_string()),
        verify_error: None,
        unsupported: problem.clone(),
        duration_s: started.elapsed().as_secs_f64(),
    };
    // Last: only now does the backup exist.
    repo.put(&Entry::key(&id), entry.to_json(), true)
        .map_err(|e| Failure(format!("can't write the catalog entry: {e}")))?;
    if a.json {
        print_json(&CreateReport {
            ok: problem.is_none(),
            entry: Some(&entry),
            problem: problem.clone(),
        })?;
    } else {
        if !a.quiet {
            print_entry(&entry);
            let secs = entry.duration_s.max(1e-3);
            println!(
                "Took {:.1}s ({}/s raw)",
                entry.duration_s,
                human::size((entry.raw_size as f64 / secs) as u64)
            );
        }
        if let Some(p) = &problem {
            if a.quiet {
                println!("Backup {}", entry.id);
            }
            println!("NOT VERIFIED: the snapshot holds what amber cannot decode ({p}); stored and checksummed, restorable offline");
        }
    }
    Ok(if problem.is_none() {
        Outcome::Ok
    } else {
        Outcome::Problem
    })
}

fn config_get(c: &mut Client, name: &str) -> Option<String> {
    match c.call(&[b"CONFIG", b"GET", name.as_bytes()]).ok()? {
        crate::client::Reply::Array(Some(v)) if v.len() == 2 => Some(v[1].text()),
        _ => None,
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
    let metas = repo
        .list("catalog")
        .map_err(|e| Failure(format!("can't list {}: {e}", repo.location)))?;
    let mut entries = Vec::new();
    let mut bad = Vec::new();
    for m in metas {
        let key = m.location.to_string();
        if !key.ends_with(".json") {
            continue;
        }
        match repo
            .get(&key)
            .map_err(|e| e.to_string())
            .and_then(|b| Entry::from_json(&b))
        {
            Ok(e) => entries.push(e),
            Err(e) => bad.push(format!("{key}: {e}")),
        }
    }
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
    let repo = Repo::open(&a.repo.repo, false)?;
    let (entries, bad) = load_catalog(&repo)?;
    let orphan = orphans(&repo, &entries)?;
    let partial = repo.staging_leftovers().len();
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
    let repo = Repo::open(&a.repo.repo, false)?;
    let e = find(&repo, &a.id)?;
    if a.json {
        print_json(&e)?;
    } else {
        print_entry(&e);
    }
    Ok(Outcome::Ok)
}

#[derive(Serialize)]
struct VerifyResult {
    id: String,
    ok: bool,
    problems: Vec<String>,
    keys: u64,
    raw_size: u64,
    seconds: f64,
}

/// Reads a backup back whole and compares it with its entry. Problems found are returned;
/// `Err` only when the repository could not be read at all.
pub struct Checked {
    pub problems: Vec<String>,
    /// The RDB holds content amber cannot decode; checksums were still compared.
    pub unsupported: Option<String>,
}

pub fn check_backup(repo: &Repo, e: &Entry, quiet: bool) -> Result<Checked, Failure> {
    let mut unsupported = None;
    let mut problems = Vec::new();
    let r = match repo.reader(&e.object) {
        Ok(r) => r,
        Err(err) if repo::is_not_found(&err) => {
            return Ok(Checked {
                problems: vec![format!("the data object {} is missing", e.object)],
                unsupported,
            })
        }
        Err(err) => return Err(Failure(format!("can't read {}: {err}", e.object))),
    };
    let size_differs = (r.size() != e.stored_size).then(|| {
        format!(
            "the stored object is {} bytes, the catalog says {}",
            r.size(),
            e.stored_size
        )
    });
    let mut unpack = match stream::Unpack::new(r) {
        Ok(u) => u,
        Err(err) => {
            return Ok(Checked {
                problems: vec![format!("can't start decompressing: {err}")],
                unsupported,
            })
        }
    };
    let mut bar = Progress::new("verifying", e.raw_size, quiet);
    let summary = stream::summarize(&mut unpack, |o| bar.update(o));
    bar.finish();
    let (raw, stored) = unpack.finish_each();
    // The stored object's checksum first: when it differs, the object changed after the
    // backup was taken, and whatever the decoder says next is only a consequence.
    match stored {
        Ok((n, sha)) if sha != e.stored_sha256 => {
            problems.extend(size_differs);
            problems.push(format!(
                "SHA-256 mismatch: the stored object {} ({n} bytes) hashes to {sha}, the catalog recorded {} when the backup was taken: the file was changed or damaged since",
                e.object, e.stored_sha256
            ));
            return Ok(Checked {
                problems,
                unsupported,
            });
        }
        Ok(_) => problems.extend(size_differs),
        Err(err) => {
            return Ok(Checked {
                problems: vec![format!("can't read the stored object {}: {err}", e.object)],
                unsupported,
            })
        }
    }
    match &summary {
        Ok(s) => {
            if s.databases != e.databases || s.keys != e.keys || s.expires != e.expires {
                problems.push(format!(
                    "the RDB holds {} keys ({} with expiry) in {} databases, the catalog says {} ({}) in {}",
                    s.keys,
                    s.expires,
                    s.databases.len(),
                    e.keys,
                    e.expires,
                    e.databases.len()
                ));
            }
        }
        Err(RdbError::Io(err)) => {
            problems.push(format!("the stored object does not decompress: {err}"))
        }
        Err(err @ RdbError::Unsupported { .. }) => unsupported = Some(err.to_string()),
        Err(err) => problems.push(format!("the RDB does not decode: {err}")),
    }
    let rdb_len = summary.as_ref().map(|s| s.rdb_len).ok();
    let decoded_whole = summary.is_ok() || unsupported.is_some();
    match raw {
        Ok((raw_n, raw_sha)) => {
            if raw_sha != e.raw_sha256 || raw_n != e.raw_size {
                problems.push(format!(
                    "SHA-256 mismatch of the decompressed RDB: {raw_sha} ({raw_n} bytes), the catalog recorded {} ({} bytes)",
                    e.raw_sha256, e.raw_size
                ));
            }
            if let Some(l) = rdb_len {
                if l != raw_n {
                    problems.push(format!(
                        "{} bytes after the RDB's end",
                        raw_n.saturating_sub(l)
                    ));
                }
            }
        }
        Err(err) => {
            if decoded_whole {
                problems.push(format!("the stored object does not decompress: {err}"));
            }
        }
    }
    Ok(Checked {
        problems,
        unsupported,
    })
}

fn verify(a: VerifyArgs) -> Result<Outcome, Failure> {
    let repo = Repo::open(&a.repo.repo, false)?;
    let targets = if a.all {
        let (entries, bad) = load_catalog(&repo)?;
        for b in &bad {
            eprintln!("amber: unreadable catalog entry {b}");
        }
        entries
    } else {
        vec![find(&repo, a.id.as_deref().unwrap_or("latest"))?]
    };
    let mut results = Vec::new();
    for mut e in targets {
        let t = Instant::now();
        let Checked {
            mut problems,
            unsupported,
        } = check_backup(&repo, &e, a.quiet || a.json)?;
        let intact = problems.is_empty();
        let ok = intact && unsupported.is_none();
        if let (true, Some(u)) = (intact, &unsupported) {
            problems.push(format!(
                "checksums match, but the RDB holds what amber cannot decode: {u}"
            ));
        }
        e.unsupported = unsupported;
        e.verified = ok;
        e.verified_at = Some(catalog::rfc3339(catalog::now_ms()));
        e.verified_how = Some("read back by verify".into());
        e.verify_error = if intact {
            None
        } else {
            Some(problems.join("; "))
        };
        repo.put(&Entry::key(&e.id), e.to_json(), false)
            .map_err(|err| Failure(format!("can't update the catalog entry {}: {err}", e.id)))?;
        let r = VerifyResult {
            id: e.id.clone(),
            ok,
            problems,
            keys: e.keys,
            raw_size: e.raw_size,
            seconds: t.elapsed().as_secs_f64(),
        };
        if !a.json {
            if r.ok {
                if a.quiet {
                    results.push(r);
                    continue;
                }
                println!(
                    "{}: OK ({} keys, {} raw, {:.1}s)",
                    r.id,
                    human::count(r.keys),
                    human::size(r.raw_size),
                    r.seconds
                );
            } else {
                println!("{}: NOT OK", r.id);
                for p in &r.problems {
                    println!("  {p}");
                }
            }
        }
        results.push(r);
    }
    let all_ok = results.iter().all(|r| r.ok);
    if a.json {
        #[derive(Serialize)]
        struct Out {
            ok: bool,
            results: Vec<VerifyResult>,
        }
        print_json(&Out {
            ok: all_ok,
            results,
        })?;
    } else if a.all && !(a.quiet && all_ok) {
        println!(
            "{} of {} backups verified OK",
            results.iter().filter(|r| r.ok).count(),
            results.len()
        );
    }
    Ok(if all_ok {
        Outcome::Ok
    } else {
        Outcome::Problem
    })
}

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

fn prune(a: PruneArgs) -> Result<Outcome, Failure> {
    let max_age_ms = a
        .max_age
        .as_deref()
        .map(retention::parse_duration)
        .transpose()
        .map_err(Failure)?;
    let grace_ms = retention::parse_duration(&a.orphan_grace).map_err(Failure)?;
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
    let repo = Repo::open(&a.repo.repo, false)?;
    let (entries, _) = load_catalog(&repo)?;
    let now = catalog::now_ms();
    let candidates: Vec<retention::Candidate> = entries
        .iter()
        .map(|e| retention::Candidate {
            id: e.id.clone(),
            time_ms: e.time_ms,
            verified: e.verified,
        })
        .collect();
    let plan = retention::plan(&candidates, &policy, now);
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
    // Unfinished backups: data without an entry, partial uploads; young ones may still be
    // in progress.
    let mut orphans_removed = Vec::new();
    let mut orphans_young = Vec::new();
    let now_sys = SystemTime::now();
    let entries_after: Vec<Entry> = entries
        .iter()
        .filter(|e| !removed.contains(&e.id))
        .cloned()
        .collect();
    for m in orphans(&repo, &entries_after)? {
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
    for (p, t) in repo.staging_leftovers() {
        let age = now_sys.duration_since(t).unwrap_or_default();
        let name = p.display().to_string();
        if (age.as_millis() as i64) < grace_ms {
            orphans_young.push(name);
            continue;
        }
        if a.apply {
            std::fs::remove_file(&p)
                .map_err(|err| Failure(format!("can't delete {name}: {err}")))?;
        }
        orphans_removed.push(name);
    }
    let report = PruneReport {
        applied: a.apply,
        backups: items,
        removed,
        orphans_removed,
        orphans_kept_young: orphans_young,
    };
    if a.json {
        print_json(&report)?;
        return Ok(Outcome::Ok);
    }
    if a.quiet {
        return Ok(Outcome::Ok);
    }
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
    Ok(Outcome::Ok)
}
