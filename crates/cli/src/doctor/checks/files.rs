//! The checks of the files on disk: dump.rdb decoded to its CRC, every AOF file of the
//! manifest judged as the server's loader would, and which of the two a restart loads.

use std::path::{Path, PathBuf};

use amber_persist::aof::{
    self, CheckError, CheckOptions, CheckReport, Judgment, LoadAction, Verdict,
};
use amber_persist::PCode;

use super::{not_here, restore_fix, Ctx};
use crate::doctor::{Finding, Status};
use crate::human::size;

pub(super) fn dump_path(c: &Ctx) -> Option<PathBuf> {
    Some(
        c.local
            .as_ref()?
            .dir
            .join(c.srv.config("dbfilename").unwrap_or("dump.rdb")),
    )
}

pub(super) fn rdb_file(c: &Ctx) -> Finding {
    let Some(p) = dump_path(c) else {
        return not_here(c, "rdb_file");
    };
    let live = c.local.as_ref().is_some_and(|l| l.server_dir);
    let pd = p.display();
    if !p.exists() {
        return Finding::ok("rdb_file", format!("{pd} does not exist (no save yet)"))
            .detail("file", pd.to_string());
    }
    let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
    let f = match c.rdb_check(&p) {
        Err(e) => Finding::warn("rdb_file", "UNREADABLE", format!("can't read {pd}: {e}")),
        Ok(Ok(r)) => Finding::ok(
            "rdb_file",
            format!(
                "{pd}: valid RDB v{}, {} keys, {}, {}",
                r.version,
                r.keys,
                size(len),
                if r.checksum {
                    "CRC64 ok"
                } else {
                    "no checksum (rdbchecksum no)"
                }
            ),
        )
        .detail("keys", r.keys),
        Ok(Err((offset, msg))) => {
            let mut fix = String::new();
            if live && c.srv.info("loading") != Some("1") {
                fix.push_str(&format!(
                    "The running server's memory is intact: {} BGSAVE now replaces the file with \
                     a good one — before any restart, since a server started on this file refuses \
                     to start. ",
                    c.cli
                ));
            }
            fix.push_str(&format!(
                "amber check-rdb {pd} shows where it breaks; otherwise {}.",
                restore_fix(c)
            ));
            Finding::coded(
                "rdb_file",
                Status::Error,
                PCode::RdbCorrupt,
                format!("{pd} at offset {offset}: {msg}"),
            )
            .fix(fix)
            .detail("offset", *offset)
        }
    };
    f.detail("file", pd.to_string()).detail("size", len)
}

pub(super) fn manifest_path(c: &Ctx) -> Option<PathBuf> {
    let l = c.local.as_ref()?;
    let dirname = c.srv.config("appenddirname").unwrap_or("appendonlydir");
    let fname = c.srv.config("appendfilename").unwrap_or("appendonly.aof");
    Some(l.dir.join(dirname).join(format!("{fname}.manifest")))
}

pub(super) fn aof_files(c: &Ctx) -> Finding {
    let Some(m) = manifest_path(c) else {
        return not_here(c, "aof_files");
    };
    let md = m.display();
    let live = c.local.as_ref().is_some_and(|l| l.server_dir);
    if !m.exists() {
        return if c.aof_on && c.srv.info("loading") != Some("1") {
            Finding::warn(
                "aof_files",
                "AOF_MISSING",
                format!("appendonly is on but {md} does not exist"),
            )
            .fix(format!(
                "{} BGREWRITEAOF writes a new AOF from memory; check that dir/appenddirname are what you expect.",
                c.cli
            ))
        } else {
            Finding::ok("aof_files", format!("no AOF ({md} does not exist)"))
        }
        .detail("manifest", md.to_string());
    }
    let mut report = aof::check(&m, &CheckOptions::default());
    if matches!(report, Err(CheckError::Io(..)))
        && c.srv.info("aof_rewrite_in_progress") == Some("1")
    {
        // A rewrite may have swapped the files under us: once more.
        std::thread::sleep(std::time::Duration::from_millis(500));
        report = aof::check(&m, &CheckOptions::default());
    }
    let live_fix = if live && c.aof_on {
        format!(
            "The running server's memory is intact: {} BGREWRITEAOF writes a fresh base and \
             drops the damaged file — do it before any restart. ",
            c.cli
        )
    } else {
        String::new()
    };
    let f = match report {
        Err(CheckError::Manifest(_, e)) => Finding::coded(
            "aof_files",
            severity(c),
            PCode::AofCorrupt,
            format!("the manifest {md} is invalid: {e}"),
        )
        .fix(format!("{live_fix}Otherwise {}.", restore_fix(c))),
        Err(CheckError::Io(p, e)) => Finding::coded(
            "aof_files",
            severity(c),
            PCode::AofCorrupt,
            format!("can't read {} (named by the manifest): {e}", p.display()),
        )
        .fix(format!("{live_fix}Otherwise {}.", restore_fix(c))),
        Ok(r) => checked(c, &md.to_string(), &r, &live_fix),
    };
    f.detail("manifest", md.to_string())
}

