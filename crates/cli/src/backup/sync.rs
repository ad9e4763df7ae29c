//! A snapshot over the replication handshake, as `redis-cli --rdb` takes one (redis-cli.c
//! getRDB/sendSync, replication.c syncCommand/replconfCommand of Redis 7.0):
//!
//! ```text
//! → AUTH [user] pass            (when a password is given)
//! → PING                        ← +PONG
//! → INFO server                 ← run_id, redis_version (amber_version on Amber)
//! → REPLCONF capa eof           ← +OK   (not sent with --disk-sync: the server then saves
//!                                         to its disk first and sends a sized payload)
//! → REPLCONF rdb-only 1         ← +OK   (the server closes after the RDB, no command stream)
//! → PSYNC ? -1                  ← +FULLRESYNC <replid> <offset>
//!                                  (SYNC instead when PSYNC is unknown)
//! ← "\n"*                          keepalives while the server prepares the snapshot
//! ← $<len>\r\n<len bytes>          disk-based transfer
//!   or $EOF:<40-byte mark>\r\n<payload><mark>   diskless (Redis 7.0's default)
//! ```

use std::io::{self, BufRead, Read};
use std::time::Duration;

use crate::client::{Client, Info, Reply};

pub enum Transfer {
    Length(u64),
    Mark([u8; 40]),
}

pub struct Handshake {
    pub info: Info,
    pub replid: Option<String>,
    pub offset: Option<i64>,
    pub transfer: Transfer,
    pub rdb_only: bool,
}

/// Why the handshake failed: the server said no (`Refused`), or the connection failed.
pub enum SyncError {
    Refused(String),
    Io(io::Error),
}

impl From<io::Error> for SyncError {
    fn from(e: io::Error) -> Self {
        SyncError::Io(e)
    }
}

/// The payload header line, skipping keepalive newlines.
pub fn header_line(c: &mut Client) -> io::Result<Vec<u8>> {
    loop {
        let l = c.read_line()?;
        if !l.is_empty() {
            return Ok(l);
        }
    }
}

pub fn parse_header(l: &[u8]) -> Result<Transfer, SyncError> {
    if l.first() == Some(&b'-') {
        return Err(SyncError::Refused(
            String::from_utf8_lossy(&l[1..]).into_owned(),
        ));
    }
    if let Some(rest) = l.strip_prefix(b"$EOF:") {
        if rest.len() != 40 {
            return Err(SyncError::Refused(format!(
                "bad EOF mark in the payload header: {}",
                String::from_utf8_lossy(l)
            )));
        }
        let mut m = [0u8; 40];
        m.copy_from_slice(rest);
        return Ok(Transfer::Mark(m));
    }
    if let Some(n) = l.strip_prefix(b"$") {
        if let Some(n) = std::str::from_utf8(n).ok().and_then(|s| s.parse().ok()) {
            return Ok(Transfer::Length(n));
        }
    }
    Err(SyncError::Refused(format!(
        "unexpected reply to SYNC: {}",
        String::from_utf8_lossy(l)
    )))
}

/// Runs the handshake up to the start of the payload. `wait` bounds the silence between
/// keepalives (the server sends one a second while it prepares the snapshot).
pub fn start(c: &mut Client, disk_sync: bool, wait: Duration) -> Result<Handshake, SyncError> {
    if let Reply::Error(e) = c.call(&[b"PING"])? {
        return Err(SyncError::Refused(e));
    }
    let info = match c.info("server")? {
        Ok(i) => i,
        Err(e) => return Err(SyncError::Refused(format!("INFO server: {e}"))),
    };
    if !disk_sync {
        // An old server without it sends a sized payload: fine either way.
        let _ = c.call(&[b"REPLCONF", b"capa", b"eof"])?;
    }
    let rdb_only = !c.call(&[b"REPLCONF", b"rdb-only", b"1"])?.is_error();
    c.set_read_timeout(Some(wait))?;
    c.send(&[b"PSYNC", b"?", b"-1"])?;
    c.flush()?;
    let first = header_line(c)?;
    let (replid, offset, header) = if let Some(rest) = first.strip_prefix(b"+FULLRESYNC ") {
        let text = String::from_utf8_lossy(rest).into_owned();
        let mut it = text.split_whitespace();
        let replid = it.next().map(str::to_string);
        let offset = it.next().and_then(|o| o.parse().ok());
        (replid, offset, header_line(c)?)
    } else if first.starts_with(b"-") {
        let msg = String::from_utf8_lossy(&first[1..]).into_owned();
        if !msg.to_ascii_lowercase().contains("unknown command") {
            return Err(SyncError::Refused(format!("PSYNC: {msg}")));
        }
        c.send(&[b"SYNC"])?;
        c.flush()?;
        (None, None, header_line(c)?)
    } else {
        (None, None, first)
    };
    let transfer = parse_header(&header)?;
    Ok(Handshake {
        info,
        replid,
        offset,
        transfer,
        rdb_only,
    })
}

