//! HyperLogLog sketches, stored in a string value byte for byte as Redis 7.0 stores them
//! (hyperloglog.c), so GET, DUMP, the RDB and DEBUG DIGEST agree with Redis for the same adds.
//!
//! ```text
//! header (16 bytes): "HYLL" | encoding (0 dense, 1 sparse) | 3 unused | cached cardinality,
//!                    8 bytes little endian; bit 7 of the last byte set = cache invalid
//! dense:  16384 registers of 6 bits, packed from the least significant bit (12288 bytes)
//! sparse: run-length opcodes: 00xxxxxx ZERO (1..64 registers), 01xxxxxx yyyyyyyy XZERO
//!         (1..16384), 1vvvvvxx VAL (value 1..32 for 1..4 registers)
//! ```
//!
//! Everything read from a value is untrusted: a corrupt sketch answers `Corrupt` (Redis's
//! INVALIDOBJ), never a panic or an out-of-bounds access.

use std::ops::DerefMut;

use crate::raw::RawStr;

const P: u32 = 14;
pub const REGISTERS: usize = 1 << P;
const Q: usize = 64 - P as usize;
const REGISTER_MAX: u8 = 63;
pub const HDR: usize = 16;
pub const DENSE_SIZE: usize = HDR + (REGISTERS * 6).div_ceil(8);
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
const SEED: u64 = 0xadc8_3b19;

/// A sketch whose bytes do not decode (Redis: "INVALIDOBJ Corrupted HLL object detected").
#[derive(Debug, PartialEq, Eq)]
pub struct Corrupt;

/// The two encodings, as PFDEBUG ENCODING names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Dense,
    Sparse,
}

/// Bytes a sketch lives in: a growable, writable byte string.
pub trait Buf: DerefMut<Target = [u8]> {
    /// Grows (with zero bytes) or truncates to `n` bytes.
    fn set_len(&mut self, n: usize);
}

impl Buf for Vec<u8> {
    fn set_len(&mut self, n: usize) {
        self.resize(n, 0);
    }
}

impl Buf for RawStr {
    fn set_len(&mut self, n: usize) {
        self.resize(n, 0);
    }
}

