//! The streaming RDB decoder: yields items (aux fields, database switches, entries, EOF) and
//! validates everything it reads, deeply (packed encodings entry by entry, duplicates, CRC).
//! It never applies anything: `load::to_value` does that, check tools count instead.
//!
//! Untrusted input: lengths from the file never size an allocation beyond what is plausible
//! (vectors start small and grow as elements actually arrive, strings grow as bytes arrive),
//! arithmetic is checked, and every index is bounds-checked.

use std::io::Read;

use crate::io::CrcReader;
use crate::lzf;
use crate::rdb::error::show_key;
use crate::rdb::listpack::{self, LpEntry};
use crate::rdb::num::{parse_i64, parse_score};
use crate::rdb::{intset, ziplist, zipmap, Opcode, RdbError, RdbType, MAX_READ_VERSION};
use crate::rdb::{
    ENC_INT16, ENC_INT32, ENC_INT8, ENC_LZF, QUICKLIST_NODE_PACKED, QUICKLIST_NODE_PLAIN,
};

/// One thing read from the stream.
#[derive(Debug)]
pub enum Item {
    Aux {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    SelectDb(u64),
    ResizeDb {
        keys: u64,
        expires: u64,
    },
    Entry(RdbEntry),
    /// A function library (RDB_OPCODE_FUNCTION2): its code, `#!lua name=...` line included.
    Function(Vec<u8>),
    /// The end. `stored_crc` is `None` for versions without a checksum (< 5); a stored zero
    /// means the writer had checksums off and nothing was verified. A nonzero stored CRC
    /// differs from `computed_crc` only when verification was turned off.
    Eof {
        stored_crc: Option<u64>,
        computed_crc: u64,
    },
}

#[derive(Debug)]
pub struct RdbEntry {
    pub key: Vec<u8>,
    pub value: RdbValue,
    pub expire_ms: Option<i64>,
    pub idle: Option<u64>,
    pub freq: Option<u8>,
    /// The RDB type byte the value was stored with.
    pub rdb_type: u8,
    /// Offset of the entry's first byte (its expire opcode or type byte).
    pub offset: u64,
    /// Offset of the value's first byte (just past the key): the value's bytes in the file
    /// run from here to the decoder's offset after the entry.
    pub value_offset: u64,
}

/// A decoded value. The variant keeps what `to_value` needs to choose the encoding Redis
/// 7.0 would end up with (which differs by the stored type, not only by content).
#[derive(Debug, Clone, PartialEq)]
pub enum RdbValue {
    String(Vec<u8>),
    /// Any list type.
    List(Vec<Vec<u8>>),
    /// SET (and 7.2's SET_LISTPACK): members as strings, distinct.
    Set(Vec<Vec<u8>>),
    /// SET_INTSET: sorted, distinct.
    IntSet(Vec<i64>),
    /// HASH and the zipmap hash: Redis keeps a listpack only within both limits.
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    /// HASH_LISTPACK and HASH_ZIPLIST: Redis keeps the listpack unless there are too many
    /// entries (it does not look at the value lengths).
    HashListpack(Vec<(Vec<u8>, Vec<u8>)>),
    /// ZSET and ZSET_2: listpack only within both limits.
    ZSet(Vec<(Vec<u8>, f64)>),
    /// ZSET_LISTPACK and ZSET_ZIPLIST, in stored (ascending) order.
    ZSetListpack(Vec<(Vec<u8>, f64)>),
    /// STREAM_LISTPACKS 15, 19 and 21, checked.
    Stream(Box<amber_store::stream::Stream>),
}

impl RdbValue {
    /// The number of elements (1 for a string).
    pub fn len(&self) -> usize {
        match self {
            RdbValue::String(_) => 1,
            RdbValue::List(v) | RdbValue::Set(v) => v.len(),
            RdbValue::IntSet(v) => v.len(),
            RdbValue::Hash(v) | RdbValue::HashListpack(v) => v.len(),
            RdbValue::ZSet(v) | RdbValue::ZSetListpack(v) => v.len(),
            RdbValue::Stream(s) => s.length as usize,
        }
    }

