//! Listpacks: the packed sequence Redis 7 uses for small hashes and zsets and for quicklist
//! nodes. A writer (strings that are canonical integers become listpack integers, as lpAppend
//! does) and a validating reader.
//!
//! ```text
//! <total bytes u32 LE> <count u16 LE, 65535 = unknown> <entry>* <0xff>
//! entry = <encoding + data> <backlen: the length of encoding + data, 1..5 bytes, read backwards>
//!   0xxxxxxx                7-bit unsigned int        10xxxxxx <data>    string of len < 64
//!   110xxxxx xxxxxxxx       13-bit signed int         1110xxxx xxxxxxxx  string of len < 4096
//!   f1 / f2 / f3 / f4       16/24/32/64-bit int LE    f0 <len u32 LE>    longer string
//! ```

use crate::value::parse_i64;

pub const HEADER: usize = 6;
pub const EOF: u8 = 0xff;
pub const COUNT_UNKNOWN: u16 = u16::MAX;

/// One element as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LpEntry<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl LpEntry<'_> {
    pub fn to_vec(self) -> Vec<u8> {
        match self {
            LpEntry::Int(v) => v.to_string().into_bytes(),
            LpEntry::Str(s) => s.to_vec(),
        }
    }
    pub fn len(&self) -> usize {
        match self {
            LpEntry::Int(v) => int_text_len(*v),
            LpEntry::Str(s) => s.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn int_text_len(v: i64) -> usize {
    let mut n = if v < 0 { 2 } else { 1 };
    let mut u = v.unsigned_abs();
    while u >= 10 {
        u /= 10;
        n += 1;
    }
    n
}

fn backlen_size(l: usize) -> usize {
    if l <= 127 {
        1
    } else if l < 16383 {
        2
    } else if l < 2_097_151 {
        3
    } else if l < 268_435_455 {
        4
    } else {
        5
    }
}

fn push_backlen(out: &mut Vec<u8>, l: usize) {
    let l = l as u64;
    match backlen_size(l as usize) {
        1 => out.push(l as u8),
        2 => out.extend_from_slice(&[(l >> 7) as u8, (l & 127) as u8 | 128]),
        3 => out.extend_from_slice(&[
            (l >> 14) as u8,
            ((l >> 7) & 127) as u8 | 128,
            (l & 127) as u8 | 128,
        ]),
        4 => out.extend_from_slice(&[
            (l >> 21) as u8,
            ((l >> 14) & 127) as u8 | 128,
            ((l >> 7) & 127) as u8 | 128,
            (l & 127) as u8 | 128,
        ]),
        _ => out.extend_from_slice(&[
            (l >> 28) as u8,
            ((l >> 21) & 127) as u8 | 128,
            ((l >> 14) & 127) as u8 | 128,
            ((l >> 7) & 127) as u8 | 128,
            (l & 127) as u8 | 128,
        ]),
    }
}

/// The bytes an element takes in a listpack (encoding, data and backlen), the way Redis
/// would store `s`.
pub fn entry_size(s: &[u8]) -> usize {
    match parse_i64(s) {
        Some(v) => int_entry_size(v),
        None => str_entry_size(s.len()),
    }
}

pub fn int_entry_size(v: i64) -> usize {
    let l = if (0..=127).contains(&v) {
        1
    } else if (-4096..=4095).contains(&v) {
        2
    } else if (-32768..=32767).contains(&v) {
        3
    } else if (-8_388_608..=8_388_607).contains(&v) {
        4
    } else if i32::try_from(v).is_ok() {
        5
    } else {
        9
    };
    l + 1
}

pub fn str_entry_size(len: usize) -> usize {
    let l = if len < 64 {
        1 + len
    } else if len < 4096 {
        2 + len
    } else {
        5 + len
    };
    l + backlen_size(l)
}

/// Appends one entry (encoding, data, backlen) for `s`: an integer entry when `s` is a
/// canonical integer, as lpAppend does.
#[inline]
pub fn append(b: &mut Vec<u8>, s: &[u8]) {
    match parse_i64(s) {
        Some(v) => append_int(b, v),
        None => append_str(b, s),
    }
}

/// Appends one integer entry.
pub fn append_int(b: &mut Vec<u8>, v: i64) {
    let start = b.len();
    if (0..=127).contains(&v) {
        b.push(v as u8);
    } else if (-4096..=4095).contains(&v) {
        let u = (v as u64 & 0x1fff) as u16;
        b.push(0xc0 | (u >> 8) as u8);
        b.push((u & 0xff) as u8);
    } else if (-32768..=32767).contains(&v) {
        b.push(0xf1);
        b.extend_from_slice(&(v as i16).to_le_bytes());
    } else if (-8_388_608..=8_388_607).contains(&v) {
        b.push(0xf2);
        b.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
    } else if let Ok(x) = i32::try_from(v) {
        b.push(0xf3);
        b.extend_from_slice(&x.to_le_bytes());
    } else {
        b.push(0xf4);
        b.extend_from_slice(&v.to_le_bytes());
    }
    let l = b.len() - start;
    push_backlen(b, l);
}

/// Appends one string entry, whatever the string looks like.
pub fn append_str(b: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    let l = if len < 64 {
        b.push(0x80 | len as u8);
        1 + len
    } else if len < 4096 {
        b.push(0xe0 | (len >> 8) as u8);
        b.push((len & 0xff) as u8);
        2 + len
    } else {
        b.push(0xf0);
        b.extend_from_slice(&(len as u32).to_le_bytes());
        5 + len
    };
    b.extend_from_slice(s);
    push_backlen(b, l);
}

/// Builds a listpack in a caller-provided buffer (cleared first), so one scratch buffer serves
/// every value of a save.
pub struct LpWriter<'a> {
    buf: &'a mut Vec<u8>,
    count: usize,
}

impl<'a> LpWriter<'a> {
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        buf.clear();
        buf.extend_from_slice(&[0; HEADER]);
        LpWriter { buf, count: 0 }
    }

    /// Appends a string, stored as an integer when it is a canonical one (lpAppend).
    pub fn push(&mut self, s: &[u8]) {
        append(self.buf, s);
        self.count += 1;
    }

    pub fn push_int(&mut self, v: i64) {
        append_int(self.buf, v);
        self.count += 1;
    }

    /// Appends a string as a string, whatever it looks like.
    pub fn push_str(&mut self, s: &[u8]) {
        append_str(self.buf, s);
        self.count += 1;
    }

    /// Bytes the finished listpack will take.
    pub fn size(&self) -> usize {
        self.buf.len() + 1
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// Writes the terminator and the header.
    pub fn finish(self) {
        self.buf.push(EOF);
        let total = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        let n = u16::try_from(self.count).unwrap_or(COUNT_UNKNOWN);
        self.buf[4..6].copy_from_slice(&n.to_le_bytes());
    }
}

/// Decodes and fully validates a listpack, calling `f` on every element in order; `f`
/// returning an error stops the walk with that error. Returns the element count.
pub fn for_each<'a>(
    lp: &'a [u8],
    mut f: impl FnMut(LpEntry<'a>) -> Result<(), &'static str>,
) -> Result<usize, &'static str> {
    if lp.len() < HEADER + 1 {
        return Err("listpack shorter than its header");
    }
    let total = u32::from_le_bytes([lp[0], lp[1], lp[2], lp[3]]) as usize;
    if total != lp.len() {
        return Err("listpack total size does not match its length");
    }
    let declared = u16::from_le_bytes([lp[4], lp[5]]);
    let last = lp.len() - 1;
    if lp[last] != EOF {
        return Err("listpack does not end with its terminator");
    }
    let mut p = HEADER;
    let mut count = 0usize;
    while p < last {
        let b0 = lp[p];
        let (enc_len, entry): (usize, LpEntry<'a>) = if b0 & 0x80 == 0 {
            (1, LpEntry::Int(i64::from(b0)))
        } else if b0 & 0xc0 == 0x80 {
            let len = usize::from(b0 & 0x3f);
            let s = lp
                .get(p + 1..p + 1 + len)
                .ok_or("listpack string overflows")?;
            (1 + len, LpEntry::Str(s))
        } else if b0 & 0xe0 == 0xc0 {
            let b1 = *lp.get(p + 1).ok_or("listpack int overflows")?;
            let u = (i64::from(b0 & 0x1f) << 8) | i64::from(b1);
            let v = if u >= 1 << 12 { u - (1 << 13) } else { u };
            (2, LpEntry::Int(v))
        } else if b0 & 0xf0 == 0xe0 {
            let b1 = *lp.get(p + 1).ok_or("listpack string overflows")?;
            let len = (usize::from(b0 & 0x0f) << 8) | usize::from(b1);
            let s = lp
                .get(p + 2..p + 2 + len)
                .ok_or("listpack string overflows")?;
            (2 + len, LpEntry::Str(s))
        } else {
            match b0 {
                0xf0 => {
                    let h = lp.get(p + 1..p + 5).ok_or("listpack string overflows")?;
                    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
                    let end = (p + 5)
                        .checked_add(len)
                        .ok_or("listpack string overflows")?;
                    let s = lp.get(p + 5..end).ok_or("listpack string overflows")?;
                    (5 + len, LpEntry::Str(s))
                }
                0xf1 => {
                    let d = lp.get(p + 1..p + 3).ok_or("listpack int overflows")?;
                    (3, LpEntry::Int(i64::from(i16::from_le_bytes([d[0], d[1]]))))
                }
                0xf2 => {
                    let d = lp.get(p + 1..p + 4).ok_or("listpack int overflows")?;
                    let v = i32::from_le_bytes([0, d[0], d[1], d[2]]) >> 8;
                    (4, LpEntry::Int(i64::from(v)))
                }
                0xf3 => {
                    let d = lp.get(p + 1..p + 5).ok_or("listpack int overflows")?;
                    (
                        5,
                        LpEntry::Int(i64::from(i32::from_le_bytes([d[0], d[1], d[2], d[3]]))),
                    )
                }
                0xf4 => {
                    let d = lp.get(p + 1..p + 9).ok_or("listpack int overflows")?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(d);
                    (9, LpEntry::Int(i64::from_le_bytes(a)))
                }
                0xff => return Err("listpack terminator before its end"),
                _ => return Err("listpack entry with an invalid encoding"),
            }
        };
        let bl = backlen_size(enc_len);
        let back = lp
            .get(p + enc_len..p + enc_len + bl)
            .ok_or("listpack entry overflows")?;
        // Decode the backlen the way a backwards walk would.
        let mut v: u64 = 0;
        let mut shift = 0;
        for (i, &b) in back.iter().rev().enumerate() {
            v |= u64::from(b & 127) << shift;
            shift += 7;
            let more = b & 128 != 0;
            if more != (i + 1 < bl) {
                return Err("listpack entry with a bad back length");
            }
        }
        if v != enc_len as u64 {
            return Err("listpack entry with a bad back length");
        }
        p += enc_len + bl;
        if p > last {
            return Err("listpack entry overflows");
        }
        count += 1;
        f(entry)?;
    }
    if declared != COUNT_UNKNOWN && usize::from(declared) != count {
        return Err("listpack element count does not match its header");
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn build(items: &[&[u8]]) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut w = LpWriter::new(&mut buf);
        for i in items {
            w.push(i);
        }
        let size = w.size();
        w.finish();
        assert_eq!(size, buf.len());
        buf
    }

    fn read(lp: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
        let mut v = Vec::new();
        for_each(lp, |e| {
            v.push(e.to_vec());
            Ok(())
        })?;
        Ok(v)
    }

    #[test]
    fn matches_redis_bytes() {
        // RPUSH l a b 1 2 300000 -5 in Redis 7.0.15 (DUMP payload's listpack).
        let redis: &[u8] = b"\x19\x00\x00\x00\x06\x00\x81a\x02\x81b\x02\x01\x01\x02\x01\xf2\xe0\x93\x04\x04\xdf\xfb\x02\xff";
        assert_eq!(build(&[b"a", b"b", b"1", b"2", b"300000", b"-5"]), redis);
    }

    #[test]
    fn roundtrip_every_encoding() {
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 300];
        let nums: Vec<String> = [
            0i64,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -4097,
            32767,
            -32768,
            32768,
            8_388_607,
            -8_388_608,
            8_388_608,
            i32::MAX as i64,
            i32::MIN as i64,
            i64::MAX,
            i64::MIN,
        ]
        .iter()
        .map(|v| v.to_string())
        .collect();
        let mut items: Vec<&[u8]> = vec![b"", b"abc", b"007", b"-0", &long, &mid];
        items.extend(nums.iter().map(|s| s.as_bytes()));
        let lp = build(&items);
        let got = read(&lp).unwrap();
        let want: Vec<Vec<u8>> = items.iter().map(|s| s.to_vec()).collect();
        assert_eq!(got, want);
        for s in &items {
            let one = build(&[s]);
            assert_eq!(one.len(), HEADER + 1 + entry_size(s));
        }
    }

    #[test]
    fn corrupt_listpacks_are_rejected() {
        let lp = build(&[b"hello", b"12", b"world"]);
        assert!(read(&lp[..lp.len() - 1]).is_err());
        let mut bad = lp.clone();
        bad[4] = 2; // count
        assert!(read(&bad).is_err());
        let mut bad = lp.clone();
        bad[6] = 0x8f; // string length beyond the entry
        assert!(read(&bad).is_err());
        let mut bad = lp.clone();
        bad[12] = 9; // backlen
        assert!(read(&bad).is_err());
        assert!(read(&[]).is_err());
        for i in 0..lp.len() {
            for v in [0u8, 0x7f, 0x80, 0xbf, 0xc0, 0xe0, 0xf0, 0xf4, 0xfe, 0xff] {
                let mut m = lp.clone();
                m[i] = v;
                let _ = read(&m);
            }
            let _ = read(&lp[..i]);
        }
    }
}