/// A damaged AOF is an error when the server runs with appendonly yes, a warning otherwise.
fn severity(c: &Ctx) -> Status {
    if c.aof_on {
        Status::Error
    } else {
        Status::Warn
    }
}

/// The finding on a manifest whose files were all read: each file's judgment, and the first
/// bad one explained with what the loader would do and how to repair it.
fn checked(c: &Ctx, md: &str, r: &CheckReport, live_fix: &str) -> Finding {
    let files: Vec<serde_json::Value> = r
        .files
        .iter()
        .map(|f| {
            serde_json::json!({
                "name": f.name,
                "size": f.size,
                "valid_len": f.valid_len,
                "judgment": f.judgment.as_ref().map_or("ok", Judgment::name),
                "problem": f.problem.as_ref().map(|p| format!("{} at offset {}: {}", p.kind, p.offset, p.reason)),
            })
        })
        .collect();
    let total: u64 = r.files.iter().map(|f| f.size).sum();
    let bad = r.files.iter().find(|f| f.problem.is_some());
    let g = match (&r.verdict, bad) {
        (Verdict::Valid, _) | (_, None) => Finding::ok(
            "aof_files",
            format!("{} files, {}: every file valid", r.files.len(), size(total)),
        ),
        (v, Some(bf)) => {
            let p = bf
                .problem
                .as_ref()
                .map(|p| (p.offset, p.reason.clone(), p.kind))
                .unwrap_or((0, String::new(), ""));
            // The server's own rule (amber_persist::aof::load_action).
            let load_truncated = c.srv.config("aof-load-truncated") != Some("no");
            let loads = matches!(
                r.load_action(load_truncated),
                Some(LoadAction::Load | LoadAction::LoadCut { .. })
            );
            let check_fix = match v {
                Verdict::Fixable { valid_len, .. } => format!(
                    "with the server stopped, amber check-aof --fix {md} cuts {} at offset {valid_len} ({} bytes, {} complete commands after it are lost)",
                    bf.name,
                    bf.bytes_cut(),
                    bf.commands_cut()
                ),
                _ => format!("amber check-aof {md} cannot fix this by truncating ({}): {}", bf.name, restore_fix(c)),
            };
            let status = if loads { Status::Warn } else { severity(c) };
            Finding::coded(
                "aof_files",
                status,
                PCode::AofCorrupt,
                format!(
                    "{} {} at offset {}: {}{}",
                    bf.name,
                    p.2,
                    p.0,
                    p.1,
                    if loads {
                        " (the loader takes the valid prefix: aof-load-truncated yes)"
                    } else {
                        ""
                    }
                ),
            )
            .fix(format!("{live_fix}{check_fix}; or {}.", restore_fix(c)))
            .detail("offset", p.0)
            .detail("file", bf.name.clone())
        }
    };
    g.detail("files", files)
}

fn mtime(p: &Path) -> Option<i64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| m.mtime())
}