    /// Whether it holds nothing (an empty stream is still a value, as in Redis).
    pub fn is_empty(&self) -> bool {
        !matches!(self, RdbValue::Stream(_)) && self.len() == 0
    }
}

/// Most elements preallocated for a collection whatever its stored length says.
const PREALLOC_MAX: u64 = 4096;

fn cap(n: u64) -> usize {
    n.min(PREALLOC_MAX) as usize
}

/// Errors inside a value carry a short phrase; the entry wraps it with key and type.
type VResult<T> = Result<T, RdbError>;

pub struct Decoder<R: Read> {
    r: CrcReader<R>,
    version: u32,
    done: bool,
    empty_keys_skipped: u64,
    /// A stored CRC that differs from the computed one is an error (Redis's rdbchecksum yes).
    verify_crc: bool,
}

impl<R: Read> Decoder<R> {
    /// Reads and checks the header ("REDIS" + 4-digit version, 1 to 12).
    pub fn new(r: R) -> Result<Self, RdbError> {
        let mut d = Decoder {
            r: CrcReader::new(r),
            version: 0,
            done: false,
            empty_keys_skipped: 0,
            verify_crc: true,
        };
        let h = match d.r.take(9)? {
            Some(h) => h,
            None => return Err(RdbError::corrupt(0, "file shorter than the RDB header")),
        };
        if &h[..5] != b"REDIS" {
            return Err(RdbError::corrupt(0, "wrong signature (not an RDB file)"));
        }
        let digits = &h[5..9];
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(RdbError::corrupt(5, "RDB version is not a number"));
        }
        let v = digits
            .iter()
            .fold(0u32, |a, &c| a * 10 + u32::from(c - b'0'));
        if !(1..=MAX_READ_VERSION).contains(&v) {
            return Err(RdbError::Unsupported {
                what: format!("RDB format version {v}"),
                key: None,
                offset: 5,
            });
        }
        d.version = v;
        Ok(d)
    }

    /// Whether a CRC mismatch at the end is an error (the default) or only reported in
    /// `Item::Eof` (Redis's `rdbchecksum no`: every value is still validated).
    pub fn verify_checksum(&mut self, on: bool) {
        self.verify_crc = on;
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.r.offset()
    }

    /// Keys with an empty collection that were skipped, as Redis 7.0 skips them.
    pub fn empty_keys_skipped(&self) -> u64 {
        self.empty_keys_skipped
    }

    pub(crate) fn reader(&mut self) -> &mut CrcReader<R> {
        &mut self.r
    }

    pub(crate) fn corrupt_at(&self, what: impl Into<String>) -> RdbError {
        self.corrupt(what)
    }

    pub(crate) fn read_fixed8(&mut self, what: &str) -> VResult<[u8; 8]> {
        self.fixed::<8>(what)
    }

    pub(crate) fn read_fixed16(&mut self, what: &str) -> VResult<[u8; 16]> {
        self.fixed::<16>(what)
    }

    fn corrupt(&self, what: impl Into<String>) -> RdbError {
        RdbError::corrupt(self.r.offset(), what)
    }

    #[inline]
    pub(crate) fn byte(&mut self, what: &str) -> VResult<u8> {
        match self.r.byte()? {
            Some(b) => Ok(b),
            None => Err(self.corrupt(format!("unexpected end of file reading {what}"))),
        }
    }

    fn fixed<const N: usize>(&mut self, what: &str) -> VResult<[u8; N]> {
        match self.r.take(N)? {
            Some(s) => {
                let mut a = [0u8; N];
                a.copy_from_slice(s);
                Ok(a)
            }
            None => Err(self.corrupt(format!("unexpected end of file reading {what}"))),
        }
    }

    /// A length, or a special string encoding (`(n, true)`).
    #[inline]
    fn len_or_enc(&mut self, what: &str) -> VResult<(u64, bool)> {
        let b = self.byte(what)?;
        match b >> 6 {
            0 => Ok((u64::from(b & 0x3f), false)),
            1 => {
                let b2 = self.byte(what)?;
                Ok(((u64::from(b & 0x3f) << 8) | u64::from(b2), false))
            }
            2 => match b {
                0x80 => Ok((u64::from(u32::from_be_bytes(self.fixed::<4>(what)?)), false)),
                0x81 => Ok((u64::from_be_bytes(self.fixed::<8>(what)?), false)),
                _ => Err(self.corrupt(format!("invalid length encoding 0x{b:02x} reading {what}"))),
            },
            _ => Ok((u64::from(b & 0x3f), true)),
        }
    }

