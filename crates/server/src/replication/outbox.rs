//! The stream bytes waiting for one replica's connection: the first `IN_MEMORY` bytes in
//! memory, the rest in an unlinked file in the working directory.
//!
//! A full sync under a write load is where this matters: the stream fed while the snapshot
//! goes out waits for the replica until it has loaded the snapshot, and at a few hundred
//! thousand writes a second that is hundreds of megabytes. Redis holds all of it in memory
//! (its shared replication buffer); Amber keeps a bounded window of it in memory and
//! writes full chunks beyond that to a file, read back in order as the connection takes
//! them. The output-buffer limit (client-output-buffer-limit replica) still counts every
//! waiting byte, wherever it is, so a replica that cannot keep up is dropped as in Redis.
//!
//! ```text
//!   push ─▶ [mem][mem]..(IN_MEMORY)..[disk][disk]...[disk][mem: being filled]
//!   take ◀─ front first; a disk chunk is read back (pread) when its turn comes
//! ```
//!
//! The file is truncated whenever no chunk is left in it. When it cannot be created or
//! written (a full disk), the bytes stay in memory: nothing is lost, only the bound.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};

/// The size of a chunk: what the queue appends into, and what goes to the file at once.
const CHUNK: usize = 64 * 1024;

/// The bytes kept in memory before full chunks go to the file.
pub(crate) const IN_MEMORY: usize = 4 * 1024 * 1024;

enum Chunk {
    Mem(Vec<u8>),
    Disk { at: u64, len: usize },
}

struct Spill {
    file: File,
    end: u64,
    /// Chunks in the file not yet taken.
    chunks: usize,
}

/// Stream bytes waiting for a replica's connection, in order.
#[derive(Default)]
pub(crate) struct Outbox {
    chunks: VecDeque<Chunk>,
    len: usize,
    mem: usize,
    spill: Option<Spill>,
    /// The file could not be created or written: everything stays in memory from now on.
    spill_failed: bool,
    /// Where the file goes; empty: the working directory (the server's `dir`).
    dir: std::path::PathBuf,
}

impl Outbox {
    /// Queues `bytes`. Returns a warning the first time the file cannot be used.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Option<String> {
        self.len += bytes.len();
        self.mem += bytes.len();
        if let Some(Chunk::Mem(last)) = self.chunks.back_mut() {
            if last.len() + bytes.len() <= CHUNK {
                last.extend_from_slice(bytes);
                return None;
            }
        }
        let mut c = Vec::with_capacity(CHUNK.max(bytes.len()));
        c.extend_from_slice(bytes);
        self.chunks.push_back(Chunk::Mem(c));
        // The chunk before the new one is full: past the memory window, it goes to the file.
        if self.mem > IN_MEMORY && !self.spill_failed && self.chunks.len() >= 2 {
            let i = self.chunks.len() - 2;
            if let Err(e) = self.spill_chunk(i) {
                self.spill_failed = true;
                return Some(format!(
                    "Can't write a replica's waiting stream to a temporary file ({e}): it stays in memory."
                ));
            }
        }
        None
    }

    fn spill_chunk(&mut self, i: usize) -> io::Result<()> {
        let Chunk::Mem(data) = &self.chunks[i] else {
            return Ok(());
        };
        if self.spill.is_none() {
            self.spill = Some(Spill {
                file: temp_file(&self.dir)?,
                end: 0,
                chunks: 0,
            });
        }
        let Some(s) = self.spill.as_mut() else {
            return Ok(());
        };
        let at = s.end;
        s.file.write_all_at(data, at)?;
        let len = data.len();
        s.end += len as u64;
        s.chunks += 1;
        self.mem -= len;
        self.chunks[i] = Chunk::Disk { at, len };
        Ok(())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stream bytes waiting, in memory and in the file.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Stream bytes waiting in memory.
    pub(crate) fn in_memory(&self) -> usize {
        self.mem
    }

    /// Bytes allocated for the part in memory (eviction does not count them).
    pub(crate) fn allocated(&self) -> usize {
        self.chunks
            .iter()
            .map(|c| match c {
                Chunk::Mem(v) => v.capacity(),
                Chunk::Disk { .. } => 0,
            })
            .sum()
    }

    /// Moves whole chunks to `out` until it holds at least `max` bytes or none are left.
    /// A failed read of the file leaves the chunk queued and returns the error (the
    /// connection is to be closed: its stream can't go on without those bytes).
    pub(crate) fn take_into(&mut self, out: &mut Vec<u8>, max: usize) -> io::Result<()> {
        while out.len() < max {
            match self.chunks.front() {
                None => break,
                Some(Chunk::Mem(_)) => {
                    let Some(Chunk::Mem(c)) = self.chunks.pop_front() else {
                        break;
                    };
                    self.len -= c.len();
                    self.mem -= c.len();
                    if out.is_empty() {
                        *out = c;
                    } else {
                        out.extend_from_slice(&c);
                    }
                }
                Some(&Chunk::Disk { at, len }) => {
                    let Some(s) = self.spill.as_mut() else {
                        return Err(io::Error::other("a spilled chunk without its file"));
                    };
                    let start = out.len();
                    out.resize(start + len, 0);
                    if let Err(e) = s.file.read_exact_at(&mut out[start..], at) {
                        out.truncate(start);
                        return Err(e);
                    }
                    self.chunks.pop_front();
                    self.len -= len;
                    s.chunks -= 1;
                    if s.chunks == 0 {
                        // Nothing left in the file: give its blocks back.
                        s.end = 0;
                        let _ = s.file.set_len(0);
                    }
                }
            }
        }
        Ok(())
    }
}

