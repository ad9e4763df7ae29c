//! Encoding of AOF entries exactly as Redis 7.0 writes them (`catAppendOnlyGenericCommand`,
//! the SELECT that `feedAppendOnlyFile` emits on a database change, and the timestamp
//! annotation of `aof-timestamp-enabled`):
//!
//! ```text
//! *<argc>\r\n  then per argument  $<len>\r\n<bytes>\r\n      lengths in decimal, no padding
//! *2\r\n$6\r\nSELECT\r\n$<digits>\r\n<db>\r\n
//! #TS:<unix seconds>\r\n
//! ```

/// One command in RESP multi-bulk form (shared with every client: amber-resp).
pub use amber_resp::command::encode_command;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_and_timestamp_as_redis_writes_them() {
        let mut b = Vec::new();
        encode_timestamp(&mut b, 1_700_000_000);
        encode_select(&mut b, 0);
        encode_select(&mut b, 15);
        let want: &[u8] =
            b"#TS:1700000000\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*2\r\n$6\r\nSELECT\r\n$2\r\n15\r\n";
        assert_eq!(b, want);
    }
}
