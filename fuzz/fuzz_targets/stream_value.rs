//! Stream values (RDB types 15, 19 and 21) from arbitrary bytes, as RESTORE and the loader
//! read them: the first byte picks the type, the rest is the body; a valid DUMP footer is
//! appended so every input reaches the stream decoder. Whatever decodes must then bear every
//! stream operation without a panic, and survive a round trip through DUMP.
#![no_main]

use amber_persist::crc64::crc64;
use amber_persist::rdb::{create_dump, to_value, verify_and_decode_dump, EncodeOptions};
use amber_store::stream::{AddId, NodeLimits, StreamId, TrimBy};
use amber_store::{Limits, Value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let ty = [15u8, 19, 21][usize::from(sel % 3)];
    let mut payload = Vec::with_capacity(body.len() + 11);
    payload.push(ty);
    payload.extend_from_slice(body);
    payload.extend_from_slice(&10u16.to_le_bytes());
    let crc = crc64(0, &payload);
    payload.extend_from_slice(&crc.to_le_bytes());
    let Ok(v) = verify_and_decode_dump(&payload) else {
        return;
    };
    let Value::Stream(s) = to_value(v, &Limits::default()) else {
        return;
    };
    let again = create_dump(&Value::Stream(s.clone()), &EncodeOptions::default());
    assert!(verify_and_decode_dump(&again).is_ok());
    let mut s = (*s).clone();
    let mut n = 0u64;
    s.range(StreamId::MIN, StreamId::MAX, false, |_, _| {
        n += 1;
        true
    });
    assert_eq!(n, s.length);
    s.range(StreamId::MIN, StreamId::MAX, true, |_, _| true);
    for g in s.groups.values() {
        let _ = s.lag(g);
        let _ = s.estimate_distance(g.last_id);
    }
    let first = s.edge_id(true);
    let last = s.edge_id(false);
    if let Some(id) = first {
        assert!(s.delete(id));
    }
    let _ = s.add(AddId::Auto, 1, &[(b"f", b"v")], NodeLimits::default());
    let _ = s.add(AddId::Ms(u64::MAX), 1, &[(b"f", b"12")], NodeLimits::default());
    if let Some(id) = last {
        s.trim(TrimBy::MinId(id), sel & 8 != 0, 0);
    }
    s.trim(TrimBy::MaxLen(1), sel & 16 != 0, 100);
    let again = create_dump(&Value::Stream(std::sync::Arc::new(s)), &EncodeOptions::default());
    assert!(verify_and_decode_dump(&again).is_ok());
});
