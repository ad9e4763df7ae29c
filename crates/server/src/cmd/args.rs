//! Argument parsing shared by the command families, with Redis's error texts.

use super::Error;

/// An integer argument (getLongLongFromObjectOrReply).
pub(crate) fn int(arg: &[u8]) -> Result<i64, Error> {
    amber_store::value::parse_i64(arg).ok_or_else(Error::not_int)
}

/// A 32-bit integer argument (getIntFromObjectOrReply).
pub(crate) fn int32(arg: &[u8]) -> Result<i32, Error> {
    let v = int(arg)?;
    i32::try_from(v).map_err(|_| {
        Error::new("ERR value is out of range, value must between -2147483648 and 2147483647")
    })
}

/// An integer argument with a custom error message (the "ERR " prefix is added).
pub(crate) fn int_msg(arg: &[u8], msg: &'static str) -> Result<i64, Error> {
    amber_store::value::parse_i64(arg).ok_or_else(|| Error::new(format!("ERR {msg}")))
}

/// A non-negative integer (getPositiveLongFromObjectOrReply with Redis's message).
/// Not a number and negative get the same message, as in Redis.
pub(crate) fn positive(arg: &[u8]) -> Result<i64, Error> {
    match amber_store::value::parse_i64(arg) {
        Some(v) if v >= 0 => Ok(v),
        _ => Err(Error::new("ERR value is out of range, must be positive")),
    }
}

/// Parses a double as C's strtod would for Redis's string2d: the whole argument must be a
/// number, no leading space, no NaN, no overflow to infinity (a literal "inf" is fine).
pub(crate) fn parse_f64(arg: &[u8]) -> Option<f64> {
    if arg.is_empty() || arg[0].is_ascii_whitespace() || arg.len() > 5000 {
        return None;
    }
    let s = std::str::from_utf8(arg).ok()?;
    let lower = s.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if body.starts_with("0x") {
        return parse_hex_float(&lower);
    }
    if matches!(body, "inf" | "infinity") {
        return Some(if lower.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    // Rust accepts forms strtod does not ("nan", "infinity" spelled oddly); both are
    // excluded above, so what remains is the decimal grammar both share.
    if !body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-'))
    {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    if v.is_infinite() {
        return None;
    }
    if v == 0.0
        && body
            .bytes()
            .take_while(|b| *b != b'e')
            .any(|b| (b'1'..=b'9').contains(&b))
    {
        // Underflow: strtod reports ERANGE and Redis refuses the value.
        return None;
    }
    Some(v)
}

fn parse_hex_float(s: &str) -> Option<f64> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let rest = rest.strip_prefix("0x")?;
    let (mant, exp) = match rest.split_once('p') {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (rest, 0),
    };
    let (int_part, frac_part) = mant.split_once('.').unwrap_or((mant, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int_part.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac_part.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    let v = v * 2f64.powi(exp);
    if v.is_infinite() {
        return None;
    }
    Some(if neg { -v } else { v })
}

/// A float argument (getDoubleFromObjectOrReply).
pub(crate) fn float(arg: &[u8]) -> Result<f64, Error> {
    parse_f64(arg).ok_or_else(Error::not_float)
}

/// Case-insensitive comparison of an argument with an option name.
pub(crate) fn is(arg: &[u8], name: &str) -> bool {
    arg.eq_ignore_ascii_case(name.as_bytes())
}

/// A blocking command's timeout in seconds (may be fractional), as ms from now: 0 means
/// forever. Redis 7.0.15's getTimeoutFromObjectOrReply parses a long double and takes
/// `(long long) ceill(secs * 1000)`: a tiny positive timeout is 1 ms, a tiny negative one is 0
/// (forever), and infinities or values beyond the range of a long long convert to LLONG_MIN on
/// x86, hence "timeout is negative".
pub(crate) fn timeout_secs(arg: &[u8]) -> Result<i64, Error> {
    let v = parse_f64(arg)
        .or_else(|| long_double_only(arg))
        .ok_or_else(|| Error::new("ERR timeout is not a float or out of range"))?;
    let ms = (v * 1000.0).ceil();
    // 2^63: the first value a long long cannot hold.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    let ms = if ms.is_finite() && (-LIMIT..LIMIT).contains(&ms) {
        ms as i64
    } else {
        i64::MIN
    };
    if ms < 0 {
        return Err(Error::new("ERR timeout is negative"));
    }
    Ok(ms)
}

/// A decimal number outside the range of a double but inside that of an x86 long double
/// (about 1e-4951 to 1.19e4932), which strtold accepts: returned as an infinity or as the
/// smallest double of the same sign.
fn long_double_only(arg: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(arg).ok()?;
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (mant, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], body[i + 1..].parse::<i64>().ok()?),
        None => (body, 0),
    };
    let (int_part, frac_part) = mant.split_once('.').unwrap_or((mant, ""));
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // Decimal exponent of the first significant digit.
    let magnitude = match int_part.trim_start_matches('0') {
        t if !t.is_empty() => exp.checked_add(t.len() as i64 - 1)?,
        _ => {
            let zeros = frac_part.bytes().take_while(|b| *b == b'0').count();
            if zeros == frac_part.len() {
                return None;
            }
            exp.checked_sub(zeros as i64 + 1)?
        }
    };
    let v = if magnitude > 300 && magnitude <= 4932 {
        f64::INFINITY
    } else if (-4951..-300).contains(&magnitude) {
        f64::MIN_POSITIVE
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_strtod() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b".5"), Some(0.5));
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        assert_eq!(parse_f64(b"0x10"), Some(16.0));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"1 "), None);
        assert_eq!(parse_f64(b"1e400"), None);
        assert_eq!(parse_f64(b"1e-400"), None);
        assert_eq!(parse_f64(b"abc"), None);
        assert_eq!(parse_f64(b""), None);
    }

    #[test]
    fn timeouts_like_redis_7_0() {
        assert_eq!(timeout_secs(b"0"), Ok(0));
        assert_eq!(timeout_secs(b"1.5"), Ok(1500));
        assert_eq!(timeout_secs(b"0.0001"), Ok(1));
        assert_eq!(timeout_secs(b"1e-400"), Ok(1));
        assert_eq!(timeout_secs(b"-0.0001"), Ok(0));
        assert_eq!(timeout_secs(b"9e15"), Ok(9_000_000_000_000_000_000));
        let neg = Err(Error::new("ERR timeout is negative"));
        let bad = Err(Error::new("ERR timeout is not a float or out of range"));
        for v in ["-1", "inf", "-inf", "1e20", "9.3e15", "1e400", "-1e400"] {
            assert_eq!(timeout_secs(v.as_bytes()), neg, "{v}");
        }
        for v in ["nan", "x", " 1", "1e5000", "1e-5000", ""] {
            assert_eq!(timeout_secs(v.as_bytes()), bad, "{v}");
        }
    }
}
