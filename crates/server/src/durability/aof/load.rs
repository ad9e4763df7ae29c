//! Start-up with appendonly yes: the AOF is the source of truth (dump.rdb is not read), as in
//! Redis. Loads the manifest's base (RDB preamble or commands) and incr files in order, then
//! opens the last incr for appending. Also the first start (no AOF yet: an empty base and an
//! incr are created) and the upgrade of an old single-file appendonly.aof.
//!
//! Every file the manifest names is stat'ed first (a missing one refuses the start, as in
//! Redis). What happens to each file is `amber_persist::aof::verdict`'s rule, the one
//! `amber check-aof` and `amber doctor` apply too: only the last file may end early, and
//! with aof-load-truncated yes its complete prefix is loaded (an unfinished MULTI is
//! dropped) and the file is cut there; anything else refuses the start with P003, the file,
//! the offset and the `amber check-aof` command to run.

use std::cell::RefCell;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use amber_persist::aof::manifest::{manifest_file_name, AofFileType, AofInfo, Manifest};
use amber_persist::aof::{
    load_action, AofEntry, AofReader, Judgment, LoadAction, ReaderOptions, Refusal,
};
use amber_persist::storage::{OpenHow, Storage, StorageFile};
use amber_persist::PCode;

use crate::client::Client;
use crate::durability::aof::{Aof, OpenArgs};
use crate::durability::rdb_load::Applier;
use crate::durability::save::SnapshotJob;
use crate::server::Server;

/// The client id AOF commands run as (Redis's CLIENT_ID_AOF).
pub(crate) const AOF_CLIENT_ID: u64 = u64::MAX;

/// A reason the AOF cannot be loaded (P003 AOF_CORRUPT).
pub(crate) struct AofLoadError(pub String);

fn fatal(s: &Server, why: &str) -> ! {
    s.log.warning(&format!("{}: {why}", PCode::AofCorrupt));
    s.log
        .warning("Fatal error loading the DB, check server logs. Exiting.");
    std::process::exit(1);
}

/// Reads the manifest of `dir`, if there is one.
pub(crate) fn read_manifest(dir: &Path, appendfilename: &str) -> Result<Option<Manifest>, String> {
    let path = dir.join(manifest_file_name(appendfilename));
    match std::fs::read(&path) {
        Ok(data) => Manifest::parse_bytes(&data)
            .map(Some)
            .map_err(|e| format!("{} ({})", e, path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!(
            "Can't open the AOF manifest {}: {e}",
            path.display()
        )),
    }
}

fn open_append(fs: &dyn Storage, path: &Path) -> std::io::Result<Box<dyn StorageFile>> {
    fs.open(path, OpenHow::Append { mode: 0o644 })
}

/// The message for an AOF file whose size cannot be read (Redis's getAppendOnlyFileSize).
fn length_unknown(shown: &str, e: &std::io::Error) -> String {
    format!(
        "Unable to obtain the AOF file {shown} length. stat: {}",
        crate::durability::aof::strerror_of(e)
    )
}

/// Start-up with appendonly yes: loads the AOF (or creates it) and starts appending; a
/// failure ends the process (P003).
pub(crate) fn load_at_start(srv: &Rc<RefCell<Server>>) {
    let r = load(&mut srv.borrow_mut());
    if let Err(why) = r {
        fatal(&srv.borrow(), &why);
    }
    spawn_flush(srv);
}

/// `load_at_start` without the exit: loads the AOF (or creates it) and opens it for
/// appending. `Err` is the reason the server cannot start.
pub(crate) fn load(s: &mut Server) -> Result<(), String> {
    let name = s.config.appendfilename.clone();
    let dir = PathBuf::from(&s.config.appenddirname);
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("Can't create the AOF directory {}: {e}", dir.display()))?;
    if std::path::Path::new(&s.config.dbfilename).exists() {
        s.log.notice(&format!(
            "appendonly is yes: the AOF is loaded, {} is not read",
            s.config.dbfilename
        ));
    }
    let manifest = match read_manifest(&dir, &name)? {
        Some(m) => m,
        None if Path::new(&name).is_file() => upgrade_old_aof(s, &dir, &name),
        None => create_first(s, &dir, &name)?,
    };
    let started = std::time::Instant::now();
    let files: Vec<AofInfo> = manifest.files_to_load().cloned().collect();
    stat_all(&dir, &files).map_err(|AofLoadError(why)| why)?;
    let mut loaded_any = false;
    for (i, info) in files.iter().enumerate() {
        let last = i + 1 == files.len();
        let path = info.path_in(&dir);
        load_file(s, &path, info.kind == AofFileType::Base, last)
            .map_err(|AofLoadError(why)| why)?;
        loaded_any = true;
    }
    if loaded_any {
        s.log.notice(&format!(
            "DB loaded from append only file: {:.3} seconds",
            started.elapsed().as_secs_f64()
        ));
    }
    open(s, &dir, manifest, 0)
}

