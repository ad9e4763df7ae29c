//! I/O adapters shared by every persistence driver: a CRC-64-tracking buffered writer and
//! reader (they also count bytes, for progress and error offsets), and `AtomicFile`, the
//! temp → fsync → rename → fsync-directory path every snapshot takes (through a
//! `storage::Storage`, so that tests can fail or crash each step).
//!
//! Both adapters buffer themselves and checksum whole buffers at a time, so callers can write
//! and read a few bytes at a time without paying a per-call CRC cost.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::crc64::crc64;
use crate::storage::{self, parent_dir, OpenHow, Storage, StorageFile};

const WRITE_BUF: usize = 256 * 1024;
const READ_BUF: usize = 1024 * 1024;

/// A buffered writer that keeps Redis's CRC-64 of everything written and the byte count.
pub struct CrcWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
    /// CRC of the bytes already handed to `inner`.
    crc: u64,
    /// Bytes already handed to `inner`.
    flushed: u64,
}

impl<W: Write> CrcWriter<W> {
    pub fn new(inner: W) -> Self {
        CrcWriter {
            inner,
            buf: Vec::with_capacity(WRITE_BUF),
            crc: 0,
            flushed: 0,
        }
    }

    /// The CRC of every byte written so far.
    pub fn crc(&self) -> u64 {
        crc64(self.crc, &self.buf)
    }

    /// Every byte written so far, buffered or not.
    pub fn bytes_written(&self) -> u64 {
        self.flushed + self.buf.len() as u64
    }

    fn drain(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.crc = crc64(self.crc, &self.buf);
        self.flushed += self.buf.len() as u64;
        let r = self.inner.write_all(&self.buf);
        self.buf.clear();
        r
    }

    /// Hands everything to the inner writer and returns it (not flushed itself).
    pub fn into_inner(mut self) -> io::Result<W> {
        self.drain()?;
        Ok(self.inner)
    }

    pub fn get_ref(&self) -> &W {
        &self.inner
    }
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_all(data)?;
        Ok(data.len())
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        if self.buf.len() + data.len() > WRITE_BUF {
            self.drain()?;
            if data.len() >= WRITE_BUF {
                self.crc = crc64(self.crc, data);
                self.flushed += data.len() as u64;
                return self.inner.write_all(data);
            }
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.drain()?;
        self.inner.flush()
    }
}

/// A buffered reader that keeps Redis's CRC-64 of every byte consumed and the offset.
///
/// Decoders ask for bytes with `take` (borrowed from the buffer) or `read_into` (for lengths
/// of any size, grown as bytes arrive, so a huge length read from a corrupt file cannot make
/// it allocate more than the bytes that actually exist).
pub struct CrcReader<R: Read> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    /// Start of the consumed bytes not yet in `crc`.
    crc_pos: usize,
    crc: u64,
    /// Offset of `buf[0]` in the stream.
    base: u64,
    eof: bool,
    /// The buffer holds the whole input (`for_slice`): a request longer than the buffer can
    /// only be a request past the end.
    whole: bool,
}

impl<R: Read> CrcReader<R> {
    pub fn new(inner: R) -> Self {
        Self::with_buffer(inner, READ_BUF, false)
    }

