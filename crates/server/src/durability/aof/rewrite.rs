//! AOF rewrite, fork-less: BGREWRITEAOF, automatic rewrites, and turning appendonly on.
//!
//! ```text
//!   start (main thread, one step), by the AOF's state:
//!     on:          flush+fsync the current incr ─▶ create incr seq+1 empty (O_TRUNC)
//!                  ─▶ manifest naming it: temp ─▶ fsync ─▶ rename ─▶ fsync dir
//!                  ─▶ only now append to it ─▶ point-in-time snapshot (same as BGSAVE)
//!     turning on:  the incr appended to since `appendonly yes` starts over empty
//!                  (no manifest names it yet) ─▶ snapshot
//!     off:         the manifest on disk (if any) ─▶ snapshot
//!   thread: the snapshot ─▶ <name>.<seq>.base.rdb (RDB preamble) or .base.aof (commands),
//!       temp file ─▶ fsync ─▶ rename
//!   done (main thread): manifest = new base + the incr appended to (none when off); the
//!       rest becomes history ─▶ manifest temp ─▶ fsync ─▶ rename ─▶ fsync dir ─▶ history
//!       files deleted
//! ```
//!
//! The snapshot and the switch to the new incr happen in the same step of the main thread,
//! so base + new incr is exactly the dataset: nothing missed, nothing twice.
//!
//! Failures (Redis's `openNewIncrAofForAppend` and `backgroundRewriteDoneHandler` order):
//! the append target moves only once a manifest naming the new incr is on disk. Whatever
//! step fails, appending stays on the current incr, which every manifest (old, new, or the
//! one on disk after a power cut) names; no file a manifest may name is removed: when only
//! the directory fsync failed, the new manifest is already what readers see, so its files
//! stay (an empty incr, or a base whose data the old files also hold).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use amber_persist::aof::manifest::{base_file_name, temp_manifest_file_name, Manifest};
use amber_persist::io::{ReplaceError, ReplaceStage};
use amber_persist::storage::{OpenHow, Storage, StorageFile};

use crate::durability::aof::strerror_of;
use crate::durability::save::{Format, Progress, SaveFailure, SnapshotJob};
use crate::server::Server;

/// The rewrite in progress and what outlives it (Redis's aof_rewrite_scheduled and the
/// retry limit's clock); kept whether the AOF is on or off.
#[derive(Default)]
pub(crate) struct RewriteState {
    pub(crate) running: Option<Rewrite>,
    pub(crate) scheduled: bool,
    pub(crate) last_failure_at: Option<Instant>,
    /// Numbers the rewrites, so that a finished one is never taken for its successor.
    next_id: u64,
}

