//! Ziplists: the packed sequence of Redis 2.6 to 6.2 (small lists, hashes, zsets and quicklist
//! nodes). Read-only: Redis 7 converts them to listpacks on load, and so does Amber.
//!
//! ```text
//! <zlbytes u32 LE> <zltail u32 LE: offset of the last entry> <zllen u16 LE, 65535 = unknown>
//! <entry>* <0xff>
//! entry = <prevlen: 1 byte < 254, or 0xfe + u32 LE> <encoding> <data>
//!   00pppppp                 string, len < 64      c0 / d0 / e0  int16 / int32 / int64 LE
//!   01pppppp qqqqqqqq        string, 14-bit BE len f0 / fe      int24 / int8
//!   10______ <len u32 BE>    string                f1..fd        immediate 0..12
//! ```

pub use crate::rdb::listpack::LpEntry;

const HEADER: usize = 10;

/// Decodes and fully validates a ziplist (prevlens, tail offset, count), calling `f` on every
/// element in order. Returns the element count.
pub fn for_each<'a>(
    zl: &'a [u8],
    mut f: impl FnMut(LpEntry<'a>) -> Result<(), &'static str>,
) -> Result<usize, &'static str> {
    if zl.len() < HEADER + 1 {
        return Err("ziplist shorter than its header");
    }
    let total = u32::from_le_bytes([zl[0], zl[1], zl[2], zl[3]]) as usize;
    if total != zl.len() {
        return Err("ziplist total size does not match its length");
    }
    let tail = u32::from_le_bytes([zl[4], zl[5], zl[6], zl[7]]) as usize;
    let declared = u16::from_le_bytes([zl[8], zl[9]]);
    let last = zl.len() - 1;
    if zl[last] != 0xff {
        return Err("ziplist does not end with its terminator");
    }
    let mut p = HEADER;
    let mut prev_len = 0usize;
    let mut prev_start = HEADER;
    let mut count = 0usize;
    while p < last {
        let start = p;
        let b = zl[p];
        if b == 0xff {
            return Err("ziplist terminator before its end");
        }
        let prevlen = if b < 254 {
            p += 1;
            usize::from(b)
        } else {
            let d = zl.get(p + 1..p + 5).ok_or("ziplist entry overflows")?;
            p += 5;
            u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize
        };
        if prevlen != prev_len {
            return Err("ziplist entry with a wrong previous length");
        }
        let e = *zl.get(p).ok_or("ziplist entry overflows")?;
        let entry = match e >> 6 {
            0 => {
                let len = usize::from(e & 0x3f);
                let s = zl
                    .get(p + 1..p + 1 + len)
                    .ok_or("ziplist string overflows")?;
                p += 1 + len;
                LpEntry::Str(s)
            }
            1 => {
                let b1 = *zl.get(p + 1).ok_or("ziplist entry overflows")?;
                let len = (usize::from(e & 0x3f) << 8) | usize::from(b1);
                let s = zl
                    .get(p + 2..p + 2 + len)
                    .ok_or("ziplist string overflows")?;
                p += 2 + len;
                LpEntry::Str(s)
            }
            2 => {
                let d = zl.get(p + 1..p + 5).ok_or("ziplist entry overflows")?;
                let len = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize;
                let end = (p + 5).checked_add(len).ok_or("ziplist string overflows")?;
                let s = zl.get(p + 5..end).ok_or("ziplist string overflows")?;
                p = end;
                LpEntry::Str(s)
            }
            _ => {
                let (n, v) = match e {
                    0xc0 => {
                        let d = zl.get(p + 1..p + 3).ok_or("ziplist int overflows")?;
                        (2, i64::from(i16::from_le_bytes([d[0], d[1]])))
                    }
                    0xd0 => {
                        let d = zl.get(p + 1..p + 5).ok_or("ziplist int overflows")?;
                        (4, i64::from(i32::from_le_bytes([d[0], d[1], d[2], d[3]])))
                    }
                    0xe0 => {
                        let d = zl.get(p + 1..p + 9).ok_or("ziplist int overflows")?;
                        let mut a = [0u8; 8];
                        a.copy_from_slice(d);
                        (8, i64::from_le_bytes(a))
                    }
                    0xf0 => {
                        let d = zl.get(p + 1..p + 4).ok_or("ziplist int overflows")?;
                        (3, i64::from(i32::from_le_bytes([0, d[0], d[1], d[2]]) >> 8))
                    }
                    0xfe => {
                        let d = *zl.get(p + 1).ok_or("ziplist int overflows")?;
                        (1, i64::from(d as i8))
                    }
                    0xf1..=0xfd => (0, i64::from(e & 0x0f) - 1),
                    _ => return Err("ziplist entry with an invalid encoding"),
                };
                p += 1 + n;
                LpEntry::Int(v)
            }
        };
        if p > last {
            return Err("ziplist entry overflows");
        }
        prev_len = p - start;
        prev_start = start;
        count += 1;
        f(entry)?;
    }
    if prev_start != tail {
        return Err("ziplist tail offset is wrong");
    }
    if declared != u16::MAX && usize::from(declared) != count {
        return Err("ziplist element count does not match its header");
    }
    Ok(count)
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Builds a ziplist the way Redis 6 would (for tests of the reader).
    pub fn build(items: &[LpEntry<'_>]) -> Vec<u8> {
        let mut zl = vec![0u8; HEADER];
        let mut prev = 0usize;
        let mut tail = HEADER;
        for it in items {
            let start = zl.len();
            tail = start;
            if prev < 254 {
                zl.push(prev as u8);
            } else {
                zl.push(0xfe);
                zl.extend_from_slice(&(prev as u32).to_le_bytes());
            }
            match *it {
                LpEntry::Str(s) => {
                    if s.len() < 64 {
                        zl.push(s.len() as u8);
                    } else if s.len() < 16384 {
                        zl.push(0x40 | (s.len() >> 8) as u8);
                        zl.push((s.len() & 0xff) as u8);
                    } else {
                        zl.push(0x80);
                        zl.extend_from_slice(&(s.len() as u32).to_be_bytes());
                    }
                    zl.extend_from_slice(s);
                }
                LpEntry::Int(v) => {
                    if (0..=12).contains(&v) {
                        zl.push(0xf1 + v as u8);
                    } else if let Ok(x) = i8::try_from(v) {
                        zl.push(0xfe);
                        zl.push(x as u8);
                    } else if let Ok(x) = i16::try_from(v) {
                        zl.push(0xc0);
                        zl.extend_from_slice(&x.to_le_bytes());
                    } else if (-8_388_608..=8_388_607).contains(&v) {
                        zl.push(0xf0);
                        zl.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
                    } else if let Ok(x) = i32::try_from(v) {
                        zl.push(0xd0);
                        zl.extend_from_slice(&x.to_le_bytes());
                    } else {
                        zl.push(0xe0);
                        zl.extend_from_slice(&v.to_le_bytes());
                    }
                }
            }
            prev = zl.len() - start;
        }
        zl.push(0xff);
        let n = zl.len() as u32;
        zl[0..4].copy_from_slice(&n.to_le_bytes());
        zl[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
        zl[8..10].copy_from_slice(&(items.len().min(65535) as u16).to_le_bytes());
        zl
    }

    fn read(zl: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
        let mut v = Vec::new();
        for_each(zl, |e| {
            v.push(e.to_vec());
            Ok(())
        })?;
        Ok(v)
    }

    #[test]
    fn roundtrip_every_encoding() {
        let big = vec![b'z'; 20000];
        let mid = vec![b'm'; 300];
        let items = [
            LpEntry::Str(b"hello"),
            LpEntry::Str(&mid),
            LpEntry::Str(&big),
            LpEntry::Int(0),
            LpEntry::Int(12),
            LpEntry::Int(13),
            LpEntry::Int(-100),
            LpEntry::Int(1000),
            LpEntry::Int(-8_000_000),
            LpEntry::Int(2_000_000_000),
            LpEntry::Int(i64::MIN),
            LpEntry::Str(b""),
        ];
        let zl = build(&items);
        let want: Vec<Vec<u8>> = items.iter().map(|e| e.to_vec()).collect();
        assert_eq!(read(&zl).unwrap(), want);
        assert_eq!(read(&build(&[])).unwrap(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn corrupt_ziplists_are_rejected() {
        let zl = build(&[LpEntry::Str(b"abc"), LpEntry::Int(7), LpEntry::Str(b"xyz")]);
        let mut bad = zl.clone();
        bad[4] = 11; // tail
        assert!(read(&bad).is_err());
        let mut bad = zl.clone();
        bad[15] = 3; // prevlen of the second entry
        assert!(read(&bad).is_err());
        let mut bad = zl.clone();
        bad[8] = 5;
        assert!(read(&bad).is_err());
        for i in 0..zl.len() {
            let _ = read(&zl[..i]);
            for v in [0u8, 0x3f, 0x40, 0x80, 0xc0, 0xe0, 0xf0, 0xfe, 0xff] {
                let mut m = zl.clone();
                m[i] = v;
                let _ = read(&m);
            }
        }
    }
}