/// The payload bytes, exactly: the sized form counts down, the diskless form holds back
/// the last 40 bytes until it sees the mark at the end.
pub struct Payload<'a, R: BufRead> {
    r: &'a mut R,
    kind: Transfer,
    remaining: u64,
    held: Vec<u8>,
    pos: usize,
    done: bool,
}

impl<'a, R: BufRead> Payload<'a, R> {
    pub fn new(r: &'a mut R, kind: Transfer) -> Self {
        let remaining = match kind {
            Transfer::Length(n) => n,
            Transfer::Mark(_) => 0,
        };
        Payload {
            r,
            kind,
            remaining,
            held: Vec::new(),
            pos: 0,
            done: false,
        }
    }
}

fn cut_short() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the server closed the connection before the end of the payload",
    )
}

impl<R: BufRead> Read for Payload<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        match &self.kind {
            Transfer::Length(_) => {
                if self.remaining == 0 {
                    return Ok(0);
                }
                let lim = out
                    .len()
                    .min(self.remaining.min(usize::MAX as u64) as usize);
                let k = self.r.read(&mut out[..lim])?;
                if k == 0 {
                    return Err(cut_short());
                }
                self.remaining -= k as u64;
                Ok(k)
            }
            Transfer::Mark(mark) => loop {
                // Bytes that can no longer be part of the mark.
                let keep = if self.done { 0 } else { 40 };
                let avail = (self.held.len() - self.pos).saturating_sub(keep);
                if avail > 0 {
                    let k = avail.min(out.len());
                    out[..k].copy_from_slice(&self.held[self.pos..self.pos + k]);
                    self.pos += k;
                    return Ok(k);
                }
                if self.done {
                    return Ok(0);
                }
                // Compact, then read more.
                if self.pos > 0 {
                    self.held.drain(..self.pos);
                    self.pos = 0;
                }
                let got = {
                    let b = self.r.fill_buf()?;
                    if b.is_empty() {
                        return Err(cut_short());
                    }
                    self.held.extend_from_slice(b);
                    b.len()
                };
                self.r.consume(got);
                if self.held.len() >= 40 && self.held[self.held.len() - 40..] == mark[..] {
                    let n = self.held.len() - 40;
                    self.held.truncate(n);
                    self.done = true;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diskless_payload_stops_at_the_mark() {
        let mark = [b'a'; 40];
        let mut wire = b"REDIS0010xyz".to_vec();
        wire.extend_from_slice(&[b'a'; 39]); // almost a mark, inside the payload
        wire.push(b'b');
        wire.extend_from_slice(&mark);
        for cap in [1, 7, 64, 4096] {
            let mut r = io::BufReader::with_capacity(cap, &wire[..]);
            let mut p = Payload::new(&mut r, Transfer::Mark(mark));
            let mut got = Vec::new();
            p.read_to_end(&mut got).unwrap();
            assert_eq!(got, wire[..wire.len() - 40], "buffer {cap}");
        }
        let mut r = io::BufReader::new(&wire[..wire.len() - 1]);
        let mut p = Payload::new(&mut r, Transfer::Mark(mark));
        assert!(p.read_to_end(&mut Vec::new()).is_err());
    }

    #[test]
    fn sized_payload() {
        let wire = b"0123456789extra";
        let mut r = io::BufReader::new(&wire[..]);
        let mut got = Vec::new();
        Payload::new(&mut r, Transfer::Length(10))
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(got, b"0123456789");
        let mut r = io::BufReader::new(&wire[..5]);
        assert!(Payload::new(&mut r, Transfer::Length(10))
            .read_to_end(&mut Vec::new())
            .is_err());
        assert!(matches!(parse_header(b"$123"), Ok(Transfer::Length(123))));
        assert!(matches!(
            parse_header(b"-ERR no"),
            Err(SyncError::Refused(_))
        ));
        assert!(matches!(
            parse_header(format!("$EOF:{}", "x".repeat(40)).as_bytes()),
            Ok(Transfer::Mark(_))
        ));
    }
}
