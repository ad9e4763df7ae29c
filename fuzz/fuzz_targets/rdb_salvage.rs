//! The salvage walk on arbitrary bytes, writing what it keeps: errors and stops are fine,
//! panics and hangs are not, and whatever it writes must decode with its CRC verified.
//! `entry_at` is driven too, at an offset taken from the input.
#![no_main]

mod common;

use amber_persist::rdb::salvage::{entry_at, salvage};
use amber_persist::rdb::{Decoder, EncodeOptions, Encoder, Item};
use amber_store::Limits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let buf = common::with_rdb_header(data);
    let Ok(mut enc) = Encoder::new(Vec::new(), EncodeOptions::default()) else {
        return;
    };
    let Ok(s) = salvage(&buf[..], Some(&mut enc), &Limits::default(), |_| {}) else {
        return;
    };
    let Ok(out) = enc.finish() else {
        return;
    };
    // The salvaged file is valid: every entry decodes, the CRC matches, the count agrees.
    let mut d = Decoder::new(&out[..]).expect("salvaged header");
    let mut n = 0u64;
    loop {
        match d.next().expect("salvaged file decodes") {
            Some(Item::Entry(_)) => n += 1,
            Some(Item::Eof { .. }) => break,
            Some(_) => {}
            None => panic!("salvaged file ends without EOF"),
        }
    }
    assert_eq!(n, s.kept_total());
    let at = data.first().map_or(0, |&b| u64::from(b) * 7);
    let _ = entry_at(&buf[..], at);
});
