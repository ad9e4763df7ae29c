//! The RDB encoder: what Redis 7.0 writes (version 10), byte for byte where the encoding is
//! determined by the value, and quicklist nodes packed as Redis fills them.
//!
//! `write_entry`/`write_value` append to a caller's buffer (the snapshot thread encodes into
//! one reusable `Vec`, DUMP into a fresh one); `Encoder` wraps a `CrcWriter` for whole files.

use std::cell::RefCell;
use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

use amber_store::hash::Hash;
use amber_store::list::List;
use amber_store::set::Set;
use amber_store::zset::ZSet;
use amber_store::Value;

use crate::io::CrcWriter;
use crate::lzf;
use crate::rdb::listpack::LpWriter;
use crate::rdb::num::{d2string, parse_i64};
use crate::rdb::{intset, Opcode, RdbType, ENC_INT16, ENC_INT32, ENC_INT8, ENC_LZF, RDB_VERSION};
use crate::rdb::{QUICKLIST_NODE_PACKED, QUICKLIST_NODE_PLAIN};

#[derive(Clone, Copy, Debug)]
pub struct EncodeOptions {
    /// Redis's rdbcompression: LZF for strings longer than 20 bytes when it saves space.
    pub compression: bool,
    /// Redis's rdbchecksum: the CRC-64 trailer (zero when off).
    pub checksum: bool,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            compression: true,
            checksum: true,
        }
    }
}

/// Quicklist nodes hold up to 8 KB of listpack (list-max-listpack-size -2).
const NODE_LIMIT: usize = 8192;
/// Elements at least this long get a plain node of their own (Redis's packed_threshold, a
/// process-wide setting there too: DEBUG QUICKLIST-PACKED-THRESHOLD changes it).
static PACKED_THRESHOLD: AtomicUsize = AtomicUsize::new(1 << 30);

/// Redis's quicklistisSetPackedThreshold: false (unchanged) above 4GB - 1MB; 0 restores 1GB.
pub fn set_packed_threshold(sz: u64) -> bool {
    if sz > (1u64 << 32) - (1 << 20) {
        return false;
    }
    let sz = if sz == 0 { 1 << 30 } else { sz as usize };
    PACKED_THRESHOLD.store(sz, Ordering::Relaxed);
    true
}

thread_local! {
    /// Scratch for building listpacks/intsets before they are written as strings.
    static PACK: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// Scratch for LZF output.
    static LZF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn with_scratch<T>(
    key: &'static std::thread::LocalKey<RefCell<Vec<u8>>>,
    f: impl FnOnce(&mut Vec<u8>) -> T,
) -> T {
    let mut v = key.with(|c| std::mem::take(&mut *c.borrow_mut()));
    let r = f(&mut v);
    if v.capacity() <= 4 * 1024 * 1024 {
        key.with(|c| *c.borrow_mut() = v);
    }
    r
}

/// A length: 00xxxxxx, 01xxxxxx xxxxxxxx (14 bits BE), 0x80 + u32 BE, 0x81 + u64 BE.
#[inline]
pub fn write_len(buf: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        buf.push(len as u8);
    } else if len < 1 << 14 {
        buf.extend_from_slice(&[0x40 | (len >> 8) as u8, len as u8]);
    } else if len <= u64::from(u32::MAX) {
        buf.push(0x80);
        buf.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        buf.push(0x81);
        buf.extend_from_slice(&len.to_be_bytes());
    }
}