    pub(crate) fn read_len(&mut self, what: &str) -> VResult<u64> {
        match self.len_or_enc(what)? {
            (n, false) => Ok(n),
            (_, true) => Err(self.corrupt(format!(
                "string encoding where a length was expected ({what})"
            ))),
        }
    }

    /// A string in any of its encodings (raw, int8/16/32 as decimal text, LZF).
    pub(crate) fn read_string(&mut self, what: &str) -> VResult<Vec<u8>> {
        let (n, enc) = self.len_or_enc(what)?;
        if !enc {
            let mut v = Vec::with_capacity(n.min(64 * 1024) as usize);
            if !self.r.read_into(n, &mut v)? {
                return Err(self.corrupt(format!("unexpected end of file reading {what}")));
            }
            return Ok(v);
        }
        match n as u8 {
            ENC_INT8 => Ok((self.byte(what)? as i8).to_string().into_bytes()),
            ENC_INT16 => Ok(i16::from_le_bytes(self.fixed::<2>(what)?)
                .to_string()
                .into_bytes()),
            ENC_INT32 => Ok(i32::from_le_bytes(self.fixed::<4>(what)?)
                .to_string()
                .into_bytes()),
            ENC_LZF => {
                let clen = self.read_len(what)?;
                let ulen = self.read_len(what)?;
                if clen == 0
                    || ulen
                        .checked_div(clen)
                        .is_none_or(|r| r > lzf::MAX_EXPANSION as u64)
                {
                    return Err(self.corrupt(format!("LZF lengths are impossible ({what})")));
                }
                let mut c = Vec::with_capacity(clen.min(1 << 20) as usize);
                if !self.r.read_into(clen, &mut c)? {
                    return Err(self.corrupt(format!("unexpected end of file reading {what}")));
                }
                let mut out = Vec::new();
                lzf::decompress_into(&c, ulen as usize, &mut out).map_err(|e| {
                    self.corrupt(format!(
                        "LZF data does not decompress ({e:?}) reading {what}"
                    ))
                })?;
                Ok(out)
            }
            other => Err(self.corrupt(format!("unknown string encoding {other} reading {what}"))),
        }
    }