    fn with_buffer(inner: R, size: usize, whole: bool) -> Self {
        CrcReader {
            inner,
            buf: vec![0u8; size].into_boxed_slice(),
            pos: 0,
            end: 0,
            crc_pos: 0,
            crc: 0,
            base: 0,
            eof: false,
            whole,
        }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// CRC of the bytes consumed so far.
    pub fn crc(&self) -> u64 {
        crc64(self.crc, &self.buf[self.crc_pos..self.pos])
    }

    /// Makes at least `n` (≤ the buffer size) bytes available; false at end of input.
    fn fill(&mut self, n: usize) -> io::Result<bool> {
        debug_assert!(n <= self.buf.len() || self.whole);
        if self.end - self.pos >= n {
            return Ok(true);
        }
        // Checksum what was consumed, then slide the unconsumed tail to the front.
        self.crc = crc64(self.crc, &self.buf[self.crc_pos..self.pos]);
        self.buf.copy_within(self.pos..self.end, 0);
        self.base += self.pos as u64;
        self.end -= self.pos;
        self.pos = 0;
        self.crc_pos = 0;
        while self.end < n && !self.eof {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.end >= n)
    }

    /// The next byte, `None` at end of input.
    #[inline]
    pub fn byte(&mut self) -> io::Result<Option<u8>> {
        if self.pos < self.end {
            let b = self.buf[self.pos];
            self.pos += 1;
            return Ok(Some(b));
        }
        if !self.fill(1)? {
            return Ok(None);
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        Ok(Some(b))
    }

    /// The next `n` bytes (n ≤ 64 KB), `None` when the input ends first.
    #[inline]
    pub fn take(&mut self, n: usize) -> io::Result<Option<&[u8]>> {
        if n > 64 * 1024 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "take too large",
            ));
        }
        if self.end - self.pos < n && !self.fill(n)? {
            return Ok(None);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(Some(s))
    }

    /// Appends the next `n` bytes to `out`; false (with what was there appended) when the
    /// input ends first. Memory grows with the bytes that arrive, not with `n`.
    pub fn read_into(&mut self, mut n: u64, out: &mut Vec<u8>) -> io::Result<bool> {
        while n > 0 {
            if self.pos == self.end && !self.fill(1)? {
                return Ok(false);
            }
            let avail = (self.end - self.pos) as u64;
            let k = avail.min(n) as usize;
            out.extend_from_slice(&self.buf[self.pos..self.pos + k]);
            self.pos += k;
            n -= k as u64;
        }
        Ok(true)
    }

    /// Whether the input has no more bytes.
    pub fn at_end(&mut self) -> io::Result<bool> {
        Ok(!self.fill(1)?)
    }
}

impl<'a> CrcReader<&'a [u8]> {
    /// A reader of bytes already in memory (a DUMP payload): its buffer is the input's size,
    /// not the 1 MiB a file gets, so a small payload costs a small allocation. (RESTORE once
    /// zeroed a fresh 1 MiB buffer per call: 0.5 ms each, 20x slower than Redis.)
    pub fn for_slice(data: &'a [u8]) -> Self {
        if data.len() > READ_BUF {
            return Self::new(data);
        }
        Self::with_buffer(data, data.len(), true)
    }

    #[cfg(test)]
    pub(crate) fn buffer_len(&self) -> usize {
        self.buf.len()
    }
}

/// Creates, fills and atomically installs a file: a temp file in the target's directory
/// (`temp-<pid>-<n>.rdb`, O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600; another name pattern and
/// mode, `create_as`; or a fixed name, `create_fixed`), optional fsync every 4 MB while
/// writing (Redis's rdb-save-incremental-fsync), and `commit`: flush, fsync, rename over the
/// target, fsync the directory. Dropped without `commit`, the temp file is removed.
///
/// Every step goes through a `Storage` (the `*_on` constructors; the others use the real
/// file system), so that tests can fail or crash each one.
///
/// Errors are plain `io::Error`s with their OS error kept (ENOSPC stays recognisable);
/// `commit_staged` also says which step failed (`ReplaceError`).
pub struct AtomicFile {
    fs: Arc<dyn Storage>,
    file: Option<Box<dyn StorageFile>>,
    /// Bytes handed to the file (where the next write goes).
    pos: u64,
    buf: Vec<u8>,
    temp: PathBuf,
    target: PathBuf,
    incremental_fsync: bool,
    since_sync: u64,
}

