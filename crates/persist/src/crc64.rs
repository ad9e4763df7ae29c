//! Redis's CRC-64: the Jones polynomial, reflected input and output, initial value 0, no final
//! xor (crc64.c). Slicing-by-8 with tables computed at compile time.
//!
//! Check value: `crc64(0, b"123456789") == 0xe9c6d914c4b8d9ca`.

/// The Jones polynomial in reflected form.
const POLY: u64 = 0x95ac_9329_ac4b_c9b5;

const fn make_tables() -> [[u64; 256]; 8] {
    let mut t = [[0u64; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut k = 0;
        while k < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            k += 1;
        }
        t[0][i] = crc;
        i += 1;
    }
    let mut s = 1;
    while s < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        s += 1;
    }
    t
}

static TABLES: [[u64; 256]; 8] = make_tables();

/// Continues a CRC-64 over `data` (start with 0).
pub fn crc64(mut crc: u64, data: &[u8]) -> u64 {
    let t = &TABLES;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = crc ^ u64::from_le_bytes(w);
        crc = t[7][(x & 0xff) as usize]
            ^ t[6][((x >> 8) & 0xff) as usize]
            ^ t[5][((x >> 16) & 0xff) as usize]
            ^ t[4][((x >> 24) & 0xff) as usize]
            ^ t[3][((x >> 32) & 0xff) as usize]
            ^ t[2][((x >> 40) & 0xff) as usize]
            ^ t[1][((x >> 48) & 0xff) as usize]
            ^ t[0][(x >> 56) as usize];
    }
    for &b in chunks.remainder() {
        crc = t[0][((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

/// `TOP_INV[b]` is the byte `i` whose `TABLES[0][i]` has `b` as its top byte (a bijection
/// for a CRC table, checked by a test): what undoing one CRC step needs.
static TOP_INV: [u8; 256] = {
    let mut inv = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        inv[(TABLES[0][i] >> 56) as usize] = i as u8;
        i += 1;
    }
    inv
};

/// The single changed byte that explains a CRC mismatch, if there is exactly one.
///
/// The CRC is linear (initial value 0, no final xor): for two messages of the same length,
/// `stored ^ computed` is the CRC of their difference. A difference of one byte `e` at
/// position `p` of an `len`-byte message has the CRC `T[e]` carried through `len - 1 - p`
/// zero bytes; walking `syndrome` back one zero byte at a time finds every `(p, e)` that
/// fits. Returns `(p, e)`: the byte at `p` was XORed with `e` (so the original is the
/// current byte XOR `e`). `None` if no single byte fits, or more than one does. When the
/// real damage is larger, a single byte fits by accident with a chance of about
/// `len * 255 / 2^64`.
pub fn locate_byte_error(syndrome: u64, len: u64) -> Option<(u64, u8)> {
    let t = &TABLES[0];
    let mut found = None;
    let mut r = syndrome;
    for k in 0..len {
        if r == 0 {
            // Only the zero difference reaches zero: no single nonzero byte fits from here.
            break;
        }
        let i = TOP_INV[(r >> 56) as usize];
        if t[usize::from(i)] == r {
            if found.is_some() {
                return None;
            }
            found = Some((len - 1 - k, i));
        }
        // Undo one zero-byte step: r = T[i] ^ (prev >> 8) with i = prev & 0xff.
        r = ((r ^ t[usize::from(i)]) << 8) | u64::from(i);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_bytes_of_the_table_are_a_bijection() {
        let mut seen = [false; 256];
        for v in TABLES[0].iter() {
            let b = (v >> 56) as usize;
            assert!(!seen[b]);
            seen[b] = true;
        }
    }

    #[test]
    fn a_single_changed_byte_is_located() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let good = crc64(0, &data);
        for (p, e) in [
            (0usize, 1u8),
            (1, 0x80),
            (2500, 0xff),
            (4991, 0x10),
            (4999, 0x42),
        ] {
            let mut bad = data.clone();
            bad[p] ^= e;
            let syndrome = good ^ crc64(0, &bad);
            assert_eq!(
                locate_byte_error(syndrome, data.len() as u64),
                Some((p as u64, e))
            );
        }
    }

    #[test]
    fn two_changed_bytes_are_not_explained_as_one() {
        let data = vec![0x5au8; 3000];
        let good = crc64(0, &data);
        let mut bad = data.clone();
        bad[10] ^= 1;
        bad[2000] ^= 4;
        assert_eq!(locate_byte_error(good ^ crc64(0, &bad), 3000), None);
        assert_eq!(locate_byte_error(0, 3000), None);
    }

    fn bitwise(mut crc: u64, data: &[u8]) -> u64 {
        for &b in data {
            crc ^= u64::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ POLY
                } else {
                    crc >> 1
                };
            }
        }
        crc
    }

    #[test]
    fn check_value() {
        assert_eq!(crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        assert_eq!(crc64(0, b""), 0);
    }

    #[test]
    fn matches_bitwise_and_is_incremental() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 251) as u8).collect();
        for n in [0, 1, 7, 8, 9, 63, 64, 1000] {
            assert_eq!(crc64(0, &data[..n]), bitwise(0, &data[..n]), "n={n}");
        }
        let whole = crc64(0, &data);
        let split = crc64(crc64(0, &data[..333]), &data[333..]);
        assert_eq!(whole, split);
    }
}
