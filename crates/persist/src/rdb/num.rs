//! Numbers as Redis writes them as text: `d2string` of Redis 7.0.15 (zset scores in listpacks)
//! and the parsers for scores stored as text.

pub use amber_store::value::parse_i64;

/// Formats a double as Redis 7.0.15's d2string does: "nan", "inf"/"-inf", integers in
/// (-(2^52-1), 2^52) without a fraction (so -0 becomes "0"), anything else as printf's
/// `%.17g`.
pub fn d2string(v: f64, out: &mut Vec<u8>) {
    if v.is_nan() {
        out.extend_from_slice(b"nan");
    } else if v.is_infinite() {
        out.extend_from_slice(if v < 0.0 { b"-inf" } else { b"inf" });
    } else if v > -4_503_599_627_370_495.0 && v < 4_503_599_627_370_496.0 && v == (v as i64) as f64
    {
        out.extend_from_slice((v as i64).to_string().as_bytes());
    } else {
        fmt_g17(v, out);
    }
}

/// printf("%.17g") for a finite double.
pub fn fmt_g17(v: f64, out: &mut Vec<u8>) {
    const P: i32 = 17;
    // Rust's exponent formatting is exact-rounded like glibc's printf: 17 significant digits.
    let s = format!("{:.16e}", v);
    let (mant, exp) = match s.split_once('e') {
        Some(p) => p,
        None => {
            out.extend_from_slice(s.as_bytes());
            return;
        }
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mant) = match mant.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mant),
    };
    let digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    if neg {
        out.push(b'-');
    }
    if !(-4..P).contains(&exp) {
        out.push(digits[0]);
        let mut frac = &digits[1..];
        while let [rest @ .., b'0'] = frac {
            frac = rest;
        }
        if !frac.is_empty() {
            out.push(b'.');
            out.extend_from_slice(frac);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push(b'0');
        }
        out.extend_from_slice(e.to_string().as_bytes());
    } else {
        let (int_part, frac): (Vec<u8>, Vec<u8>) = if exp >= 0 {
            let k = (exp + 1) as usize;
            (digits[..k].to_vec(), digits[k..].to_vec())
        } else {
            let mut f = vec![b'0'; (-exp - 1) as usize];
            f.extend_from_slice(&digits);
            (b"0".to_vec(), f)
        };
        out.extend_from_slice(&int_part);
        let mut frac = &frac[..];
        while let [rest @ .., b'0'] = frac {
            frac = rest;
        }
        if !frac.is_empty() {
            out.push(b'.');
            out.extend_from_slice(frac);
        }
    }
}

/// Parses a score stored as text (listpack/ziplist zsets, the old ZSET type) as strtod would
/// for the strings Redis writes; `None` for anything else.
pub fn parse_score(s: &[u8]) -> Option<f64> {
    let t = std::str::from_utf8(s).ok()?;
    if t.is_empty() || t.len() > 127 {
        return None;
    }
    t.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(v: f64) -> String {
        let mut o = Vec::new();
        d2string(v, &mut o);
        String::from_utf8(o).unwrap_or_default()
    }

    #[test]
    fn formats_as_redis_7_0() {
        assert_eq!(d(0.0), "0");
        assert_eq!(d(-0.0), "0");
        assert_eq!(d(3.0), "3");
        assert_eq!(d(-12.0), "-12");
        assert_eq!(d(0.5), "0.5");
        assert_eq!(d(1.1), "1.1000000000000001");
        assert_eq!(d(1e300), "1.0000000000000001e+300");
        assert_eq!(d(1e-5), "1.0000000000000001e-05");
        assert_eq!(d(0.0001), "0.0001");
        assert_eq!(d(123456.789), "123456.789");
        assert_eq!(d(4503599627370496.0), "4503599627370496");
        assert_eq!(d(1e17), "1e+17");
        assert_eq!(d(f64::INFINITY), "inf");
        assert_eq!(d(f64::NEG_INFINITY), "-inf");
        assert_eq!(d(f64::NAN), "nan");
        assert_eq!(d(-2.5e-7), "-2.4999999999999999e-07");
        assert_eq!(parse_score(b"1.1000000000000001"), Some(1.1));
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"x"), None);
    }
}
