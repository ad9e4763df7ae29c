//! The checklist. `run_all` gathers what this machine can see of the server's directory once,
//! then every check turns the server's answers and those facts into one finding. Checks are
//! always all present, in this order, so monitoring can key on `check`.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use amber_persist::aof::{self, CheckError, CheckOptions, Judgment, LoadAction, Verdict};
use amber_persist::PCode;

use super::local::{self, FsStat};
use super::{Finding, Server, Status};
use crate::client::Reply;
use crate::human::size;

pub const CHECKS: &[&str] = &[
    "server",
    "persistence",
    "misconf",
    "dir_writable",
    "disk_space",
    "last_save",
    "fork",
    "aof_status",
    "aof_fsync",
    "rdb_file",
    "aof_files",
    "rdb_vs_aof",
];

/// What this machine sees of the server's data directory.
struct Local {
    dir: PathBuf,
    /// `dir` is the server's own directory (not a copy given with --data-dir).
    server_dir: bool,
    fs: std::io::Result<FsStat>,
    probe: std::io::Result<()>,
}

struct Ctx<'a> {
    srv: &'a Server,
    local: Option<Local>,
    /// The server runs on this machine (loopback), so /proc and sysctls are its.
    same_host: bool,
    rdb_on: bool,
    aof_on: bool,
    save_points: Vec<(u64, u64)>,
    now: i64,
    /// `redis-cli -h H -p P`, for fixes.
    cli: String,
    /// `dump.rdb` decoded once (rdb_file and rdb_vs_aof both need it).
    rdb: std::cell::OnceCell<RdbChecked>,
}

type RdbChecked = std::io::Result<Result<local::RdbCheck, (u64, String)>>;

impl Ctx<'_> {
    fn rdb_check(&self, p: &Path) -> &RdbChecked {
        self.rdb.get_or_init(|| local::check_rdb(p))
    }

    /// Keys in the server's databases (INFO keyspace).
    fn server_keys(&self) -> u64 {
        self.srv
            .info
            .iter()
            .filter(|(k, _)| k.starts_with("db") && k[2..].parse::<u32>().is_ok())
            .filter_map(|(_, v)| v.split(',').find_map(|kv| kv.strip_prefix("keys=")))
            .filter_map(|n| n.parse::<u64>().ok())
            .sum()
    }
}

