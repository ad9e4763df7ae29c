//! Redis's `long double` arithmetic for INCRBYFLOAT and HINCRBYFLOAT.
//!
//! Redis computes these increments in C `long double`, which on x86-64 is the x87 80-bit
//! extended format (64-bit significand with an explicit integer bit, 15-bit exponent). It parses
//! with `strtold` (string2ld), adds, and prints with `"%.17Lf"` before stripping trailing zeros
//! (ld2string in LD_STR_HUMAN mode). An `f64` implementation gives different digits
//! (`0 + 0.1` prints "0.10000000000000001" in f64 but "0.1" here), so this module reproduces
//! the format exactly: parsing and addition are IEEE operations on the 80-bit format
//! (rustc_apfloat, correctly rounded like glibc), and the printing is done exactly with
//! integer arithmetic.

use rustc_apfloat::ieee::X87DoubleExtended;
use rustc_apfloat::{Float, FloatConvert, Round};

use crate::cmd::Error;

/// A C `long double` (x87 extended precision).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LongDouble(X87DoubleExtended);

/// Redis's MAX_LONG_DOUBLE_CHARS: string2ld refuses inputs of this length or more.
const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// Checks the whole of `s` is one number in strtold's grammar (C locale), returning whether it
/// is hexadecimal. Infinity and NaN spellings are handled by the caller.
///
/// ```text
/// decimal: [+-] (D+ [. D*] | . D+) [(e|E) [+-] D+]
/// hex:     [+-] 0(x|X) (H+ [. H*] | . H+) [(p|P) [+-] D+]
/// ```
fn well_formed(body: &[u8]) -> Option<bool> {
    let (hex, mant) = match body {
        [b'0', b'x' | b'X', rest @ ..] => (true, rest),
        _ => (false, body),
    };
    let is_digit = |c: u8| {
        if hex {
            c.is_ascii_hexdigit()
        } else {
            c.is_ascii_digit()
        }
    };
    let mut i = 0;
    let int_digits = mant.iter().take_while(|c| is_digit(**c)).count();
    i += int_digits;
    let mut frac_digits = 0;
    if mant.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = mant[i..].iter().take_while(|c| is_digit(**c)).count();
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if i == mant.len() {
        return Some(hex);
    }
    let exp_mark = if hex { b'p' } else { b'e' };
    if mant[i].to_ascii_lowercase() != exp_mark {
        return None;
    }
    i += 1;
    if matches!(mant.get(i), Some(b'+' | b'-')) {
        i += 1;
    }
    let exp_digits = mant[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if exp_digits == 0 || i + exp_digits != mant.len() {
        return None;
    }
    Some(hex)
}

impl LongDouble {
    pub(crate) const ZERO: LongDouble = LongDouble(X87DoubleExtended::ZERO);

    /// Parses as Redis's string2ld: the whole string must be a number for strtold, no leading
    /// space, not NaN, no overflow to infinity and no underflow to zero (a literal "inf" is
    /// accepted; a result that is subnormal but not zero is too).
    pub(crate) fn parse(s: &[u8]) -> Option<LongDouble> {
        if s.is_empty() || s.len() >= MAX_LONG_DOUBLE_CHARS {
            return None;
        }
        let (neg, body) = match s[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let lower = body.to_ascii_lowercase();
        if lower == b"inf" || lower == b"infinity" {
            let inf = X87DoubleExtended::INFINITY;
            return Some(LongDouble(if neg { -inf } else { inf }));
        }
        let hex = well_formed(body)?;
        // Only ASCII digits, signs, dots and letters remain: valid UTF-8.
        let text = std::str::from_utf8(body).ok()?;
        let parsed = if hex {
            // apfloat wants the binary exponent spelled out.
            let mut t = text.to_string();
            if !t.bytes().any(|c| c == b'p' || c == b'P') {
                t.push_str("p0");
            }
            X87DoubleExtended::from_str_r(&t, Round::NearestTiesToEven)
        } else {
            X87DoubleExtended::from_str_r(text, Round::NearestTiesToEven)
        }
        .ok()?
        .value;
        if parsed.is_infinite() || parsed.is_nan() {
            // Overflow: strtold answers HUGE_VALL with ERANGE.
            return None;
        }
        if parsed.is_zero() {
            // Underflow to zero (ERANGE) is refused; a written zero is fine.
            let mant_end = body
                .iter()
                .position(|c| {
                    if hex {
                        matches!(c, b'p' | b'P')
                    } else {
                        matches!(c, b'e' | b'E')
                    }
                })
                .unwrap_or(body.len());
            let digits = if hex {
                &body[2..mant_end]
            } else {
                &body[..mant_end]
            };
            if digits.iter().any(|c| c.is_ascii_hexdigit() && *c != b'0') {
                return None;
            }
        }
        Some(LongDouble(if neg { -parsed } else { parsed }))
    }

    /// The exact value of a 64-bit integer (a long double holds every i64).
    pub(crate) fn from_i64(n: i64) -> LongDouble {
        LongDouble(X87DoubleExtended::from_i128(i128::from(n)).value)
    }

    /// The exact value of a double (a long double holds every double), as C's conversion.
    pub(crate) fn from_f64(d: f64) -> LongDouble {
        let mut loses_info = false;
        let v: X87DoubleExtended = rustc_apfloat::ieee::Double::from_bits(u128::from(d.to_bits()))
            .convert(&mut loses_info)
            .value;
        LongDouble(v)
    }

    /// IEEE addition rounded to nearest, ties to even, as the x87 unit does in extended mode.
    pub(crate) fn plus(self, other: LongDouble) -> LongDouble {
        LongDouble((self.0 + other.0).value)
    }

    pub(crate) fn is_finite(self) -> bool {
        !self.0.is_infinite() && !self.0.is_nan()
    }

    /// Sign, significand (integer bit included) and binary exponent: value = sig * 2^exp.
    fn parts(self) -> (bool, u64, i32) {
        let bits = self.0.to_bits();
        let neg = (bits >> 79) & 1 == 1;
        let biased = ((bits >> 64) & 0x7fff) as i32;
        let sig = bits as u64;
        // Subnormals use the smallest normal exponent with a zero integer bit.
        let exp = biased.max(1) - 16383 - 63;
        (neg, sig, exp)
    }

    /// Formats as `"%.17Lf"` with trailing zeros (and a trailing dot) removed, "-0" made "0":
    /// Redis's ld2string in LD_STR_HUMAN mode. Only for finite values.
    pub(crate) fn format_human(self) -> Vec<u8> {
        const SCALE: u128 = 100_000_000_000_000_000; // 10^17
        let (neg, sig, exp) = self.parts();
        let mut int_digits: Vec<u8>;
        let frac: u128;
        if exp >= 0 {
            // An integer: sig << exp in decimal, no fraction.
            int_digits = big_shl_decimal(sig, exp as u32);
            frac = 0;
        } else {
            // round_half_even(sig * 10^17 / 2^-exp); sig * 10^17 < 2^121 fits in u128.
            let n = u128::from(sig) * SCALE;
            let shift = exp.unsigned_abs();
            let q = if shift >= 128 {
                // Below 2^-7 of a unit in the 17th decimal: rounds to zero.
                0
            } else {
                let q = n >> shift;
                let rem = n & ((1u128 << shift) - 1);
                let half = 1u128 << (shift - 1);
                if rem > half || (rem == half && q & 1 == 1) {
                    q + 1
                } else {
                    q
                }
            };
            int_digits = (q / SCALE).to_string().into_bytes();
            frac = q % SCALE;
        }
        let mut out = Vec::with_capacity(int_digits.len() + 20);
        if neg {
            out.push(b'-');
        }
        out.append(&mut int_digits);
        if frac != 0 {
            let f = format!("{frac:017}");
            out.push(b'.');
            out.extend_from_slice(f.trim_end_matches('0').as_bytes());
        }
        if out == b"-0" {
            out = b"0".to_vec();
        }
        out
    }
}

/// `sig << shift` written in decimal (shift up to 16383, so up to ~4950 digits).
fn big_shl_decimal(sig: u64, shift: u32) -> Vec<u8> {
    // Little-endian base-2^32 limbs.
    let limb_shift = (shift / 32) as usize;
    let bit_shift = shift % 32;
    let mut limbs = vec![0u32; limb_shift];
    let wide = u128::from(sig) << bit_shift;
    for i in 0..3 {
        limbs.push((wide >> (32 * i)) as u32);
    }
    while limbs.last() == Some(&0) {
        limbs.pop();
    }
    // Repeated division by 10^9, collecting base-10^9 chunks from the least significant.
    let mut chunks = Vec::new();
    while !limbs.is_empty() {
        let mut rem: u64 = 0;
        for limb in limbs.iter_mut().rev() {
            let cur = (rem << 32) | u64::from(*limb);
            *limb = (cur / 1_000_000_000) as u32;
            rem = cur % 1_000_000_000;
        }
        chunks.push(rem as u32);
        while limbs.last() == Some(&0) {
            limbs.pop();
        }
    }
    let mut s = String::new();
    match chunks.pop() {
        None => s.push('0'),
        Some(top) => s.push_str(&top.to_string()),
    }
    for c in chunks.iter().rev() {
        s.push_str(&format!("{c:09}"));
    }
    s.into_bytes()
}

/// The current value of a string for INCRBYFLOAT: an int-encoded value converts exactly,
/// other strings go through string2ld.
pub(crate) enum Current<'a> {
    Missing,
    Int(i64),
    Bytes(&'a [u8]),
}

/// INCRBYFLOAT's computation: the new value's text, or Redis's error.
pub(crate) fn incr_by_float(current: Current<'_>, incr: &[u8]) -> Result<Vec<u8>, Error> {
    let value = match current {
        Current::Missing => LongDouble::ZERO,
        Current::Int(n) => LongDouble::from_i64(n),
        Current::Bytes(b) => LongDouble::parse(b).ok_or_else(Error::not_float)?,
    };
    let incr = LongDouble::parse(incr).ok_or_else(Error::not_float)?;
    let sum = value.plus(incr);
    if !sum.is_finite() {
        return Err(Error::new("ERR increment would produce NaN or Infinity"));
    }
    Ok(sum.format_human())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The new value's text, or the error's text.
    fn incr(cur: &str, by: &str) -> String {
        match incr_by_float(Current::Bytes(cur.as_bytes()), by.as_bytes()) {
            Ok(v) => String::from_utf8_lossy(&v).into_owned(),
            Err(e) => e.0.into_owned(),
        }
    }

    #[test]
    fn human_format_matches_redis() {
        assert_eq!(incr("0", "0.1"), "0.1");
        assert_eq!(incr("10.5", "0.1"), "10.6");
        assert_eq!(incr("5.0e3", "2.0e2"), "5200");
        assert_eq!(incr("-1", "0.5"), "-0.5");
        assert_eq!(incr("1", "-1"), "0");
        assert_eq!(incr("0", "-0"), "0");
        assert_eq!(incr("0", "-1e-30"), "0");
        assert_eq!(incr("0", "1e-17"), "0.00000000000000001");
        assert_eq!(incr("0", "0x10"), "16");
        assert_eq!(incr("0", "1e20"), "100000000000000000000");
        assert_eq!(incr("0", "1.5e30"), "1500000000000000000002684354560");
    }

    #[test]
    fn parse_follows_string2ld() {
        for bad in [
            "", " 1", "1 ", "abc", "1e", "1e+", "0x", "0x1p", "nan", "-nan", "1e99999", "1e-99999",
            ".", "e5", "1.2.3", "0x.p1",
        ] {
            assert!(LongDouble::parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
        for good in [
            "1",
            "+1",
            "-1.",
            ".5",
            "1E5",
            "inf",
            "-Infinity",
            "0x1.8p1",
            "0e99999",
            "1e-4940",
        ] {
            assert!(LongDouble::parse(good.as_bytes()).is_some(), "{good:?}");
        }
        assert_eq!(
            incr("inf", "1"),
            "ERR increment would produce NaN or Infinity"
        );
        assert_eq!(incr("1", "abc"), "ERR value is not a valid float");
        assert_eq!(incr("abc", "1"), "ERR value is not a valid float");
        assert_eq!(incr("1e4932", "0").len(), 4933);
    }
}