/// Starts the task that writes what was fed (see `aof::flush_task`).
pub(crate) fn spawn_flush(srv: &Rc<RefCell<Server>>) {
    let notify = match srv.borrow().aof.as_ref() {
        Some(a) => a.flush_notify(),
        None => return,
    };
    tokio::task::spawn_local(crate::durability::aof::flush_task(srv.clone(), notify));
}

/// Opens the last incr file of `manifest` for appending (creating one if it has none).
fn open(srv: &mut Server, dir: &Path, mut manifest: Manifest, start: u64) -> Result<(), String> {
    let name = srv.config.appendfilename.clone();
    let had_incr = !manifest.incrs.is_empty();
    let incr = manifest.last_incr_or_new(&name).clone();
    let path = incr.path_in(dir);
    // The last incr holds data and is appended to; a new one starts empty.
    let opened = if had_incr {
        open_append(&*srv.storage, &path)
    } else {
        crate::durability::aof::rewrite::create_incr(&*srv.storage, &path)
    };
    let file =
        opened.map_err(|e| format!("Can't open the append-only file {}: {e}", path.display()))?;
    if !had_incr {
        manifest
            .write_atomic_on(srv.storage.clone(), dir, &name)
            .map_err(|e| format!("Can't update the AOF manifest: {e}"))?;
    }
    // Appending starts at this length: an unknown one is an error, never 0.
    let file_len = file
        .size()
        .map_err(|e| length_unknown(&path.display().to_string(), &e))?;
    let size = |p: &Path| srv.storage.size(p).unwrap_or(0);
    let base_size = manifest.base.as_ref().map_or(0, |b| size(&b.path_in(dir)));
    let incr_size: u64 = manifest.incrs.iter().map(|i| size(&i.path_in(dir))).sum();
    let policy = srv.config.appendfsync;
    let log = srv.log.clone();
    srv.aof = Some(Aof::open(
        policy,
        OpenArgs {
            dir: dir.to_path_buf(),
            manifest,
            file,
            file_len,
            current_size: base_size + incr_size,
            base_size: base_size + incr_size,
            start,
        },
        log,
    ));
    Ok(())
}

/// No AOF yet: writes a base of the current (empty) dataset, then the manifest, as Redis
/// does on its first start with appendonly yes.
fn create_first(srv: &mut Server, dir: &Path, name: &str) -> Result<Manifest, String> {
    let mut m = Manifest::new();
    let preamble = srv.config.aof_use_rdb_preamble;
    let base = m.next_base(name, preamble).clone();
    let format = crate::durability::aof::rewrite::base_format(srv);
    let job = SnapshotJob::begin(srv, format);
    crate::durability::save::save_file_blocking(srv, job, dir, &base.name_lossy(), true)
        .map_err(|f| f.log_line())?;
    let incr = m.next_incr(name).clone();
    crate::durability::aof::rewrite::create_incr(&*srv.storage, &incr.path_in(dir))
        .map_err(|e| format!("Can't create the append-only file: {e}"))?;
    m.write_atomic_on(srv.storage.clone(), dir, name)
        .map_err(|e| format!("Can't write the AOF manifest: {e}"))?;
    srv.log.notice(&format!(
        "Creating AOF base file {} on server start",
        base.name_lossy()
    ));
    Ok(m)
}

/// An appendonly.aof of Redis before 7.0 in `dir`'s parent: moved into the AOF directory as
/// its base, as Redis 7.0's upgrade does.
fn upgrade_old_aof(srv: &Server, dir: &Path, name: &str) -> Manifest {
    let target = dir.join(name);
    if let Err(e) = srv.storage.rename(Path::new(name), &target) {
        fatal(
            srv,
            &format!(
                "Error moving the old AOF {name} into {}: {e}",
                dir.display()
            ),
        );
    }
    let mut m = Manifest::new();
    m.base = Some(AofInfo::new(name.as_bytes().to_vec(), 1, AofFileType::Base));
    m.curr_base_seq = 1;
    if let Err(e) = m.write_atomic_on(srv.storage.clone(), dir, name) {
        fatal(srv, &format!("Can't write the AOF manifest: {e}"));
    }
    let _ = srv.storage.sync_dir(Path::new("."));
    srv.log.notice(&format!(
        "Successfully migrated an old-style AOF into the AOF directory: {}",
        dir.display()
    ));
    m
}

