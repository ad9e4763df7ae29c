//! Offline restore, for a stopped server: refuse while anything uses the data directory,
//! download and check into temp files, move what is there aside, install (see mod.rs).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use amber_persist::io::AtomicFile;
use serde::Serialize;

use super::aof_base::{self, FreshAof};
use super::inuse;
use super::pick::Skipped;
use super::writeback::Writeback;
use super::Args;
use crate::backup::catalog::{self, Entry};
use crate::backup::print_json;
use crate::backup::repo::Repo;
use crate::backup::stream::Unpack;
use crate::progress::Progress;
use crate::redis_conf::Conf;
use crate::{human, Failure, Outcome};

pub(super) fn stamp_now() -> String {
    let t = catalog::rfc3339(catalog::now_ms());
    // 2025-01-31T12:34:56.789Z → 20250131T123456Z
    let digits: String = t[..19]
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    format!("{digits}Z")
}

pub(super) fn fsync_dir(d: &Path) -> io::Result<()> {
    File::open(d)?.sync_all()
}

#[derive(Serialize)]
pub(super) struct OfflineReport {
    pub(super) ok: bool,
    pub(super) backup: String,
    pub(super) data_dir: String,
    pub(super) refused: Vec<String>,
    pub(super) moved_aside: Vec<(String, String)>,
    pub(super) written: Vec<String>,
    pub(super) appendonly: bool,
    pub(super) keys: u64,
    pub(super) raw_size: u64,
    pub(super) problem: Option<String>,
    pub(super) notes: Vec<String>,
    pub(super) start_with: Option<String>,
    /// Newer backups `latest` passed over, and why.
    pub(super) skipped: Vec<Skipped>,
}

pub(super) fn new_file(p: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(p)
}

/// Where and what the restore writes: from the arguments and the server's config.
pub(super) struct Target {
    pub(super) conf: Conf,
    pub(super) dir: PathBuf,
    pub(super) dbfilename: String,
    pub(super) appendfilename: String,
    pub(super) appenddirname: String,
    /// The server starts with appendonly yes: a fresh AOF directory is written too.
    pub(super) write_aof: bool,
    pub(super) notes: Vec<String>,
}

/// The restored files, written and checked, not yet in place.
pub(super) struct Staged {
    pub(super) rdb: Option<AtomicFile>,
    /// The new AOF directory, under a temp name in the data directory (when written).
    pub(super) aof_tmp: PathBuf,
    pub(super) fresh: FreshAof,
    pub(super) stamp: String,
}

impl Staged {
    /// Removes the temp files: nothing in the data directory was changed.
    pub(super) fn discard(self) {
        drop(self.rdb);
        let _ = std::fs::remove_dir_all(&self.aof_tmp);
    }
}

pub(super) fn offline(
    a: &Args,
    repo: &Repo,
    entry: &Entry,
    skipped: Vec<Skipped>,
) -> Result<Outcome, Failure> {
    let t = target(a)?;
    let mut report = OfflineReport {
        ok: false,
        backup: entry.id.clone(),
        data_dir: t.dir.display().to_string(),
        refused: Vec::new(),
        moved_aside: Vec::new(),
        written: Vec::new(),
        appendonly: t.write_aof,
        keys: entry.keys,
        raw_size: entry.raw_size,
        problem: None,
        notes: t.notes.clone(),
        start_with: None,
        skipped,
    };
    let lock = lock_unused(&t, &mut report.refused);
    if !report.refused.is_empty() {
        report.problem = Some("the data directory is in use; stop the server first".into());
        return finish_offline(a, report);
    }
    // 1. Download into temp files, checking as we go.
    let staged = match stage(a, repo, entry, &t)? {
        Ok(s) => s,
        Err(problem) => {
            report.problem = Some(problem);
            return finish_offline(a, report);
        }
    };
    // 2. Move what is there aside.
    let staged = move_aside(&t, staged, &mut report)?;
    // 3. Install.
    install(&t, staged, &mut report)?;
    drop(lock);
    report.ok = true;
    report.start_with = Some(start_command(
        entry.source.amber_version.is_some(),
        a.config.as_deref(),
        &t.conf,
        &t.dir,
        &t.dbfilename,
        t.write_aof,
    ));
    finish_offline(a, report)
}

