//! The local spool: every closed segment is written here first (data, then its entry, each
//! by temp file + fsync + rename), and an uploader thread moves them to the repository in
//! stream order (data object, then the entry create-only), deleting the spooled files only
//! once both are stored. So an object store that is down only delays the archive, and a
//! killed archiver finds what it had not uploaded yet when it starts again.
//!
//! ```text
//! SPOOL/<timeline>.<start:020>.zst    the segment as it will be stored
//! SPOOL/<timeline>.<start:020>.json   its entry (present: the segment is complete)
//! SPOOL/status.json                   the running archiver's state (`archive status`)
//! ```

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::layout::{self, Segment};
use crate::backup::catalog;
use crate::backup::repo::Repo;

/// Segments whose data objects upload together when several wait (a backlog after an
/// outage, or a store slower than the stream).
const UPLOADS_AT_ONCE: usize = 8;

pub struct Spool {
    pub dir: PathBuf,
}

/// What the uploader has done, for the receiver's status and back-pressure.
#[derive(Default)]
pub struct Stats {
    /// Segments spooled and not yet uploaded: (timeline, end offset, first_ms, stored bytes).
    pub queued: VecDeque<(String, u64, i64, u64)>,
    pub queued_bytes: u64,
    /// The last segment stored in the repository.
    pub archived: Option<(String, u64)>,
    pub last_upload_ms: Option<i64>,
    pub uploads: u64,
    pub last_error: Option<String>,
    pub failing_since_ms: Option<i64>,
}

/// Temp file, write, (fsync), rename: the name shows whole content or nothing. `durable`
/// also fsyncs the directory after the rename.
fn write_atomic(dir: &Path, name: &str, data: &[u8], durable: bool) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(data)?;
    if durable {
        f.sync_data()?;
    }
    drop(f);
    fs::rename(&tmp, dir.join(name))?;
    if durable {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl Spool {
    pub fn open(dir: &Path) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        // Temp files of a killed archiver: their segments are received again.
        for e in fs::read_dir(dir)?.flatten() {
            if e.file_name().to_string_lossy().ends_with(".tmp") {
                let _ = fs::remove_file(e.path());
            }
        }
        Ok(Spool {
            dir: dir.to_path_buf(),
        })
    }

    fn stem(s: &Segment) -> String {
        format!("{}.{:020}", s.timeline, s.start_offset)
    }

    /// Spools a closed segment (data, then entry).
    pub fn put(&self, s: &Segment, stored: &[u8]) -> io::Result<()> {
        let stem = Self::stem(s);
        // One directory fsync, after the entry: it covers both renames.
        write_atomic(&self.dir, &format!("{stem}.zst"), stored, false)?;
        File::open(self.dir.join(format!("{stem}.zst")))?.sync_data()?;
        write_atomic(
            &self.dir,
            &format!("{stem}.json"),
            &layout::to_json(s),
            true,
        )
    }

    /// The complete spooled segments, in upload order (timeline ids sort by time).
    pub fn pending(&self) -> io::Result<Vec<Segment>> {
        self.first_pending(usize::MAX)
    }

    /// The first `k` of `pending`: only their entries are read (a backlog of thousands of
    /// segments is not parsed again for every batch).
    fn first_pending(&self, k: usize) -> io::Result<Vec<Segment>> {
        let mut names: Vec<String> = fs::read_dir(&self.dir)?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json") && n != "status.json" && !n.starts_with('.'))
            .collect();
        names.sort();
        let mut out = Vec::new();
        for n in names.into_iter().take(k) {
            let b = fs::read(self.dir.join(&n))?;
            match layout::parse_segment(&b) {
                Ok(s) => out.push(s),
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("spooled entry {n}: {e}"),
                    ))
                }
            }
        }
        Ok(out)
    }

    /// Stores spooled segments in the repository: their data objects all at once, then
    /// their entries one by one in stream order (so a crash leaves no entry after a missing
    /// one), each spooled pair forgotten once its entry is stored. Returns how many were
    /// stored, and the first failure.
    fn upload(&self, repo: &Repo, segs: &[Segment]) -> (usize, Option<io::Error>) {
        let mut items = Vec::new();
        for s in segs {
            let stem = Self::stem(s);
            match fs::read(self.dir.join(format!("{stem}.zst"))) {
                Ok(d) if d.len() as u64 == s.stored_size => items.push((s.object.clone(), d)),
                Ok(_) => {
                    let e = io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("spooled {stem}.zst is not the size its entry says"),
                    );
                    return (0, Some(e));
                }
                Err(e) => return (0, Some(e)),
            }
        }
        let data = repo.put_all(items);
        for (i, (s, stored)) in segs.iter().zip(data).enumerate() {
            let stored = stored.and_then(|()| {
                match repo.put(
                    &layout::segment_entry_key(&s.timeline, s.start_offset),
                    layout::to_json(s),
                    true,
                ) {
                    // Stored by an earlier try whose spool files were not removed yet.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                    r => r,
                }
            });
            if let Err(e) = stored {
                return (i, Some(e));
            }
            let stem = Self::stem(s);
            if let Err(e) = fs::remove_file(self.dir.join(format!("{stem}.json"))) {
                return (i, Some(e));
            }
            let _ = fs::remove_file(self.dir.join(format!("{stem}.zst")));
        }
        (segs.len(), None)
    }

    pub fn write_status(&self, json: &[u8]) -> io::Result<()> {
        write_atomic(&self.dir, "status.json", json, false)
    }
}

