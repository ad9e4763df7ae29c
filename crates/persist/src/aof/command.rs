//! Encoding of AOF entries exactly as Redis 7.0 writes them (`catAppendOnlyGenericCommand`,
//! the SELECT that `feedAppendOnlyFile` emits on a database change, and the timestamp
//! annotation of `aof-timestamp-enabled`):
//!
//! ```text
//! *<argc>\r\n  then per argument  $<len>\r\n<bytes>\r\n      lengths in decimal, no padding
//! *2\r\n$6\r\nSELECT\r\n$<digits>\r\n<db>\r\n
//! #TS:<unix seconds>\r\n
//! ```

/// Appends one command in RESP multi-bulk form.
pub fn encode_command(buf: &mut Vec<u8>, args: &[&[u8]]) {
    let payload: usize = args.iter().map(|a| a.len() + 24).sum();
    buf.reserve(16 + payload);
    push_header(buf, b'*', args.len() as u64);
    for a in args {
        push_header(buf, b'$', a.len() as u64);
        buf.extend_from_slice(a);
        buf.extend_from_slice(b"\r\n");
    }
}

/// Appends the SELECT Redis writes before a command for another database than the last one.
pub fn encode_select(buf: &mut Vec<u8>, db: u32) {
    let d = db.to_string();
    encode_command(buf, &[b"SELECT", d.as_bytes()]);
}

/// Appends a timestamp annotation (`#TS:<secs>\r\n`). Redis writes one before the first
/// command of each new second, and one at the start of every rewritten base.
pub fn encode_timestamp(buf: &mut Vec<u8>, unix_secs: i64) {
    buf.extend_from_slice(b"#TS:");
    buf.extend_from_slice(unix_secs.to_string().as_bytes());
    buf.extend_from_slice(b"\r\n");
}

fn push_header(buf: &mut Vec<u8>, prefix: u8, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.push(prefix);
    buf.extend_from_slice(&digits[i..]);
    buf.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_as_redis_writes_them() {
        let mut b = Vec::new();
        encode_timestamp(&mut b, 1_700_000_000);
        encode_select(&mut b, 0);
        encode_command(&mut b, &[b"set", b"a", b""]);
        encode_select(&mut b, 15);
        assert_eq!(
            b,
            b"#TS:1700000000\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nset\r\n$1\r\na\r\n$0\r\n\r\n\
              *2\r\n$6\r\nSELECT\r\n$2\r\n15\r\n"
                .to_vec()
        );
        let mut big = Vec::new();
        let v = vec![b'x'; 1234];
        encode_command(&mut big, &[b"SET", b"k", &v]);
        assert!(big.starts_with(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1234\r\nxxx"));
        assert!(big.ends_with(b"x\r\n"));
        assert_eq!(big.len(), 4 + 9 + 7 + 7 + 1234 + 2);
    }
}