/// A rewrite in progress.
pub(crate) struct Rewrite {
    pub(crate) started: Instant,
    pub(crate) progress: Arc<Progress>,
    id: u64,
    /// The AOF directory, and the base being written (its name in the manifest once done).
    dir: PathBuf,
    base_name: String,
    base_seq: i64,
    /// With appendonly no: the manifest the base goes into (read from disk at the start).
    off_manifest: Option<Manifest>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Creates an incr file that no manifest names yet, empty (O_TRUNC: whatever a failed
/// attempt or a crash left under that name is never appended to).
pub(crate) fn create_incr(fs: &dyn Storage, path: &Path) -> std::io::Result<Box<dyn StorageFile>> {
    fs.open(path, OpenHow::AppendNew { mode: 0o644 })
}

/// What a failed manifest write logs, in Redis's words (writeAofManifestFile).
fn manifest_failure(e: &ReplaceError, appendfilename: &str, dir: &Path) -> String {
    let temp = temp_manifest_file_name(appendfilename);
    let am = amber_persist::aof::manifest::manifest_file_name(appendfilename);
    let why = strerror_of(&e.error);
    match e.stage {
        ReplaceStage::Open => format!("Can't open the AOF manifest file {temp}: {why}"),
        ReplaceStage::Write => {
            format!("Error trying to write the temporary AOF manifest file {temp}: {why}")
        }
        ReplaceStage::Sync => format!("Fail to fsync the temp AOF file {temp}: {why}."),
        ReplaceStage::Rename => format!(
            "Error trying to rename the temporary AOF manifest file {temp} into {am}: {why}"
        ),
        ReplaceStage::SyncDir => format!(
            "Fail to fsync AOF directory {}: {why}.",
            dir.join(&am).display()
        ),
    }
}

/// Starts a rewrite (rewriteAppendOnlyFileBackground). `Err` carries the reason, for the log.
pub(crate) fn start(srv: &mut Server) -> Result<(), String> {
    if srv.aof_rewrite.running.is_some() {
        return Err("Background append only file rewriting already in progress".into());
    }
    let prepared = match srv.aof.as_ref() {
        None => read_off_manifest(srv).map(Some),
        Some(a) if a.awaiting_base => restart_incr(srv).map(|()| None),
        Some(_) => switch_incr(srv).map(|()| None),
    };
    let r = prepared.and_then(|off| {
        srv.aof_status.rewrites += 1;
        spawn(srv, off)
    });
    if r.is_err() {
        srv.aof_status.last_bgrewrite_ok = false;
    }
    r
}

/// With appendonly no: the AOF directory (created if missing) and its manifest, if any.
fn read_off_manifest(srv: &Server) -> Result<Manifest, String> {
    let dir = Path::new(&srv.config.appenddirname);
    std::fs::create_dir_all(dir).map_err(|e| {
        format!(
            "Can't open or create append-only dir {}: {}",
            dir.display(),
            strerror_of(&e)
        )
    })?;
    Ok(
        crate::durability::aof::load::read_manifest(dir, &srv.config.appendfilename)?
            .unwrap_or_default(),
    )
}

/// The prologue of every switch to a new incr file: what was fed is flushed and fsynced to
/// the current one, then `incr` is created empty (never reused with old content).
fn flush_then_create(
    aof: &mut crate::durability::aof::Aof,
    storage: &dyn Storage,
    policy: crate::config::AppendFsync,
    incr: &amber_persist::aof::manifest::AofInfo,
) -> Result<Box<dyn StorageFile>, String> {
    aof.flush_and_sync(policy)
        .map_err(|e| format!("Can't flush the append-only file: {}", strerror_of(&e)))?;
    create_incr(storage, &incr.path_in(&aof.dir)).map_err(|e| {
        format!(
            "Can't open the append-only file {}: {}",
            incr.name_lossy(),
            strerror_of(&e)
        )
    })
}

/// The format of a new AOF base: an RDB preamble, or commands (with timestamps when
/// aof-timestamp-enabled), as aof-use-rdb-preamble says.
pub(crate) fn base_format(srv: &Server) -> Format {
    if srv.config.aof_use_rdb_preamble {
        Format::Rdb { aof_base: true }
    } else {
        Format::Commands {
            timestamp: srv.config.aof_timestamp_enabled,
        }
    }
}

/// openNewIncrAofForAppend: the current incr is flushed and fsynced, the next one created
/// empty, the manifest naming it persisted, and only then does appending move to it. On a
/// failure the current incr stays the target.
fn switch_incr(srv: &mut Server) -> Result<(), String> {
    let policy = srv.config.appendfsync;
    let name = srv.config.appendfilename.clone();
    let Some(aof) = srv.aof.as_mut() else {
        return Err("the append-only file is off".into());
    };
    let mut manifest = aof.manifest.clone();
    let incr = manifest.next_incr(&name).clone();
    let path = incr.path_in(&aof.dir);
    let file = flush_then_create(aof, &*srv.storage, policy, &incr)?;
    if let Err(e) = manifest.write_atomic_on(srv.storage.clone(), &aof.dir, &name) {
        let mut why = manifest_failure(&e, &name, &aof.dir);
        if e.replaced() {
            // The new manifest may be the one on disk: it names this (empty) file, which
            // stays; the next attempt truncates it again.
            why.push_str(
                " (the new incr file stays empty; appending continues in the current one)",
            );
        } else {
            drop(file);
            let _ = srv.storage.remove(&path);
        }
        return Err(why);
    }
    aof.switch_to(file);
    aof.manifest = manifest;
    srv.log.notice(&format!(
        "Creating AOF incr file {} on background rewrite",
        incr.name_lossy()
    ));
    Ok(())
}

/// appendonly was just turned on and no base exists yet (Redis's AOF_WAIT_REWRITE): no
/// manifest names the incr appended to, and the new snapshot holds everything in it, so it
/// starts over empty (kept, a retry would load its writes twice: snapshot and incr).
fn restart_incr(srv: &mut Server) -> Result<(), String> {
    let policy = srv.config.appendfsync;
    let name = srv.config.appendfilename.clone();
    let Some(aof) = srv.aof.as_mut() else {
        return Err("the append-only file is off".into());
    };
    let incr = aof.manifest.last_incr_or_new(&name).clone();
    let file = flush_then_create(aof, &*srv.storage, policy, &incr)?;
    aof.switch_to(file);
    Ok(())
}

/// Takes the snapshot and hands it to the rewrite thread.
fn spawn(srv: &mut Server, off_manifest: Option<Manifest>) -> Result<(), String> {
    let name = srv.config.appendfilename.clone();
    let preamble = srv.config.aof_use_rdb_preamble;
    let (dir, curr_base_seq) = match (&off_manifest, srv.aof.as_ref()) {
        (Some(m), _) => (PathBuf::from(&srv.config.appenddirname), m.curr_base_seq),
        (None, Some(a)) => (a.dir.clone(), a.manifest.curr_base_seq),
        (None, None) => return Err("the append-only file is off".into()),
    };
    let base_seq = curr_base_seq.saturating_add(1);
    let base_name = base_file_name(&name, base_seq, preamble);
    let format = base_format(srv);
    let job = SnapshotJob::begin(srv, format);
    let progress = job.progress.clone();
    let fsync = srv.config.aof_rewrite_incremental_fsync;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (thread_dir, file) = (dir.clone(), base_name.clone());
    let thread = std::thread::Builder::new()
        .name("amber-aofrw".into())
        .spawn(move || {
            crate::durability::save::background_priority();
            let r = job.save_file(&thread_dir, &file, fsync);
            drop(job);
            let _ = tx.send(r);
        })
        .map_err(|e| format!("Can't rewrite append only file in background: {e}"))?;
    let st = &mut srv.aof_rewrite;
    let id = st.next_id;
    st.next_id += 1;
    st.scheduled = false;
    st.running = Some(Rewrite {
        started: Instant::now(),
        progress,
        id,
        dir,
        base_name,
        base_seq,
        off_manifest,
        thread: Some(thread),
    });
    srv.log.notice(&format!(
        "Background append only file rewriting started by pid {} (fork-less snapshot)",
        std::process::id()
    ));
    if let Some(rc) = srv.self_ref.upgrade() {
        tokio::task::spawn_local(async move {
            let r = rx.await.unwrap_or_else(|_| Err(SaveFailure::cancelled()));
            let mut s = rc.borrow_mut();
            done(&mut s, id, r);
        });
    }
    Ok(())
}

/// A finished snapshot (backgroundRewriteDoneHandler): installs the base, or counts the
/// failure. Ignores a rewrite that was cancelled meanwhile.
fn done(srv: &mut Server, id: u64, r: crate::durability::save::SaveResult) {
    let mut rw = match srv.aof_rewrite.running.take() {
        Some(rw) if rw.id == id => rw,
        other => {
            srv.aof_rewrite.running = other;
            return;
        }
    };
    if let Some(t) = rw.thread.take() {
        let _ = t.join();
    }
    srv.aof_status.last_rewrite_time_sec = rw.started.elapsed().as_secs() as i64;
    let result = match r {
        Ok(_) => {
            srv.log
                .notice("Background AOF rewrite terminated with success");
            install(srv, &rw)
        }
        Err(f) => {
            // Not installed: no manifest names the base (see `install`).
            let _ = srv.storage.remove(&rw.dir.join(&rw.base_name));
            Err(f.log_line())
        }
    };
    match result {
        Ok(()) => {
            srv.aof_status.last_bgrewrite_ok = true;
            srv.aof_status.rewrites_consecutive_failures = 0;
            srv.log
                .notice("Background AOF rewrite finished successfully");
        }
        Err(why) => {
            srv.aof_rewrite.last_failure_at = Some(Instant::now());
            srv.aof_status.last_bgrewrite_ok = false;
            srv.aof_status.rewrites_consecutive_failures += 1;
            srv.log.warning(&why);
            srv.log
                .warning("Background AOF rewrite terminated with error");
            if srv.aof.as_ref().is_some_and(|a| a.awaiting_base) {
                // appendonly was just turned on: it keeps trying until it has a base.
                srv.aof_rewrite.scheduled = true;
            }
        }
    }
}

/// Persists the manifest naming the new base; the incrs it covers become history (all of
/// them with appendonly no), deleted once a manifest without them is on disk.
fn install(srv: &mut Server, rw: &Rewrite) -> Result<(), String> {
    let name = srv.config.appendfilename.clone();
    let gc = !srv.config.aof_disable_auto_gc;
    let aof_on = srv.aof.is_some();
    let mut m = match (&rw.off_manifest, srv.aof.as_ref()) {
        (Some(m), _) => m.clone(),
        (None, Some(a)) => a.manifest.clone(),
        (None, None) => return Err("the append-only file was turned off".into()),
    };
    let base = m.next_base(&name, rw.base_name.ends_with(".rdb")).clone();
    if base.seq != rw.base_seq || base.name != rw.base_name.as_bytes() {
        let _ = srv.storage.remove(&rw.dir.join(&rw.base_name));
        return Err(format!(
            "{}: the manifest changed during the rewrite",
            amber_persist::PCode::WriteErr
        ));
    }
    m.mark_rewritten_incrs_as_history(aof_on);
    if let Err(e) = m.write_atomic_on(srv.storage.clone(), &rw.dir, &name) {
        let why = manifest_failure(&e, &name, &rw.dir);
        if e.replaced() {
            // Readers already see the new manifest: it is the one kept (its history files
            // stay, the old manifest may come back after a power cut).
            adopt(srv, m);
        } else {
            let _ = srv.storage.remove(&rw.dir.join(&rw.base_name));
        }
        return Err(why);
    }
    if gc {
        m = delete_history(srv, &rw.dir, m);
    }
    let size = |p: &Path| srv.storage.size(p).unwrap_or(0);
    let base_size = size(&rw.dir.join(&rw.base_name));
    let incr_size: u64 = m.incrs.iter().map(|i| size(&i.path_in(&rw.dir))).sum();
    adopt(srv, m);
    if let Some(aof) = srv.aof.as_mut() {
        aof.base_size = base_size + incr_size;
        aof.current_size = base_size + incr_size;
        aof.awaiting_base = false;
        // A rewrite that started after an fsync failure wrote fresh files from memory:
        // the failure is behind us.
        if aof.poisoned_since().is_some_and(|t| rw.started >= t) {
            aof.fsync_poisoned = None;
        }
    }
    Ok(())
}

/// The manifest on disk is now `m` (with appendonly no, none is kept in memory).
fn adopt(srv: &mut Server, m: Manifest) {
    if let Some(aof) = srv.aof.as_mut() {
        aof.manifest = m;
    }
}

/// aofDelHistoryFiles: a manifest without the history is persisted, then its files deleted.
/// Returns the manifest now on disk.
fn delete_history(srv: &Server, dir: &Path, m: Manifest) -> Manifest {
    let name = &srv.config.appendfilename;
    let mut trimmed = m.clone();
    let history = trimmed.take_history();
    if history.is_empty() {
        return m;
    }
    match trimmed.write_atomic_on(srv.storage.clone(), dir, name) {
        Ok(()) => {
            for h in &history {
                srv.log
                    .notice(&format!("Removing the history file {}", h.name_lossy()));
                let _ = srv.storage.remove(&h.path_in(dir));
            }
            trimmed
        }
        Err(e) => {
            // The history stays listed (and on disk): the next rewrite deletes it.
            srv.log.warning(&manifest_failure(&e, name, dir));
            m
        }
    }
}

/// Stops a rewrite in progress and waits for its thread (appendonly no or yes, shutdown).
pub(crate) fn cancel(srv: &mut Server) {
    if let Some(mut rw) = srv.aof_rewrite.running.take() {
        rw.progress
            .cancel
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = rw.thread.take() {
            let _ = t.join();
        }
        let _ = srv.storage.remove(&rw.dir.join(&rw.base_name));
        srv.log.notice("Killing running AOF rewrite");
    }
}

/// serverCron's part: a scheduled rewrite, or an automatic one when the AOF grew by
/// auto-aof-rewrite-percentage over its size after the last rewrite (and is at least
/// auto-aof-rewrite-min-size). After three failures in a row, retries slow down as Redis's.
pub(crate) fn cron(srv: &mut Server) {
    if srv.aof_rewrite.running.is_some() || srv.rdb.bgsave.is_some() {
        return;
    }
    if srv.aof_rewrite.scheduled && !limited(srv) {
        // Stays scheduled until a start succeeds (`spawn` clears it), as in Redis.
        if let Err(e) = start(srv) {
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
        .aof_rewrite
        .last_failure_at
        .map(|t| t.elapsed().as_secs())
        .unwrap_or(u64::MAX);
    since < wait
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::{AppendFsync, Config, LogLevel};
    use crate::durability::aof::{Aof, OpenArgs};
    use crate::sys::log::Logger;

    const NAME: &str = "appendonly.aof";

    /// A server appending (everysec) to incr 1 of a manifest in `dir`.
    fn server(dir: &Path) -> Server {
        let log = Logger::open(LogLevel::Nothing, "").unwrap();
        let config = Config {
            appendfilename: NAME.into(),
            appendfsync: AppendFsync::Everysec,
            ..Config::default()
        };
        let mut srv = Server::new(config, log.clone());
        let mut manifest = Manifest::new();
        let incr = manifest.next_incr(NAME).clone();
        let file = create_incr(&*srv.storage, &incr.path_in(dir)).unwrap();
        manifest.write_atomic(dir, NAME).unwrap();
        let args = OpenArgs {
            dir: dir.to_path_buf(),
            manifest,
            file,
            file_len: 0,
            current_size: 0,
            base_size: 0,
            start: 0,
        };
        srv.aof = Some(Aof::open(AppendFsync::Everysec, args, log));
        srv
    }

    fn set(srv: &mut Server, key: &str) {
        let aof = srv.aof.as_mut().unwrap();
        aof.feed(0, &[b"SET".to_vec(), key.into(), b"v".to_vec()], false);
        aof.flush(AppendFsync::Everysec);
        assert!(aof.refusal().is_none());
    }

    fn holds(dir: &Path, seq: u32, key: &str) -> bool {
        let data = std::fs::read(dir.join(format!("{NAME}.{seq}.incr.aof"))).unwrap();
        let needle = format!("\r\n{key}\r\n");
        data.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    fn manifest_text(dir: &Path) -> String {
        std::fs::read_to_string(dir.join(format!("{NAME}.manifest"))).unwrap()
    }

    #[test]
    fn the_append_target_moves_only_after_the_manifest_names_it() {
        let dir = std::env::temp_dir().join(format!("amber-switch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut srv = server(&dir);
        set(&mut srv, "k1");
        let one = "file appendonly.aof.1.incr.aof seq 1 type i\n";
        assert_eq!(manifest_text(&dir), one);

        // The manifest's temp file cannot be created: the new incr is removed, appending
        // stays on incr 1, which the manifest names.
        let temp = dir.join("temp-appendonly.aof.manifest");
        std::fs::create_dir(&temp).unwrap();
        let e = switch_incr(&mut srv).unwrap_err();
        assert!(
            e.starts_with("Can't open the AOF manifest file temp-appendonly.aof.manifest: "),
            "{e}"
        );
        assert!(!dir.join("appendonly.aof.2.incr.aof").exists());
        assert_eq!(manifest_text(&dir), one);
        set(&mut srv, "k2");
        assert!(holds(&dir, 1, "k2"));

        // The next attempt succeeds; what a crash left under the new name is not kept.
        std::fs::remove_dir(&temp).unwrap();
        std::fs::write(dir.join("appendonly.aof.2.incr.aof"), b"stale bytes").unwrap();
        switch_incr(&mut srv).unwrap();
        let two = format!("{one}file appendonly.aof.2.incr.aof seq 2 type i\n");
        assert_eq!(manifest_text(&dir), two);
        assert_eq!(
            std::fs::metadata(dir.join("appendonly.aof.2.incr.aof"))
                .unwrap()
                .len(),
            0
        );
        set(&mut srv, "k3");
        assert!(holds(&dir, 2, "k3") && !holds(&dir, 1, "k3"));
        let data = std::fs::read(dir.join("appendonly.aof.2.incr.aof")).unwrap();
        assert!(data.starts_with(b"*2\r\n$6\r\nSELECT\r\n"));

        // The new incr cannot be created: nothing changes.
        std::fs::create_dir(dir.join("appendonly.aof.3.incr.aof")).unwrap();
        let e = switch_incr(&mut srv).unwrap_err();
        assert!(
            e.starts_with("Can't open the append-only file appendonly.aof.3.incr.aof: "),
            "{e}"
        );
        assert_eq!(manifest_text(&dir), two);
        set(&mut srv, "k4");
        assert!(holds(&dir, 2, "k4"));
        drop(srv);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
