//! A file written front to back whose pages are handed to the disk as they fill: every
//! `STEP` bytes, `sync_file_range(SYNC_FILE_RANGE_WRITE)` starts the writeback of what was
//! just written without waiting for it (Redis's rdb-save-incremental-fsync, in spirit). The
//! disk then writes while the restore downloads and decompresses the rest, and the final
//! `finish` (fsync) finds little left to do. The early writeback is best effort: where the
//! call is refused, `finish` still makes everything durable.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::io::AsRawFd;

const STEP: u64 = 8 << 20;

pub struct Writeback {
    file: File,
    written: u64,
    /// Where the range not yet handed to the disk starts.
    flushed: u64,
}

impl Writeback {
    pub fn new(file: File) -> Self {
        Writeback {
            file,
            written: 0,
            flushed: 0,
        }
    }

    /// Everything written made durable (fsync).
    pub fn finish(self) -> io::Result<File> {
        self.file.sync_all()?;
        Ok(self.file)
    }
}

impl Write for Writeback {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = self.file.write(b)?;
        self.written += n as u64;
        if self.written - self.flushed >= STEP {
            let (off, len) = (self.flushed, self.written - self.flushed);
            if let (Ok(off), Ok(len)) = (i64::try_from(off), i64::try_from(len)) {
                // SAFETY: a valid open descriptor; the call only schedules I/O.
                unsafe {
                    libc::sync_file_range(
                        self.file.as_raw_fd(),
                        off,
                        len,
                        libc::SYNC_FILE_RANGE_WRITE,
                    );
                }
            }
            self.flushed = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_everything_through() {
        let dir = std::env::temp_dir().join(format!("amber-writeback-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let mut w = Writeback::new(File::create(&dir).unwrap_or_else(|e| panic!("{e}")));
        let chunk = vec![7u8; 3 << 20];
        for _ in 0..7 {
            w.write_all(&chunk).unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(w.flushed, 18 << 20);
        w.finish().unwrap_or_else(|e| panic!("{e}"));
        let back = std::fs::read(&dir).unwrap_or_else(|e| panic!("{e}"));
        let _ = std::fs::remove_file(&dir);
        assert_eq!(back.len(), 21 << 20);
        assert!(back.iter().all(|b| *b == 7));
    }
}