/// An integer that fits 32 bits as Redis's int encodings (rdbEncodeInteger); false otherwise.
#[inline]
fn write_int_encoded(buf: &mut Vec<u8>, v: i64) -> bool {
    if let Ok(x) = i8::try_from(v) {
        buf.extend_from_slice(&[0xc0 | ENC_INT8, x as u8]);
    } else if let Ok(x) = i16::try_from(v) {
        buf.push(0xc0 | ENC_INT16);
        buf.extend_from_slice(&x.to_le_bytes());
    } else if let Ok(x) = i32::try_from(v) {
        buf.push(0xc0 | ENC_INT32);
        buf.extend_from_slice(&x.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// A string as rdbSaveRawString writes it: int-encoded when it is a canonical integer of at
/// most 11 characters that fits 32 bits, LZF when compression is on, it is longer than 20
/// bytes and compressing saves at least 4 bytes, raw otherwise.
#[inline]
pub fn write_string(buf: &mut Vec<u8>, s: &[u8], opts: &EncodeOptions) {
    if s.len() <= 11 {
        if let Some(v) = parse_i64(s) {
            if write_int_encoded(buf, v) {
                return;
            }
        }
    }
    if opts.compression && s.len() > 20 && write_lzf(buf, s) {
        return;
    }
    write_len(buf, s.len() as u64);
    buf.extend_from_slice(s);
}

fn write_lzf(buf: &mut Vec<u8>, s: &[u8]) -> bool {
    with_scratch(&LZF, |out| {
        out.clear();
        match lzf::compress(s, out, s.len() - 4) {
            Some(n) => {
                buf.push(0xc0 | ENC_LZF);
                write_len(buf, n as u64);
                write_len(buf, s.len() as u64);
                buf.extend_from_slice(out);
                true
            }
            None => false,
        }
    })
}

/// An integer string value (rdbSaveLongLongAsStringObject).
fn write_int_string(buf: &mut Vec<u8>, v: i64) {
    if !write_int_encoded(buf, v) {
        let s = v.to_string();
        write_len(buf, s.len() as u64);
        buf.extend_from_slice(s.as_bytes());
    }
}

/// The RDB type Redis 7.0 writes for this value.
pub fn rdb_type(value: &Value) -> RdbType {
    match value {
        Value::Int(_) | Value::Emb(_) | Value::Raw(_) => RdbType::String,
        Value::List(_) => RdbType::ListQuicklist2,
        Value::Set(s) => match s {
            Set::Ints(_) => RdbType::SetIntset,
            Set::Table(_) => RdbType::Set,
        },
        Value::Hash(h) => match h {
            Hash::Pack(_) => RdbType::HashListpack,
            Hash::Table(_) => RdbType::Hash,
        },
        Value::ZSet(z) => match z {
            ZSet::Pack(_) => RdbType::ZSetListpack,
            ZSet::Skip(_) => RdbType::ZSet2,
        },
        Value::Stream(_) => RdbType::StreamListpacks2,
    }
}

/// What an RDB records of a key's accesses, as Redis writes it under an LRU or LFU
/// maxmemory-policy (nothing under the others).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessInfo {
    /// IDLE: seconds since the last access.
    Idle(u64),
    /// FREQ: the LFU counter.
    Freq(u8),
}

/// Appends one key: optional EXPIRETIME_MS, type byte, key, value.
pub fn write_entry(
    buf: &mut Vec<u8>,
    key: &[u8],
    value: &Value,
    expire_ms: Option<i64>,
    opts: &EncodeOptions,
) {
    write_entry_with_access(buf, key, value, expire_ms, None, opts)
}

/// Appends one key as rdbSaveKeyValuePair: optional EXPIRETIME_MS, then IDLE or FREQ, type
/// byte, key, value.
pub fn write_entry_with_access(
    buf: &mut Vec<u8>,
    key: &[u8],
    value: &Value,
    expire_ms: Option<i64>,
    access: Option<AccessInfo>,
    opts: &EncodeOptions,
) {
    if let Some(ms) = expire_ms {
        buf.push(Opcode::ExpireTimeMs as u8);
        buf.extend_from_slice(&ms.to_le_bytes());
    }
    match access {
        Some(AccessInfo::Idle(secs)) => {
            buf.push(Opcode::Idle as u8);
            write_len(buf, secs);
        }
        Some(AccessInfo::Freq(counter)) => {
            buf.push(Opcode::Freq as u8);
            buf.push(counter);
        }
        None => {}
    }
    buf.push(rdb_type(value) as u8);
    write_string(buf, key, opts);
    write_value_body(buf, value, opts);
}

/// Appends the type byte and the value (the body of a DUMP payload).
pub fn write_value(buf: &mut Vec<u8>, value: &Value, opts: &EncodeOptions) {
    buf.push(rdb_type(value) as u8);
    write_value_body(buf, value, opts);
}

fn write_value_body(buf: &mut Vec<u8>, value: &Value, opts: &EncodeOptions) {
    match value {
        Value::Int(n) => write_int_string(buf, *n),
        Value::Emb(b) => write_string(buf, b, opts),
        Value::Raw(v) => write_string(buf, v, opts),
        Value::List(l) => write_list(buf, l, opts),
        Value::Stream(s) => crate::rdb::stream::write_stream(buf, s, opts),
        Value::Set(s) => match s {
            Set::Ints(v) => with_scratch(&PACK, |p| {
                p.clear();
                intset::encode(v.iter(), p);
                write_string(buf, p, opts);
            }),
            Set::Table(t) => {
                write_len(buf, t.len() as u64);
                for (m, _) in t.iter() {
                    write_string(buf, m, opts);
                }
            }
        },
        Value::Hash(h) => match h {
            Hash::Pack(pairs) => with_scratch(&PACK, |p| {
                let mut w = LpWriter::new(p);
                for (f, v) in pairs {
                    w.push(f);
                    w.push(v);
                }
                w.finish();
                write_string(buf, p, opts);
            }),
            Hash::Table(t) => {
                write_len(buf, t.len() as u64);
                for (f, v) in t.iter() {
                    write_string(buf, f, opts);
                    write_string(buf, v, opts);
                }
            }
        },
        Value::ZSet(z) => match z {
            ZSet::Pack(entries) => with_scratch(&PACK, |p| {
                let mut w = LpWriter::new(p);
                let mut num = Vec::with_capacity(32);
                for (m, score) in entries {
                    w.push(m);
                    num.clear();
                    d2string(score, &mut num);
                    w.push(&num);
                }
                w.finish();
                write_string(buf, p, opts);
            }),
            ZSet::Skip(_) => {
                // Written from the highest score to the lowest, as Redis walks its skiplist
                // backwards so that loading inserts at the head cheaply.
                let all: Vec<(&[u8], f64)> = z.iter().collect();
                write_len(buf, all.len() as u64);
                for (m, score) in all.iter().rev() {
                    write_string(buf, m, opts);
                    buf.extend_from_slice(&score.to_le_bytes());
                }
            }
        },
    }
}

/// A list as QUICKLIST_2: nodes filled the way Redis's quicklist push fills them for
/// list-max-listpack-size -2 (a node takes an element while its listpack, plus the element
/// and an estimate of its overhead, stays within 8 KB).
fn write_list(buf: &mut Vec<u8>, list: &List, opts: &EncodeOptions) {
    with_scratch(&PACK, |scratch| {
        // All node listpacks back to back in `scratch`; `nodes` holds (start, end, plain).
        scratch.clear();
        let mut nodes: Vec<(usize, usize, bool)> = Vec::new();
        let mut node = Vec::with_capacity(NODE_LIMIT + 64);
        let mut open = false;
        let packed_threshold = PACKED_THRESHOLD.load(Ordering::Relaxed);
        let mut lp_size = 0usize;
        let mut count = 0usize;
        let flush =
            |node: &mut Vec<u8>, count: usize, scratch: &mut Vec<u8>, nodes: &mut Vec<_>| {
                // `node` holds the entries; add header and terminator.
                let start = scratch.len();
                let total = (node.len() + 7) as u32;
                scratch.extend_from_slice(&total.to_le_bytes());
                scratch.extend_from_slice(&u16::try_from(count).unwrap_or(u16::MAX).to_le_bytes());
                scratch.extend_from_slice(node);
                scratch.push(0xff);
                nodes.push((start, scratch.len(), false));
                node.clear();
            };
        for item in &list.items {
            let sz = item.len();
            if sz >= packed_threshold {
                if open {
                    flush(&mut node, count, scratch, &mut nodes);
                    open = false;
                }
                let start = scratch.len();
                scratch.extend_from_slice(item);
                nodes.push((start, scratch.len(), true));
                continue;
            }
            if open {
                let overhead = (if sz < 254 { 1 } else { 5 })
                    + if sz < 64 {
                        1
                    } else if sz < 16384 {
                        2
                    } else {
                        5
                    };
                if lp_size + sz + overhead > NODE_LIMIT {
                    flush(&mut node, count, scratch, &mut nodes);
                    open = false;
                }
            }
            if !open {
                open = true;
                count = 0;
                lp_size = 7;
            }
            let before = node.len();
            crate::rdb::listpack::append(&mut node, item);
            lp_size += node.len() - before;
            count += 1;
        }
        if open {
            flush(&mut node, count, scratch, &mut nodes);
        }
        write_len(buf, nodes.len() as u64);
        for (s, e, plain) in nodes {
            write_len(
                buf,
                if plain {
                    QUICKLIST_NODE_PLAIN
                } else {
                    QUICKLIST_NODE_PACKED
                },
            );
            write_string(buf, &scratch[s..e], opts);
        }
    });
}

/// Writes a whole RDB file through a `CrcWriter`.
pub struct Encoder<W: Write> {
    w: CrcWriter<W>,
    opts: EncodeOptions,
    buf: Vec<u8>,
}

const FLUSH_AT: usize = 64 * 1024;

impl<W: Write> Encoder<W> {
    /// Writes the header "REDIS0010".
    pub fn new(w: W, opts: EncodeOptions) -> io::Result<Self> {
        let mut e = Encoder {
            w: CrcWriter::new(w),
            opts,
            buf: Vec::with_capacity(FLUSH_AT * 2),
        };
        e.buf
            .extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
        Ok(e)
    }

    fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.w.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// An AUX field; the value is int-encoded when it is an integer (rdbSaveAuxField*).
    pub fn aux(&mut self, key: &str, value: &[u8]) -> io::Result<()> {
        self.buf.push(Opcode::Aux as u8);
        write_string(&mut self.buf, key.as_bytes(), &self.opts);
        write_string(&mut self.buf, value, &self.opts);
        self.maybe_flush()
    }

    /// A function library (RDB_OPCODE_FUNCTION2 and its code), written after the aux fields
    /// and before the databases, as Redis does.
    pub fn function(&mut self, code: &[u8]) -> io::Result<()> {
        self.buf.push(Opcode::Function2 as u8);
        write_string(&mut self.buf, code, &self.opts);
        self.maybe_flush()
    }

    pub fn select_db(&mut self, db: u64) -> io::Result<()> {
        self.buf.push(Opcode::SelectDb as u8);
        write_len(&mut self.buf, db);
        self.maybe_flush()
    }

    pub fn resize_db(&mut self, keys: u64, expires: u64) -> io::Result<()> {
        self.buf.push(Opcode::ResizeDb as u8);
        write_len(&mut self.buf, keys);
        write_len(&mut self.buf, expires);
        self.maybe_flush()
    }

    /// Pre-encoded entries (from `write_entry`).
    pub fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.len() >= FLUSH_AT {
            self.w.write_all(&self.buf)?;
            self.buf.clear();
            return self.w.write_all(bytes);
        }
        self.buf.extend_from_slice(bytes);
        self.maybe_flush()
    }

    pub fn entry(&mut self, key: &[u8], value: &Value, expire_ms: Option<i64>) -> io::Result<()> {
        write_entry(&mut self.buf, key, value, expire_ms, &self.opts);
        self.maybe_flush()
    }

    pub fn bytes_written(&self) -> u64 {
        self.w.bytes_written() + self.buf.len() as u64
    }

    pub fn options(&self) -> &EncodeOptions {
        &self.opts
    }

    /// EOF opcode and the CRC-64 trailer (zero when checksums are off); returns the writer,
    /// flushed.
    pub fn finish(mut self) -> io::Result<W> {
        self.buf.push(Opcode::Eof as u8);
        self.w.write_all(&self.buf)?;
        self.buf.clear();
        let crc = if self.opts.checksum { self.w.crc() } else { 0 };
        self.w.write_all(&crc.to_le_bytes())?;
        self.w.flush()?;
        self.w.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        write_string(&mut b, v, &EncodeOptions::default());
        b
    }

    #[test]
    fn lengths_and_strings_as_redis() {
        let mut b = Vec::new();
        for n in [
            0u64,
            63,
            64,
            16383,
            16384,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
        ] {
            write_len(&mut b, n);
        }
        assert_eq!(
            b,
            [
                &[0x00u8, 0x3f, 0x40, 0x40, 0x7f, 0xff, 0x80, 0, 0, 0x40, 0][..],
                &[0x80, 0xff, 0xff, 0xff, 0xff, 0x81, 0, 0, 0, 1, 0, 0, 0, 0]
            ]
            .concat()
        );
        assert_eq!(s(b"123"), [0xc0, 123]);
        assert_eq!(s(b"-129"), [0xc1, 0x7f, 0xff]);
        assert_eq!(s(b"100000"), [0xc2, 0xa0, 0x86, 0x01, 0x00]);
        assert_eq!(
            s(b"12345678901"),
            [11, b'1', b'2', b'3', b'4', b'5', b'6', b'7', b'8', b'9', b'0', b'1']
        );
        assert_eq!(s(b"007"), [3, b'0', b'0', b'7']);
        let long = vec![b'a'; 100];
        assert_eq!(s(&long)[0], 0xc3);
        let mut b = Vec::new();
        write_string(
            &mut b,
            &long,
            &EncodeOptions {
                compression: false,
                checksum: true,
            },
        );
        assert_eq!(b.len(), 102);
    }

    #[test]
    fn int_string_value() {
        let mut b = Vec::new();
        write_value(&mut b, &Value::Int(123), &EncodeOptions::default());
        assert_eq!(b, [0, 0xc0, 123]);
        b.clear();
        write_value(&mut b, &Value::Int(1 << 40), &EncodeOptions::default());
        assert_eq!(b[1], 13);
    }
}