/// The data directory (created if needed), the file names, and whether an AOF is written.
pub(super) fn target(a: &Args) -> Result<Target, Failure> {
    let conf = match &a.config {
        Some(p) => Conf::load(p).map_err(Failure)?,
        None => Conf::default(),
    };
    let mut notes = Vec::new();
    let dir = match (&a.data_dir, conf.get("dir")) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) if Path::new(d).is_absolute() => PathBuf::from(d),
        _ => {
            return Err(Failure(
                "give --data-dir DIR (or a --config with an absolute dir)".into(),
            ))
        }
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure(format!("can't create {}: {e}", dir.display())))?;
    let dir = std::fs::canonicalize(&dir)
        .map_err(|e| Failure(format!("can't open {}: {e}", dir.display())))?;
    if let (Some(_), Some(cd)) = (&a.data_dir, conf.get("dir")) {
        let same = Path::new(cd).is_relative() || std::fs::canonicalize(cd).is_ok_and(|c| c == dir);
        if !same {
            notes.push(format!(
                "the config's dir is {cd}, not {}: the server will not see this restore unless started with --dir {}",
                dir.display(),
                dir.display()
            ));
        }
    }
    let dbfilename = a
        .dbfilename
        .clone()
        .unwrap_or_else(|| conf.dbfilename().to_string());
    let appendfilename = conf.appendfilename().to_string();
    let appenddirname = conf.appenddirname().to_string();
    for n in [&dbfilename, &appendfilename, &appenddirname] {
        if !aof_base::plain_name(n) {
            return Err(Failure(format!(
                "'{n}' is not a plain file name; restore does not write it"
            )));
        }
    }
    // Without a config, an existing AOF directory says the server runs with AOF on.
    let write_aof = conf.appendonly() || (a.config.is_none() && dir.join(&appenddirname).is_dir());
    if write_aof && !conf.appendonly() {
        notes.push(format!(
            "{} exists, so the server probably runs with appendonly yes: the AOF base is written too (give --config to be sure)",
            dir.join(&appenddirname).display()
        ));
    }
    Ok(Target {
        conf,
        dir,
        dbfilename,
        appendfilename,
        appenddirname,
        write_aof,
        notes,
    })
}

/// The directory's lock when no process uses it; otherwise who does, in `refused`.
pub(super) fn lock_unused(t: &Target, refused: &mut Vec<String>) -> Option<inuse::Lock> {
    let pidfile = t.conf.get("pidfile").map(PathBuf::from);
    let users = inuse::users(&t.dir, pidfile.as_deref());
    let lock = if users.is_empty() {
        inuse::lock(&t.dir).map_err(|e| refused.push(e)).ok()
    } else {
        None
    };
    for u in &users {
        refused.push(format!(
            "process {} ({}) uses {}: {}",
            u.pid,
            u.name,
            t.dir.display(),
            u.how
        ));
    }
    lock
}

/// Downloads the backup into a temp RDB (and a temp AOF directory), checking both hashes.
/// `Ok(Err(problem))`: the backup is not what its entry says; nothing was changed.
fn stage(
    a: &Args,
    repo: &Repo,
    entry: &Entry,
    t: &Target,
) -> Result<Result<Staged, String>, Failure> {
    let stamp = stamp_now();
    let target = t.dir.join(&t.dbfilename);
    let rdb = AtomicFile::create(&target, true)
        .map_err(|e| Failure(format!("can't write into {}: {e}", t.dir.display())))?;
    let aof_tmp = t
        .dir
        .join(format!(".amber-restore-{stamp}.{}", t.appenddirname));
    let fresh = FreshAof::new(&t.appendfilename);
    let base = if t.write_aof {
        std::fs::create_dir(&aof_tmp)
            .and_then(|()| new_file(&aof_tmp.join(&fresh.base_name)))
            .map(Some)
            .map_err(|e| Failure(format!("can't create {}: {e}", aof_tmp.display())))?
    } else {
        None
    };
    let mut staged = Staged {
        rdb: Some(rdb),
        aof_tmp,
        fresh,
        stamp,
    };
    let quiet = a.quiet || a.json;
    let want = Want {
        object: &entry.object,
        raw_size: entry.raw_size,
        raw_sha256: &entry.raw_sha256,
        stored_sha256: &entry.stored_sha256,
    };
    let result = download(repo, &want, quiet, staged.rdb.as_mut(), base).and_then(|problem| {
        if problem.is_none() && t.write_aof {
            new_file(&staged.aof_tmp.join(&staged.fresh.incr_name))?.sync_all()?;
            // temp name, write, fsync, rename, fsync the directory: as the server does.
            staged
                .fresh
                .manifest
                .write_atomic(&staged.aof_tmp, &t.appendfilename)?;
        }
        Ok(problem)
    });
    match result {
        Ok(None) => Ok(Ok(staged)),
        Ok(Some(problem)) => {
            staged.discard();
            Ok(Err(format!(
                "{problem}; nothing in {} was changed",
                t.dir.display()
            )))
        }
        Err(e) => {
            staged.discard();
            Err(Failure(format!(
                "restoring into {}: {e} (nothing there was changed)",
                t.dir.display()
            )))
        }
    }
}

