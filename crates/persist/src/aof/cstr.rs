//! The few C library behaviours Redis's AOF code depends on, reproduced exactly: strings end
//! at the first NUL (`strcmp`, `strchr`, `sdsnew`), `isspace`, and `strtol`'s parse (leading
//! white space, a sign, decimal digits, saturation with ERANGE, and the end pointer left at
//! the start when there are no digits).

/// The bytes up to the first NUL, as a C function sees a buffer.
pub(crate) fn cstr(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// C `isspace` in the C locale.
pub(crate) fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What `strtol(s, &end, 10)` computes on a 64-bit `long`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StrtolResult {
    pub value: i64,
    /// Index of the first byte not parsed; 0 when no digit was found.
    pub end: usize,
    /// errno would be ERANGE (the value saturated).
    pub overflow: bool,
}

pub(crate) fn strtol(s: &[u8]) -> StrtolResult {
    let s = cstr(s);
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let digits_start = i;
    // Accumulate as a negative number so that i64::MIN fits.
    let mut acc: i64 = 0;
    let mut overflow = false;
    while i < s.len() && s[i].is_ascii_digit() {
        let d = i64::from(s[i] - b'0');
        if !overflow {
            match acc.checked_mul(10).and_then(|v| v.checked_sub(d)) {
                Some(v) => acc = v,
                None => overflow = true,
            }
        }
        i += 1;
    }
    if i == digits_start {
        return StrtolResult {
            value: 0,
            end: 0,
            overflow: false,
        };
    }
    let value = if overflow {
        if neg {
            i64::MIN
        } else {
            i64::MAX
        }
    } else if neg {
        acc
    } else {
        match acc.checked_neg() {
            Some(v) => v,
            None => {
                overflow = true;
                i64::MAX
            }
        }
    };
    StrtolResult {
        value,
        end: i,
        overflow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtol_like_libc() {
        assert_eq!(strtol(b"12\r\n").value, 12);
        assert_eq!(strtol(b"12\r\n").end, 2);
        assert_eq!(strtol(b"  -7x").value, -7);
        assert_eq!(strtol(b"  -7x").end, 4);
        assert_eq!(strtol(b"+3").value, 3);
        let r = strtol(b"\r\n");
        assert_eq!((r.value, r.end), (0, 0));
        let r = strtol(b"-");
        assert_eq!((r.value, r.end), (0, 0));
        let r = strtol(b"99999999999999999999\r\n");
        assert_eq!((r.value, r.end, r.overflow), (i64::MAX, 20, true));
        let r = strtol(b"-9223372036854775808");
        assert_eq!((r.value, r.overflow), (i64::MIN, false));
        let r = strtol(b"9223372036854775808");
        assert_eq!((r.value, r.overflow), (i64::MAX, true));
        assert_eq!(strtol(b"5\x009").value, 5);
        assert_eq!(cstr(b"ab\0cd"), b"ab");
    }
}