/// Checks that every file the manifest names can be stat'ed before loading any, as Redis's
/// loadAppendOnlyFiles does (a missing file is fatal, whatever aof-load-truncated says), with
/// Redis's log text: the file's name and the system's error text.
fn stat_all(dir: &Path, files: &[AofInfo]) -> Result<u64, AofLoadError> {
    let mut total = 0u64;
    for info in files {
        match std::fs::metadata(info.path_in(dir)) {
            Ok(m) => total = total.saturating_add(m.len()),
            Err(e) => {
                return Err(AofLoadError(format!(
                    "{} (named in the manifest in {})",
                    length_unknown(&info.name_lossy(), &e),
                    dir.display()
                )));
            }
        }
    }
    Ok(total)
}

/// Loads one AOF file into the server. A base may be an RDB (preamble) followed by
/// commands. Returns the keys loaded from an RDB part.
pub(crate) fn load_file(
    srv: &mut Server,
    path: &Path,
    is_base: bool,
    last: bool,
) -> Result<u64, AofLoadError> {
    let shown = path.display().to_string();
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !is_base => {
            return Err(AofLoadError(format!("The AOF file {shown} doesn't exist")))
        }
        Err(e) => {
            return Err(AofLoadError(format!(
                "Can't open the AOF file {shown}: {e}"
            )))
        }
    };
    // An empty file is skipped; one whose size cannot be read is an error, never "empty".
    let size = f
        .metadata()
        .map_err(|e| AofLoadError(length_unknown(&shown, &e)))?
        .len();
    if size == 0 {
        return Ok(0);
    }
    let opts = ReaderOptions {
        verify_rdb_checksum: srv.config.rdbchecksum,
        ..ReaderOptions::default()
    };
    let rdb_fix = rdb_repair(&shown);
    let mut rd = AofReader::with_options(BufReader::with_capacity(1 << 20, f), opts)
        .map_err(|e| AofLoadError(format!("{shown}: {e}. {rdb_fix}")))?;
    let fix = repair(srv, path, last);
    // Errors while reading are problems of the RDB part (or I/O errors).
    let read_fix = if rd.has_preamble() { &rdb_fix } else { &fix };
    let mut cl = Client::new(AOF_CLIENT_ID, "aof".into(), String::new(), -1, true);
    let limits = srv.config.limits;
    let lru = srv.new_lru();
    let mut applier: Option<Applier> = if rd.has_preamble() {
        Some(Applier::new(srv.config.databases, &limits, None, lru))
    } else {
        None
    };
    let mut keys = 0u64;
    if let Some(a) = srv.aof.as_mut() {
        a.replaying = true;
    }
    srv.replaying_aof = true;
    // The file is read and parsed on a helper thread, batches of entries at a time, while
    // this thread executes the previous batch.
    let out = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<AofEntry>, String>>(4);
        let reader = std::thread::Builder::new()
            .name("amber-aofread".into())
            .spawn_scoped(scope, move || {
                read_batches(&mut rd, &tx);
                rd
            });
        match reader {
            Ok(reader) => {
                let r = replay_batches(srv, rx, &mut applier, &mut cl, &shown, read_fix);
                // On an early error the reader stops at its next send (the channel is gone).
                match reader.join() {
                    Ok(rd) => Ok((r, rd)),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            Err(e) => Err(AofLoadError(format!(
                "Can't start the AOF reader thread: {e}"
            ))),
        }
    });
    srv.replaying_aof = false;
    if let Some(a) = srv.aof.as_mut() {
        a.replaying = false;
    }
    srv.propagated.clear();
    let (r, rd) = out?;
    keys += r?;
    finish_file(srv, &rd, applier, path, size, last, &shown, &fix)?;
    Ok(keys)
}

/// Entries per batch handed from the reader thread to the replay.
const REPLAY_BATCH: usize = 1024;

