//! A command as a client sends it and as the AOF logs it: a RESP array of bulk strings.
//!
//! ```text
//! *<argc>\r\n  then per argument  $<len>\r\n<bytes>\r\n      lengths in decimal, no padding
//! ```
//!
//! Byte for byte what Redis's `catAppendOnlyGenericCommand` and redis-cli write.

use crate::reply::put_u64;

/// Appends one command.
pub fn encode_command(buf: &mut Vec<u8>, args: &[&[u8]]) {
    let payload: usize = args.iter().map(|a| a.len() + 24).sum();
    buf.reserve(16 + payload);
    push_array_header(buf, args.len());
    for a in args {
        push_bulk(buf, a);
    }
}

/// Appends `*<n>\r\n`, for a command written one argument at a time with `push_bulk`.
pub fn push_array_header(buf: &mut Vec<u8>, n: usize) {
    push_header(buf, b'*', n as u64);
}

/// Appends one argument: `$<len>\r\n<bytes>\r\n`.
pub fn push_bulk(buf: &mut Vec<u8>, arg: &[u8]) {
    push_header(buf, b'$', arg.len() as u64);
    buf.extend_from_slice(arg);
    buf.extend_from_slice(b"\r\n");
}

fn push_header(buf: &mut Vec<u8>, prefix: u8, n: u64) {
    let mut digits = [0u8; 20];
    let i = put_u64(&mut digits, n);
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
        encode_command(&mut b, &[b"set", b"a", b""]);
        assert_eq!(b, b"*3\r\n$3\r\nset\r\n$1\r\na\r\n$0\r\n\r\n".to_vec());
        let mut parts = Vec::new();
        push_array_header(&mut parts, 3);
        for a in [&b"set"[..], b"a", b""] {
            push_bulk(&mut parts, a);
        }
        assert_eq!(parts, b);
        let mut big = Vec::new();
        let v = vec![b'x'; 1234];
        encode_command(&mut big, &[b"SET", b"k", &v]);
        assert!(big.starts_with(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1234\r\nxxx"));
        assert!(big.ends_with(b"x\r\n"));
        assert_eq!(big.len(), 4 + 9 + 7 + 7 + 1234 + 2);
        let mut none = Vec::new();
        encode_command(&mut none, &[]);
        assert_eq!(none, b"*0\r\n");
        let mut ten = Vec::new();
        push_array_header(&mut ten, 10);
        push_array_header(&mut ten, usize::MAX);
        assert_eq!(ten, format!("*10\r\n*{}\r\n", usize::MAX).into_bytes());
    }
}