    /// Reads the next item; `Ok(None)` after EOF.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Item>, RdbError> {
        if self.done {
            return Ok(None);
        }
        let mut expire_ms = None;
        let mut idle = None;
        let mut freq = None;
        let mut start = None;
        loop {
            let at = self.r.offset();
            let Some(t) = self.r.byte()? else {
                return Err(self.corrupt("unexpected end of file: no EOF opcode"));
            };
            match t {
                x if x == Opcode::ExpireTimeMs as u8 => {
                    start.get_or_insert(at);
                    expire_ms = Some(i64::from_le_bytes(self.fixed::<8>("an expire time")?));
                }
                x if x == Opcode::ExpireTime as u8 => {
                    start.get_or_insert(at);
                    let s = i32::from_le_bytes(self.fixed::<4>("an expire time")?);
                    expire_ms = Some(i64::from(s) * 1000);
                }
                x if x == Opcode::Idle as u8 => {
                    start.get_or_insert(at);
                    idle = Some(self.read_len("an LRU idle time")?);
                }
                x if x == Opcode::Freq as u8 => {
                    start.get_or_insert(at);
                    freq = Some(self.byte("an LFU frequency")?);
                }
                x if x == Opcode::SelectDb as u8 => {
                    let db = self.read_len("a database number")?;
                    return Ok(Some(Item::SelectDb(db)));
                }
                x if x == Opcode::ResizeDb as u8 => {
                    let keys = self.read_len("a RESIZEDB size")?;
                    let expires = self.read_len("a RESIZEDB size")?;
                    return Ok(Some(Item::ResizeDb { keys, expires }));
                }
                x if x == Opcode::Aux as u8 => {
                    let key = self.read_string("an AUX field name")?;
                    let value = self
                        .read_string("an AUX field value")
                        .map_err(|e| with_context(e, &format!("AUX field '{}'", show_key(&key))))?;
                    return Ok(Some(Item::Aux { key, value }));
                }
                x if x == Opcode::SlotInfo as u8 => {
                    for _ in 0..3 {
                        self.read_len("SLOT_INFO")?;
                    }
                }
                x if x == Opcode::ModuleAux as u8 => {
                    return Err(RdbError::Unsupported {
                        what: "module auxiliary data (MODULE_AUX)".into(),
                        key: None,
                        offset: at,
                    })
                }
                x if x == Opcode::Function2 as u8 => {
                    let code = self.read_string("a function library")?;
                    return Ok(Some(Item::Function(code)));
                }
                x if x == Opcode::FunctionPreGa as u8 => {
                    return Err(RdbError::Unsupported {
                        what:
                            "a function library of a Redis 7.0 release candidate (FUNCTION_PRE_GA)"
                                .into(),
                        key: None,
                        offset: at,
                    })
                }
                x if x == Opcode::Eof as u8 => {
                    self.done = true;
                    let computed = self.r.crc();
                    if self.version < 5 {
                        return Ok(Some(Item::Eof {
                            stored_crc: None,
                            computed_crc: computed,
                        }));
                    }
                    let stored = u64::from_le_bytes(self.fixed::<8>("the CRC-64 trailer")?);
                    if self.verify_crc && stored != 0 && stored != computed {
                        return Err(RdbError::corrupt(
                            at + 1,
                            format!("RDB checksum mismatch: stored {stored:016x}, computed {computed:016x}"),
                        ));
                    }
                    return Ok(Some(Item::Eof {
                        stored_crc: Some(stored),
                        computed_crc: computed,
                    }));
                }
                _ => {
                    let offset = *start.get_or_insert(at);
                    let Some(ty) = RdbType::from_u8(t) else {
                        return Err(RdbError::corrupt(
                            at,
                            format!("unknown opcode or value type {t}"),
                        ));
                    };
                    let key = self
                        .read_string("a key")
                        .map_err(|e| with_context(e, "reading a key"))?;
                    let value_offset = self.r.offset();
                    let value = self.read_value(ty, Some(&key))?;
                    match value {
                        Some(value) => {
                            return Ok(Some(Item::Entry(RdbEntry {
                                key,
                                value,
                                expire_ms,
                                idle,
                                freq,
                                rdb_type: t,
                                offset,
                                value_offset,
                            })))
                        }
                        None => {
                            // An empty collection: Redis 7.0 skips the key and goes on.
                            self.empty_keys_skipped += 1;
                            expire_ms = None;
                            idle = None;
                            freq = None;
                            start = None;
                        }
                    }
                }
            }
        }
    }

    /// Reads a value of type `ty`; `None` for an empty collection. Errors name the key and
    /// the type.
    pub(crate) fn read_value(
        &mut self,
        ty: RdbType,
        key: Option<&[u8]>,
    ) -> VResult<Option<RdbValue>> {
        let at = self.r.offset();
        if let Some(what) = unsupported(ty) {
            return Err(RdbError::Unsupported {
                what: what.into(),
                key: key.map(<[u8]>::to_vec),
                offset: at,
            });
        }
        self.read_value_inner(ty).map_err(|e| {
            let ctx = match key {
                Some(k) => format!("reading the value of key '{}' ({})", show_key(k), ty.name()),
                None => format!("reading a value ({})", ty.name()),
            };
            with_context(e, &ctx)
        })
    }

    fn read_value_inner(&mut self, ty: RdbType) -> VResult<Option<RdbValue>> {
        let v = match ty {
            RdbType::String => return Ok(Some(RdbValue::String(self.read_string("a string")?))),
            RdbType::StreamListpacks | RdbType::StreamListpacks2 | RdbType::StreamListpacks3 => {
                let s = self.read_stream(ty as u8)?;
                return Ok(Some(RdbValue::Stream(Box::new(s))));
            }
            RdbType::List => {
                let n = self.read_len("the list length")?;
                let mut v = Vec::with_capacity(cap(n));
                for _ in 0..n {
                    v.push(self.read_string("a list element")?);
                }
                RdbValue::List(v)
            }
            RdbType::Set => {
                let n = self.read_len("the set size")?;
                let mut v = Vec::with_capacity(cap(n));
                for _ in 0..n {
                    v.push(self.read_string("a set member")?);
                }
                if has_dups(v.iter().map(Vec::as_slice)) {
                    return Err(self.corrupt("duplicate set members"));
                }
                RdbValue::Set(v)
            }
            RdbType::ZSet | RdbType::ZSet2 => {
                let n = self.read_len("the zset size")?;
                let mut v = Vec::with_capacity(cap(n));
                for _ in 0..n {
                    let m = self.read_string("a zset member")?;
                    let score = if ty == RdbType::ZSet2 {
                        f64::from_le_bytes(self.fixed::<8>("a zset score")?)
                    } else {
                        self.read_old_double()?
                    };
                    if score.is_nan() {
                        return Err(self.corrupt("zset with a NaN score"));
                    }
                    v.push((m, score));
                }
                if has_dups(v.iter().map(|e| e.0.as_slice())) {
                    return Err(self.corrupt("duplicate zset members"));
                }
                RdbValue::ZSet(v)
            }
            RdbType::Hash => {
                let n = self.read_len("the hash size")?;
                let mut v = Vec::with_capacity(cap(n));
                for _ in 0..n {
                    let f = self.read_string("a hash field")?;
                    let val = self.read_string("a hash value")?;
                    v.push((f, val));
                }
                if has_dups(v.iter().map(|e| e.0.as_slice())) {
                    return Err(self.corrupt("duplicate hash fields"));
                }
                RdbValue::Hash(v)
            }
            RdbType::ListQuicklist | RdbType::ListQuicklist2 => {
                let n = self.read_len("the quicklist node count")?;
                let mut v = Vec::new();
                for _ in 0..n {
                    let container = if ty == RdbType::ListQuicklist2 {
                        self.read_len("a quicklist node container")?
                    } else {
                        QUICKLIST_NODE_PACKED
                    };
                    if container != QUICKLIST_NODE_PACKED && container != QUICKLIST_NODE_PLAIN {
                        return Err(self.corrupt(format!(
                            "quicklist node with unknown container {container}"
                        )));
                    }
                    let blob = self.read_string("a quicklist node")?;
                    if blob.is_empty() {
                        return Err(self.corrupt("empty quicklist node"));
                    }
                    if container == QUICKLIST_NODE_PLAIN {
                        v.push(blob);
                        continue;
                    }
                    let r = if ty == RdbType::ListQuicklist2 {
                        listpack::for_each(&blob, |e| {
                            v.push(e.to_vec());
                            Ok(())
                        })
                    } else {
                        ziplist::for_each(&blob, |e| {
                            v.push(e.to_vec());
                            Ok(())
                        })
                    };
                    r.map_err(|m| self.corrupt(m))?;
                }
                RdbValue::List(v)
            }
            _ => {
                let blob = self.read_string("a packed value")?;
                self.decode_packed(ty, &blob)?
            }
        };
        Ok(if v.is_empty() { None } else { Some(v) })
    }

    fn decode_packed(&self, ty: RdbType, blob: &[u8]) -> VResult<RdbValue> {
        let err = |m: &str| self.corrupt(m.to_string());
        Ok(match ty {
            RdbType::HashZipmap => {
                let pairs = zipmap::decode(blob).map_err(err)?;
                if has_dups(pairs.iter().map(|p| p.0)) {
                    return Err(err("duplicate hash fields"));
                }
                RdbValue::Hash(
                    pairs
                        .into_iter()
                        .map(|(f, v)| (f.to_vec(), v.to_vec()))
                        .collect(),
                )
            }
            RdbType::ListZiplist => {
                let mut v = Vec::new();
                ziplist::for_each(blob, |e| {
                    v.push(e.to_vec());
                    Ok(())
                })
                .map_err(err)?;
                RdbValue::List(v)
            }
            RdbType::SetIntset => RdbValue::IntSet(intset::decode(blob).map_err(err)?),
            RdbType::SetListpack => {
                let mut v = Vec::new();
                listpack::for_each(blob, |e| {
                    v.push(e.to_vec());
                    Ok(())
                })
                .map_err(err)?;
                if has_dups(v.iter().map(Vec::as_slice)) {
                    return Err(err("duplicate set members"));
                }
                RdbValue::Set(v)
            }
            RdbType::HashZiplist | RdbType::HashListpack => {
                let flat = self.flat(ty, blob)?;
                let pairs = pairs(flat).ok_or_else(|| err("odd number of elements in a hash"))?;
                if has_dups(pairs.iter().map(|p| p.0.as_slice())) {
                    return Err(err("duplicate hash fields"));
                }
                RdbValue::HashListpack(pairs)
            }
            RdbType::ZSetZiplist | RdbType::ZSetListpack => {
                let mut v: Vec<(Vec<u8>, f64)> = Vec::new();
                let mut member: Option<Vec<u8>> = None;
                let mut bad_score = false;
                let mut f = |e: LpEntry<'_>| {
                    match member.take() {
                        None => member = Some(e.to_vec()),
                        Some(m) => {
                            let s = match e {
                                LpEntry::Int(i) => i as f64,
                                LpEntry::Str(s) => match parse_score(s) {
                                    Some(x) if !x.is_nan() => x,
                                    _ => {
                                        bad_score = true;
                                        return Err("zset score is not a number");
                                    }
                                },
                            };
                            v.push((m, s));
                        }
                    }
                    Ok(())
                };
                let r = if ty == RdbType::ZSetZiplist {
                    ziplist::for_each(blob, &mut f)
                } else {
                    listpack::for_each(blob, &mut f)
                };
                r.map_err(err)?;
                if member.is_some() {
                    return Err(err("odd number of elements in a zset"));
                }
                if has_dups(v.iter().map(|e| e.0.as_slice())) {
                    return Err(err("duplicate zset members"));
                }
                RdbValue::ZSetListpack(v)
            }
            _ => return Err(err("not a packed type")),
        })
    }

    fn flat(&self, ty: RdbType, blob: &[u8]) -> VResult<Vec<Vec<u8>>> {
        let mut v = Vec::new();
        let f = |e: LpEntry<'_>| {
            v.push(e.to_vec());
            Ok(())
        };
        let r = if matches!(ty, RdbType::HashZiplist | RdbType::ZSetZiplist) {
            ziplist::for_each(blob, f)
        } else {
            listpack::for_each(blob, f)
        };
        r.map_err(|m| self.corrupt(m))?;
        Ok(v)
    }

    /// The old text double of the ZSET type: a length byte (253 nan, 254 inf, 255 -inf).
    fn read_old_double(&mut self) -> VResult<f64> {
        let n = self.byte("a zset score")?;
        match n {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            _ => {
                let mut b = Vec::with_capacity(usize::from(n));
                if !self.r.read_into(u64::from(n), &mut b)? {
                    return Err(self.corrupt("unexpected end of file reading a zset score"));
                }
                parse_score(&b).ok_or_else(|| self.corrupt("zset score is not a number"))
            }
        }
    }
}

