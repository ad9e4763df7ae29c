//! LZF, the compressor Redis uses for RDB strings, format-compatible with liblzf.
//!
//! The compressed stream is a sequence of chunks, each starting with a control byte:
//!
//! ```text
//! 000LLLLL <L+1 literal bytes>                      literal run, 1..=32 bytes
//! LLLooooo oooooooo                                 back reference, L in 1..=6: copy L+2 bytes
//! 111ooooo LLLLLLLL oooooooo                        back reference, copy L+9 bytes
//! ```
//!
//! where the 13-bit `o` is the distance back from the output position minus one. A reference
//! copies at most 264 bytes, so one compressed byte never expands to more than 88.

use std::cell::RefCell;

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 32;
const MAX_OFF: usize = 1 << 13;
/// The longest reference liblzf writes (its MAX_REF): 264 bytes.
const MAX_REF: usize = (1 << 8) + (1 << 3);

/// The most output one input byte can produce (a 3-byte reference copying 264 bytes).
pub const MAX_EXPANSION: usize = 88;

/// The hash table of recent positions, kept per thread. Entries are `base + position + 1`
/// where `base` grows with every call, so a stale entry from an earlier input is recognisable
/// without clearing 256 KB per call (0 means empty).
struct State {
    table: Box<[u32]>,
    base: u32,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State { table: vec![0u32; HSIZE].into_boxed_slice(), base: 0 });
}