pub fn is_loopback(addr: &str) -> bool {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub fn parse_save(s: &str) -> Vec<(u64, u64)> {
    let n: Vec<u64> = s
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    n.chunks(2)
        .filter_map(|c| match c {
            [a, b] => Some((*a, *b)),
            _ => None,
        })
        .collect()
}

pub fn run_all(srv: &Server, data_dir: Option<&Path>) -> Vec<Finding> {
    let same_host = is_loopback(&srv.addr);
    let server_dir = srv.config("dir").map(PathBuf::from);
    let local =
        local::data_dir(same_host, server_dir.as_deref(), data_dir).map(|(dir, server_dir)| {
            Local {
                fs: local::statvfs(&dir),
                probe: local::probe_write(&dir),
                dir,
                server_dir,
            }
        });
    let (host, port) = srv.addr.rsplit_once(':').unwrap_or((&srv.addr, "6379"));
    let ctx = Ctx {
        srv,
        local,
        same_host,
        rdb_on: !parse_save(srv.config("save").unwrap_or("")).is_empty(),
        aof_on: srv.info("aof_enabled") == Some("1") || srv.config("appendonly") == Some("yes"),
        save_points: parse_save(srv.config("save").unwrap_or("")),
        now: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
        cli: format!("redis-cli -h {host} -p {port}"),
        rdb: std::cell::OnceCell::new(),
    };
    let mut out = vec![
        server(&ctx),
        persistence(&ctx),
        misconf(&ctx),
        dir_writable(&ctx),
        disk_space(&ctx),
        last_save(&ctx),
        fork(&ctx),
        aof_status(&ctx),
        aof_fsync(&ctx),
        rdb_file(&ctx),
        aof_files(&ctx),
        rdb_vs_aof(&ctx),
    ];
    debug_assert!(out.iter().map(|f| f.check).eq(CHECKS.iter().copied()));
    if let Some(l) = &ctx.local {
        for f in &mut out {
            f.details
                .entry("data_dir")
                .or_insert_with(|| l.dir.display().to_string().into());
        }
    }
    out
}

fn ago(secs: i64) -> String {
    let s = secs.max(0);
    if s < 120 {
        format!("{s} s")
    } else if s < 7200 {
        format!("{} min", s / 60)
    } else if s < 172_800 {
        format!("{:.1} h", s as f64 / 3600.0)
    } else {
        format!("{:.1} days", s as f64 / 86400.0)
    }
}

fn restore_fix(c: &Ctx) -> String {
    let dir = c
        .local
        .as_ref()
        .map(|l| l.dir.display().to_string())
        .or_else(|| c.srv.config("dir").map(str::to_string))
        .unwrap_or_else(|| "DIR".into());
    let conf = c
        .srv
        .info("config_file")
        .filter(|s| !s.is_empty())
        .map(|s| format!(" --config {s}"))
        .unwrap_or_default();
    format!(
        "restore from a backup with the server stopped: amber backup verify latest --repo REPO, \
         then amber restore latest --repo REPO --data-dir {dir}{conf}"
    )
}

fn server(c: &Ctx) -> Finding {
    let s = c.srv;
    let version = s.info("redis_version").unwrap_or("?");
    let what = match s.info("amber_version") {
        Some(v) => format!("Amber {v} (answers as Redis {version})"),
        None => format!("Redis {version}"),
    };
    let role = s.info("role").unwrap_or("?");
    let keys: u64 = s
        .info
        .iter()
        .filter(|(k, _)| k.starts_with("db") && k[2..].parse::<u32>().is_ok())
        .filter_map(|(_, v)| {
            v.split(',')
                .next()?
                .strip_prefix("keys=")?
                .parse::<u64>()
                .ok()
        })
        .sum();
    let mut f = Finding::ok(
        "server",
        format!(
            "{what}, role {role}, {keys} keys, used_memory {}",
            size(s.info_u64("used_memory").unwrap_or(0))
        ),
    );
    if s.info("loading") == Some("1") {
        f = Finding::warn(
            "server",
            "LOADING",
            format!("{what} is still loading its dataset: what follows may change"),
        )
        .fix("Wait for the load to finish (INFO persistence loading_eta_seconds) and run doctor again.");
    }
    let mut f = f
        .detail("kind", if s.is_amber() { "amber" } else { "redis" })
        .detail("redis_version", version)
        .detail("role", role)
        .detail("keys", keys)
        .detail("used_memory", s.info_u64("used_memory").unwrap_or(0));
    if let Some(v) = s.info("amber_version") {
        f = f.detail("amber_version", v);
    }
    if let Some(e) = &s.config_error {
        f = f.detail("config_error", e.clone());
        if f.status == super::Status::Ok {
            f = Finding::warn(
                "server",
                "NO_CONFIG",
                format!("{what}: CONFIG GET failed ({e}): checks that need the configuration are guessed from INFO"),
            )
            .fix("Run doctor as a user allowed CONFIG GET (ACL +config|get), or with the renamed command restored.")
            .detail("kind", if s.is_amber() { "amber" } else { "redis" });
        }
    }
    f
}

fn persistence(c: &Ctx) -> Finding {
    let s = c.srv;
    let save = s.config("save").unwrap_or("");
    let fsync = s.config("appendfsync").unwrap_or("everysec");
    let f = if !c.rdb_on && !c.aof_on {
        Finding::warn(
            "persistence",
            "NO_PERSISTENCE",
            "no persistence: a restart loses everything (save \"\" and appendonly no)",
        )
        .fix(format!(
            "If this is not a pure cache: {cli} CONFIG SET appendonly yes (writes an AOF base \
             now), and/or {cli} CONFIG SET save \"3600 1 300 100 60 10000\"; then {cli} CONFIG \
             REWRITE so redis.conf keeps it. Either way, take backups: amber backup create --from {}.",
            s.addr,
            cli = c.cli
        ))
    } else {
        let mut parts = Vec::new();
        if c.rdb_on {
            parts.push(format!("RDB save points \"{save}\""));
        } else {
            parts.push("no RDB save points".into());
        }
        if c.aof_on {
            parts.push(format!("AOF on (appendfsync {fsync})"));
        } else {
            parts.push("AOF off".into());
        }
        Finding::ok("persistence", parts.join(", "))
    };
    f.detail("save", save)
        .detail("appendonly", c.aof_on)
        .detail("appendfsync", fsync)
}

/// What to do while the AOF cannot be written (a full disk, mostly): the server retries by
/// itself, so the fix is the space, and a restart would lose what waits in memory.
fn aof_write_fix(c: &Ctx) -> String {
    let dir = c.srv.config("dir").unwrap_or("the server's dir");
    format!(
        "Free space in {dir} (delete what is not the server's, or grow the filesystem; see \
         disk_space, dir_writable): the server retries the failed AOF write every second and \
         accepts writes again on its own once it succeeds (after a failed fsync Amber also \
         rewrites the AOF from memory by itself). Reads keep being served meanwhile. Do not \
         restart the server first: the writes waiting for the disk are only in its memory."
    )
}

fn misconf(c: &Ctx) -> Finding {
    let aof_err = c.aof_on && c.srv.info("aof_last_write_status") == Some("err");
    match &c.srv.ping {
        Reply::Error(e) if e.starts_with("MISCONF") && aof_err => Finding::error(
            "misconf",
            "MISCONF",
            format!("the server refuses writes: the AOF cannot be written (PING answers: {e})"),
        )
        .fix(aof_write_fix(c))
        .detail("ping", e.clone()),
        Reply::Error(e) if e.starts_with("MISCONF") => Finding::error(
            "misconf",
            "MISCONF",
            format!("the server refuses writes (PING answers: {e})"),
        )
        .fix(format!(
            "Fix the cause the other findings name (disk full, directory not writable, a failed \
             save), then {cli} BGSAVE (on Amber, an AOF error clears after a successful \
             BGREWRITEAOF): writes resume once a save succeeds. Only as a stopgap: {cli} CONFIG \
             SET stop-writes-on-bgsave-error no accepts writes that a restart may then lose.",
            cli = c.cli
        ))
        .detail("ping", e.clone()),
        Reply::Error(e) => Finding::warn("misconf", "PING_ERROR", format!("PING answered: {e}"))
            .detail("ping", e.clone()),
        r => Finding::ok("misconf", "writes are accepted (PING answers PONG)")
            .detail("ping", r.text()),
    }
}

fn not_here(c: &Ctx, check: &'static str) -> Finding {
    let dir = c.srv.config("dir").unwrap_or("?");
    Finding::skip(
        check,
        format!("the server's dir {dir} is not visible from here: run doctor on the server's machine or pass --data-dir"),
    )
    .detail("server_dir", dir)
}

fn dir_writable(c: &Ctx) -> Finding {
    let Some(l) = &c.local else {
        return not_here(c, "dir_writable");
    };
    let d = l.dir.display();
    let fix_perm = format!(
        "Give the server's user write access (chown -R redis:redis {d}; chmod 750 {d}), or point \
         dir at a writable directory; check mount options (ro) and SELinux/AppArmor."
    );
    if let Ok(fs) = &l.fs {
        if fs.read_only {
            return Finding::coded(
                "dir_writable",
                Status::Error,
                PCode::WriteErr,
                format!("{d} is on a read-only filesystem: no save can succeed"),
            )
            .fix(format!(
                "Remount it read-write (mount -o remount,rw), or move dir; the fs may have been \
                 remounted read-only after I/O errors: check dmesg. {fix_perm}"
            ));
        }
    }
    if let Err(e) = &l.probe {
        let code = PCode::from_io(e);
        let fix = if code == PCode::DiskFull {
            format!("Free space on the filesystem of {d} (old backups, logs, temp-*.rdb left by crashed saves), or grow it.")
        } else {
            fix_perm
        };
        return Finding::coded(
            "dir_writable",
            Status::Error,
            code,
            format!("can't create, write and fsync a file in {d}: {e}"),
        )
        .fix(fix)
        .detail("error", e.to_string());
    }
    let pid = c.srv.info_u64("process_id").unwrap_or(0) as u32;
    if l.server_dir && c.same_host && pid > 0 {
        if let Some(p) = local::server_proc(pid) {
            if let Some((ok, uid, gid, mode)) = local::proc_can_write(&p, &l.dir) {
                if !ok {
                    return Finding::coded(
                        "dir_writable",
                        Status::Error,
                        PCode::WriteErr,
                        format!(
                            "the server (pid {pid}, uid {}) can't create files in {d} (owner {uid}:{gid}, mode {mode:o})",
                            p.uid
                        ),
                    )
                    .fix(fix_perm);
                }
            }
        }
    }
    Finding::ok(
        "dir_writable",
        format!("{d}: a file was created, written, fsynced and removed"),
    )
}

/// About what the next snapshot (and AOF rewrite) writes next to the current files.
fn space_needed(c: &Ctx) -> (u64, u64) {
    let s = c.srv;
    let dump = c
        .local
        .as_ref()
        .and_then(|l| {
            std::fs::metadata(l.dir.join(s.config("dbfilename").unwrap_or("dump.rdb"))).ok()
        })
        .map(|m| m.len())
        .unwrap_or(0);
    let snapshot = if dump > 0 {
        dump
    } else {
        s.info_u64("used_memory").unwrap_or(0)
    };
    let copies = u64::from(c.rdb_on) + u64::from(c.aof_on);
    (snapshot * copies.max(1), snapshot)
}

fn disk_space(c: &Ctx) -> Finding {
    let Some(l) = &c.local else {
        return not_here(c, "disk_space");
    };
    let d = l.dir.display();
    let fs = match &l.fs {
        Ok(fs) => fs,
        Err(e) => return Finding::warn("disk_space", "STATFS", format!("can't statvfs {d}: {e}")),
    };
    let (need, snapshot) = space_needed(c);
    let aof = c.srv.info_u64("aof_current_size").unwrap_or(0);
    let what = format!(
        "{} free of {} on {d}; the next snapshot needs about {}{}",
        size(fs.free),
        size(fs.total),
        size(snapshot),
        if need > snapshot {
            format!(" ({} with an AOF rewrite)", size(need))
        } else {
            String::new()
        }
    );
    let fix = format!(
        "Free space on {d} (old backups, logs, stale temp-*.rdb / temp-rewriteaof-* files), grow \
         the filesystem, or move dir to a bigger one; keep at least twice the dataset free. \
         Then {} BGSAVE to check.",
        c.cli
    );
    let f = if fs.free == 0 || fs.free < need {
        Finding::coded("disk_space", Status::Error, PCode::DiskFull, what).fix(fix)
    } else if fs.free < need.saturating_mul(2) {
        Finding::warn(
            "disk_space",
            "LOW_DISK",
            format!("{what}: less than twice that is free"),
        )
        .fix(fix)
    } else {
        Finding::ok("disk_space", what)
    };
    f.detail("free_bytes", fs.free)
        .detail("total_bytes", fs.total)
        .detail("needed_bytes", need)
        .detail("snapshot_bytes", snapshot)
        .detail("aof_bytes", aof)
}

/// The code of Amber's own error field (`P004 DISK_FULL`), when set.
fn amber_code(v: Option<&str>) -> Option<PCode> {
    PCode::parse_prefix(v?)
}

/// The cause of a failed write when the server does not say: what the local probe found.
fn local_cause(c: &Ctx) -> Option<PCode> {
    let l = c.local.as_ref()?;
    if let Err(e) = &l.probe {
        return Some(PCode::from_io(e));
    }
    match &l.fs {
        Ok(fs) if fs.read_only => Some(PCode::WriteErr),
        Ok(fs) if fs.free == 0 || fs.free < space_needed(c).0 => Some(PCode::DiskFull),
        _ => None,
    }
}

fn last_save(c: &Ctx) -> Finding {
    let s = c.srv;
    let status = s.info("rdb_last_bgsave_status").unwrap_or("ok");
    let last = s.info_i64("rdb_last_save_time").unwrap_or(0);
    let age = c.now - last;
    let changes = s.info_u64("rdb_changes_since_last_save").unwrap_or(0);
    let in_progress = s.info("rdb_bgsave_in_progress") == Some("1");
    let base = format!(
        "last successful save {} ago, {changes} changes since",
        ago(age)
    );
    let f = if status != "ok" {
        let (code, name, why) = match amber_code(s.info("amber_rdb_last_error")) {
            Some(code) => (code, code.name().to_string(), "the server reports"),
            None => match local_cause(c) {
                Some(code) => (code, code.name().to_string(), "found on the data directory"),
                None if !s.is_amber() => (
                    PCode::ForkFail,
                    format!("{} or {}", PCode::ForkFail.name(), PCode::WriteErr.name()),
                    "Redis does not say why: look for \"Can't save in background: fork\" or \"Write error\" in its log",
                ),
                None => (
                    PCode::WriteErr,
                    PCode::WriteErr.name().to_string(),
                    "see the server log",
                ),
            },
        };
        let fix = match code {
            PCode::DiskFull => "Free disk space in dir (see disk_space), then BGSAVE.".to_string(),
            PCode::ForkFail => {
                "See the fork finding (vm.overcommit_memory=1) and the server log; then BGSAVE."
                    .to_string()
            }
            _ => "Make dir writable by the server's user (see dir_writable), then BGSAVE."
                .to_string(),
        };
        Finding::error(
            "last_save",
            code.code(),
            format!("{name}: the last background save failed ({why}); {base}"),
        )
        .fix(format!(
            "{fix} Until a save succeeds nothing newer than {} ago is on disk (and with \
             stop-writes-on-bgsave-error yes writes get MISCONF): {} BGSAVE, then check INFO \
             persistence rdb_last_bgsave_status:ok.",
            ago(age),
            c.cli
        ))
    } else {
        let overdue = c
            .save_points
            .iter()
            .find(|(secs, n)| changes >= *n && *n > 0 && age > *secs as i64 + 60);
        match overdue {
            Some((secs, n)) if !in_progress => Finding::warn(
                "last_save",
                "SAVE_OVERDUE",
                format!("{base}: the save point \"{secs} {n}\" should have saved by now"),
            )
            .fix(format!(
                "Look at the server log for save errors, and {} BGSAVE; if saves keep \
                 lagging, the disk is too slow for the dataset.",
                c.cli
            )),
            _ if !c.rdb_on && !c.aof_on && changes > 0 => Finding::warn(
                "last_save",
                "UNSAVED",
                format!("{base}, and nothing saves them (no save points, no AOF)"),
            )
            .fix(format!(
                "{} BGSAVE now, and see the persistence finding.",
                c.cli
            )),
            _ => Finding::ok(
                "last_save",
                format!(
                    "{base}{}",
                    if in_progress {
                        "; a save is running"
                    } else {
                        ""
                    }
                ),
            ),
        }
    };
    f.detail("rdb_last_bgsave_status", status)
        .detail("rdb_last_save_time", last)
        .detail("age_seconds", age)
        .detail("rdb_changes_since_last_save", changes)
        .detail("rdb_bgsave_in_progress", in_progress)
}

fn fork(c: &Ctx) -> Finding {
    let s = c.srv;
    if s.is_amber() {
        return Finding::ok(
            "fork",
            "Amber does not fork: BGSAVE, BGREWRITEAOF and SYNC take an in-process snapshot, \
             so vm.overcommit_memory and copy-on-write memory do not matter",
        );
    }
    let used = s.info_u64("used_memory").unwrap_or(0);
    let fork_usec = s.info_u64("latest_fork_usec").unwrap_or(0);
    if !c.same_host {
        return Finding::skip(
            "fork",
            "the server is on another machine: run doctor there to read vm.overcommit_memory and free memory",
        )
        .detail("latest_fork_usec", fork_usec);
    }
    let mem = local::meminfo();
    let avail = mem.get("MemAvailable").copied().unwrap_or(0);
    let swap_free = mem.get("SwapFree").copied().unwrap_or(0);
    let oc = local::overcommit_memory();
    let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .ok()
        .and_then(|t| {
            t.split_whitespace()
                .find(|w| w.starts_with('['))
                .map(|w| w.trim_matches(['[', ']']).to_string())
        });
    let fix = "sysctl vm.overcommit_memory=1, and make it permanent with \
               echo 'vm.overcommit_memory = 1' > /etc/sysctl.d/60-redis.conf (writing 1 to \
               /proc/sys/vm/overcommit_memory alone is lost at reboot); keep free RAM for \
               copy-on-write (up to used_memory under heavy writes): cap the dataset with \
               maxmemory, add RAM or swap — or run Amber, which never forks.";
    let ff = PCode::ForkFail.name();
    let numbers = format!(
        "used_memory {}, available RAM {}, free swap {}, vm.overcommit_memory {}",
        size(used),
        size(avail),
        size(swap_free),
        oc.map_or("?".to_string(), |v| v.to_string())
    );
    let tight = used > avail.saturating_add(swap_free);
    let mut f = match oc {
        Some(1) if tight => Finding::warn(
            "fork",
            PCode::ForkFail.code(),
            format!("{ff} risk: {numbers}: a fork works, but copy-on-write under writes can exhaust memory (OOM killer)"),
        )
        .fix(fix),
        Some(1) => Finding::ok("fork", format!("fork is safe: {numbers}")),
        Some(2) => {
            let limit = mem.get("CommitLimit").copied().unwrap_or(0);
            let committed = mem.get("Committed_AS").copied().unwrap_or(0);
            let g = format!(
                "{ff}: {numbers} (strict accounting: committed {} of {})",
                size(committed),
                size(limit)
            );
            if committed.saturating_add(used) > limit {
                Finding::error("fork", PCode::ForkFail.code(), format!("{g}: a BGSAVE fork will fail with \"Cannot allocate memory\"")).fix(fix)
            } else {
                Finding::warn("fork", PCode::ForkFail.code(), format!("{g}: forks fail once the dataset grows")).fix(fix)
            }
        }
        _ if tight => Finding::error(
            "fork",
            PCode::ForkFail.code(),
            format!("{ff}: {numbers}: a fork may be refused (\"Can't save in background: fork: Cannot allocate memory\")"),
        )
        .fix(fix),
        _ => Finding::warn(
            "fork",
            PCode::ForkFail.code(),
            format!("{ff} risk: {numbers}: with heuristic overcommit a BGSAVE fork can fail under memory pressure"),
        )
        .fix(fix),
    };
    if thp.as_deref() == Some("always") && f.status == super::Status::Ok {
        f = Finding::warn(
            "fork",
            "THP",
            format!("{numbers}; transparent huge pages are [always]: latency spikes and memory growth during BGSAVE"),
        )
        .fix("echo never > /sys/kernel/mm/transparent_hugepage/enabled (and at boot), then restart the server.");
    }
    if fork_usec > 500_000 {
        f.message
            .push_str(&format!("; the last fork took {} ms", fork_usec / 1000));
    }
    f.detail("used_memory", used)
        .detail("mem_available", avail)
        .detail("swap_free", swap_free)
        .detail("overcommit_memory", oc)
        .detail("transparent_hugepage", thp)
        .detail("latest_fork_usec", fork_usec)
}

fn aof_status(c: &Ctx) -> Finding {
    let s = c.srv;
    if !c.aof_on {
        return Finding::ok("aof_status", "AOF off");
    }
    let write = s.info("aof_last_write_status").unwrap_or("ok");
    let rewrite = s.info("aof_last_bgrewrite_status").unwrap_or("ok");
    let f = if write != "ok" {
        let code = amber_code(s.info("amber_aof_last_error"))
            .or_else(|| local_cause(c))
            .unwrap_or(PCode::WriteErr);
        Finding::coded(
            "aof_status",
            Status::Error,
            code,
            format!(
                "the last AOF write or fsync failed (aof_last_write_status:{write}); \
                 writes get MISCONF until it succeeds"
            ),
        )
        .fix(aof_write_fix(c))
    } else if rewrite != "ok" {
        Finding::warn(
            "aof_status",
            "AOF_REWRITE_ERR",
            "the last AOF rewrite failed: the AOF keeps growing and loads slower",
        )
        .fix(format!(
            "See the server log (disk space for the new base, fork on Redis), then {} BGREWRITEAOF.",
            c.cli
        ))
    } else {
        Finding::ok(
            "aof_status",
            format!(
                "AOF writes ok, last rewrite ok, size {}{}",
                size(s.info_u64("aof_current_size").unwrap_or(0)),
                if s.info("aof_rewrite_in_progress") == Some("1") {
                    ", a rewrite is running"
                } else {
                    ""
                }
            ),
        )
    };
    f.detail("aof_last_write_status", write)
        .detail("aof_last_bgrewrite_status", rewrite)
        .detail("amber_aof_last_error", s.info("amber_aof_last_error"))
        .detail("aof_current_size", s.info_u64("aof_current_size"))
}

fn aof_fsync(c: &Ctx) -> Finding {
    let s = c.srv;
    if !c.aof_on {
        return Finding::ok("aof_fsync", "AOF off: no fsync policy applies");
    }
    let policy = s.config("appendfsync").unwrap_or("everysec");
    let ops = s.info_u64("instantaneous_ops_per_sec").unwrap_or(0);
    let delayed = s.info_u64("aof_delayed_fsync").unwrap_or(0);
    let mut f = match policy {
        "always" if ops > 1000 => Finding::warn(
            "aof_fsync",
            "FSYNC_ALWAYS",
            format!(
                "appendfsync always at {ops} ops/s: every write waits for an fsync{}",
                if s.is_amber() {
                    " (Amber shares one fsync among the clients waiting: group commit), so write latency is the disk's fsync time"
                } else {
                    ", which bounds write throughput and latency"
                }
            ),
        )
        .fix("Keep always only if losing even one acknowledged write is unacceptable; everysec loses at most about a second of writes on a crash."),
        "always" => Finding::ok("aof_fsync", format!("appendfsync always: no acknowledged write is lost; {ops} ops/s now")),
        "no" => Finding::warn(
            "aof_fsync",
            "FSYNC_NO",
            "appendfsync no: the kernel writes the AOF back when it likes (about every 30 s): a power loss or kernel crash loses that much",
        )
        .fix(format!("{} CONFIG SET appendfsync everysec, then CONFIG REWRITE.", c.cli)),
        _ => Finding::ok("aof_fsync", "appendfsync everysec: at most about a second of writes lost on a crash"),
    };
    // The latency monitor's AOF events (aof-fsync-always, aof-write...): each one recorded
    // took at least latency-monitor-threshold ms.
    let slowest = s
        .latency
        .iter()
        .filter(|(e, _, _)| e.starts_with("aof-"))
        .max_by_key(|(_, _, max)| *max)
        .cloned();
    let slow_fix = "Put dir on a faster disk (SSD, no shared I/O with backups), lower the write rate, or consider no-appendfsync-on-rewrite yes (loses more on a crash during rewrites).";
    if delayed > 0 {
        f = Finding::warn(
            "aof_fsync",
            "SLOW_DISK",
            format!("{}; and {delayed} fsyncs were delayed (aof_delayed_fsync): the disk is too slow for the write load", f.message),
        )
        .fix(slow_fix);
    } else if let Some((event, _, max)) = &slowest {
        f = Finding::warn(
            "aof_fsync",
            "SLOW_DISK",
            format!("{}; and the latency monitor recorded an AOF {event} of {max} ms (LATENCY LATEST): every client waiting on it waited that long", f.message),
        )
        .fix(slow_fix);
    }
    let threshold = s.config("latency-monitor-threshold").unwrap_or("0");
    if threshold == "0" && policy == "always" {
        f = f.detail(
            "hint",
            format!("the latency monitor is off: {} CONFIG SET latency-monitor-threshold 100 records fsyncs slower than 100 ms", c.cli),
        );
    }
    if let Some((event, last, max)) = slowest {
        f = f
            .detail("latency_event", event)
            .detail("latency_last_ms", last)
            .detail("latency_max_ms", max);
    }
    f.detail("appendfsync", policy)
        .detail("instantaneous_ops_per_sec", ops)
        .detail("aof_delayed_fsync", delayed)
}

fn dump_path(c: &Ctx) -> Option<PathBuf> {
    Some(
        c.local
            .as_ref()?
            .dir
            .join(c.srv.config("dbfilename").unwrap_or("dump.rdb")),
    )
}

fn rdb_file(c: &Ctx) -> Finding {
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

fn manifest_path(c: &Ctx) -> Option<PathBuf> {
    let l = c.local.as_ref()?;
    let dirname = c.srv.config("appenddirname").unwrap_or("appendonlydir");
    let fname = c.srv.config("appendfilename").unwrap_or("appendonly.aof");
    Some(l.dir.join(dirname).join(format!("{fname}.manifest")))
}

fn aof_files(c: &Ctx) -> Finding {
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
    let sev = |error: bool| {
        if error && c.aof_on {
            super::Status::Error
        } else {
            super::Status::Warn
        }
    };
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
            sev(true),
            PCode::AofCorrupt,
            format!("the manifest {md} is invalid: {e}"),
        )
        .fix(format!("{live_fix}Otherwise {}.", restore_fix(c))),
        Err(CheckError::Io(p, e)) => Finding::coded(
            "aof_files",
            sev(true),
            PCode::AofCorrupt,
            format!("can't read {} (named by the manifest): {e}", p.display()),
        )
        .fix(format!("{live_fix}Otherwise {}.", restore_fix(c))),
        Ok(r) => {
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
                    let status = if loads {
                        super::Status::Warn
                    } else {
                        sev(true)
                    };
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
    };
    f.detail("manifest", md.to_string())
}

fn mtime(p: &Path) -> Option<i64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| m.mtime())
}