/// The uploader thread's loop: until `stop` and nothing is left, upload what is spooled; on
/// failure back off (250 ms doubling to 5 s) and retry. (A stopping archiver waits for it a
/// bounded time; what is left stays spooled for the next start.)
pub fn uploader(
    spool: Arc<Spool>,
    repo: Arc<Repo>,
    stats: Arc<Mutex<Stats>>,
    wake: Receiver<()>,
    stop: Arc<AtomicBool>,
) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let pending = match spool.first_pending(UPLOADS_AT_ONCE) {
            Ok(p) => p,
            Err(e) => {
                note_error(&stats, format!("spool: {e}"));
                Vec::new()
            }
        };
        if pending.is_empty() {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            match wake.recv_timeout(Duration::from_millis(100)) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => {
                    if spool.first_pending(1).map(|p| p.is_empty()).unwrap_or(true) {
                        return;
                    }
                    continue;
                }
            }
        }
        let batch = &pending[..pending.len().min(UPLOADS_AT_ONCE)];
        let (done, err) = spool.upload(&repo, batch);
        if done > 0 {
            backoff = Duration::from_millis(250);
            let mut st = stats.lock().unwrap_or_else(|p| p.into_inner());
            for s in &batch[..done] {
                if let Some(i) = st
                    .queued
                    .iter()
                    .position(|q| q.0 == s.timeline && q.1 == s.end_offset)
                {
                    if let Some(q) = st.queued.remove(i) {
                        st.queued_bytes = st.queued_bytes.saturating_sub(q.3);
                    }
                }
                st.archived = Some((s.timeline.clone(), s.end_offset));
                st.uploads += 1;
            }
            st.last_upload_ms = Some(catalog::now_ms());
            st.last_error = None;
            st.failing_since_ms = None;
        }
        let failed = match err {
            Some(e) => {
                let what = batch.get(done).map_or("", |s| s.object.as_str());
                note_error(&stats, format!("uploading {what}: {e}"));
                true
            }
            None => false,
        };
        if failed {
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

fn note_error(stats: &Mutex<Stats>, e: String) {
    let mut st = stats.lock().unwrap_or_else(|p| p.into_inner());
    st.last_error = Some(e);
    st.failing_since_ms.get_or_insert_with(catalog::now_ms);
}
