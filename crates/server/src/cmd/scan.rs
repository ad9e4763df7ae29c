//! The options shared by SCAN, HSCAN, SSCAN and ZSCAN: cursor, MATCH, COUNT (and TYPE for SCAN).

use super::args::is;
use super::Error;

pub(crate) struct ScanOpts {
    pub(crate) cursor: u64,
    pub(crate) pattern: Option<Vec<u8>>,
    pub(crate) count: usize,
    /// SCAN's TYPE filter, lowercase.
    pub(crate) type_name: Option<String>,
}

/// Parses `cursor [MATCH pattern] [COUNT count] [TYPE type]` starting at `args[cursor_at]`.
/// TYPE is accepted only when `allow_type` (plain SCAN).
pub(crate) fn parse(
    args: &[Vec<u8>],
    cursor_at: usize,
    allow_type: bool,
) -> Result<ScanOpts, Error> {
    let cursor = parse_cursor(&args[cursor_at])?;
    let mut opts = ScanOpts {
        cursor,
        pattern: None,
        count: 10,
        type_name: None,
    };
    let mut i = cursor_at + 1;
    while i < args.len() {
        let more = i + 1 < args.len();
        if is(&args[i], "COUNT") && more {
            let n = super::args::int(&args[i + 1])?;
            if n < 1 {
                return Err(Error::syntax());
            }
            opts.count = n as usize;
        } else if is(&args[i], "MATCH") && more {
            let p = &args[i + 1];
            // "*" matches everything: skip the matching work, as Redis does.
            opts.pattern = if p.as_slice() == b"*" {
                None
            } else {
                Some(p.clone())
            };
        } else if allow_type && is(&args[i], "TYPE") && more {
            opts.type_name = Some(String::from_utf8_lossy(&args[i + 1]).to_ascii_lowercase());
        } else {
            return Err(Error::syntax());
        }
        i += 2;
    }
    Ok(opts)
}

/// A cursor is read as C's strtoul does in Redis's parseScanCursorOrReply: an optional sign
/// ("-1" wraps around to 2^64-1), decimal digits, nothing after them, no leading space, no
/// overflow. An empty argument is cursor 0.
pub(crate) fn parse_cursor(arg: &[u8]) -> Result<u64, Error> {
    let invalid = || Error::new("ERR invalid cursor");
    let (neg, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if !digits.iter().all(u8::is_ascii_digit) || (digits.is_empty() && !arg.is_empty()) {
        return Err(invalid());
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or_else(invalid)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

impl ScanOpts {
    pub(crate) fn matches(&self, s: &[u8]) -> bool {
        match &self.pattern {
            None => true,
            Some(p) => crate::cmd::glob::matches(p, s, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_cursor;

    #[test]
    fn cursors_like_strtoul() {
        assert_eq!(parse_cursor(b"0").unwrap(), 0);
        assert_eq!(parse_cursor(b"").unwrap(), 0);
        assert_eq!(parse_cursor(b"-1").unwrap(), u64::MAX);
        assert_eq!(parse_cursor(b"+7").unwrap(), 7);
        assert_eq!(parse_cursor(b"18446744073709551615").unwrap(), u64::MAX);
        assert!(parse_cursor(b"18446744073709551616").is_err());
        assert!(parse_cursor(b" 1").is_err());
        assert!(parse_cursor(b"1x").is_err());
        assert!(parse_cursor(b"-").is_err());
    }
}
