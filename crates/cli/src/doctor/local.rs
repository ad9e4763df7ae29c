//! What doctor learns from this machine: the data directory (probe write, statvfs), memory
//! (/proc/meminfo, vm.overcommit_memory), the server process's user, and the persistence files
//! themselves (RDB decoded to its CRC, every AOF file of the manifest judged).

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use amber_persist::rdb::{Decoder, Item, RdbError};

/// The server's data directory as this machine sees it: `given` (--data-dir / --dir), else
/// the server's `dir` (CONFIG GET dir) when the server runs on this machine (`same_host`) and
/// that directory exists here. The flag says whether it is the server's own directory (same
/// host and the same directory once canonicalized).
pub fn data_dir(
    same_host: bool,
    server_dir: Option<&Path>,
    given: Option<&Path>,
) -> Option<(PathBuf, bool)> {
    match (given, server_dir) {
        (Some(d), _) => {
            let own = match (server_dir, std::fs::canonicalize(d)) {
                (Some(s), Ok(c)) => same_host && std::fs::canonicalize(s).is_ok_and(|s| s == c),
                _ => false,
            };
            Some((d.to_path_buf(), own))
        }
        (None, Some(s)) if same_host && s.is_dir() => Some((s.to_path_buf(), true)),
        _ => None,
    }
}

pub struct FsStat {
    pub free: u64,
    pub total: u64,
    pub read_only: bool,
}

pub fn statvfs(dir: &Path) -> io::Result<FsStat> {
    let c = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in the path"))?;
    // SAFETY: an all-zero statvfs is a valid value to be overwritten.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid C string, st a valid out pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let frsize = st.f_frsize as u64;
    Ok(FsStat {
        free: st.f_bavail as u64 * frsize,
        total: st.f_blocks as u64 * frsize,
        read_only: st.f_flag & libc::ST_RDONLY != 0,
    })
}

/// Create, write 4 KiB, fsync, remove (and fsync the directory): what a save does, in small.
pub fn probe_write(dir: &Path) -> io::Result<()> {
    let p = dir.join(format!(".amber-doctor-probe-{}", std::process::id()));
    let r = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&p)?;
        f.write_all(&[b'x'; 4096])?;
        f.sync_all()
    })();
    let rm = if p.exists() {
        std::fs::remove_file(&p)
    } else {
        Ok(())
    };
    r?;
    rm?;
    File::open(dir)?.sync_all()
}

pub fn meminfo() -> HashMap<String, u64> {
    let mut m = HashMap::new();
    if let Ok(s) = std::fs::read_to_string("/proc/meminfo") {
        for line in s.lines() {
            let mut it = line.split_whitespace();
            if let (Some(k), Some(v)) = (it.next(), it.next()) {
                if let Ok(n) = v.parse::<u64>() {
                    m.insert(k.trim_end_matches(':').to_string(), n * 1024);
                }
            }
        }
    }
    m
}

pub fn overcommit_memory() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/vm/overcommit_memory")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The server process on this machine, when `pid` is one (its cmdline names a server).
pub struct Proc {
    pub uid: u32,
    pub gids: Vec<u32>,
}

pub fn server_proc(pid: u32) -> Option<Proc> {
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmd = String::from_utf8_lossy(&cmd);
    if !cmd.contains("redis-server") && !cmd.contains("amber-server") {
        return None;
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut uid = None;
    let mut gids = Vec::new();
    for line in status.lines() {
        if let Some(r) = line.strip_prefix("Uid:") {
            uid = r.split_whitespace().nth(1).and_then(|s| s.parse().ok());
        } else if let Some(r) = line.strip_prefix("Gid:") {
            gids.extend(
                r.split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse::<u32>().ok()),
            );
        } else if let Some(r) = line.strip_prefix("Groups:") {
            gids.extend(r.split_whitespace().filter_map(|s| s.parse::<u32>().ok()));
        }
    }
    Some(Proc { uid: uid?, gids })
}

/// Whether the mode bits let `p` create files in `dir` (root always can).
pub fn proc_can_write(p: &Proc, dir: &Path) -> Option<(bool, u32, u32, u32)> {
    let m = std::fs::metadata(dir).ok()?;
    let mode = m.mode() & 0o7777;
    let ok = if p.uid == 0 {
        true
    } else if m.uid() == p.uid {
        mode & 0o300 == 0o300
    } else if p.gids.contains(&m.gid()) {
        mode & 0o030 == 0o030
    } else {
        mode & 0o003 == 0o003
    };
    Some((ok, m.uid(), m.gid(), mode))
}

pub struct RdbCheck {
    pub keys: u64,
    pub version: u32,
    pub checksum: bool,
}

/// Decodes the whole file; `Err((offset, message))` when it is not a loadable RDB.
pub fn check_rdb(path: &Path) -> io::Result<Result<RdbCheck, (u64, String)>> {
    let f = File::open(path)?;
    let mut dec = match Decoder::new(BufReader::with_capacity(1 << 20, f)) {
        Ok(d) => d,
        Err(e) => return rdb_err(e, 0),
    };
    let version = dec.version();
    let mut keys = 0;
    loop {
        match dec.next() {
            Ok(Some(Item::Entry(_))) => keys += 1,
            Ok(Some(Item::Eof { stored_crc, .. })) => {
                return Ok(Ok(RdbCheck {
                    keys,
                    version,
                    checksum: stored_crc.is_some_and(|c| c != 0),
                }))
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                return Ok(Err((
                    dec.offset(),
                    "the file ends without the EOF marker".into(),
                )))
            }
            Err(e) => return rdb_err(e, dec.offset()),
        }
    }
}

fn rdb_err(e: RdbError, at: u64) -> io::Result<Result<RdbCheck, (u64, String)>> {
    match e {
        RdbError::Io(io) if io.kind() != io::ErrorKind::UnexpectedEof => Err(io),
        RdbError::Io(_) => Ok(Err((at, "the file is cut short".into()))),
        RdbError::Corrupt { offset, .. } | RdbError::Unsupported { offset, .. } => {
            Ok(Err((offset, e.to_string())))
        }
    }
}