pub(super) fn rdb_vs_aof(c: &Ctx) -> Finding {
    let (Some(dump), Some(m)) = (dump_path(c), manifest_path(c)) else {
        return not_here(c, "rdb_vs_aof");
    };
    if !c.aof_on {
        return Finding::ok(
            "rdb_vs_aof",
            "appendonly no: at start the server loads the RDB file",
        );
    }
    if let Some(f) = rdb_not_loaded(c, &dump) {
        return f;
    }
    let Some(dump_t) = mtime(&dump) else {
        return Finding::ok(
            "rdb_vs_aof",
            "appendonly yes: at start the server loads the AOF (no RDB file here)",
        );
    };
    let aof_dir = m.parent().map(Path::to_path_buf).unwrap_or_default();
    let aof_t = std::fs::read_dir(&aof_dir).ok().and_then(|rd| {
        rd.filter_map(|e| e.ok())
            .filter_map(|e| mtime(&e.path()))
            .max()
    });
    let last_save = c.srv.info_i64("rdb_last_save_time").unwrap_or(0);
    let live = c.local.as_ref().is_some_and(|l| l.server_dir);
    let placed = !live || dump_t > last_save + 2;
    let f = match aof_t {
        Some(a) if dump_t <= a => Finding::ok(
            "rdb_vs_aof",
            "appendonly yes: the AOF is newer than the RDB file and is what the server loads at start",
        ),
        Some(_) if !placed => Finding::ok(
            "rdb_vs_aof",
            "appendonly yes: the RDB file is newer than the AOF, but it is this server's own last save; at start the AOF (which has every write) is loaded, not it",
        ),
        _ => Finding::warn(
            "rdb_vs_aof",
            "RDB_IGNORED",
            format!(
                "appendonly yes and {} is newer than the AOF{}: the RDB will NOT be loaded at start — the AOF is, or with no AOF the server starts empty",
                dump.display(),
                if aof_t.is_none() { " (there is no AOF)" } else { "" }
            ),
        )
        .fix(format!(
            "To start from this RDB, restore it so the AOF is rebuilt from it: amber restore ID \
             --repo REPO --data-dir {} --config redis.conf (it writes an AOF base from the \
             backup when the config says appendonly yes); or start once with appendonly no, then \
             CONFIG SET appendonly yes and CONFIG REWRITE.",
            c.local.as_ref().map(|l| l.dir.display().to_string()).unwrap_or_default()
        )),
    };
    f.detail("rdb_mtime", dump_t)
        .detail("aof_mtime", aof_t)
        .detail("rdb_last_save_time", last_save)
}

/// The RDB holds data the server did not load (appendonly yes): Amber says so in INFO
/// (`amber_rdb_not_loaded`, also once it has renamed the file aside); for any server, an RDB
/// with keys next to a server holding none is the same mistake seen from outside.
fn rdb_not_loaded(c: &Ctx, dump: &Path) -> Option<Finding> {
    let dir = dump.parent().map(Path::to_path_buf).unwrap_or_default();
    let dbfilename = c.srv.config("dbfilename").unwrap_or("dump.rdb");
    let rdb_keys = match dump.exists().then(|| c.rdb_check(dump)) {
        Some(Ok(Ok(r))) => r.keys,
        _ => 0,
    };
    let server_keys = c.server_keys();
    let (file, message) = match c.srv.info("amber_rdb_not_loaded").filter(|p| !p.is_empty()) {
        Some(p) => {
            let file = dir.join(p);
            let m =
                format!(
                "the server started with appendonly yes and an AOF holding no data, so it did not \
                 load {}{}: it started empty (it holds {server_keys} keys)",
                dir.join(dbfilename).display(),
                if p != dbfilename {
                    format!(" (kept as {} before its first save replaced it)", file.display())
                } else {
                    String::new()
                }
            );
            (file, m)
        }
        None if rdb_keys > 0 && server_keys == 0 && c.srv.info("loading") != Some("1") => {
            let m = format!(
                "{} holds {rdb_keys} keys but the server holds none: with appendonly yes it \
                 loaded the AOF, not the RDB, and its next save replaces the RDB",
                dump.display()
            );
            (dump.to_path_buf(), m)
        }
        None => return None,
    };
    let put_back = if file != dump {
        format!("mv {} {}, ", file.display(), dump.display())
    } else {
        String::new()
    };
    Some(
        Finding::warn("rdb_vs_aof", "RDB_IGNORED", message)
            .fix(format!(
                "If this RDB is the data to start from: stop the server, {put_back}start it once \
                 with appendonly no (it loads {}), then {} CONFIG SET appendonly yes and wait for \
                 aof_rewrite_in_progress:0 in INFO persistence (the AOF is written from the \
                 loaded data; CONFIG REWRITE if you changed redis.conf to start). Or restore a \
                 backup with amber restore ID --repo REPO --data-dir {} --config redis.conf, \
                 which writes the AOF base too.",
                dump.display(),
                c.cli,
                dir.display()
            ))
            .detail("rdb_file", file.display().to_string())
            .detail("rdb_keys", rdb_keys)
            .detail("server_keys", server_keys),
    )
}
