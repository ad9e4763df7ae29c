//! AOF rewrite, fork-less: BGREWRITEAOF, automatic rewrites, and turning appendonly on.
//!
//! ```text
//!   start (main thread, one step):  flush+fsync the current incr ─▶ open incr seq+1 and
//!       append to it from now on ─▶ point-in-time snapshot (same as BGSAVE)
//!   thread: the snapshot ─▶ <name>.<seq>.base.rdb (RDB preamble) or .base.aof (commands),
//!       temp file ─▶ fsync ─▶ rename
//!   done (main thread): manifest = new base + the incr opened at start; the rest becomes
//!       history ─▶ manifest temp ─▶ fsync ─▶ rename ─▶ fsync dir ─▶ history files deleted
//! ```
//!
//! The snapshot and the switch to the new incr happen in the same step of the main thread,
//! so base + new incr is exactly the dataset: nothing missed, nothing twice.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use amber_persist::aof::manifest::{base_file_name, Manifest};

use crate::save::{Format, Progress, SaveFailure, SnapshotJob};
use crate::server::Server;

/// A rewrite in progress.
pub struct Rewrite {
    pub started: Instant,
    pub progress: Arc<Progress>,
    /// The base being written (its name in the manifest once done).
    base_name: String,
    base_seq: i64,
    /// Whether the manifest already lists the incr opened at start (false when appendonly
    /// was just turned on: the manifest is written only once base and incr both exist).
    manifest_has_incr: bool,
    thread: Option<std::thread::JoinHandle<()>>,
    fed_since_start: u64,
}

impl Rewrite {
    pub fn note_fed(&mut self) {
        self.fed_since_start += 1;
    }
}

fn open_incr(path: &Path) -> std::io::Result<File> {
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(f)
}

/// Starts a rewrite. `Err` carries the reason, for the log.
pub fn start(srv: &mut Server) -> Result<(), String> {
    start_with(srv, true)
}

/// `switch_incr`: open a new incr file first (a rewrite of a running AOF). Without it (the
/// AOF was just turned on and already appends to a fresh incr), the manifest is written
/// only when the base is done.
pub fn start_with(srv: &mut Server, switch_incr: bool) -> Result<(), String> {
    let policy = srv.config.appendfsync;
    let name = srv.config.appendfilename.clone();
    let preamble = srv.config.aof_use_rdb_preamble;
    let timestamp = srv.config.aof_timestamp_enabled;
    let Some(aof) = srv.aof.as_mut() else {
        return Err("the append-only file is off".into());
    };
    if aof.rewrite.is_some() {
        return Err("Background append only file rewriting already in progress".into());
    }
    let dir = aof.dir.clone();
    let manifest_was_written = switch_incr;
    let mut manifest = aof.manifest.clone();
    if switch_incr {
        let incr = manifest.next_incr(&name).clone();
        let file = open_incr(&incr.path_in(&dir))
            .map_err(|e| format!("Can't open the append-only file {}: {e}", incr.name_lossy()))?;
        let Some(aof) = srv.aof.as_mut() else {
            return Err("the append-only file is off".into());
        };
        aof.switch_file(file, policy)
            .map_err(|e| format!("Can't flush the append-only file: {e}"))?;
        manifest
            .write_atomic(&dir, &name)
            .map_err(|e| format!("Can't update the AOF manifest: {e}"))?;
    }
    let base_seq = manifest.curr_base_seq + 1;
    let base_name = base_file_name(&name, base_seq, preamble);
    if let Some(aof) = srv.aof.as_mut() {
        aof.manifest = manifest;
    }
    let format = if preamble {
        Format::Rdb { aof_base: true }
    } else {
        Format::Commands { timestamp }
    };
    let job = SnapshotJob::begin(srv, format);
    let progress = job.progress.clone();
    let target = dir.join(&base_name);
    let fsync = srv.config.aof_rewrite_incremental_fsync;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("amber-aofrw".into())
        .spawn(move || {
            crate::save::background_priority();
            let dir = target
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            let file = target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let r = job.save_file(&dir, &file, fsync);
            drop(job);
            let _ = tx.send(r);
        })
        .map_err(|e| format!("Can't rewrite append only file in background: {e}"))?;
    if let Some(aof) = srv.aof.as_mut() {
        aof.rewrite = Some(Rewrite {
            started: Instant::now(),
            progress,
            base_name,
            base_seq,
            manifest_has_incr: manifest_was_written,
            thread: Some(thread),
            fed_since_start: 0,
        });
    }
    srv.log.notice(&format!(
        "Background append only file rewriting started by pid {} (fork-less snapshot)",
        std::process::id()
    ));
    if let Some(rc) = srv.self_ref.upgrade() {
        tokio::task::spawn_local(async move {
            let r = rx.await.unwrap_or_else(|_| Err(SaveFailure::cancelled()));
            let mut s = rc.borrow_mut();
            done(&mut s, r);
        });
    }
    Ok(())
}