/// Bytes between two fsyncs with incremental fsync on.
pub const INCREMENTAL_FSYNC_BYTES: u64 = 4 * 1024 * 1024;
const FILE_BUF: usize = 64 * 1024;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl AtomicFile {
    /// A snapshot's temp file: `temp-<pid>-<n>.rdb`, mode 0600.
    pub fn create(target: &Path, incremental_fsync: bool) -> io::Result<AtomicFile> {
        AtomicFile::create_on(storage::real(), target, incremental_fsync)
    }

    /// `create` on `fs`.
    pub fn create_on(
        fs: Arc<dyn Storage>,
        target: &Path,
        incremental_fsync: bool,
    ) -> io::Result<AtomicFile> {
        let pid = std::process::id();
        AtomicFile::create_as_on(
            fs,
            target,
            &|n| format!("temp-{pid}-{n}.rdb"),
            0o600,
            incremental_fsync,
        )
    }

    /// A temp file named `temp_name(n)` (n a process-wide counter, tried until a name is
    /// free) in the target's directory, created with `mode` (less the umask).
    pub fn create_as(
        target: &Path,
        temp_name: &dyn Fn(u64) -> String,
        mode: u32,
        incremental_fsync: bool,
    ) -> io::Result<AtomicFile> {
        AtomicFile::create_as_on(storage::real(), target, temp_name, mode, incremental_fsync)
    }

    /// `create_as` on `fs`.
    pub fn create_as_on(
        fs: Arc<dyn Storage>,
        target: &Path,
        temp_name: &dyn Fn(u64) -> String,
        mode: u32,
        incremental_fsync: bool,
    ) -> io::Result<AtomicFile> {
        let dir = parent_dir(target);
        let mut last_err = None;
        for _ in 0..100 {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let temp = dir.join(temp_name(n));
            match fs.open(&temp, OpenHow::CreateNew { mode }) {
                Ok(file) => {
                    return Ok(AtomicFile::with(fs, file, temp, target, incremental_fsync));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("no temp file name available")))
    }

    /// `create` with a fixed temp name (in the target's directory) and mode, for a file
    /// Redis writes the same way (the AOF manifest: `temp-<name>.manifest`, 0644). A temp
    /// file of that name left by a crash is truncated and reused.
    pub fn create_fixed(target: &Path, temp_name: &str, mode: u32) -> io::Result<AtomicFile> {
        AtomicFile::create_fixed_on(storage::real(), target, temp_name, mode)
    }

    /// `create_fixed` on `fs`.
    pub fn create_fixed_on(
        fs: Arc<dyn Storage>,
        target: &Path,
        temp_name: &str,
        mode: u32,
    ) -> io::Result<AtomicFile> {
        let temp = parent_dir(target).join(temp_name);
        let file = fs.open(&temp, OpenHow::Replace { mode })?;
        Ok(AtomicFile::with(fs, file, temp, target, false))
    }

    fn with(
        fs: Arc<dyn Storage>,
        file: Box<dyn StorageFile>,
        temp: PathBuf,
        target: &Path,
        incremental_fsync: bool,
    ) -> AtomicFile {
        AtomicFile {
            fs,
            file: Some(file),
            pos: 0,
            buf: Vec::with_capacity(FILE_BUF),
            temp,
            target: target.to_path_buf(),
            incremental_fsync,
            since_sync: 0,
        }
    }

    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    pub fn target_path(&self) -> &Path {
        &self.target
    }

    fn write_through(&mut self, data: &[u8]) -> io::Result<()> {
        let file = self
            .file
            .as_ref()
            .ok_or_else(|| io::Error::other("atomic file already closed"))?;
        file.write_at(data, self.pos)?;
        self.pos += data.len() as u64;
        self.since_sync += data.len() as u64;
        if self.incremental_fsync && self.since_sync >= INCREMENTAL_FSYNC_BYTES {
            file.sync_data()?;
            self.since_sync = 0;
        }
        Ok(())
    }

    fn drain(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.buf);
        let r = self.write_through(&buf);
        self.buf = buf;
        self.buf.clear();
        r
    }

    /// Flushes, fsyncs, renames over the target and fsyncs the directory.
    pub fn commit(self) -> io::Result<()> {
        self.commit_staged().map_err(|e| e.error)
    }

    /// `commit`, saying which step failed. Before the rename the target is untouched (and
    /// the temp file removed); after it the target is the new file for every reader, but
    /// its directory entry may not be on disk yet.
    pub fn commit_staged(mut self) -> Result<(), ReplaceError> {
        let at = |stage| move |error| ReplaceError { stage, error };
        self.drain().map_err(at(ReplaceStage::Write))?;
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("closed"))
            .map_err(at(ReplaceStage::Write))?;
        file.sync_all().map_err(at(ReplaceStage::Sync))?;
        drop(file);
        self.fs
            .rename(&self.temp, &self.target)
            .map_err(at(ReplaceStage::Rename))?;
        // The temp name no longer exists: nothing for Drop to remove.
        self.temp = PathBuf::new();
        self.fs
            .sync_dir(&parent_dir(&self.target))
            .map_err(at(ReplaceStage::SyncDir))
    }
}