impl<'a> Decoder<&'a [u8]> {
    /// A decoder of a bare value in memory (a DUMP payload body): no header, and a read
    /// buffer no larger than the body.
    pub(crate) fn headless(body: &'a [u8], version: u32) -> Self {
        Decoder {
            r: CrcReader::for_slice(body),
            version,
            done: false,
            empty_keys_skipped: 0,
            verify_crc: true,
        }
    }
}

fn with_context(e: RdbError, ctx: &str) -> RdbError {
    match e {
        RdbError::Corrupt { offset, context } => RdbError::Corrupt {
            offset,
            context: format!("{ctx}: {context}"),
        },
        other => other,
    }
}

fn unsupported(ty: RdbType) -> Option<&'static str> {
    match ty {
        RdbType::ModulePreGa | RdbType::Module2 => Some("a module value type"),
        RdbType::HashMetadataPreGa
        | RdbType::HashListpackExPreGa
        | RdbType::HashMetadata
        | RdbType::HashListpackEx => Some("a hash with field expiry"),
        _ => None,
    }
}

fn has_dups<'a>(it: impl ExactSizeIterator<Item = &'a [u8]>) -> bool {
    let n = it.len();
    if n < 2 {
        return false;
    }
    if n <= 8 {
        let v: Vec<&[u8]> = it.collect();
        for i in 0..v.len() {
            if v[i + 1..].contains(&v[i]) {
                return true;
            }
        }
        return false;
    }
    // hashbrown's default hasher (randomly seeded foldhash, as the keyspace uses): SipHash
    // was an eighth of RESTORE's time for a 100-field hash.
    let mut seen = hashbrown::HashSet::with_capacity(n);
    for s in it {
        if !seen.insert(s) {
            return true;
        }
    }
    false
}

fn pairs(flat: Vec<Vec<u8>>) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    if !flat.len().is_multiple_of(2) {
        return None;
    }
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        out.push((a, b));
    }
    Some(out)
}

/// Whether `s` would be stored as an integer (for tests and tools).
pub fn is_int_string(s: &[u8]) -> bool {
    parse_i64(s).is_some()
}
