//! A key as the commands that rebuild it: the AOF base when aof-use-rdb-preamble is off
//! (Redis's rewriteAppendOnlyFileRio). Collections go in commands of at most 64 items
//! (AOF_REWRITE_ITEMS_PER_CMD); an expiry follows as PEXPIREAT.

use amber_store::set::Member;
use amber_store::Value;

use amber_resp::command::{push_array_header as header, push_bulk as bulk};

use crate::rdb::num::fmt_g17;

/// Items per RPUSH / SADD / ZADD / HMSET, as Redis.
pub const ITEMS_PER_CMD: usize = 64;

/// Writes collection items in commands of at most `ITEMS_PER_CMD` items, each item being
/// `width` bulk strings written by `emit`.
fn batched<T>(
    buf: &mut Vec<u8>,
    cmd: &[u8],
    key: &[u8],
    total: usize,
    width: usize,
    items: impl Iterator<Item = T>,
    mut emit: impl FnMut(&mut Vec<u8>, T),
) {
    let mut left = total;
    let mut in_cmd = 0;
    for item in items {
        if in_cmd == 0 {
            let n = left.min(ITEMS_PER_CMD);
            header(buf, 2 + n * width);
            bulk(buf, cmd);
            bulk(buf, key);
            in_cmd = n;
            left -= n;
        }
        emit(buf, item);
        in_cmd -= 1;
    }
}

/// Appends the commands that rebuild `key` (and its expiry) to `buf`.
pub fn write_key_commands(buf: &mut Vec<u8>, key: &[u8], value: &Value, expire_ms: Option<i64>) {
    match value {
        Value::Int(_) | Value::Emb(_) | Value::Raw(_) => {
            header(buf, 3);
            bulk(buf, b"SET");
            bulk(buf, key);
            let bytes = value.as_bytes().unwrap_or_default();
            bulk(buf, &bytes);
        }
        Value::List(l) => batched(buf, b"RPUSH", key, l.len(), 1, l.items.iter(), |b, v| {
            bulk(b, v)
        }),
        Value::Set(s) => batched(buf, b"SADD", key, s.len(), 1, s.iter(), |b, m| match m {
            Member::Int(n) => bulk(b, n.to_string().as_bytes()),
            Member::Str(v) => bulk(b, v),
        }),
        Value::ZSet(z) => {
            let mut score = Vec::with_capacity(24);
            batched(buf, b"ZADD", key, z.len(), 2, z.iter(), |b, (m, s)| {
                score.clear();
                fmt_g17(s, &mut score);
                bulk(b, &score);
                bulk(b, m);
            })
        }
        Value::Hash(h) => batched(buf, b"HMSET", key, h.len(), 2, h.iter(), |b, (f, v)| {
            bulk(b, f);
            bulk(b, v);
        }),
        Value::Stream(s) => super::rewrite_stream::write_stream_commands(buf, key, s),
    }
    if let Some(ms) = expire_ms {
        header(buf, 3);
        bulk(buf, b"PEXPIREAT");
        bulk(buf, key);
        bulk(buf, ms.to_string().as_bytes());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use amber_store::list::List;
    use std::sync::Arc;

    #[test]
    fn lists_split_into_commands_of_64() {
        let mut l = List::new();
        for i in 0..130 {
            l.push(amber_store::list::End::Right, i.to_string().as_bytes());
        }
        let mut buf = Vec::new();
        write_key_commands(&mut buf, b"k", &Value::List(Arc::new(l)), Some(42));
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text.matches("RPUSH").count(), 3);
        assert!(text.starts_with("*66\r\n$5\r\nRPUSH\r\n$1\r\nk\r\n$1\r\n0\r\n"));
        assert!(text.contains("*4\r\n$5\r\nRPUSH\r\n$1\r\nk\r\n$3\r\n128\r\n$3\r\n129\r\n"));
        assert!(text.ends_with("*3\r\n$9\r\nPEXPIREAT\r\n$1\r\nk\r\n$2\r\n42\r\n"));
    }

    #[test]
    fn strings_are_set() {
        let mut buf = Vec::new();
        write_key_commands(&mut buf, b"k", &Value::Int(-5), None);
        assert_eq!(buf, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n-5\r\n");
    }
}