/// The step of an atomic replacement that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplaceStage {
    /// Creating the temp file.
    Open,
    /// Writing it.
    Write,
    /// Its fsync.
    Sync,
    /// The rename over the target.
    Rename,
    /// The directory's fsync, after the rename.
    SyncDir,
}

/// A failed atomic replacement: the step and the OS error.
#[derive(Debug)]
pub struct ReplaceError {
    pub stage: ReplaceStage,
    pub error: io::Error,
}

impl ReplaceError {
    /// Whether the rename happened: the target already is the new file (only the
    /// directory's fsync failed, so after a power loss it may be either).
    pub fn replaced(&self) -> bool {
        self.stage == ReplaceStage::SyncDir
    }
}

impl std::fmt::Display for ReplaceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for ReplaceError {}

impl From<ReplaceError> for io::Error {
    fn from(e: ReplaceError) -> io::Error {
        e.error
    }
}

impl Write for AtomicFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_all(data)?;
        Ok(data.len())
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        if self.buf.len() + data.len() > FILE_BUF {
            self.drain()?;
            if data.len() >= FILE_BUF {
                return self.write_through(data);
            }
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.drain()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        self.file = None;
        if !self.temp.as_os_str().is_empty() {
            let _ = self.fs.remove(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn crc_writer_and_reader_agree() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
        let mut w = CrcWriter::new(Vec::new());
        for chunk in data.chunks(777) {
            w.write_all(chunk).unwrap();
        }
        w.write_all(&data[..300_000]).unwrap();
        let crc = w.crc();
        assert_eq!(w.bytes_written(), 3_300_000);
        let out = w.into_inner().unwrap();
        assert_eq!(crc, crc64(0, &out));

        let mut r = CrcReader::new(&out[..]);
        let mut got = Vec::new();
        assert_eq!(r.byte().unwrap(), Some(out[0]));
        got.push(out[0]);
        got.extend_from_slice(r.take(1000).unwrap().unwrap());
        assert!(r.read_into(2_000_000, &mut got).unwrap());
        assert_eq!(r.offset(), 2_001_001);
        assert_eq!(r.crc(), crc64(0, &out[..2_001_001]));
        assert!(r.read_into(u64::MAX, &mut got).is_ok_and(|ok| !ok));
        assert_eq!(got, out);
        assert!(r.at_end().unwrap());
        assert_eq!(r.crc(), crc);
    }

    #[test]
    fn slice_reader_buffer_fits_the_input() {
        // A small input gets a small buffer (RESTORE decodes one per call), and requests past
        // its end read as the end, however the buffer compares with the request.
        let data: Vec<u8> = (0..100u8).collect();
        let mut r = CrcReader::for_slice(&data[..]);
        assert_eq!(r.buffer_len(), 100);
        assert_eq!(r.take(60).unwrap().unwrap(), &data[..60]);
        assert!(r.take(41).unwrap().is_none());
        assert_eq!(r.take(40).unwrap().unwrap(), &data[60..]);
        assert!(r.at_end().unwrap());
        assert_eq!(r.crc(), crc64(0, &data));

        let mut r = CrcReader::for_slice(&data[..10]);
        assert!(r.take(1000).unwrap().is_none());
        let mut got = Vec::new();
        assert!(!r.read_into(11, &mut got).unwrap());
        assert_eq!(got, &data[..10]);

        let mut r = CrcReader::for_slice(&[]);
        assert!(r.at_end().unwrap());
        assert_eq!(r.byte().unwrap(), None);

        // A big input streams through the usual buffer.
        let big = vec![7u8; 3 * READ_BUF];
        let mut r = CrcReader::for_slice(&big[..]);
        assert_eq!(r.buffer_len(), READ_BUF);
        let mut got = Vec::new();
        assert!(r.read_into(big.len() as u64, &mut got).unwrap());
        assert!(r.at_end().unwrap());
        assert_eq!(got, big);
    }

    #[test]
    fn atomic_file_says_which_step_failed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("amber-staged-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A stale temp file is truncated; the file gets the mode asked for.
        std::fs::write(dir.join("temp-m"), b"stale content, longer").unwrap();
        let target = dir.join("m");
        let mut f = AtomicFile::create_fixed(&target, "temp-m", 0o644).unwrap();
        f.write_all(b"new").unwrap();
        f.commit_staged().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        let mode = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644 & !umask());
        assert!(!dir.join("temp-m").exists());

        // The rename fails (the target is a non-empty directory): the temp file goes, the
        // target stays, and the error says the rename did not happen.
        let blocked = dir.join("blocked");
        std::fs::create_dir_all(blocked.join("x")).unwrap();
        let mut f = AtomicFile::create_fixed(&blocked, "temp-b", 0o644).unwrap();
        f.write_all(b"data").unwrap();
        let e = f.commit_staged().unwrap_err();
        assert_eq!(e.stage, ReplaceStage::Rename);
        assert!(!e.replaced());
        assert!(!dir.join("temp-b").exists());
        assert!(blocked.join("x").is_dir());

        // No directory: the temp file cannot be created.
        let e = AtomicFile::create_fixed(&dir.join("none/m"), "temp-m", 0o644).err();
        assert_eq!(
            e.map(|e| e.kind()),
            Some(io::ErrorKind::NotFound),
            "create_as in a missing directory"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The process's umask, as /proc shows it (reading it with umask(2) would change it).
    fn umask() -> u32 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
        u32::from_str_radix(line["Umask:".len()..].trim(), 8).unwrap()
    }

    #[test]
    fn atomic_file_commits_or_cleans_up() {
        let dir = std::env::temp_dir().join(format!("amber-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("dump.rdb");
        let mut f = AtomicFile::create(&target, true).unwrap();
        let temp = f.temp_path().to_path_buf();
        assert!(temp
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("temp-"));
        f.write_all(b"hello").unwrap();
        f.write_all(&vec![1u8; 5 * 1024 * 1024]).unwrap();
        f.commit().unwrap();
        assert!(!temp.exists());
        assert_eq!(
            std::fs::metadata(&target).unwrap().len(),
            5 + 5 * 1024 * 1024
        );

        let mut f = AtomicFile::create(&target, false).unwrap();
        let temp = f.temp_path().to_path_buf();
        f.write_all(b"partial").unwrap();
        f.flush().unwrap();
        assert!(temp.exists());
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&temp).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        drop(f);
        assert!(!temp.exists());
        assert_eq!(
            std::fs::metadata(&target).unwrap().len(),
            5 + 5 * 1024 * 1024
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