/// MurmurHash64A as Redis has it (endian-neutral: 8-byte blocks read little endian).
pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut blocks = key.chunks_exact(8);
    for b in &mut blocks {
        let mut k = u64::from_le_bytes(b.try_into().expect("8-byte chunk"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element falls in and the length of its 00..1 pattern (hllPatLen).
fn pat_len(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// isHLLObjectOrReply's checks: the magic, a known encoding, the dense size.
pub fn is_valid(v: &[u8]) -> bool {
    v.len() >= HDR
        && &v[..4] == b"HYLL"
        && v[4] <= SPARSE
        && (v[4] != DENSE || v.len() == DENSE_SIZE)
}

/// The encoding of a sketch that passed `is_valid`.
pub fn encoding(v: &[u8]) -> Encoding {
    if v[4] == DENSE {
        Encoding::Dense
    } else {
        Encoding::Sparse
    }
}

/// A new, empty sketch: sparse, all registers in XZERO opcodes (createHLLObject).
pub fn new_sparse() -> Vec<u8> {
    let mut v = Vec::with_capacity(HDR + 2);
    v.extend_from_slice(b"HYLL");
    v.push(SPARSE);
    v.resize(HDR, 0);
    let mut left = REGISTERS;
    while left > 0 {
        let n = left.min(XZERO_MAX_LEN);
        v.extend_from_slice(&xzero(n));
        left -= n;
    }
    v
}

/// Marks the cached cardinality stale (HLL_INVALIDATE_CACHE).
pub fn invalidate_cache(v: &mut [u8]) {
    v[HDR - 1] |= 0x80;
}

/// The cached cardinality, when it is valid.
pub fn cached_count(v: &[u8]) -> Option<u64> {
    let card = u64::from_le_bytes(v[8..HDR].try_into().expect("8 header bytes"));
    (v[HDR - 1] & 0x80 == 0).then_some(card)
}

pub fn set_cached_count(v: &mut [u8], card: u64) {
    v[8..HDR].copy_from_slice(&card.to_le_bytes());
}

// ---- dense registers ----

fn dense_get(r: &[u8], i: usize) -> u8 {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let b0 = u32::from(r[byte]);
    // The register after the last ends the array: Redis reads the string's NUL there.
    let b1 = u32::from(r.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) & u32::from(REGISTER_MAX)) as u8
}

fn dense_put(r: &mut [u8], i: usize, val: u8) {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let v = u32::from(val);
    let max = u32::from(REGISTER_MAX);
    r[byte] = ((u32::from(r[byte]) & !(max << fb)) | (v << fb)) as u8;
    if let Some(b1) = r.get_mut(byte + 1) {
        let fb8 = 8 - fb;
        *b1 = ((u32::from(*b1) & !(max >> fb8)) | (v >> fb8)) as u8;
    }
}

/// Raises register `i` to `count` if lower; whether it changed (hllDenseSet).
fn dense_set(r: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(r, i) {
        dense_put(r, i, count);
        true
    } else {
        false
    }
}

// ---- sparse opcodes ----

fn is_zero(op: u8) -> bool {
    op & 0xc0 == 0
}
fn is_xzero(op: u8) -> bool {
    op & 0xc0 == 0x40
}
fn is_val(op: u8) -> bool {
    op & 0x80 != 0
}
fn zero_len(op: u8) -> usize {
    usize::from(op & 0x3f) + 1
}
fn xzero_len(op: u8, next: u8) -> usize {
    ((usize::from(op & 0x3f) << 8) | usize::from(next)) + 1
}
fn val_value(op: u8) -> u8 {
    ((op >> 2) & 0x1f) + 1
}
fn val_len(op: u8) -> usize {
    usize::from(op & 3) + 1
}
fn val(value: u8, len: usize) -> u8 {
    ((value - 1) << 2 | (len as u8 - 1)) | 0x80
}
fn zero(len: usize) -> u8 {
    (len - 1) as u8
}
fn xzero(len: usize) -> [u8; 2] {
    let l = len - 1;
    [(l >> 8) as u8 | 0x40, (l & 0xff) as u8]
}

/// One decoded opcode: how many registers it covers, its value, its size in bytes.
struct Op {
    span: usize,
    value: u8,
    bytes: usize,
}

/// Decodes the opcode at `p` (an XZERO cut short by the end reads 0 for its second byte, as
/// Redis reads the string's terminator).
fn op_at(s: &[u8], p: usize) -> Op {
    let op = s[p];
    if is_zero(op) {
        Op {
            span: zero_len(op),
            value: 0,
            bytes: 1,
        }
    } else if is_xzero(op) {
        let next = s.get(p + 1).copied().unwrap_or(0);
        Op {
            span: xzero_len(op, next),
            value: 0,
            bytes: 2,
        }
    } else {
        Op {
            span: val_len(op),
            value: val_value(op),
            bytes: 1,
        }
    }
}

/// Walks the sparse opcodes into `each(first register, count, value)`; Err if a VAL run goes
/// past the last register or the runs do not cover exactly all registers.
fn sparse_walk(ops: &[u8], mut each: impl FnMut(usize, usize, u8)) -> Result<(), Corrupt> {
    let mut idx = 0usize;
    let mut p = 0;
    while p < ops.len() {
        let op = op_at(ops, p);
        if op.value > 0 && idx + op.span > REGISTERS {
            return Err(Corrupt);
        }
        each(idx, op.span, op.value);
        idx += op.span;
        p += op.bytes;
    }
    if idx == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

/// Rewrites a sparse sketch as dense (hllSparseToDense); a dense one is left as it is.
pub fn to_dense<B: Buf + ?Sized>(b: &mut B) -> Result<(), Corrupt> {
    if b[4] == DENSE {
        return Ok(());
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR].copy_from_slice(&b[..HDR]);
    dense[4] = DENSE;
    {
        let regs = &mut dense[HDR..];
        sparse_walk(&b[HDR..], |first, n, value| {
            if value > 0 {
                for i in first..first + n {
                    dense_put(regs, i, value);
                }
            }
        })?;
    }
    b.set_len(DENSE_SIZE);
    b.copy_from_slice(&dense);
    Ok(())
}

/// Raises register `index` of a sparse sketch to `count` (hllSparseSet), promoting it to
/// dense when the value does not fit a VAL opcode or the sketch would pass `max_bytes`.
fn sparse_set<B: Buf + ?Sized>(
    b: &mut B,
    index: usize,
    count: u8,
    max_bytes: usize,
) -> Result<bool, Corrupt> {
    if count > VAL_MAX_VALUE {
        return promote(b, index, count);
    }
    // Step 1: the opcode covering `index`.
    let mut end = b.len();
    let mut p = HDR;
    let mut first = 0usize;
    let mut prev = None;
    let mut cur = None;
    while p < end {
        let op = op_at(b, p);
        if index < first + op.span {
            cur = Some(op);
            break;
        }
        prev = Some(p);
        p += op.bytes;
        first += op.span;
    }
    let Some(op) = cur else {
        return Err(Corrupt);
    };
    let next = (p + op.bytes < end).then_some(p + op.bytes);
    let (zeroish, xz) = (op.value == 0, is_xzero(b[p]));

    // Step 2: the cases that change the opcode in place.
    let mut in_place = false;
    if !zeroish {
        if op.value >= count {
            return Ok(false);
        }
        in_place = op.span == 1;
    } else if !xz && op.span == 1 {
        in_place = true;
    }
    if in_place {
        b[p] = val(count, 1);
    } else {
        // The general case: split the opcode into up to three (XZERO-VAL-XZERO at worst).
        let mut seq = [0u8; 5];
        let mut n = 0;
        let last = first + op.span - 1;
        if zeroish {
            if index != first {
                push_zero(&mut seq, &mut n, index - first);
            }
            seq[n] = val(count, 1);
            n += 1;
            if index != last {
                push_zero(&mut seq, &mut n, last - index);
            }
        } else {
            if index != first {
                seq[n] = val(op.value, index - first);
                n += 1;
            }
            seq[n] = val(count, 1);
            n += 1;
            if index != last {
                seq[n] = val(op.value, last - index);
                n += 1;
            }
        }
        // Step 3: the new sequence replaces the old opcode. An XZERO cut short by the end
        // still counts as two bytes, as in Redis: the result is then one byte shorter and
        // ends with the sequence cut by as much.
        let old_len = if xz { 2 } else { 1 };
        let new_end = end + n - old_len;
        if n > old_len && new_end > max_bytes {
            return promote(b, index, count);
        }
        match next {
            Some(nx) if n > old_len => {
                b.set_len(new_end);
                b.copy_within(nx..end, nx + (n - old_len));
            }
            Some(nx) if n < old_len => {
                b.copy_within(nx..end, nx - (old_len - n));
                b.set_len(new_end);
            }
            Some(_) => {}
            None => b.set_len(new_end),
        }
        end = new_end;
        let w = n.min(end - p);
        b[p..p + w].copy_from_slice(&seq[..w]);
    }

    // Step 4: merge adjacent VAL opcodes of equal value, up to 5 opcodes from `prev`.
    let mut p = prev.unwrap_or(HDR);
    let mut scan = 5;
    while p < end && scan > 0 {
        scan -= 1;
        let op = b[p];
        if is_xzero(op) {
            p += 2;
            continue;
        }
        if is_zero(op) {
            p += 1;
            continue;
        }
        if p + 1 < end && is_val(b[p + 1]) {
            let (v1, v2) = (val_value(op), val_value(b[p + 1]));
            let len = val_len(op) + val_len(b[p + 1]);
            if v1 == v2 && len <= VAL_MAX_LEN {
                b[p + 1] = val(v1, len);
                b.copy_within(p + 1..end, p);
                end -= 1;
                b.set_len(end);
                continue;
            }
        }
        p += 1;
    }
    invalidate_cache(b);
    Ok(true)
}

/// A ZERO opcode, or an XZERO one for a run longer than ZERO holds.
fn push_zero(seq: &mut [u8; 5], n: &mut usize, len: usize) {
    if len > ZERO_MAX_LEN {
        seq[*n..*n + 2].copy_from_slice(&xzero(len));
        *n += 2;
    } else {
        seq[*n] = zero(len);
        *n += 1;
    }
}

fn promote<B: Buf + ?Sized>(b: &mut B, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(b)?;
    dense_set(&mut b[HDR..], index, count);
    Ok(true)
}

/// Raises register `index` to `count` in either encoding; whether the sketch changed.
pub fn set_register<B: Buf + ?Sized>(
    b: &mut B,
    index: usize,
    count: u8,
    sparse_max_bytes: usize,
) -> Result<bool, Corrupt> {
    match b[4] {
        DENSE => Ok(dense_set(&mut b[HDR..], index, count)),
        SPARSE => sparse_set(b, index, count, sparse_max_bytes),
        _ => Err(Corrupt),
    }
}

/// Adds one element (hllAdd); whether a register changed.
pub fn add<B: Buf + ?Sized>(
    b: &mut B,
    ele: &[u8],
    sparse_max_bytes: usize,
) -> Result<bool, Corrupt> {
    let (index, count) = pat_len(ele);
    set_register(b, index, count, sparse_max_bytes)
}

/// Registers as one byte each, for merging (PFCOUNT of several keys, PFMERGE).
pub struct Registers(pub Box<[u8; REGISTERS]>);

impl Default for Registers {
    fn default() -> Self {
        Registers(Box::new([0u8; REGISTERS]))
    }
}

impl Registers {
    /// Raises each register to the sketch's (hllMerge).
    pub fn merge(&mut self, v: &[u8]) -> Result<(), Corrupt> {
        let max = &mut self.0;
        if v[4] == DENSE {
            let r = &v[HDR..];
            for (i, m) in max.iter_mut().enumerate() {
                *m = (*m).max(dense_get(r, i));
            }
            Ok(())
        } else {
            sparse_walk(&v[HDR..], |first, n, value| {
                if value > 0 {
                    for m in &mut max[first..first + n] {
                        *m = (*m).max(value);
                    }
                }
            })
        }
    }

    pub fn count(&self) -> u64 {
        let mut histo = [0u32; 64];
        for &r in self.0.iter() {
            histo[usize::from(r & 63)] += 1;
        }
        estimate(&histo)
    }
}

/// The estimated cardinality of a sketch that passed `is_valid` (hllCount); Err for a sparse
/// sketch whose runs do not cover the registers.
pub fn count(v: &[u8]) -> Result<u64, Corrupt> {
    let mut histo = [0u32; 64];
    if v[4] == DENSE {
        let r = &v[HDR..];
        for i in 0..REGISTERS {
            histo[usize::from(dense_get(r, i))] += 1;
        }
    } else {
        // Redis counts what it walked even when the runs fall short, then reports the damage.
        let mut idx = 0usize;
        let mut p = HDR;
        while p < v.len() {
            let op = op_at(v, p);
            idx += op.span;
            histo[usize::from(op.value)] += op.span as u32;
            p += op.bytes;
        }
        if idx != REGISTERS {
            return Err(Corrupt);
        }
    }
    Ok(estimate(&histo))
}

/// Ertl's estimator from the register histogram ("New cardinality estimation algorithms for
/// HyperLogLog sketches"), with Redis's exact order of floating-point operations.
fn estimate(histo: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - f64::from(histo[Q + 1])) / m);
    for j in (1..=Q).rev() {
        z += f64::from(histo[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histo[0]) / m);
    (ALPHA_INF * m * m / z).round() as u64
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        let d = 1.0 - x;
        z -= d * d * y;
        if before == z {
            return z / 3.0;
        }
    }
}

/// All registers, dense or sparse (PFDEBUG GETREG works on the dense form).
pub fn registers(v: &[u8]) -> Result<Registers, Corrupt> {
    let mut r = Registers::default();
    r.merge(v)?;
    Ok(r)
}

/// PFDEBUG DECODE's text of a sparse sketch: "z:N", "Z:N", "v:VALUE,N" opcodes.
pub fn decode_sparse(v: &[u8]) -> String {
    let mut out = Vec::new();
    let mut p = HDR;
    while p < v.len() {
        let op = op_at(v, p);
        out.push(if op.value > 0 {
            format!("v:{},{}", op.value, op.span)
        } else if op.bytes == 2 {
            format!("Z:{}", op.span)
        } else {
            format!("z:{}", op.span)
        });
        p += op.bytes;
    }
    out.join(" ")
}

/// Sets every register of a dense buffer and reads it back (PFSELFTEST's first test).
pub fn dense_roundtrip(values: &[u8; REGISTERS]) -> Result<(), (usize, u8, u8)> {
    let mut r = vec![0u8; DENSE_SIZE - HDR];
    for (i, &v) in values.iter().enumerate() {
        dense_put(&mut r, i, v & REGISTER_MAX);
    }
    for (i, &v) in values.iter().enumerate() {
        let got = dense_get(&r, i);
        if got != v & REGISTER_MAX {
            return Err((i, v & REGISTER_MAX, got));
        }
    }
    Ok(())
}

/// An empty dense sketch (PFSELFTEST compares it with a sparse one).
pub fn new_dense() -> Vec<u8> {
    let mut v = new_sparse();
    to_dense(&mut v).expect("a new sketch is valid");
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur_matches_known_values() {
        // The empty key hashes to the finalized seed alone.
        let h = murmur64a(b"", SEED);
        let mut e = SEED;
        e ^= e >> 47;
        e = e.wrapping_mul(0xc6a4_a793_5bd1_e995);
        e ^= e >> 47;
        assert_eq!(h, e);
        assert_ne!(murmur64a(b"a", SEED), murmur64a(b"b", SEED));
    }

    #[test]
    fn new_sketch_is_one_xzero_and_counts_zero() {
        let v = new_sparse();
        assert_eq!(v.len(), HDR + 2);
        assert_eq!(decode_sparse(&v), "Z:16384");
        assert_eq!(count(&v), Ok(0));
    }

    #[test]
    fn sparse_and_dense_agree_and_promotion_happens() {
        let mut s = new_sparse();
        let mut d = new_dense();
        for i in 0u64..20_000 {
            let e = i.to_le_bytes();
            add(&mut s, &e, 3000).unwrap();
            add(&mut d, &e, 3000).unwrap();
            if i % 997 == 0 {
                assert_eq!(count(&s), count(&d), "at {i}");
            }
        }
        assert_eq!(encoding(&s), Encoding::Dense);
        assert_eq!(s[HDR..], d[HDR..]);
        let c = count(&d).unwrap() as f64;
        assert!((c - 20_000.0).abs() < 20_000.0 * 0.05, "{c}");
    }

    #[test]
    fn corrupt_sparse_is_an_error_not_a_panic() {
        let mut v = new_sparse();
        v.truncate(HDR + 1); // an XZERO cut in half
        assert_eq!(count(&v), Err(Corrupt));
        let mut w = new_sparse();
        w.extend_from_slice(&[0xff; 40]); // VAL runs past the last register
        assert_eq!(count(&w), Err(Corrupt));
        assert!(to_dense(&mut w.clone()).is_err());
        assert!(registers(&w).is_err());
        for i in 0..64u8 {
            let _ = add(&mut w, &[i], 3000);
        }
        let mut empty_ops = new_sparse();
        empty_ops.truncate(HDR);
        assert_eq!(add(&mut empty_ops, b"x", 3000), Err(Corrupt));
    }

    #[test]
    fn dense_registers_round_trip() {
        let mut vals = [0u8; REGISTERS];
        for (i, v) in vals.iter_mut().enumerate() {
            *v = (i * 7 % 64) as u8;
        }
        assert_eq!(dense_roundtrip(&vals), Ok(()));
    }
}
