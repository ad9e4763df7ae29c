//! The reply encoder. Commands write straight into a client's output buffer; the protocol
//! version (RESP2 or RESP3) decides how maps, sets, nulls, doubles and pushes look on the wire.

use std::io::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Resp2,
    Resp3,
}

/// An output buffer that knows the client's protocol.
#[derive(Debug)]
pub struct ReplyBuf {
    pub buf: Vec<u8>,
    pub proto: Proto,
}

/// A placeholder for a collection length written once the elements are known.
#[derive(Debug, Clone, Copy)]
pub struct Deferred {
    pos: usize,
    kind: u8,
}

impl ReplyBuf {
    pub fn new(proto: Proto) -> Self {
        ReplyBuf {
            buf: Vec::with_capacity(256),
            proto,
        }
    }

    pub fn resp3(&self) -> bool {
        self.proto == Proto::Resp3
    }

    fn header(&mut self, kind: u8, n: i64) {
        self.buf.push(kind);
        let mut b = itoa_buf();
        self.buf.extend_from_slice(fmt_i64(&mut b, n));
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `+OK`-style status reply.
    pub fn simple(&mut self, s: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// An error reply. `msg` carries its code ("ERR ...", "WRONGTYPE ..."); newlines are
    /// replaced by spaces as Redis does, so a reply can never break the protocol.
    pub fn error(&mut self, msg: &str) {
        self.error_bytes(msg.as_bytes());
    }

    /// [`Self::error`] for a text that need not be UTF-8 (a script's `redis.error_reply`
    /// passes its bytes through as Redis does).
    pub fn error_bytes(&mut self, msg: &[u8]) {
        self.buf.push(b'-');
        for &b in msg {
            self.buf
                .push(if b == b'\r' || b == b'\n' { b' ' } else { b });
        }
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    pub fn bulk(&mut self, s: &[u8]) {
        self.header(b'$', s.len() as i64);
        self.buf.extend_from_slice(s);
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn bulk_i64(&mut self, n: i64) {
        let mut b = itoa_buf();
        let s = fmt_i64(&mut b, n);
        let len = s.len();
        self.header(b'$', len as i64);
        self.buf.extend_from_slice(&b[b.len() - len..]);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// The null bulk string (`$-1` / `_`).
    pub fn null(&mut self) {
        if self.resp3() {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// The null array (`*-1` / `_`).
    pub fn null_array(&mut self) {
        if self.resp3() {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    pub fn array(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    /// A map of `n` pairs: `%n` in RESP3, a flat array of 2n in RESP2.
    pub fn map(&mut self, n: usize) {
        if self.resp3() {
            self.header(b'%', n as i64);
        } else {
            self.header(b'*', 2 * n as i64);
        }
    }

    /// A set: `~n` in RESP3, an array in RESP2.
    pub fn set(&mut self, n: usize) {
        if self.resp3() {
            self.header(b'~', n as i64);
        } else {
            self.header(b'*', n as i64);
        }
    }

    /// An out-of-band push (`>n` in RESP3, an array in RESP2).
    pub fn push(&mut self, n: usize) {
        if self.resp3() {
            self.header(b'>', n as i64);
        } else {
            self.header(b'*', n as i64);
        }
    }

    /// A double: a `,` double in RESP3, a bulk string in RESP2, formatted as `%.17g`.
    pub fn double(&mut self, d: f64) {
        let s = format_double(d);
        if self.resp3() {
            self.buf.push(b',');
            self.buf.extend_from_slice(s.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s.as_bytes());
        }
    }

    pub fn boolean(&mut self, b: bool) {
        if self.resp3() {
            self.buf
                .extend_from_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(i64::from(b));
        }
    }

    /// A verbatim string (`=len\r\ntxt:...` in RESP3, a bulk string in RESP2).
    pub fn verbatim(&mut self, s: &[u8]) {
        if self.resp3() {
            self.header(b'=', s.len() as i64 + 4);
            self.buf.extend_from_slice(b"txt:");
            self.buf.extend_from_slice(s);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s);
        }
    }

    /// Starts an array whose length is not known yet.
    pub fn deferred_array(&mut self) -> Deferred {
        self.deferred(b'*')
    }

    /// Starts a map whose length is not known yet.
    pub fn deferred_map(&mut self) -> Deferred {
        let kind = if self.resp3() { b'%' } else { b'M' };
        self.deferred(kind)
    }

    /// Starts a set whose length is not known yet.
    pub fn deferred_set(&mut self) -> Deferred {
        let kind = if self.resp3() { b'~' } else { b'*' };
        self.deferred(kind)
    }

    fn deferred(&mut self, kind: u8) -> Deferred {
        Deferred {
            pos: self.buf.len(),
            kind,
        }
    }

    /// Writes the length of a deferred collection in front of its elements.
    pub fn set_deferred(&mut self, d: Deferred, n: usize) {
        let (kind, n) = match d.kind {
            b'M' => (b'*', 2 * n),
            k => (k, n),
        };
        let mut hdr = Vec::with_capacity(24);
        hdr.push(kind);
        let _ = write!(hdr, "{n}\r\n");
        self.buf.splice(d.pos..d.pos, hdr);
    }

    /// Appends bytes that are already RESP.
    pub fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

fn itoa_buf() -> [u8; 20] {
    [0u8; 20]
}

/// Writes the decimal digits of `v` at the end of `b` (20 bytes hold u64::MAX), returning
/// where they start.
pub(crate) fn put_u64(b: &mut [u8; 20], mut v: u64) -> usize {
    let mut i = b.len();
    loop {
        i -= 1;
        b[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return i;
        }
    }
}

/// Formats `n` into the end of `b`, returning the digits.
fn fmt_i64(b: &mut [u8; 20], n: i64) -> &[u8] {
    let neg = n < 0;
    let mut i = put_u64(b, n.unsigned_abs());
    if neg {
        // 20 digits hold u64::MAX; i64 needs at most 19 digits and a sign.
        i -= 1;
        b[i] = b'-';
    }
    &b[i..]
}

/// Formats a double as C's `printf("%.17g")`, which is what Redis 7.0 uses for scores.
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return if d.is_sign_negative() {
            "-nan".into()
        } else {
            "nan".into()
        };
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    format_g(d, 17)
}

/// C's `%.<prec>g`: scientific when the exponent is < -4 or >= prec, fixed otherwise;
/// trailing zeros removed in both.
pub fn format_g(d: f64, prec: usize) -> String {
    let prec = prec.max(1);
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{:.*e}", prec - 1, d);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, d)).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g17_matches_printf() {
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(100.0), "100");
        assert_eq!(format_double(1e17), "1e+17");
        assert_eq!(format_double(1e16), "10000000000000000");
        assert_eq!(format_double(0.0001), "0.0001");
        assert_eq!(format_double(0.00001), "1.0000000000000001e-05");
        assert_eq!(format_double(-2.5e-300), "-2.5e-300");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(-0.0), "-0");
    }

    #[test]
    fn resp2_and_resp3_shapes() {
        let mut r2 = ReplyBuf::new(Proto::Resp2);
        let mut r3 = ReplyBuf::new(Proto::Resp3);
        for r in [&mut r2, &mut r3] {
            r.map(1);
            r.bulk(b"a");
            r.double(2.0);
            r.null();
        }
        assert_eq!(r2.buf, b"*2\r\n$1\r\na\r\n$1\r\n2\r\n$-1\r\n");
        assert_eq!(r3.buf, b"%1\r\n$1\r\na\r\n,2\r\n_\r\n");
    }

    #[test]
    fn deferred_lengths() {
        let mut r = ReplyBuf::new(Proto::Resp2);
        r.int(7);
        let d = r.deferred_map();
        r.bulk(b"k");
        r.int(i64::MIN);
        r.set_deferred(d, 1);
        assert_eq!(r.buf, b":7\r\n*2\r\n$1\r\nk\r\n:-9223372036854775808\r\n");
    }
}