/// The reader thread: sends the file's entries in batches; a read error ends the stream.
fn read_batches<R: std::io::Read>(
    rd: &mut AofReader<R>,
    tx: &std::sync::mpsc::SyncSender<Result<Vec<AofEntry>, String>>,
) {
    let mut batch = Vec::with_capacity(REPLAY_BATCH);
    loop {
        match rd.next() {
            Ok(Some(e)) => {
                batch.push(e);
                if batch.len() >= REPLAY_BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(REPLAY_BATCH));
                    if tx.send(Ok(full)).is_err() {
                        return;
                    }
                }
            }
            Ok(None) => {
                if !batch.is_empty() {
                    let _ = tx.send(Ok(batch));
                }
                return;
            }
            Err(e) => {
                if !batch.is_empty() && tx.send(Ok(batch)).is_err() {
                    return;
                }
                let _ = tx.send(Err(e.to_string()));
                return;
            }
        }
    }
}

/// Replays every entry the reader sends: the RDB preamble through `applier`, commands as the
/// AOF client. Returns the keys loaded from the preamble.
fn replay_batches(
    srv: &mut Server,
    rx: std::sync::mpsc::Receiver<Result<Vec<AofEntry>, String>>,
    applier: &mut Option<Applier>,
    cl: &mut Client,
    shown: &str,
    fix: &str,
) -> Result<u64, AofLoadError> {
    let mut keys = 0u64;
    let mut known = Vec::new();
    for batch in rx {
        let batch = batch.map_err(|e| {
            AofLoadError(format!(
                "Bad file format reading the append only file {shown}: {e}. {fix}"
            ))
        })?;
        // One clock reading per batch: nothing expires while replaying anyway.
        srv.cmd_time_ms = crate::server::unix_ms();
        for entry in batch {
            match entry {
                AofEntry::Rdb(item) => {
                    if let Some(ap) = applier.as_mut() {
                        let end = ap.apply(item).map_err(|e| {
                            AofLoadError(format!(
                                "{shown}: the RDB preamble is corrupt: {}. {fix}",
                                e.message
                            ))
                        })?;
                        if end {
                            if let Some(ap) = applier.take() {
                                keys += ap.out.keys_loaded;
                                crate::durability::rdb_load::install(srv, ap.out);
                            }
                        }
                    }
                }
                AofEntry::Annotation(_) => {}
                AofEntry::Command { args, start, .. } => {
                    if let Err(why) = replay(srv, cl, args, &mut known) {
                        return Err(AofLoadError(format!(
                        "Error executing a command from the append only file {shown} at offset {start}: {why}"
                    )));
                    }
                }
            }
        }
    }
    Ok(keys)
}

#[allow(clippy::too_many_arguments)]
fn finish_file<R: std::io::Read>(
    srv: &mut Server,
    rd: &AofReader<R>,
    applier: Option<Applier>,
    path: &Path,
    size: u64,
    last: bool,
    shown: &str,
    fix: &str,
) -> Result<(), AofLoadError> {
    // The one verdict check-aof and doctor give too (amber_persist::aof::verdict).
    let judgment = rd.tail().map_or(Judgment::Ok, Judgment::of_tail);
    match load_action(&judgment, last, srv.config.aof_load_truncated) {
        LoadAction::Load => {}
        LoadAction::LoadCut { valid_len } => {
            // The commands after valid_len were replayed only if complete; an unfinished
            // MULTI was never executed (its EXEC never came), so memory matches the prefix.
            srv.log.warning(&format!(
                "!!! Warning: short read while loading the AOF file {shown}!!! AOF loaded anyway because aof-load-truncated is enabled; the file is cut at offset {valid_len} ({} bytes dropped)",
                size.saturating_sub(valid_len)
            ));
            if let Err(e) = srv.storage.open(path, OpenHow::Existing).and_then(|f| {
                f.set_len(valid_len)?;
                f.sync_all()
            }) {
                return Err(AofLoadError(format!("Error truncating the AOF file {shown}: {e}")));
            }
        }
        LoadAction::Refuse(Refusal::Truncated) => {
            return Err(AofLoadError(format!(
                "Unexpected end of file reading the append only file {shown}. You can: 1) {fix}. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."
            )));
        }
        LoadAction::Refuse(Refusal::TruncatedNotLast) => {
            return Err(AofLoadError(format!(
                "Unexpected end of file reading the append only file {shown}, which is not the last file of the manifest. {fix}"
            )))
        }
        LoadAction::Refuse(Refusal::Corrupt | Refusal::Missing) => {
            let (offset, reason) = match &judgment {
                Judgment::Corrupt { offset, reason } => (*offset, reason.as_str()),
                _ => (0, "the file is missing"),
            };
            return Err(AofLoadError(format!(
                "Bad file format reading the append only file {shown} at offset {offset}: {reason}. {fix}"
            )));
        }
    }
    if applier.is_some() {
        return Err(AofLoadError(format!(
            "{shown}: the RDB preamble ends early. {}",
            rdb_repair(shown)
        )));
    }
    Ok(())
}