/// A new file in `dir`, unlinked at once: nothing is left behind by a crash.
fn temp_file(dir: &std::path::Path) -> io::Result<File> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let name = dir.join(format!(
        "temp-repl-stream-{}-{}.tmp",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&name)?;
    std::fs::remove_file(&name)?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(o: &mut Outbox, max: usize) -> Vec<u8> {
        let mut got = Vec::new();
        while !o.is_empty() {
            let mut out = Vec::new();
            o.take_into(&mut out, max).expect("read back");
            assert!(out.len() < max + 3 * CHUNK);
            got.extend_from_slice(&out);
        }
        got
    }

    #[test]
    fn hands_out_everything_in_order_in_bounded_rounds() {
        let mut o = Outbox::default();
        let mut want = Vec::new();
        for i in 0..20_000u32 {
            let b = i.to_le_bytes().repeat((i % 7 + 1) as usize);
            assert!(o.push(&b).is_none());
            want.extend_from_slice(&b);
        }
        o.push(&vec![9u8; 3 * CHUNK]);
        want.extend_from_slice(&vec![9u8; 3 * CHUNK]);
        assert_eq!(drain(&mut o, 100_000), want);
        assert_eq!((o.len, o.mem), (0, 0));
    }

    #[test]
    fn beyond_the_memory_window_chunks_go_to_the_file_and_come_back_in_order() {
        let dir = std::env::temp_dir().join(format!("amber-outbox-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut o = Outbox {
            dir: dir.clone(),
            ..Outbox::default()
        };
        let mut want = Vec::new();
        let mut i = 0u64;
        while want.len() < 3 * IN_MEMORY {
            let b = format!("*3\r\n$3\r\nSET\r\n$10\r\n{i:010}\r\n$3\r\nabc\r\n");
            assert!(o.push(b.as_bytes()).is_none());
            want.extend_from_slice(b.as_bytes());
            i += 1;
        }
        assert_eq!(o.len(), want.len());
        assert!(o.in_memory() <= IN_MEMORY + 2 * CHUNK, "{}", o.in_memory());
        assert!(o.spill.as_ref().is_some_and(|s| s.chunks > 0));
        // The file was unlinked at once.
        assert_eq!(std::fs::read_dir(&dir).expect("list").count(), 0);
        // Taken part way, pushed again, then drained: one stream, in order.
        let mut got = Vec::new();
        o.take_into(&mut got, IN_MEMORY + 10 * CHUNK)
            .expect("read back");
        for j in 0..1000u32 {
            let b = j.to_be_bytes();
            o.push(&b);
            want.extend_from_slice(&b);
        }
        got.extend_from_slice(&drain(&mut o, 1 << 20));
        assert_eq!(got, want);
        assert_eq!(o.spill.as_ref().map(|s| (s.chunks, s.end)), Some((0, 0)));
        let _ = std::fs::remove_dir(&dir);
    }

    #[test]
    fn without_a_usable_file_everything_stays_in_memory_and_nothing_is_lost() {
        let mut o = Outbox {
            dir: "/nonexistent/amber-outbox".into(),
            ..Outbox::default()
        };
        let mut want = Vec::new();
        let mut warnings = Vec::new();
        for i in 0..(2 * IN_MEMORY / 1000) as u32 {
            let b = [i.to_le_bytes().as_slice(), &[7u8; 996]].concat();
            warnings.extend(o.push(&b));
            want.extend_from_slice(&b);
        }
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("stays in memory"));
        assert_eq!(o.in_memory(), want.len());
        assert_eq!(drain(&mut o, 1 << 20), want);
    }
}
