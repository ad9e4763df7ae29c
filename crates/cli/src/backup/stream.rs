//! The streaming paths every backup takes, never holding a snapshot whole:
//!
//! ```text
//! take:    source ──► sha256(raw) ──► zstd ──► sha256(stored) ──► repository object
//!                 └─► channel ──► [verifier thread] Decoder → keys per db, CRC
//! read:    repository object ──► sha256(stored) ──► unzstd ──► sha256(raw) ──► sink
//!                                                                   └─► Decoder (verify)
//! ```
//!
//! The verifier decodes with amber_persist's Decoder (every value validated, CRC-64 checked)
//! into counters, so the catalog records what the RDB holds, not what the server said.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread;

use amber_persist::rdb::{Decoder, Item, RdbError};
use sha2::{Digest, Sha256};

use crate::backup::catalog::DbCount;
use crate::progress::Progress;

/// What the decoder found.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub rdb_version: u32,
    pub aux: BTreeMap<String, String>,
    pub databases: Vec<DbCount>,
    pub keys: u64,
    pub expires: u64,
    /// "ok" or "disabled" (rdbchecksum no).
    pub checksum: String,
    /// Offset just past the CRC trailer: the RDB's own length.
    pub rdb_len: u64,
}

/// Decodes a whole RDB into counters. `progress` gets the offset now and then.
pub fn summarize<R: Read>(r: R, mut progress: impl FnMut(u64)) -> Result<Summary, RdbError> {
    let mut dec = Decoder::new(r)?;
    let mut s = Summary {
        rdb_version: dec.version(),
        ..Summary::default()
    };
    let mut cur: Option<usize> = None;
    let mut n = 0u64;
    loop {
        n += 1;
        if n % 1024 == 0 {
            progress(dec.offset());
        }
        let Some(item) = dec.next()? else {
            return Err(RdbError::corrupt(
                dec.offset(),
                "the stream ends without the EOF marker",
            ));
        };
        match item {
            Item::Aux { key, value } => {
                s.aux.insert(
                    String::from_utf8_lossy(&key).into_owned(),
                    String::from_utf8_lossy(&value).into_owned(),
                );
            }
            Item::SelectDb(db) => {
                cur = Some(match s.databases.iter().position(|d| d.db == db) {
                    Some(i) => i,
                    None => {
                        s.databases.push(DbCount {
                            db,
                            ..DbCount::default()
                        });
                        s.databases.len() - 1
                    }
                });
            }
            Item::ResizeDb { .. } => {}
            // A library cannot be restored key by key (online): the backup says so, and
            // only an offline restore (the RDB as it is) brings it back.
            Item::Function(_) => {
                return Err(RdbError::Unsupported {
                    what: "a function library (FUNCTION)".into(),
                    key: None,
                    offset: dec.offset(),
                })
            }
            Item::Entry(e) => {
                let i = *cur.get_or_insert_with(|| {
                    s.databases.push(DbCount::default());
                    s.databases.len() - 1
                });
                s.databases[i].keys += 1;
                s.keys += 1;
                if e.expire_ms.is_some() {
                    s.databases[i].expires += 1;
                    s.expires += 1;
                }
            }
            Item::Eof { stored_crc, .. } => {
                s.checksum = match stored_crc {
                    Some(c) if c != 0 => "ok".into(),
                    _ => "disabled".into(),
                };
                s.rdb_len = dec.offset();
                progress(s.rdb_len);
                s.databases.retain(|d| d.keys > 0);
                s.databases.sort_by_key(|d| d.db);
                return Ok(s);
            }
        }
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A writer that hashes and counts what passes through.
pub struct HashWriter<W> {
    pub inner: W,
    pub hash: Sha256,
    pub n: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let k = self.inner.write(b)?;
        self.hash.update(&b[..k]);
        self.n += k as u64;
        Ok(k)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts what passes through.
pub struct HashReader<R> {
    pub inner: R,
    pub hash: Sha256,
    pub n: u64,
}

impl<R> HashReader<R> {
    pub fn new(inner: R) -> Self {
        HashReader {
            inner,
            hash: Sha256::new(),
            n: 0,
        }
    }
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(b)?;
        self.hash.update(&b[..k]);
        self.n += k as u64;
        Ok(k)
    }
}

/// The verifier's end of the channel.
struct ChannelReader {
    rx: Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(v) => {
                    self.cur = v;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let k = out.len().min(self.cur.len() - self.pos);
        out[..k].copy_from_slice(&self.cur[self.pos..self.pos + k]);
        self.pos += k;
        Ok(k)
    }
}

pub struct Taken {
    pub raw_size: u64,
    pub raw_sha256: String,
    pub stored_size: u64,
    pub stored_sha256: String,
    /// The verifier's verdict; bytes after the RDB's end count as corruption.
    pub summary: Result<Summary, RdbError>,
}

const CHUNK: usize = 1 << 20;

/// Streams `src` to `sink` compressed, hashing both sides and decoding on a second thread.
/// The sink comes back with everything written: the caller publishes it (or drops it, when
/// the verdict says the snapshot is bad).
pub fn take<R: Read, W: Write>(
    src: &mut R,
    sink: W,
    level: i32,
    bar: &mut Progress,
) -> io::Result<(Taken, W)> {
    let (tx, rx): (SyncSender<Vec<u8>>, Receiver<Vec<u8>>) = mpsc::sync_channel(16);
    let verifier = thread::Builder::new()
        .name("verify".into())
        .spawn(move || {
            summarize(
                ChannelReader {
                    rx,
                    cur: Vec::new(),
                    pos: 0,
                },
                |_| {},
            )
        })?;
    let mut tx = Some(tx);
    let out = HashWriter {
        inner: sink,
        hash: Sha256::new(),
        n: 0,
    };
    let mut z = zstd::stream::write::Encoder::new(out, level)?;
    z.include_checksum(true)?;
    let mut raw = Sha256::new();
    let mut raw_n = 0u64;
    let result = (|| -> io::Result<()> {
        loop {
            let mut buf = vec![0u8; CHUNK];
            let mut filled = 0;
            // Fill most of a chunk: fewer, larger channel messages.
            while filled < CHUNK / 2 {
                let k = match src.read(&mut buf[filled..]) {
                    Ok(k) => k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                if k == 0 {
                    break;
                }
                filled += k;
            }
            if filled == 0 {
                return Ok(());
            }
            buf.truncate(filled);
            raw.update(&buf);
            raw_n += filled as u64;
            z.write_all(&buf)?;
            bar.update(raw_n);
            if let Some(t) = &tx {
                // The verifier stops reading when it reaches the RDB's end (or a problem);
                // from then on only the hashes and the compressor see the bytes.
                let gone = match t.try_send(buf) {
                    Ok(()) => false,
                    Err(TrySendError::Full(b)) => t.send(b).is_err(),
                    Err(TrySendError::Disconnected(_)) => true,
                };
                if gone {
                    tx = None;
                }
            }
        }
    })();
    drop(tx);
    let verdict = verifier
        .join()
        .unwrap_or_else(|_| Err(RdbError::corrupt(0, "the verifier thread panicked")));
    result?;
    let out = z.finish()?;
    let stored_size = out.n;
    let stored_sha256 = hex(&out.hash.finalize());
    let summary = verdict.and_then(|s| {
        if s.rdb_len != raw_n {
            Err(RdbError::corrupt(
                s.rdb_len,
                format!("{} bytes after the RDB's end", raw_n - s.rdb_len),
            ))
        } else {
            Ok(s)
        }
    });
    Ok((
        Taken {
            raw_size: raw_n,
            raw_sha256: hex(&raw.finalize()),
            stored_size,
            stored_sha256,
            summary,
        },
        out.inner,
    ))
}

/// Reading a stored object back: decompressed bytes out, both hashes kept.
pub struct Unpack<R: Read> {
    z: zstd::stream::read::Decoder<'static, io::BufReader<HashReader<R>>>,
    raw: Sha256,
    raw_n: u64,
}

impl<R: Read> Unpack<R> {
    pub fn new(stored: R) -> io::Result<Self> {
        Ok(Unpack {
            z: zstd::stream::read::Decoder::new(HashReader::new(stored))?,
            raw: Sha256::new(),
            raw_n: 0,
        })
    }

    pub fn raw_bytes(&self) -> u64 {
        self.raw_n
    }

    /// Reads what is left (so both hashes cover everything) and returns
    /// (raw size, raw sha256, stored size, stored sha256).
    pub fn finish(self) -> io::Result<(u64, String, u64, String)> {
        let (raw, stored) = self.finish_each();
        let (raw_n, raw_sha) = raw?;
        let (stored_n, stored_sha) = stored?;
        Ok((raw_n, raw_sha, stored_n, stored_sha))
    }

    /// As `finish`, but the stored object's (size, sha256) is computed even when the rest
    /// does not decompress: (raw, stored).
    #[allow(clippy::type_complexity)]
    pub fn finish_each(mut self) -> (io::Result<(u64, String)>, io::Result<(u64, String)>) {
        let raw =
            io::copy(&mut self, &mut io::sink()).map(|_| (self.raw_n, hex(&self.raw.finalize())));
        // Bytes zstd buffered were hashed when they were read from the object.
        let mut stored = self.z.finish().into_inner();
        // zstd stops at the end of its frame (or at damage): the rest is part of the object.
        let stored = io::copy(&mut stored, &mut io::sink())
            .map(|_| (stored.n, hex(&stored.hash.finalize())));
        (raw, stored)
    }
}

impl<R: Read> Read for Unpack<R> {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        let k = self.z.read(b)?;
        self.raw.update(&b[..k]);
        self.raw_n += k as u64;
        Ok(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amber_persist::rdb::{EncodeOptions, Encoder};
    use amber_store::Value;

    fn rdb(n: i64) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new(), EncodeOptions::default()).unwrap();
        e.aux("redis-ver", b"7.0.15").unwrap();
        e.select_db(0).unwrap();
        for i in 0..n {
            let exp = (i % 10 == 0).then_some(4_102_444_800_000);
            e.entry(format!("key:{i}").as_bytes(), &Value::Int(i), exp)
                .unwrap();
        }
        e.select_db(3).unwrap();
        e.entry(b"other", &Value::Int(1), None).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn take_then_unpack_round_trip() {
        let raw = rdb(100_000);
        let mut bar = Progress::new("t", 0, true);
        let (t, stored) = take(&mut &raw[..], Vec::new(), 3, &mut bar).unwrap();
        let s = t.summary.unwrap();
        assert_eq!(s.keys, 100_001);
        assert_eq!(s.expires, 10_000);
        assert_eq!(
            s.databases,
            vec![
                DbCount {
                    db: 0,
                    keys: 100_000,
                    expires: 10_000
                },
                DbCount {
                    db: 3,
                    keys: 1,
                    expires: 0
                }
            ]
        );
        assert_eq!(s.aux.get("redis-ver").map(String::as_str), Some("7.0.15"));
        assert_eq!(t.raw_size, raw.len() as u64);
        assert_eq!(t.raw_sha256, hex(&Sha256::digest(&raw)));
        assert_eq!(t.stored_size, stored.len() as u64);
        assert_eq!(t.stored_sha256, hex(&Sha256::digest(&stored)));
        assert!(stored.len() < raw.len());

        let mut u = Unpack::new(&stored[..]).unwrap();
        let s2 = summarize(&mut u, |_| {}).unwrap();
        assert_eq!(s2.databases, s.databases);
        let (rn, rsha, sn, ssha) = u.finish().unwrap();
        assert_eq!(
            (rn, rsha, sn, ssha),
            (t.raw_size, t.raw_sha256, t.stored_size, t.stored_sha256)
        );
    }

    #[test]
    fn take_refuses_what_is_not_one_whole_rdb() {
        let mut bar = Progress::new("t", 0, true);
        let mut raw = rdb(1000);
        raw.extend_from_slice(b"junk");
        let (t, _) = take(&mut &raw[..], Vec::new(), 1, &mut bar).unwrap();
        assert!(t.summary.unwrap_err().to_string().contains("4 bytes after"));
        let raw = rdb(1000);
        let (t, _) = take(&mut &raw[..raw.len() - 9], Vec::new(), 1, &mut bar).unwrap();
        assert!(t.summary.is_err());
        let mut flipped = raw.clone();
        flipped[raw.len() / 2] ^= 1;
        let (t, _) = take(&mut &flipped[..], Vec::new(), 1, &mut bar).unwrap();
        assert!(t.summary.is_err());
    }
}