/// What repairs a file whose command part is damaged: `amber check-aof --fix` when it is the
/// last file (the only one a cut may shorten), else a backup.
fn repair(srv: &Server, path: &Path, last: bool) -> String {
    if last {
        format!(
            "Make a backup of your AOF file, then use amber check-aof --fix {}",
            manifest_hint(srv, path)
        )
    } else {
        "Only the last file of the manifest can be cut, so amber check-aof --fix cannot repair \
         this one: restore the data directory from a backup (amber restore ... --data-dir DIR, \
         docs/disaster-recovery.md section 8)"
            .into()
    }
}

/// What repairs a damaged RDB base (or RDB preamble): not a cut, which only shortens the
/// command part.
fn rdb_repair(shown: &str) -> String {
    format!(
        "Truncating cannot repair an RDB base, so amber check-aof --fix cannot: `amber check-rdb \
         {shown}` shows where it breaks; restore the data directory from a backup (amber restore \
         ... --data-dir DIR, docs/disaster-recovery.md section 8), or, if a server still holds \
         this data in memory, run BGREWRITEAOF there to write a new base"
    )
}

/// The manifest path for the check-aof hint.
fn manifest_hint(srv: &Server, path: &Path) -> String {
    let m =
        Path::new(&srv.config.appenddirname).join(manifest_file_name(&srv.config.appendfilename));
    if m.exists() {
        m.display().to_string()
    } else {
        path.display().to_string()
    }
}

/// Runs one command from the AOF as Redis's fake AOF client does: no reply, no checks that
/// concern network clients, MULTI/EXEC honoured. `known` is the last command name found in the
/// command table: an AOF repeats a few names, and the dispatcher looks the command up anyway.
fn replay(
    srv: &mut Server,
    cl: &mut Client,
    args: Vec<Vec<u8>>,
    known: &mut Vec<u8>,
) -> Result<(), String> {
    // The reader never yields a command without arguments (`*0` is corrupt).
    let Some(name) = args.first() else {
        return Err("a command with no arguments".into());
    };
    if known.is_empty() || name != known {
        if srv.commands.lookup_original(name).is_none() {
            return Err(format!(
                "Unknown command '{}' reading the append only file",
                String::from_utf8_lossy(name)
            ));
        }
        known.clone_from(name);
    }
    crate::cmd::process(srv, cl, args);
    cl.out.buf.clear();
    srv.propagated.clear();
    if cl.blocked.is_some() {
        return Err("a blocking command in the append only file".into());
    }
    Ok(())
}

/// DEBUG LOADAOF: flushes the AOF, empties the dataset and loads the AOF files again.
pub(crate) fn reload(srv: &mut Server) -> Result<(), String> {
    let policy = srv.config.appendfsync;
    let name = srv.config.appendfilename.clone();
    let Some(aof) = srv.aof.as_mut() else {
        return Err("AOF is not enabled".into());
    };
    aof.flush_and_sync(policy)
        .map_err(|e| format!("Can't flush the AOF: {e}"))?;
    let dir = aof.dir.clone();
    let manifest = read_manifest(&dir, &name)?.unwrap_or_default();
    for db in srv.dbs.iter_mut() {
        db.clear();
    }
    // As Redis's startLoading: a base of commands reports no RDB keys.
    srv.rdb.last_load_keys_loaded = 0;
    srv.rdb.last_load_keys_expired = 0;
    let files: Vec<AofInfo> = manifest.files_to_load().cloned().collect();
    stat_all(&dir, &files).map_err(|AofLoadError(e)| format!("{}: {e}", PCode::AofCorrupt))?;
    for (i, info) in files.iter().enumerate() {
        let last = i + 1 == files.len();
        load_file(
            srv,
            &info.path_in(&dir),
            info.kind == AofFileType::Base,
            last,
        )
        .map_err(|AofLoadError(e)| format!("{}: {e}", PCode::AofCorrupt))?;
    }
    srv.dirty = 0;
    Ok(())
}