/// A stored RDB object and what its entry says it holds.
pub(super) struct Want<'a> {
    pub object: &'a str,
    pub raw_size: u64,
    pub raw_sha256: &'a str,
    pub stored_sha256: &'a str,
}

/// Streams the stored object into `rdb` (and the AOF base), then compares sizes and hashes
/// with the entry: `Some(problem)` when they differ.
pub(super) fn download(
    repo: &Repo,
    entry: &Want,
    quiet: bool,
    mut rdb: Option<&mut AtomicFile>,
    base: Option<File>,
) -> io::Result<Option<String>> {
    let mut base = base.map(Writeback::new);
    let r = repo.reader(entry.object)?;
    let mut unpack = Unpack::new(r)?;
    let mut bar = Progress::new("restoring", entry.raw_size, quiet);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let k = match unpack.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Ok(Some(format!("the stored backup does not decompress: {e}"))),
        };
        if let Some(r) = rdb.as_mut() {
            r.write_all(&buf[..k])?;
        }
        if let Some(b) = base.as_mut() {
            b.write_all(&buf[..k])?;
        }
        bar.update(unpack.raw_bytes());
    }
    bar.finish();
    let (raw_n, raw_sha, _, stored_sha) = unpack.finish()?;
    if stored_sha != entry.stored_sha256 {
        return Ok(Some(
            "SHA-256 of the stored object differs from the catalog".into(),
        ));
    }
    if raw_sha != entry.raw_sha256 || raw_n != entry.raw_size {
        return Ok(Some(
            "SHA-256 of the restored RDB differs from the catalog".into(),
        ));
    }
    if let Some(b) = base {
        b.finish()?;
    }
    Ok(None)
}

/// Moves the current dump file and AOF directory into a fresh `amber-restore-<time>/`
/// (never deleted).
pub(super) fn move_aside(
    t: &Target,
    staged: Staged,
    report: &mut OfflineReport,
) -> Result<Staged, Failure> {
    let dir = &t.dir;
    let stamp = &staged.stamp;
    // A fresh directory: two restores within a second must not overwrite what the first
    // moved aside.
    let aside = (0..)
        .map(|n| match n {
            0 => dir.join(format!("amber-restore-{stamp}")),
            n => dir.join(format!("amber-restore-{stamp}-{n}")),
        })
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .unwrap_or_else(|| dir.join(format!("amber-restore-{stamp}-x")));
    let mut to_move = vec![t.dbfilename.clone()];
    if dir.join(&t.appenddirname).exists() {
        to_move.push(t.appenddirname.clone());
    }
    for name in to_move {
        let from = dir.join(&name);
        if std::fs::symlink_metadata(&from).is_err() {
            continue;
        }
        let moved = std::fs::create_dir_all(&aside).and_then(|()| {
            let to = aside.join(&name);
            if std::fs::symlink_metadata(&to).is_ok() {
                return Err(io::Error::other(format!("{} exists", to.display())));
            }
            std::fs::rename(&from, to)
        });
        if let Err(e) = moved {
            staged.discard();
            return Err(Failure(format!("can't move {} aside: {e}", from.display())));
        }
        report.moved_aside.push((
            from.display().to_string(),
            aside.join(&name).display().to_string(),
        ));
    }
    if !report.moved_aside.is_empty() {
        fsync_dir(&aside)
            .and_then(|()| fsync_dir(dir))
            .map_err(|e| Failure(format!("fsync {}: {e}", dir.display())))?;
    }
    Ok(staged)
}

