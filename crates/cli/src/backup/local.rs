//! `backup create --local`: a server on this machine saves, then its dump.rdb is copied.
//!
//! Waiting for BGSAVE the way the user's guide script meant to (its LASTSAVE loop compared
//! two calls made at the same moment, so it never waited):
//!
//! 1. INFO persistence; if a save is already running, wait for it to end, read again.
//!    Remember `rdb_saves` and `rdb_last_save_time`.
//! 2. BGSAVE. "+Background saving started" → 3. "already in progress" or "Another child
//!    process is active" → retry until the timeout. Any other error: P001 (could not start).
//! 3. Poll INFO persistence: done when `rdb_bgsave_in_progress` is 0 and `rdb_saves` grew
//!    (or `rdb_last_save_time` moved past the value read in 1). `rdb_last_bgsave_status:err`
//!    is a failed save: P004 DISK_FULL or P005 WRITE_ERR, from Amber's `amber_rdb_last_error`
//!    when the server has it, else from the free space on the data directory.
//!
//! The copy is checked: (device, inode, size, mtime) before and after, and the SHA-256 of the
//! bytes copied equal to a second read of the file after the copy.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use amber_persist::PCode;

use crate::backup::stream::{hex, HashReader};
use crate::client::{Client, Info, Reply};

pub struct SaveError {
    pub code: PCode,
    pub message: String,
}

fn persistence(c: &mut Client) -> Result<Info, SaveError> {
    match c.info("persistence") {
        Ok(Ok(i)) => Ok(i),
        Ok(Err(e)) => Err(SaveError {
            code: PCode::ForkFail,
            message: format!("INFO persistence refused: {e}"),
        }),
        Err(e) => Err(SaveError {
            code: PCode::ForkFail,
            message: format!("lost the connection: {e}"),
        }),
    }
}

fn in_progress(i: &Info) -> bool {
    i.int("rdb_bgsave_in_progress") == Some(1)
}

/// Free bytes on the filesystem holding `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills the struct we own from a NUL-terminated path.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast)]
    Some((s.f_bavail as u64).saturating_mul(s.f_frsize as u64))
}

fn failed_save(i: &Info, dir: &Path) -> SaveError {
    if let Some(e) = i.get("amber_rdb_last_error").filter(|e| *e != "none") {
        let code = match PCode::parse_prefix(e) {
            Some(PCode::DiskFull) => PCode::DiskFull,
            _ => PCode::WriteErr,
        };
        return SaveError {
            code,
            message: format!("the server's save failed: {e}"),
        };
    }
    match free_bytes(dir) {
        Some(f) if f < 16 * 1024 * 1024 => SaveError {
            code: PCode::DiskFull,
            message: format!(
                "the server's save failed (rdb_last_bgsave_status:err) and {} has only {} free: {}",
                dir.display(),
                crate::human::size(f),
                PCode::DiskFull.name()
            ),
        },
        _ => SaveError {
            code: PCode::WriteErr,
            message: format!(
                "the server's save failed (rdb_last_bgsave_status:err): {}; its log says why",
                PCode::WriteErr.name()
            ),
        },
    }
}

/// Triggers BGSAVE and waits until it is done. Returns how long the save took.
pub fn bgsave_and_wait(
    c: &mut Client,
    dir: &Path,
    timeout: Duration,
) -> Result<Duration, SaveError> {
    let deadline = Instant::now() + timeout;
    let timed_out = |what: &str| SaveError {
        code: PCode::ForkFail,
        message: format!("timed out after {}s {what}", timeout.as_secs()),
    };
    let mut before = persistence(c)?;
    while in_progress(&before) {
        if Instant::now() > deadline {
            return Err(timed_out("waiting for a save already running"));
        }
        std::thread::sleep(Duration::from_millis(100));
        before = persistence(c)?;
    }
    let saves0 = before.int("rdb_saves");
    let time0 = before.int("rdb_last_save_time").unwrap_or(0);
    let started = Instant::now();
    loop {
        let r = c.call(&[b"BGSAVE"]).map_err(|e| SaveError {
            code: PCode::ForkFail,
            message: format!("lost the connection: {e}"),
        })?;
        match r {
            Reply::Error(e)
                if e.contains("already in progress") || e.contains("Another child process") =>
            {
                if Instant::now() > deadline {
                    return Err(timed_out("waiting to start BGSAVE"));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Reply::Error(e) => {
                return Err(SaveError {
                    code: PCode::ForkFail,
                    message: format!("BGSAVE could not start: {e}"),
                })
            }
            _ => break,
        }
    }
    let mut idle_polls = 0;
    loop {
        let i = persistence(c)?;
        if !in_progress(&i) {
            let done = match (saves0, i.int("rdb_saves")) {
                (Some(a), Some(b)) => b > a,
                _ => i.int("rdb_last_save_time").unwrap_or(0) > time0,
            };
            if i.get("rdb_last_bgsave_status") == Some("err") {
                return Err(failed_save(&i, dir));
            }
            if done {
                return Ok(started.elapsed());
            }
            // Not running, not done: LASTSAVE has one-second resolution, so give a server
            // without rdb_saves a few seconds before calling it lost.
            idle_polls += 1;
            if idle_polls > 50 && saves0.is_some() {
                return Err(SaveError {
                    code: PCode::WriteErr,
                    message: "BGSAVE was accepted but no save completed".into(),
                });
            }
        }
        if Instant::now() > deadline {
            return Err(timed_out("waiting for BGSAVE to finish"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What identifies one version of a file.
#[derive(Debug, PartialEq, Clone, Copy)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
}

pub fn stamp(m: &std::fs::Metadata) -> Stamp {
    Stamp {
        dev: m.dev(),
        ino: m.ino(),
        size: m.size(),
        mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
    }
}

/// Opens `path`, checking that the opened file is the one the path names.
pub fn open_checked(path: &Path) -> io::Result<(File, Stamp)> {
    let before = stamp(&std::fs::metadata(path)?);
    let f = File::open(path)?;
    let opened = stamp(&f.metadata()?);
    if before != opened {
        return Err(io::Error::other("the file was replaced while being opened"));
    }
    Ok((f, opened))
}

/// After the copy: the path still names the same, unchanged file, and its bytes hash to
/// what was copied.
pub fn still_same(path: &Path, st: Stamp, copied_sha256: &str) -> io::Result<Result<(), String>> {
    let now = stamp(&std::fs::metadata(path)?);
    if now != st {
        return Ok(Err(format!(
            "{} changed while it was copied (size {} → {}, a new save replaced it?)",
            path.display(),
            st.size,
            now.size
        )));
    }
    let mut h = HashReader::new(File::open(path)?);
    io::copy(&mut h, &mut io::sink())?;
    let again = hex(&sha2::Digest::finalize(h.hash));
    if again != copied_sha256 {
        return Ok(Err(format!(
            "{} was modified in place while it was copied (SHA-256 differs)",
            path.display()
        )));
    }
    Ok(Ok(()))
}