/// Installs a finished base (backgroundRewriteDoneHandler).
fn done(srv: &mut Server, r: crate::save::SaveResult) {
    let name = srv.config.appendfilename.clone();
    let gc = !srv.config.aof_disable_auto_gc;
    let Some(aof) = srv.aof.as_mut() else {
        return;
    };
    let Some(mut rw) = aof.rewrite.take() else {
        return;
    };
    if let Some(t) = rw.thread.take() {
        let _ = t.join();
    }
    let secs = rw.started.elapsed().as_secs() as i64;
    let dir = aof.dir.clone();
    let result = r.and_then(|_| {
        let mut m: Manifest = aof.manifest.clone();
        let base = m.next_base(&name, rw.base_name.ends_with(".rdb")).clone();
        if base.seq != rw.base_seq || base.name != rw.base_name.as_bytes() {
            return Err(SaveFailure {
                code: "P005",
                name: "WRITE_ERR",
                message: "the manifest changed during the rewrite".into(),
            });
        }
        m.mark_rewritten_incrs_as_history(true);
        m.write_atomic(&dir, &name)
            .map_err(|e| SaveFailure::from_io("manifest", &e))?;
        Ok(m)
    });
    match result {
        Ok(mut m) => {
            let base_size = std::fs::metadata(dir.join(&rw.base_name))
                .map(|md| md.len())
                .unwrap_or(0);
            if gc {
                let history = m.take_history();
                if !history.is_empty() && m.write_atomic(&dir, &name).is_ok() {
                    for h in &history {
                        let _ = std::fs::remove_file(h.path_in(&dir));
                    }
                }
            }
            let incr_size: u64 = m
                .incrs
                .iter()
                .map(|i| {
                    std::fs::metadata(i.path_in(&dir))
                        .map(|md| md.len())
                        .unwrap_or(0)
                })
                .sum();
            aof.manifest = m;
            aof.base_size = base_size + incr_size;
            aof.current_size = base_size + incr_size;
            // A rewrite that started after an fsync failure wrote fresh files from memory:
            // the failure is behind us.
            if aof.poisoned_since().is_some_and(|t| rw.started >= t) {
                aof.fsync_poisoned = None;
            }
            srv.aof_status.rewrites += 1;
            srv.aof_status.last_bgrewrite_ok = true;
            srv.aof_status.rewrites_consecutive_failures = 0;
            srv.aof_status.last_rewrite_time_sec = secs;
            let _ = rw.manifest_has_incr;
            srv.log
                .notice("Background AOF rewrite terminated with success");
            srv.log
                .notice("Background AOF rewrite finished successfully");
        }
        Err(f) => {
            let _ = std::fs::remove_file(dir.join(&rw.base_name));
            aof.last_rewrite_failure_at = Some(Instant::now());
            srv.aof_status.last_bgrewrite_ok = false;
            srv.aof_status.rewrites_consecutive_failures += 1;
            srv.aof_status.last_rewrite_time_sec = secs;
            srv.log.warning(&f.log_line());
            srv.log
                .warning("Background AOF rewrite terminated with error");
            if aof.manifest.base.is_none() {
                // appendonly was just turned on: it keeps trying until it has a base.
                aof.rewrite_scheduled = true;
            }
        }
    }
}

/// Stops a rewrite in progress and waits for its thread (appendonly no, shutdown).
pub fn cancel(srv: &mut Server) {
    let Some(aof) = srv.aof.as_mut() else {
        return;
    };
    if let Some(mut rw) = aof.rewrite.take() {
        rw.progress
            .cancel
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = rw.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(aof.dir.join(&rw.base_name));
        srv.log.notice("Killing running AOF rewrite");
    }
}

/// serverCron's part: a scheduled rewrite, or an automatic one when the AOF grew by
/// auto-aof-rewrite-percentage over its size after the last rewrite (and is at least
/// auto-aof-rewrite-min-size). After three failures in a row, retries slow down as Redis's.
pub fn cron(srv: &mut Server) {
    let bgsave = srv.rdb.bgsave.is_some();
    let Some(aof) = srv.aof.as_mut() else {
        return;
    };
    if aof.rewrite.is_some() || bgsave {
        return;
    }
    if aof.rewrite_scheduled && !limited(srv) {
        let first = srv.aof.as_ref().is_some_and(|a| a.manifest.base.is_none());
        if let Some(aof) = srv.aof.as_mut() {
            aof.rewrite_scheduled = false;
        }
        if let Err(e) = start_with(srv, !first) {
            srv.log.warning(&e);
        }
        return;
    }
    let Some(aof) = srv.aof.as_ref() else {
        return;
    };
    let pct = srv.config.auto_aof_rewrite_percentage;
    let min = srv.config.auto_aof_rewrite_min_size as u64;
    if pct == 0 || aof.current_size <= min {
        return;
    }
    let base = aof.base_size.max(1);
    let growth = (aof.current_size.saturating_sub(base)) * 100 / base;
    if growth >= pct as u64 && !limited(srv) {
        srv.log.notice(&format!(
            "Starting automatic rewriting of AOF on {growth}% growth"
        ));
        if let Err(e) = start(srv) {
            srv.log.warning(&e);
        }
    }
}

/// aofRewriteLimited: after 3 consecutive failures, wait 1, 2, 4 ... up to 60 minutes.
fn limited(srv: &Server) -> bool {
    let f = srv.aof_status.rewrites_consecutive_failures;
    if f < 3 {
        return false;
    }
    let minutes = 1u64 << (f - 3).min(6);
    let wait = minutes.min(60) * 60;
    let since = srv
        .aof
        .as_ref()
        .and_then(|a| a.last_rewrite_failure_at)
        .map(|t| t.elapsed().as_secs())
        .unwrap_or(u64::MAX);
    since < wait
}
