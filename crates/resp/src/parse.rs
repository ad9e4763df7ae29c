//! Request parsing, following Redis 7.0's `processMultibulkBuffer` / `processInlineBuffer`.
//!
//! "Incomplete" is a normal state (`Ok(None)`), not an error: the caller keeps the bytes and
//! reads more. Errors carry Redis's exact text (without the leading `-ERR `); the server replies
//! with it and closes the connection, as Redis does.
//!
//! ```text
//! multibulk:  *<count>\r\n  then count times  $<len>\r\n<len bytes>\r\n
//! inline:     words separated by spaces, "double" or 'single' quoted, ending in \n or \r\n
//! ```

pub use crate::splitargs::split_args;

/// Inline requests and the count lines of multibulk requests may not grow past this without a
/// newline (Redis's PROTO_INLINE_MAX_SIZE).
pub const PROTO_INLINE_MAX_SIZE: usize = 64 * 1024;

/// Limits in force for one client.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// proto-max-bulk-len
    pub max_bulk_len: i64,
    /// An unauthenticated client may send at most 10 arguments of at most 16 KiB each.
    pub unauthenticated: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            unauthenticated: false,
        }
    }
}

/// A parsed request: the arguments and how many bytes of the buffer they used.
/// An empty `args` means a request with no arguments (an empty line or `*0`), which Redis ignores.
#[derive(Debug, PartialEq, Eq)]
pub struct Parsed {
    pub args: Vec<Vec<u8>>,
    pub consumed: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

fn proto_err(msg: &str) -> ParseError {
    ParseError(format!("Protocol error: {msg}"))
}

/// Parses one request from the front of `buf`.
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Option<Parsed>, ParseError> {
    match buf.first() {
        None => Ok(None),
        Some(b'*') => parse_multibulk(buf, limits),
        Some(_) => parse_inline(buf),
    }
}

/// Parses a decimal integer the way Redis's string2ll does: optional '-', no '+', no spaces,
/// no leading zeros (except "0" itself), and it must fit an i64.
pub fn string2ll(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = if s[0] == b'-' {
        (true, &s[1..])
    } else {
        (false, s)
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

/// Finds the '\r' ending a count line starting at `from`; `None` while the line is incomplete.
fn count_line_end(buf: &[u8], from: usize) -> Option<usize> {
    let cr = buf[from..].iter().position(|&b| b == b'\r')? + from;
    // Redis waits until the byte after '\r' has arrived as well.
    if cr + 1 >= buf.len() {
        return None;
    }
    Some(cr)
}

fn parse_multibulk(buf: &[u8], limits: &Limits) -> Result<Option<Parsed>, ParseError> {
    let Some(cr) = count_line_end(buf, 0) else {
        if buf.len() > PROTO_INLINE_MAX_SIZE {
            return Err(proto_err("too big mbulk count string"));
        }
        return Ok(None);
    };
    let count = match string2ll(&buf[1..cr]) {
        Some(n) if n <= i64::from(i32::MAX) => n,
        _ => return Err(proto_err("invalid multibulk length")),
    };
    if count > 10 && limits.unauthenticated {
        return Err(proto_err("unauthenticated multibulk length"));
    }
    let mut pos = cr + 2;
    if count <= 0 {
        return Ok(Some(Parsed {
            args: Vec::new(),
            consumed: pos,
        }));
    }
    // Never trust the count for the allocation: cap it by what could possibly be in the buffer.
    let count = count as usize;
    let mut args = Vec::with_capacity(count.min(1024));
    while args.len() < count {
        if pos >= buf.len() {
            return Ok(None);
        }
        let Some(cr) = count_line_end(buf, pos) else {
            if buf.len() - pos > PROTO_INLINE_MAX_SIZE {
                return Err(proto_err("too big bulk count string"));
            }
            return Ok(None);
        };
        if buf[pos] != b'$' {
            return Err(ParseError(format!(
                "Protocol error: expected '$', got '{}'",
                char::from(buf[pos])
            )));
        }
        let len = match string2ll(&buf[pos + 1..cr]) {
            Some(n) if n >= 0 && n <= limits.max_bulk_len => n,
            _ => return Err(proto_err("invalid bulk length")),
        };
        if len > 16384 && limits.unauthenticated {
            return Err(proto_err("unauthenticated bulk length"));
        }
        let len = len as usize;
        let start = cr + 2;
        // Redis does not check the CRLF after the payload; it skips two bytes.
        let Some(end) = start.checked_add(len).and_then(|e| e.checked_add(2)) else {
            return Err(proto_err("invalid bulk length"));
        };
        if end > buf.len() {
            return Ok(None);
        }
        args.push(buf[start..start + len].to_vec());
        pos = end;
    }
    Ok(Some(Parsed {
        args,
        consumed: pos,
    }))
}

fn parse_inline(buf: &[u8]) -> Result<Option<Parsed>, ParseError> {
    // Redis finds the newline with strchr, which stops at a NUL byte: a line with a NUL
    // before its newline is never complete (it waits until "too big inline request").
    let Some(nl) = buf
        .iter()
        .position(|&b| b == b'\n' || b == 0)
        .filter(|&i| buf[i] == b'\n')
    else {
        if buf.len() > PROTO_INLINE_MAX_SIZE {
            return Err(proto_err("too big inline request"));
        }
        return Ok(None);
    };
    let mut line = &buf[..nl];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    let args = split_args(line).ok_or_else(|| proto_err("unbalanced quotes in request"))?;
    Ok(Some(Parsed {
        args,
        consumed: nl + 1,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: &[u8]) -> Result<Option<Parsed>, ParseError> {
        parse_request(b, &Limits::default())
    }

    #[test]
    fn multibulk_complete_and_incomplete() {
        let req = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        let p = parse(req).unwrap().unwrap();
        assert_eq!(p.args, vec![b"GET".to_vec(), b"k".to_vec()]);
        assert_eq!(p.consumed, req.len());
        for cut in 0..req.len() {
            assert_eq!(parse(&req[..cut]).unwrap(), None, "cut at {cut}");
        }
    }

    #[test]
    fn inline_nul_before_newline_never_completes() {
        assert_eq!(parse(b"ECHO x\0y\r\nPING\r\n").unwrap(), None);
        let mut big = b"ECHO \0".to_vec();
        big.resize(PROTO_INLINE_MAX_SIZE + 1, b'a');
        big.extend_from_slice(b"\r\n");
        assert_eq!(
            parse(&big).unwrap_err().0,
            "Protocol error: too big inline request"
        );
    }

    #[test]
    fn multibulk_errors_match_redis() {
        assert_eq!(
            parse(b"*x\r\n").unwrap_err().0,
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(
            parse(b"*99999999999\r\n").unwrap_err().0,
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(
            parse(b"*1\r\n$-1\r\n").unwrap_err().0,
            "Protocol error: invalid bulk length"
        );
        assert_eq!(
            parse(b"*1\r\n+x\r\n").unwrap_err().0,
            "Protocol error: expected '$', got '+'"
        );
        let limits = Limits {
            max_bulk_len: 10,
            unauthenticated: false,
        };
        assert_eq!(
            parse_request(b"*1\r\n$11\r\n", &limits).unwrap_err().0,
            "Protocol error: invalid bulk length"
        );
        let unauth = Limits {
            unauthenticated: true,
            ..Limits::default()
        };
        assert_eq!(
            parse_request(b"*11\r\n", &unauth).unwrap_err().0,
            "Protocol error: unauthenticated multibulk length"
        );
        assert_eq!(
            parse_request(b"*1\r\n$16385\r\n", &unauth).unwrap_err().0,
            "Protocol error: unauthenticated bulk length"
        );
    }

    #[test]
    fn huge_count_does_not_allocate() {
        // A count of two billion must not reserve two billion slots.
        assert_eq!(parse(b"*2000000000\r\n$1\r\na\r\n").unwrap(), None);
    }

    #[test]
    fn inline_and_quotes() {
        let p = parse(b"set \"a b\" 'c\\'d' \"\\x41\\n\"\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            p.args,
            vec![
                b"set".to_vec(),
                b"a b".to_vec(),
                b"c'd".to_vec(),
                b"A\n".to_vec()
            ]
        );
        assert_eq!(
            parse(b"get \"a\r\n").unwrap_err().0,
            "Protocol error: unbalanced quotes in request"
        );
        assert_eq!(
            parse(b"get \"a\"b\r\n").unwrap_err().0,
            "Protocol error: unbalanced quotes in request"
        );
        assert_eq!(parse(b"\r\n").unwrap().unwrap().args.len(), 0);
        let long = vec![b'a'; PROTO_INLINE_MAX_SIZE + 1];
        assert_eq!(
            parse(&long).unwrap_err().0,
            "Protocol error: too big inline request"
        );
    }

    #[test]
    fn string2ll_rules() {
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(string2ll(b"9223372036854775808"), None);
        assert_eq!(string2ll(b"01"), None);
        assert_eq!(string2ll(b"+1"), None);
        assert_eq!(string2ll(b"-0"), None);
        assert_eq!(string2ll(b" 1"), None);
    }
}

/// A deterministic stand-in for the cargo-fuzz target (fuzz/fuzz_targets/resp_parse.rs) that
/// runs with the unit tests: mutated requests must never panic or over-consume.
#[cfg(test)]
mod mutation_tests {
    use super::*;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn mutated_requests_never_panic() {
        let seeds: [&[u8]; 5] = [
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n",
            b"PING \"a\\x41\" 'b'\r\n",
            b"*1\r\n$-1\r\n",
            b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n",
            b"*10\r\n$3\r\nGET\r\n",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let bytes = b"*$\r\n-0123456789 \"'\\xabc";
        for round in 0..200_000 {
            let mut buf = seeds[round % seeds.len()].to_vec();
            for _ in 0..=rng.below(4) {
                let i = rng.below(buf.len() + 1);
                match rng.below(3) {
                    0 if i < buf.len() => buf[i] = bytes[rng.below(bytes.len())],
                    1 => buf.insert(i, bytes[rng.below(bytes.len())]),
                    _ if i < buf.len() => {
                        buf.remove(i);
                    }
                    _ => {}
                }
            }
            for unauthenticated in [false, true] {
                let limits = Limits {
                    max_bulk_len: 1 << 20,
                    unauthenticated,
                };
                let mut pos = 0;
                while pos < buf.len() {
                    match parse_request(&buf[pos..], &limits) {
                        Ok(Some(p)) => {
                            assert!(p.consumed > 0 && p.consumed <= buf.len() - pos);
                            pos += p.consumed;
                        }
                        Ok(None) | Err(_) => break,
                    }
                }
            }
        }
    }
}
