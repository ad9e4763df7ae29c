//! The whole-file RDB decoder on arbitrary bytes: errors are fine, panics and hangs are not.
//! Values that decode are applied too, so `to_value` sees odd but valid input.
#![no_main]

mod common;

use amber_persist::rdb::{to_value, Decoder, Item};
use amber_store::Limits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let buf = common::with_rdb_header(data);
    let Ok(mut d) = Decoder::new(&buf[..]) else {
        return;
    };
    let limits = Limits::default();
    while let Ok(Some(item)) = d.next() {
        if let Item::Entry(e) = item {
            let _ = to_value(e.value, &limits);
        }
    }
});