fn rdb_vs_aof(c: &Ctx) -> Finding {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_save_and_hosts() {
        assert_eq!(
            parse_save("3600 1 300 100 60 10000"),
            vec![(3600, 1), (300, 100), (60, 10000)]
        );
        assert!(parse_save("").is_empty());
        assert!(is_loopback("127.0.0.1:6379"));
        assert!(is_loopback("localhost:1"));
        assert!(is_loopback("[::1]:6379"));
        assert!(!is_loopback("10.0.0.5:6379"));
        assert_eq!(amber_code(Some("P004 DISK_FULL")), Some(PCode::DiskFull));
        assert_eq!(amber_code(Some("none")), None);
    }

    #[test]
    fn every_check_is_present_in_order_even_when_remote() {
        let srv = Server {
            addr: "10.0.0.5:6379".into(),
            info: super::super::parse_info(
                "# Server\r\nredis_version:7.0.15\r\nrdb_last_bgsave_status:ok\r\n",
            ),
            config: [("save", ""), ("appendonly", "no"), ("dir", "/nonexistent")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            config_error: None,
            ping: Reply::Status("PONG".into()),
            latency: Vec::new(),
        };
        let f = run_all(&srv, None);
        let names: Vec<&str> = f.iter().map(|f| f.check).collect();
        assert_eq!(names, CHECKS);
        assert_eq!(f[1].code.as_deref(), Some("NO_PERSISTENCE"));
        assert_eq!(f[3].status, super::super::Status::Skip);
    }
}
