//! The AOF verdict (what the loader and check-aof decide) and the manifest parser on arbitrary
//! bytes: errors and refusals are fine, panics and hangs are not. A verdict must also be
//! self-consistent: a cut point lies inside the input.
#![no_main]

use amber_persist::aof::{judge, Judgment, Manifest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match judge(data) {
        Ok(Judgment::Truncated { valid_len, .. }) => {
            assert!(valid_len <= data.len() as u64)
        }
        Ok(Judgment::Corrupt { offset, .. }) => assert!(offset <= data.len() as u64),
        _ => {}
    }
    let _ = Manifest::parse_bytes(data);
});
