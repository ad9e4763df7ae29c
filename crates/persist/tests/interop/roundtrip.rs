//! Our files and DUMP payloads against Redis's, both ways, and file sizes.

use super::*;

fn roundtrip_against_redis(extra: &[&str], scale: usize) {
    let dir_a = tempdir("a");
    let a = Redis::start(&dir_a, extra);
    let mut ca = a.client();
    populate(&mut ca, scale);
    let file_a = a.save();

    // (a) Redis's file decodes to what Redis serves.
    let (contents, aux) = decode_file(&file_a);
    assert!(aux.iter().any(|(k, v)| k == b"redis-ver" && v == b"7.0.15"));
    let mut total = 0;
    for (db, keys) in &contents {
        ca.ok(&[b"SELECT", db.to_string().as_bytes()]);
        assert_eq!(
            keys.keys().cloned().collect::<Vec<_>>(),
            keys_of(&mut ca),
            "db {db} keys"
        );
        for (k, (val, exp)) in keys {
            assert_eq!(
                canon_rdb(val),
                canon_redis(&mut ca, k),
                "db {db} key {:?}",
                String::from_utf8_lossy(k)
            );
            let pexp = ca.ok(&[b"PEXPIRETIME", k]).int();
            assert_eq!(
                exp.unwrap_or(-1),
                pexp,
                "expire of {:?}",
                String::from_utf8_lossy(k)
            );
            total += 1;
        }
    }
    assert!(total > 30);

    // (b) Our encoding passes redis-check-rdb and loads into Redis identically.
    let limits = limits_for(extra);
    let dir_b = tempdir("b");
    let file_b = dir_b.join("dump.rdb");
    encode_file(&contents, &limits, &file_b, EncodeOptions::default());
    check_rdb(&file_b);
    let b = Redis::start(&dir_b, extra);
    let mut cb = b.client();
    for db in [0u64, 1, 5, 2] {
        let d = db.to_string();
        ca.ok(&[b"SELECT", d.as_bytes()]);
        cb.ok(&[b"SELECT", d.as_bytes()]);
        let keys = keys_of(&mut ca);
        assert_eq!(keys, keys_of(&mut cb), "db {db}");
        for k in &keys {
            let name = String::from_utf8_lossy(k).into_owned();
            assert_eq!(canon_redis(&mut ca, k), canon_redis(&mut cb, k), "{name}");
            assert_eq!(
                ca.ok(&[b"OBJECT", b"ENCODING", k]),
                cb.ok(&[b"OBJECT", b"ENCODING", k]),
                "encoding of {name}"
            );
            assert_eq!(
                ca.ok(&[b"PEXPIRETIME", k]),
                cb.ok(&[b"PEXPIRETIME", k]),
                "expire of {name}"
            );
            assert_eq!(
                ca.ok(&[b"DEBUG", b"DIGEST-VALUE", k]),
                cb.ok(&[b"DEBUG", b"DIGEST-VALUE", k]),
                "digest of {name}"
            );
        }
    }
    assert_eq!(ca.ok(&[b"DEBUG", b"DIGEST"]), cb.ok(&[b"DEBUG", b"DIGEST"]));

    // (d) DUMP payloads both ways.
    ca.ok(&[b"SELECT", b"0"]);
    cb.ok(&[b"SELECT", b"0"]);
    for k in keys_of(&mut ca) {
        let name = String::from_utf8_lossy(&k).into_owned();
        let payload = ca.ok(&[b"DUMP", &k]).bytes();
        let decoded =
            verify_and_decode_dump(&payload).unwrap_or_else(|e| panic!("DUMP of {name}: {e}"));
        assert_eq!(
            canon_rdb(&decoded),
            canon_redis(&mut ca, &k),
            "DUMP of {name}"
        );
        let ours = create_dump(&to_value(decoded, &limits), &EncodeOptions::default());
        let mut newkey = b"restored:".to_vec();
        newkey.extend_from_slice(&k);
        assert_eq!(
            cb.ok(&[b"RESTORE", &newkey, b"0", &ours]),
            Reply::Status("OK".into()),
            "RESTORE of {name}"
        );
        assert_eq!(
            canon_redis(&mut cb, &newkey),
            canon_redis(&mut ca, &k),
            "RESTORE of {name}"
        );
        assert_eq!(
            cb.ok(&[b"OBJECT", b"ENCODING", &newkey]),
            ca.ok(&[b"OBJECT", b"ENCODING", &k]),
            "RESTORE encoding of {name}"
        );
        cb.ok(&[b"DEL", &newkey]);
    }
    drop(a);
    drop(b);
    let _ = std::fs::remove_dir_all(&dir_a);
    let _ = std::fs::remove_dir_all(&dir_b);
}

#[test]
fn roundtrip_with_default_thresholds() {
    roundtrip_against_redis(&[], 20);
}

#[test]
fn roundtrip_with_small_thresholds() {
    roundtrip_against_redis(
        &[
            "--hash-max-listpack-entries",
            "4",
            "--hash-max-listpack-value",
            "8",
            "--zset-max-listpack-entries",
            "4",
            "--zset-max-listpack-value",
            "8",
            "--set-max-intset-entries",
            "4",
            "--list-max-listpack-size",
            "-2",
        ],
        2,
    );
}

#[test]
fn roundtrip_without_compression() {
    roundtrip_against_redis(&["--rdbcompression", "no"], 2);
}

#[test]
fn file_size_is_close_to_redis() {
    for compression in [true, false] {
        let extra: &[&str] = if compression {
            &[]
        } else {
            &["--rdbcompression", "no"]
        };
        let dir_a = tempdir("size");
        let a = Redis::start(&dir_a, extra);
        populate_bulk(&mut a.client());
        let file_a = a.save();
        let redis_size = std::fs::metadata(&file_a).unwrap().len();
        let (contents, _) = decode_file(&file_a);
        let file_b = dir_a.join("ours.rdb");
        let opts = EncodeOptions {
            compression,
            checksum: true,
        };
        let n = encode_file(&contents, &Limits::default(), &file_b, opts);
        let ours = std::fs::metadata(&file_b).unwrap().len();
        assert_eq!(n, ours);
        check_rdb(&file_b);
        let ratio = ours as f64 / redis_size as f64;
        eprintln!("compression={compression}: redis {redis_size} bytes, ours {ours} bytes, ratio {ratio:.4}");
        assert!((0.95..=1.05).contains(&ratio), "size ratio {ratio}");
        drop(a);
        let _ = std::fs::remove_dir_all(&dir_a);
    }
}
