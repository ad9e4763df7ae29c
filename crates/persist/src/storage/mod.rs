//! The storage interface every durable write goes through: the AOF writer (and its thread),
//! the RDB save and the AOF base (`io::AtomicFile`), and the manifest swap. Two
//! implementations:
//!
//! - `RealFs`: the file system, one system call per method (what the server runs on);
//! - `faulty::FaultyFs`: for tests, a model that keeps what was *written* apart from what
//!   was *synced* (per file, and per directory entry: a create or rename is durable only
//!   once its directory is fsynced), fails any call on demand (EIO, ENOSPC: a failed write
//!   may leave part of its bytes), and "crashes": everything not synced is dropped, and what
//!   is left is the directory the next start sees.
//!
//! ```text
//!   Storage        open (5 ways, `OpenHow`) · rename · remove · sync_dir · size
//!   StorageFile    write_at · sync_data · sync_all · set_len · size · reserve (a hint)
//! ```
//!
//! Reading is not part of it: loaders read with `std::fs`, and `FaultyFs` writes through to
//! the real files, so a reader sees what the page cache would show.

pub mod faulty;

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// How `Storage::open` opens a file (each is one set of `open(2)` flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenHow {
    /// A new file: fails when the name exists (O_CREAT|O_EXCL|O_NOFOLLOW).
    CreateNew { mode: u32 },
    /// Created, or emptied when it exists (O_CREAT|O_TRUNC|O_NOFOLLOW): a fixed temp name.
    Replace { mode: u32 },
    /// Created, or emptied when it exists, for appending (O_CREAT|O_TRUNC|O_APPEND): an
    /// AOF incr file no manifest names yet.
    AppendNew { mode: u32 },
    /// Created when missing, content kept, for appending (O_CREAT|O_APPEND).
    Append { mode: u32 },
    /// An existing file, for writing (to cut it).
    Existing,
}

impl OpenHow {
    /// Whether writes go to the end of the file (O_APPEND).
    pub fn appends(self) -> bool {
        matches!(self, OpenHow::AppendNew { .. } | OpenHow::Append { .. })
    }
}

/// The directory and file operations a durable write needs.
pub trait Storage: Send + Sync {
    fn open(&self, path: &Path, how: OpenHow) -> io::Result<Box<dyn StorageFile>>;
    /// rename(2): durable once the directory is synced.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// unlink(2).
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// fsync of a directory: the creates, renames and removes in it are durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// The size of the file at `path` (stat).
    fn size(&self, path: &Path) -> io::Result<u64>;
}

/// An open file. Methods take `&self`, so that the AOF's writer thread and the main thread
/// can share one (`pwrite` at an offset each side accounts).
pub trait StorageFile: Send + Sync {
    /// Writes all of `data` at `offset` (for a file opened to append, `offset` must be its
    /// end). On an error, part of `data` may be in the file.
    fn write_at(&self, data: &[u8], offset: u64) -> io::Result<()>;
    /// fdatasync(2): the content (and the size) is durable.
    fn sync_data(&self) -> io::Result<()>;
    /// fsync(2).
    fn sync_all(&self) -> io::Result<()>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    fn size(&self) -> io::Result<u64>;
    /// A hint: reserve the blocks of `offset..offset+len` without changing the size, so
    /// that a later fdatasync has nothing to allocate. Failing is fine.
    fn reserve(&self, _offset: u64, _len: u64) {}
}

/// The file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFs;

/// The file system, as the shared handle every writer takes.
pub fn real() -> Arc<dyn Storage> {
    static REAL: OnceLock<Arc<dyn Storage>> = OnceLock::new();
    REAL.get_or_init(|| Arc::new(RealFs)).clone()
}

/// The directory a file's entry is in (`.` for a bare name).
pub fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl Storage for RealFs {
    fn open(&self, path: &Path, how: OpenHow) -> io::Result<Box<dyn StorageFile>> {
        let mut o = OpenOptions::new();
        match how {
            OpenHow::CreateNew { mode } => o
                .write(true)
                .create_new(true)
                .mode(mode)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC),
            OpenHow::Replace { mode } => o
                .write(true)
                .create(true)
                .truncate(true)
                .mode(mode)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC),
            OpenHow::AppendNew { mode } => o
                .append(true)
                .create(true)
                .mode(mode)
                .custom_flags(libc::O_TRUNC | libc::O_CLOEXEC),
            OpenHow::Append { mode } => o
                .append(true)
                .create(true)
                .mode(mode)
                .custom_flags(libc::O_CLOEXEC),
            OpenHow::Existing => o.write(true).custom_flags(libc::O_CLOEXEC),
        };
        Ok(Box::new(RealFile(o.open(path)?)))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn size(&self, path: &Path) -> io::Result<u64> {
        Ok(std::fs::metadata(path)?.len())
    }
}

/// A file of `RealFs`.
#[derive(Debug)]
pub struct RealFile(File);

impl StorageFile for RealFile {
    #[inline]
    fn write_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(data, offset)
    }

    fn sync_data(&self) -> io::Result<()> {
        // SAFETY: fdatasync on a descriptor this File owns.
        let r = unsafe { libc::fdatasync(self.0.as_raw_fd()) };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn sync_all(&self) -> io::Result<()> {
        self.0.sync_all()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }

    fn reserve(&self, offset: u64, len: u64) {
        let (Ok(at), Ok(n)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
            return;
        };
        // SAFETY: fallocate on a descriptor this File owns; KEEP_SIZE leaves size and content.
        unsafe {
            libc::fallocate(self.0.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, at, n);
        }
    }
}
