//! Damaged input: every truncation and bit flip is an error, never a panic; corrupt values
//! name their key.

use super::*;

use amber_persist::rdb::encode::write_string;

fn decode_all(bytes: &[u8]) -> Result<usize, amber_persist::rdb::RdbError> {
    let mut d = Decoder::new(bytes)?;
    let mut n = 0;
    while let Some(item) = d.next()? {
        n += 1;
        assert!(n < 1_000_000, "decoder does not end");
        if let Item::Entry(e) = item {
            let _ = to_value(e.value, &Limits::default());
        }
    }
    Ok(n)
}

#[test]
fn truncations_and_flips_never_panic() {
    let dir = tempdir("trunc");
    let a = Redis::start(&dir, &["--hash-max-listpack-entries", "4"]);
    let mut c = a.client();
    populate(&mut c, 1);
    let file = a.save();
    let bytes = std::fs::read(&file).unwrap();
    assert!(decode_all(&bytes).is_ok());
    // Every truncation is an error.
    for i in 0..bytes.len() - 1 {
        assert!(
            decode_all(&bytes[..i]).is_err(),
            "truncation at {i} accepted"
        );
    }
    // Flips with the CRC on: errors. With the CRC zeroed (not verified): errors or success,
    // never a panic; this exercises the deep validation.
    let mut unchecked = bytes.clone();
    let n = unchecked.len();
    unchecked[n - 8..].fill(0);
    assert!(decode_all(&unchecked).is_ok());
    let mut x = 0x1234_5678_9abc_def0u64;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let pos = (x % (n as u64 - 8)) as usize;
        let bit = 1u8 << ((x >> 32) % 8);
        let mut m = bytes.clone();
        m[pos] ^= bit;
        assert!(
            decode_all(&m).is_err(),
            "flip at {pos} accepted despite the CRC"
        );
        let mut m = unchecked.clone();
        m[pos] ^= bit;
        let _ = decode_all(&m);
    }
    // DUMP payloads: every truncation and flip of every key's payload is an error.
    for k in keys_of(&mut c) {
        let payload = c.ok(&[b"DUMP", &k]).bytes();
        for i in 0..payload.len() {
            assert!(verify_and_decode_dump(&payload[..i]).is_err());
            let mut m = payload.clone();
            m[i] ^= 0x01;
            assert!(verify_and_decode_dump(&m).is_err());
        }
    }
    drop(a);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn corrupt_values_name_the_key() {
    // A hash listpack with a duplicate field, checksum off (zero trailer).
    let mut b = b"REDIS0010".to_vec();
    b.push(16);
    write_string(&mut b, b"foo", &EncodeOptions::default());
    let lp = {
        let mut v = Vec::new();
        let mut w = amber_persist::rdb::listpack::LpWriter::new(&mut v);
        for s in ["f", "1", "f", "2"] {
            w.push(s.as_bytes());
        }
        w.finish();
        v
    };
    write_string(&mut b, &lp, &EncodeOptions::default());
    b.push(255);
    b.extend_from_slice(&[0; 8]);
    let mut d = Decoder::new(&b[..]).unwrap();
    match d.next() {
        Err(amber_persist::rdb::RdbError::Corrupt { context, .. }) => {
            assert!(context.contains("key 'foo' (hash listpack)"), "{context}");
            assert!(context.contains("duplicate"), "{context}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}
