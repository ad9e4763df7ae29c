//! What the RDB targets share.

/// `data` behind a valid RDB header (unless it starts with one), so that most inputs get past
/// the header and the fuzzer spends its time on what follows.
pub fn with_rdb_header(data: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(data.len() + 9);
    if !data.starts_with(b"REDIS") {
        buf.extend_from_slice(b"REDIS0010");
    }
    buf.extend_from_slice(data);
    buf
}
