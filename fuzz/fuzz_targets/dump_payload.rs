//! RESTORE payload verification and decoding on arbitrary bytes. The CRC would reject almost
//! everything, so half the inputs get a correct footer appended to reach the value decoder.
#![no_main]

use amber_persist::crc64::crc64;
use amber_persist::rdb::{create_dump, to_value, verify_and_decode_dump, EncodeOptions};
use amber_store::Limits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut payload = data.to_vec();
    if data.first().is_some_and(|b| b & 1 == 1) {
        payload.remove(0);
        payload.extend_from_slice(&10u16.to_le_bytes());
        let crc = crc64(0, &payload);
        payload.extend_from_slice(&crc.to_le_bytes());
    }
    if let Ok(v) = verify_and_decode_dump(&payload) {
        // Whatever decodes must survive a round trip.
        let value = to_value(v, &Limits::default());
        let again = create_dump(&value, &EncodeOptions::default());
        assert!(verify_and_decode_dump(&again).is_ok());
    }
});
