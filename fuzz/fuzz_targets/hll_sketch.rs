//! HyperLogLog operations on arbitrary sketch bytes (a string value anyone can SET): every
//! operation answers or reports corruption, never panics; what it leaves stays decodable by
//! the same rules. The first byte picks the sparse size limit, the rest is the sketch with a
//! valid header forced on half the inputs so the opcode walker is reached.
#![no_main]

use amber_store::hll;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let mut v = rest.to_vec();
    if ctl & 1 == 1 {
        let mut h = b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
        h.extend_from_slice(rest);
        v = h;
    }
    if !hll::is_valid(&v) {
        return;
    }
    let max = usize::from(ctl) * 16;
    let _ = hll::count(&v);
    let _ = hll::registers(&v);
    let _ = hll::decode_sparse(&v);
    for i in 0..8u8 {
        if hll::add(&mut v, &[i, ctl], max).is_err() {
            break;
        }
    }
    let _ = hll::count(&v);
    let mut d = v.clone();
    if hll::to_dense(&mut d).is_ok() {
        assert_eq!(d.len(), hll::DENSE_SIZE);
        assert!(hll::count(&d).is_ok());
    }
});
