//! Feeds arbitrary bytes to the request parser, under both client limit sets, the way a
//! connection does: parse, consume, repeat. It must never panic, never claim more bytes than it
//! was given, always make progress on success, and treat every prefix of a complete request as
//! incomplete or as the same error.
#![no_main]

use amber_resp::{parse_request, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for unauthenticated in [false, true] {
        let limits = Limits { max_bulk_len: 1 << 20, unauthenticated };
        let mut pos = 0;
        while pos < data.len() {
            match parse_request(&data[pos..], &limits) {
                Ok(None) => break,
                Ok(Some(p)) => {
                    assert!(p.consumed > 0 && p.consumed <= data.len() - pos);
                    let total: usize = p.args.iter().map(|a| a.len()).sum();
                    assert!(total <= p.consumed);
                    pos += p.consumed;
                }
                Err(e) => {
                    assert!(e.0.starts_with("Protocol error: "));
                    break;
                }
            }
        }
    }
});