/// liblzf's slot for the three bytes at a position (IDX of its rolling hash, VERY_FAST form):
/// the same slots as Redis's, so the same earlier position is found when two collide.
#[inline(always)]
fn hash3(a: u8, b: u8, c: u8) -> usize {
    let h = (u32::from(a) << 16) | (u32::from(b) << 8) | u32::from(c);
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

/// How many bytes of `input[ip..]` repeat `input[cand..]` (3 are known equal), as liblzf
/// counts them: at most `maxlen` (2 short of the end, and MAX_REF), except that its unrolled
/// first 16 comparisons may take a match to 19 bytes past a `maxlen` of 17 or 18.
#[inline]
fn match_len(input: &[u8], cand: usize, ip: usize) -> usize {
    let maxlen = (input.len() - ip - 2).min(MAX_REF);
    let eq = |l: usize| input[cand + l] == input[ip + l];
    let mut l = 3;
    if maxlen > 16 {
        while l <= 18 {
            if !eq(l) {
                return l;
            }
            l += 1;
        }
        l = 19;
    }
    while l < maxlen && eq(l) {
        l += 1;
    }
    l
}

/// The literal run being written: its length and where its control byte is.
struct Run {
    len: usize,
    ctrl: usize,
}

impl Run {
    /// Starts a run: its control byte, filled in when the run is closed.
    #[inline]
    fn open(out: &mut Vec<u8>) -> Run {
        let ctrl = out.len();
        out.push(0);
        Run { len: 0, ctrl }
    }

    /// Appends one literal byte; a full run is closed and the next one started.
    #[inline]
    fn push(&mut self, out: &mut Vec<u8>, b: u8) {
        out.push(b);
        self.len += 1;
        if self.len == MAX_LIT {
            self.close(out);
            *self = Run::open(out);
        }
    }

    /// Writes the run's control byte, or drops it when the run is empty (it is last).
    #[inline]
    fn close(&self, out: &mut Vec<u8>) {
        if self.len > 0 {
            out[self.ctrl] = (self.len - 1) as u8;
        } else {
            out.pop();
        }
    }
}

/// Compresses `input`, appending to `out`. Returns the compressed length, or `None` (and
/// leaves `out` as it was) when the result would be longer than `limit` bytes — Redis asks for
/// a saving of at least 4 bytes by passing `len - 4`.
pub fn compress(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Option<usize> {
    let start = out.len();
    if input.is_empty() || limit == 0 {
        return None;
    }
    let n = input.len();
    let ok = STATE.with(|st| {
        let mut st = st.borrow_mut();
        let Ok(n32) = u32::try_from(n) else {
            return false;
        };
        if st
            .base
            .checked_add(n32)
            .and_then(|v| v.checked_add(2))
            .is_none()
        {
            st.table.fill(0);
            st.base = 0;
        }
        let base = st.base;
        st.base = base + n32 + 1;
        let table = &mut st.table;
        out.reserve(n.min(limit) + 2);
        let mut run = Run::open(out);
        let mut ip = 0usize;
        // The bounds are liblzf's own (lzf_c.c), so that a string is compressed exactly when
        // Redis compresses it: a reference needs 4 bytes of room below the limit (the
        // control byte of an empty run given back), a literal one, the last two bytes 3.
        while ip + 2 < n {
            let h = hash3(input[ip], input[ip + 1], input[ip + 2]);
            let entry = table[h];
            table[h] = base + ip as u32 + 1;
            if entry > base + 1 {
                // (liblzf never refers to the first byte: `ref > in_data`.)
                let cand = (entry - base - 1) as usize;
                let off = ip - cand - 1;
                if off < MAX_OFF
                    && input[cand] == input[ip]
                    && input[cand + 1] == input[ip + 1]
                    && input[cand + 2] == input[ip + 2]
                {
                    if out.len() - start - usize::from(run.len == 0) + 4 >= limit {
                        return false;
                    }
                    let m = match_len(input, cand, ip);
                    run.close(out);
                    let l = m - 2;
                    if l < 7 {
                        out.push(((l << 5) | (off >> 8)) as u8);
                    } else {
                        out.push(((7 << 5) | (off >> 8)) as u8);
                        out.push((l - 7) as u8);
                    }
                    out.push((off & 0xff) as u8);
                    ip += m;
                    run = Run::open(out);
                    // Remember the last two positions of the match, as liblzf does.
                    if ip + 2 < n {
                        for p in [ip - 2, ip - 1] {
                            let h = hash3(input[p], input[p + 1], input[p + 2]);
                            table[h] = base + p as u32 + 1;
                        }
                    }
                    continue;
                }
            }
            if out.len() - start >= limit {
                return false;
            }
            run.push(out, input[ip]);
            ip += 1;
        }
        if out.len() - start + 3 > limit {
            return false;
        }
        while ip < n {
            run.push(out, input[ip]);
            ip += 1;
        }
        run.close(out);
        true
    });
    if ok {
        Some(out.len() - start)
    } else {
        out.truncate(start);
        None
    }
}

/// Why a compressed stream was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LzfError {
    /// The stream ends inside a chunk.
    Truncated,
    /// A back reference points before the start of the output.
    BadReference,
    /// The stream produces more or fewer bytes than expected.
    WrongLength,
}

/// Decompresses `input`, which must produce exactly `expected` bytes, appending to `out`.
/// Never reads or writes out of bounds, whatever the input; the caller bounds `expected`
/// (at most `MAX_EXPANSION` times the input length can be valid).
pub fn decompress_into(input: &[u8], expected: usize, out: &mut Vec<u8>) -> Result<(), LzfError> {
    if expected > input.len().saturating_mul(MAX_EXPANSION) {
        return Err(LzfError::WrongLength);
    }
    let start = out.len();
    out.reserve(expected);
    let end = start + expected;
    let mut ip = 0usize;
    while ip < input.len() {
        let ctrl = usize::from(input[ip]);
        ip += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            let lit = input.get(ip..ip + run).ok_or(LzfError::Truncated)?;
            if out.len() + run > end {
                return Err(LzfError::WrongLength);
            }
            out.extend_from_slice(lit);
            ip += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(ip).ok_or(LzfError::Truncated)?);
                ip += 1;
            }
            let lo = usize::from(*input.get(ip).ok_or(LzfError::Truncated)?);
            ip += 1;
            let back = ((ctrl & 0x1f) << 8) + lo + 1;
            let len = len + 2;
            let pos = out.len() - start;
            if back > pos {
                return Err(LzfError::BadReference);
            }
            if out.len() + len > end {
                return Err(LzfError::WrongLength);
            }
            // A reference shorter than its length repeats its own output with period `back`:
            // copied in chunks that double (what lies between `from` and the end is always
            // whole periods), not byte by byte. A run of 264 zero bytes is 9 copies, not 264.
            let from = out.len() - back;
            let mut left = len;
            while left > 0 {
                let n = left.min(out.len() - from);
                out.extend_from_within(from..from + n);
                left -= n;
            }
        }
    }
    if out.len() != end {
        out.truncate(start);
        return Err(LzfError::WrongLength);
    }
    Ok(())
}

