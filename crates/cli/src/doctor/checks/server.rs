//! The checks that read the server's own answers (INFO, CONFIG): what it is, its
//! persistence settings, MISCONF, the last save, fork safety, the AOF's writes and fsyncs.

use amber_persist::PCode;

use super::dir::local_cause;
use super::{ago, local, Ctx};
use crate::client::Reply;
use crate::doctor::{Finding, Status};
use crate::human::size;

pub(super) fn server(c: &Ctx) -> Finding {
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
        if f.status == Status::Ok {
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

pub(super) fn persistence(c: &Ctx) -> Finding {
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
pub(super) fn aof_write_fix(c: &Ctx) -> String {
    let dir = c.srv.config("dir").unwrap_or("the server's dir");
    format!(
        "Free space in {dir} (delete what is not the server's, or grow the filesystem; see \
         disk_space, dir_writable): the server retries the failed AOF write every second and \
         accepts writes again on its own once it succeeds (after a failed fsync Amber also \
         rewrites the AOF from memory by itself). Reads keep being served meanwhile. Do not \
         restart the server first: the writes waiting for the disk are only in its memory."
    )
}

pub(super) fn misconf(c: &Ctx) -> Finding {
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

/// The code of Amber's own error field (`P004 DISK_FULL`), when set.
pub(super) fn amber_code(v: Option<&str>) -> Option<PCode> {
    PCode::parse_prefix(v?)
}

pub(super) fn last_save(c: &Ctx) -> Finding {
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

pub(super) fn fork(c: &Ctx) -> Finding {
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
    if thp.as_deref() == Some("always") && f.status == Status::Ok {
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

pub(super) fn aof_status(c: &Ctx) -> Finding {
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

pub(super) fn aof_fsync(c: &Ctx) -> Finding {
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
