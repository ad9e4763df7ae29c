//! The replication backlog: the last `size` bytes of the replication stream, in a ring, so
//! that a replica that lost its link can continue from its offset (PSYNC → +CONTINUE)
//! instead of loading a whole snapshot again.
//!
//! Offsets are Redis's: the stream's first byte ever is offset 1, and `first` is the offset
//! of the oldest byte still held (`repl_backlog_first_byte_offset`).

pub(crate) struct Backlog {
    ring: Vec<u8>,
    /// Where the next byte goes in `ring`.
    idx: usize,
    /// Bytes held (`repl_backlog_histlen`), at most `ring.len()`.
    histlen: usize,
    /// The stream offset of the oldest byte held.
    first: u64,
}

impl Backlog {
    /// An empty backlog of `size` bytes (at least 1) whose next byte has offset `next`.
    pub(crate) fn new(size: usize, next: u64) -> Backlog {
        Backlog {
            ring: vec![0; size.max(1)],
            idx: 0,
            histlen: 0,
            first: next,
        }
    }

    pub(crate) fn size(&self) -> usize {
        self.ring.len()
    }

    pub(crate) fn histlen(&self) -> usize {
        self.histlen
    }

    pub(crate) fn first(&self) -> u64 {
        self.first
    }

    /// Appends stream bytes, dropping the oldest ones beyond the size.
    pub(crate) fn append(&mut self, data: &[u8]) {
        let size = self.ring.len();
        let end = self.first + self.histlen as u64 + data.len() as u64;
        // Only the tail of a chunk larger than the ring stays.
        let data = &data[data.len().saturating_sub(size)..];
        let n = data.len();
        let room = size - self.idx;
        if n <= room {
            self.ring[self.idx..self.idx + n].copy_from_slice(data);
        } else {
            self.ring[self.idx..].copy_from_slice(&data[..room]);
            self.ring[..n - room].copy_from_slice(&data[room..]);
        }
        self.idx = (self.idx + n) % size;
        self.histlen = (self.histlen + n).min(size);
        self.first = end - self.histlen as u64;
    }

    /// Whether the bytes from `offset` to the end are all held (a partial resync can serve
    /// them): `first <= offset <= first + histlen`.
    pub(crate) fn covers(&self, offset: u64) -> bool {
        offset >= self.first && offset - self.first <= self.histlen as u64
    }

    /// The bytes from `offset` to the end; `None` when they are not all held.
    pub(crate) fn since(&self, offset: u64) -> Option<Vec<u8>> {
        if !self.covers(offset) {
            return None;
        }
        let skip = usize::try_from(offset - self.first).ok()?;
        let len = self.histlen - skip;
        let size = self.ring.len();
        // The oldest byte sits `histlen` behind `idx`.
        let start = (self.idx + size - self.histlen + skip) % size;
        let mut out = Vec::with_capacity(len);
        if start + len <= size {
            out.extend_from_slice(&self.ring[start..start + len]);
        } else {
            out.extend_from_slice(&self.ring[start..]);
            out.extend_from_slice(&self.ring[..len - (size - start)]);
        }
        Some(out)
    }

    /// Resizes (CONFIG SET repl-backlog-size), keeping the newest bytes that fit.
    pub(crate) fn resize(&mut self, size: usize) {
        let size = size.max(1);
        if size == self.ring.len() {
            return;
        }
        let keep = self.histlen.min(size);
        let end = self.first + self.histlen as u64;
        let tail = self.since(end - keep as u64).unwrap_or_default();
        *self = Backlog::new(size, end - keep as u64);
        self.append(&tail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stream bytes from offset 1 up to `len`: byte at offset o is (o % 251).
    fn stream(from: u64, len: usize) -> Vec<u8> {
        (0..len as u64).map(|i| ((from + i) % 251) as u8).collect()
    }

    #[test]
    fn serves_any_offset_it_still_holds_across_wraps() {
        let mut b = Backlog::new(100, 1);
        let mut next = 1u64;
        for chunk in [7usize, 60, 99, 1, 250, 33, 100] {
            b.append(&stream(next, chunk));
            next += chunk as u64;
            assert_eq!(b.first() + b.histlen() as u64, next);
            for off in b.first()..=next {
                assert_eq!(b.since(off).unwrap(), stream(off, (next - off) as usize));
            }
            assert!(b.since(b.first().wrapping_sub(1)).is_none() || b.first() == 1);
            assert!(b.since(next + 1).is_none());
        }
        assert_eq!(b.histlen(), 100);
    }

    #[test]
    fn resize_keeps_the_newest_bytes() {
        let mut b = Backlog::new(50, 11);
        b.append(&stream(11, 80));
        b.resize(20);
        assert_eq!((b.first(), b.histlen()), (71, 20));
        assert_eq!(b.since(71).unwrap(), stream(71, 20));
        b.resize(200);
        b.append(&stream(91, 10));
        assert_eq!(b.since(71).unwrap(), stream(71, 30));
    }
}