/// Renames the staged RDB and AOF directory into place, then gives them to the directory's
/// owner.
pub(super) fn install(
    t: &Target,
    staged: Staged,
    report: &mut OfflineReport,
) -> Result<(), Failure> {
    let target = t.dir.join(&t.dbfilename);
    if let Some(rdb) = staged.rdb {
        rdb.commit()
            .map_err(|e| Failure(format!("can't install {}: {e}", target.display())))?;
        report.written.push(target.display().to_string());
    }
    if t.write_aof {
        let aof_dir = t.dir.join(&t.appenddirname);
        std::fs::rename(&staged.aof_tmp, &aof_dir)
            .and_then(|()| fsync_dir(&t.dir))
            .map_err(|e| Failure(format!("can't install {}: {e}", aof_dir.display())))?;
        for n in staged.fresh.file_names() {
            report.written.push(aof_dir.join(n).display().to_string());
        }
    }
    // Root restoring for a server that runs as another user: the files must be the
    // server's, like the directory (the guide's `chown -R redis:redis` step).
    if let Some(n) = give_to_dir_owner(&t.dir, &report.written) {
        report.notes.push(n);
    }
    Ok(())
}

/// The command that starts a server on what was just restored into `dir`: the program the
/// backup came from (amber-server or redis-server), the config when one was given, and
/// whatever the config does not already say right (a config without an absolute `dir` equal
/// to `dir` would start in another directory and not see the restore).
pub(super) fn start_command(
    amber: bool,
    config: Option<&Path>,
    conf: &Conf,
    dir: &Path,
    dbfilename: &str,
    appendonly: bool,
) -> String {
    let server = if amber {
        "amber-server"
    } else {
        "redis-server"
    };
    let dir_arg = shell_word(&dir.display().to_string());
    let db_arg = shell_word(dbfilename);
    let Some(c) = config else {
        let aof = if appendonly { "yes" } else { "no" };
        return format!("{server} --dir {dir_arg} --dbfilename {db_arg} --appendonly {aof}");
    };
    let mut cmd = format!("{server} {}", shell_word(&c.display().to_string()));
    let conf_dir_is_dir = conf.get("dir").is_some_and(|d| {
        Path::new(d).is_absolute() && std::fs::canonicalize(d).is_ok_and(|d| d == dir)
    });
    if !conf_dir_is_dir {
        cmd.push_str(&format!(" --dir {dir_arg}"));
    }
    if conf.dbfilename() != dbfilename {
        cmd.push_str(&format!(" --dbfilename {db_arg}"));
    }
    cmd
}

/// `s` as one shell word: as it is when that is safe, else single-quoted.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:=@%+,".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Chowns `files` (and the AOF directory) to the owner of `dir` when they differ.
fn give_to_dir_owner(dir: &Path, files: &[String]) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let d = std::fs::metadata(dir).ok()?;
    let mut paths: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
    if let Some(parent) = paths.iter().find_map(|p| p.parent().filter(|q| *q != dir)) {
        paths.push(parent.to_path_buf());
    }
    let mut changed = 0;
    for p in &paths {
        let Ok(m) = std::fs::metadata(p) else {
            continue;
        };
        if m.uid() != d.uid() || m.gid() != d.gid() {
            if std::os::unix::fs::chown(p, Some(d.uid()), Some(d.gid())).is_err() {
                return Some(format!(
                    "could not give {} to the directory's owner (uid {}): the server may not be able to read it",
                    p.display(),
                    d.uid()
                ));
            }
            changed += 1;
        }
    }
    (changed > 0).then(|| {
        format!(
            "files given to uid {} gid {}, the owner of {}",
            d.uid(),
            d.gid(),
            dir.display()
        )
    })
}

fn finish_offline(a: &Args, r: OfflineReport) -> Result<Outcome, Failure> {
    if a.json {
        print_json(&r)?;
    } else {
        for x in &r.refused {
            println!("refused: {x}");
        }
        for (f, t) in &r.moved_aside {
            println!("moved aside: {f} -> {t}");
        }
        for w in &r.written {
            println!("wrote: {w}");
        }
        for n in &r.notes {
            println!("note: {n}");
        }
        match &r.problem {
            Some(p) => println!("NOT RESTORED: {p}"),
            None => {
                println!(
                    "Restored backup {} ({} keys, {}) into {}{}",
                    r.backup,
                    human::count(r.keys),
                    human::size(r.raw_size),
                    r.data_dir,
                    if r.appendonly {
                        " as dump.rdb and as the AOF base (appendonly yes loads the AOF)"
                    } else {
                        ""
                    }
                );
                if let Some(s) = &r.start_with {
                    println!("Start the server: {s}");
                }
            }
        }
    }
    Ok(if r.ok { Outcome::Ok } else { Outcome::Problem })
}