/// Decompresses into a new vector of exactly `expected` bytes.
pub fn decompress(input: &[u8], expected: usize) -> Result<Vec<u8>, LzfError> {
    let mut out = Vec::new();
    decompress_into(input, expected, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn roundtrip(data: &[u8]) -> Option<usize> {
        let mut c = Vec::new();
        let n = compress(data, &mut c, data.len() + data.len() / 16 + 8)?;
        assert_eq!(n, c.len());
        assert_eq!(decompress(&c, data.len()).unwrap(), data);
        Some(n)
    }

    #[test]
    fn roundtrips() {
        roundtrip(b"a").unwrap();
        roundtrip(b"ab").unwrap();
        roundtrip(b"abc").unwrap();
        assert!(roundtrip(&[b'x'; 10_000]).unwrap() < 200);
        let text: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("key:{i} value:{} ", i % 97).into_bytes())
            .collect();
        let n = roundtrip(&text).unwrap();
        assert!(n < text.len() / 2);
        let mut x = 12345u64;
        let noise: Vec<u8> = (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        roundtrip(&noise).unwrap();
        // Repeated calls reuse the table; stale entries must not leak between inputs.
        for _ in 0..3 {
            roundtrip(&text[..1000]).unwrap();
            roundtrip(&noise[..1000]).unwrap();
        }
    }

    /// References shorter than their length (a period repeated): every period from 1 to 40
    /// after a random prefix, each with runs of every length class.
    #[test]
    fn overlapping_references_repeat_their_period() {
        let mut x = 99u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        };
        for period in 1..=40usize {
            let unit: Vec<u8> = (0..period).map(|_| next()).collect();
            for total in [3, 9, 40, 263, 264, 265, 1000] {
                let mut data: Vec<u8> = (0..7).map(|_| next()).collect();
                data.extend(unit.iter().cycle().take(total.max(period)));
                data.push(next());
                roundtrip(&data).expect("compressible");
            }
        }
    }

    #[test]
    fn refuses_what_liblzf_refuses() {
        // Two sparse HLLs (PFADD of a few elements) that Redis 7.0.15 stores uncompressed in a
        // DUMP: liblzf wants room to spare below `len - 4`, which an output of exactly the
        // limit (17 and 29 bytes here) does not leave.
        let a = [
            0x48, 0x59, 0x4c, 0x4c, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x61, 0xee, 0x84,
            0x5e, 0x0f,
        ];
        let b = [
            0x48, 0x59, 0x4c, 0x4c, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x40, 0x4c, 0x88,
            0x4b, 0x12, 0x88, 0x41, 0x6f, 0x84, 0x51, 0xfb, 0x80, 0x5f, 0x04, 0x84, 0x42, 0x29,
        ];
        for data in [&a[..], &b[..]] {
            let mut out = Vec::new();
            assert_eq!(compress(data, &mut out, data.len() - 4), None, "{data:?}");
            assert!(out.is_empty());
            // With more room it compresses, and round-trips.
            let n = compress(data, &mut out, data.len()).expect("compresses with room");
            assert_eq!(decompress(&out[..n], data.len()).unwrap(), data);
        }
        assert_eq!(compress(b"abc", &mut Vec::new(), 0), None);
    }

    fn unhex(h: &str) -> Vec<u8> {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn compresses_as_liblzf() {
        // Inputs and the LZF bytes of Redis 7.0.15's DUMP of them: matches that stop two bytes
        // before the end, a match of 18 bytes ended by the unrolled comparisons, the first byte
        // never referred to, runs, repeats at a distance.
        let mut ascending: Vec<u8> = (0..40).collect();
        ascending.extend(0..40u8);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![b'a'; 30], "016161e01100016161"),
            (
                [&b"abcdefghijklmnopqrstuvwxyz"[..], b"abcdefghijklmnopqrs", b"XY"].concat(),
                "1a6162636465666768696a6b6c6d6e6f707172737475767778797a61e00919015859",
            ),
            ([b"0123456789".repeat(7), b"01234567".to_vec()].concat(), "0a3031323334353637383930e03809013637"),
            (b"hello world, hello world, hello world!".to_vec(), "0d68656c6c6f20776f726c642c2068e00d0c016421"),
            (
                ascending,
                "1f000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f08202122232425262700e01c27012627",
            ),
        ];
        for (input, want) in cases {
            let mut out = Vec::new();
            let n = compress(&input, &mut out, input.len() - 4).expect("compresses");
            assert_eq!(
                out[..n],
                unhex(want)[..],
                "{:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }

    #[test]
    fn limit_is_honoured() {
        let mut out = vec![7u8];
        assert_eq!(compress(b"abcdefghijklmnopqrstuvwxyz", &mut out, 22), None);
        assert_eq!(out, [7u8]);
        assert!(compress(&[b'a'; 100], &mut out, 96).is_some());
    }

    #[test]
    fn decodes_liblzf_output() {
        // "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" (30 x 'a') as liblzf compresses it.
        let c = [0x00, b'a', 0xe0, 0x14, 0x00];
        assert_eq!(decompress(&c, 30).unwrap(), vec![b'a'; 30]);
    }

    #[test]
    fn corrupt_inputs_are_errors() {
        assert_eq!(decompress(&[0x05, b'a'], 6), Err(LzfError::Truncated));
        assert_eq!(decompress(&[0x20, 0x00], 3), Err(LzfError::BadReference));
        assert_eq!(decompress(&[0x00, b'a'], 2), Err(LzfError::WrongLength));
        assert_eq!(decompress(&[0x00, b'a', 0x20], 4), Err(LzfError::Truncated));
        assert_eq!(
            decompress(&[0x00, b'a'], 1_000_000),
            Err(LzfError::WrongLength)
        );
        // Every truncation and every byte value at every position: no panic.
        let mut c = Vec::new();
        let data: Vec<u8> = (0..300).map(|i| (i % 7) as u8).collect();
        compress(&data, &mut c, 300).unwrap();
        for i in 0..c.len() {
            let _ = decompress(&c[..i], data.len());
            for v in [0u8, 0x1f, 0x20, 0xe0, 0xff] {
                let mut m = c.clone();
                m[i] = v;
                let _ = decompress(&m, data.len());
            }
        }
    }
}
