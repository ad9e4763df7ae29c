//! Encodings Redis 7.0 no longer writes but loads (Redis 6 ziplists, zipmaps, intsets...),
//! newer RDB versions with known types, and streams saved by Redis.

use super::*;

use amber_persist::rdb::encode::{write_len, write_string};

enum Zl<'a> {
    S(&'a [u8]),
    I(i64),
}

/// A ziplist as Redis 6 builds it (short strings, int16 and immediate ints suffice here).
fn ziplist(items: &[Zl<'_>]) -> Vec<u8> {
    let mut zl = vec![0u8; 10];
    let mut prev = 0usize;
    let mut tail = 10;
    for it in items {
        let start = zl.len();
        tail = start;
        zl.push(prev as u8);
        match it {
            Zl::S(s) => {
                zl.push(s.len() as u8);
                zl.extend_from_slice(s);
            }
            Zl::I(v) if (0..=12).contains(v) => zl.push(0xf1 + *v as u8),
            Zl::I(v) => {
                zl.push(0xc0);
                zl.extend_from_slice(&(*v as i16).to_le_bytes());
            }
        }
        prev = zl.len() - start;
    }
    zl.push(0xff);
    let n = zl.len() as u32;
    zl[0..4].copy_from_slice(&n.to_le_bytes());
    zl[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
    zl[8..10].copy_from_slice(&(items.len() as u16).to_le_bytes());
    zl
}

fn legacy_file(version: u32) -> Vec<u8> {
    let o = EncodeOptions::default();
    let mut b = format!("REDIS{version:04}").into_bytes();
    b.extend_from_slice(&[254, 0]); // SELECTDB 0
    let key = |b: &mut Vec<u8>, t: u8, k: &[u8]| {
        b.push(t);
        write_string(b, k, &o);
    };
    // Linked list (type 1) with an LZF string.
    key(&mut b, 1, b"ll");
    write_len(&mut b, 3);
    for s in [&b"a"[..], b"17", &compressible(200, 1)] {
        write_string(&mut b, s, &o);
    }
    // Ziplist list (type 10).
    key(&mut b, 10, b"lz");
    write_string(
        &mut b,
        &ziplist(&[Zl::S(b"x"), Zl::I(5), Zl::I(-300), Zl::S(b"")]),
        &o,
    );
    // Set (type 2) of integers, and an intset (11).
    key(&mut b, 2, b"sint");
    write_len(&mut b, 3);
    for s in ["3", "-1", "20"] {
        write_string(&mut b, s.as_bytes(), &o);
    }
    key(&mut b, 11, b"sis");
    let mut is = Vec::new();
    is.extend_from_slice(&4u32.to_le_bytes());
    is.extend_from_slice(&2u32.to_le_bytes());
    is.extend_from_slice(&(-70000i32).to_le_bytes());
    is.extend_from_slice(&70000i32.to_le_bytes());
    write_string(&mut b, &is, &o);
    // Old zset with text scores (type 3): 2.5, inf, -inf.
    key(&mut b, 3, b"z3");
    write_len(&mut b, 3);
    write_string(&mut b, b"m1", &o);
    b.extend_from_slice(&[3, b'2', b'.', b'5']);
    write_string(&mut b, b"m2", &o);
    b.push(254);
    write_string(&mut b, b"m3", &o);
    b.push(255);
    // Hash (type 4) and zipmap hash (type 9), with an expire in seconds on the zipmap.
    key(&mut b, 4, b"h4");
    write_len(&mut b, 2);
    for s in ["f", "v", "g", "12"] {
        write_string(&mut b, s.as_bytes(), &o);
    }
    b.push(253);
    b.extend_from_slice(&2_000_000_000i32.to_le_bytes());
    key(&mut b, 9, b"hzm");
    write_string(
        &mut b,
        b"\x02\x03foo\x03\x00bar\x01k\x05\x02helloXX\xff",
        &o,
    );
    if version >= 4 {
        // Ziplist hash (13) and zset (12).
        key(&mut b, 13, b"hz");
        write_string(
            &mut b,
            &ziplist(&[Zl::S(b"a"), Zl::I(1), Zl::S(b"b"), Zl::S(b"two")]),
            &o,
        );
        key(&mut b, 12, b"zz");
        write_string(
            &mut b,
            &ziplist(&[Zl::S(b"p"), Zl::S(b"1.5"), Zl::S(b"q"), Zl::I(3)]),
            &o,
        );
    }
    if version >= 7 {
        // Quicklist v1 (14): two ziplist nodes and an empty one Redis skips.
        key(&mut b, 14, b"lq");
        write_len(&mut b, 3);
        write_string(&mut b, &ziplist(&[Zl::S(b"n1"), Zl::I(1000)]), &o);
        write_string(&mut b, &ziplist(&[]), &o);
        write_string(&mut b, &ziplist(&[Zl::S(b"n2")]), &o);
        // An empty SET: Redis 7.0 skips the key.
        key(&mut b, 2, b"emptyset");
        write_len(&mut b, 0);
    }
    b.push(255);
    if version >= 5 {
        let crc = amber_persist::crc64::crc64(0, &b);
        b.extend_from_slice(&crc.to_le_bytes());
    }
    b
}

#[test]
fn legacy_encodings_load_as_redis_loads_them() {
    for version in [3u32, 6, 9] {
        let bytes = legacy_file(version);
        let dir = tempdir("legacy");
        let path = dir.join("dump.rdb");
        std::fs::write(&path, &bytes).unwrap();
        let mut d = Decoder::new(&bytes[..]).unwrap();
        let mut ours = BTreeMap::new();
        while let Some(item) = d.next().unwrap() {
            if let Item::Entry(e) = item {
                ours.insert(e.key, (e.value, e.expire_ms));
            }
        }
        assert_eq!(d.empty_keys_skipped(), u64::from(version >= 7));
        assert!(ours.len() >= 7, "v{version}: only {} keys", ours.len());
        let r = Redis::start(&dir, &[]);
        let mut c = r.client();
        assert_eq!(
            keys_of(&mut c),
            ours.keys().cloned().collect::<Vec<_>>(),
            "v{version}"
        );
        for (k, (val, exp)) in &ours {
            let name = String::from_utf8_lossy(k).into_owned();
            assert_eq!(canon_rdb(val), canon_redis(&mut c, k), "v{version} {name}");
            let enc = c.ok(&[b"OBJECT", b"ENCODING", k]).text();
            assert_eq!(
                to_value(val.clone(), &Limits::default()).encoding(),
                enc,
                "v{version} {name}"
            );
            assert_eq!(
                exp.unwrap_or(-1),
                c.ok(&[b"PEXPIRETIME", k]).int(),
                "v{version} {name}"
            );
        }
        drop(r);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn streams_saved_by_redis_decode() {
    let dir = tempdir("stream");
    let r = Redis::start(&dir, &[]);
    let mut c = r.client();
    c.ok(&[b"SET", b"a", b"1"]);
    c.ok(&[b"XADD", b"mystream", b"1-1", b"f", b"v"]);
    c.ok(&[b"XADD", b"mystream", b"2-1", b"f", b"w"]);
    c.ok(&[b"XGROUP", b"CREATE", b"mystream", b"g", b"0"]);
    c.ok(&[
        b"XREADGROUP",
        b"GROUP",
        b"g",
        b"c",
        b"COUNT",
        b"1",
        b"STREAMS",
        b"mystream",
        b">",
    ]);
    let bytes = std::fs::read(r.save()).unwrap();
    let mut d = Decoder::new(&bytes[..]).unwrap();
    let mut stream = None;
    while let Some(item) = d.next().unwrap() {
        if let amber_persist::rdb::decode::Item::Entry(e) = item {
            if e.key == b"mystream" {
                stream = Some(e.value);
            }
        }
    }
    let Some(RdbValue::Stream(s)) = stream else {
        panic!("no stream decoded");
    };
    assert_eq!(s.length, 2);
    assert_eq!(s.last_id, amber_store::stream::StreamId::new(2, 1));
    let g = &s.groups[&b"g".to_vec()];
    assert_eq!(g.pel.len(), 1);
    assert_eq!(g.consumers[&b"c".to_vec()].pel.len(), 1);
    // The DUMP payload decodes to the same stream.
    let payload = c.ok(&[b"DUMP", b"mystream"]).bytes();
    match verify_and_decode_dump(&payload) {
        Ok(RdbValue::Stream(d)) => assert_eq!(d, s),
        other => panic!("{other:?}"),
    }
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn newer_versions_with_known_types_decode() {
    // Version 12 (Redis 7.4): SLOT_INFO is skipped, SET_LISTPACK (7.2) becomes a set.
    let o = EncodeOptions::default();
    let mut b = b"REDIS0012".to_vec();
    b.extend_from_slice(&[244, 5, 1, 0]); // SLOT_INFO slot 5, size 1, expires 0
    b.push(20);
    write_string(&mut b, b"s", &o);
    let mut lp = Vec::new();
    let mut w = amber_persist::rdb::listpack::LpWriter::new(&mut lp);
    for m in ["1", "2", "x"] {
        w.push(m.as_bytes());
    }
    w.finish();
    write_string(&mut b, &lp, &o);
    b.push(255);
    let crc = amber_persist::crc64::crc64(0, &b);
    b.extend_from_slice(&crc.to_le_bytes());
    let mut d = Decoder::new(&b[..]).unwrap();
    assert_eq!(d.version(), 12);
    let Some(Item::Entry(e)) = d.next().unwrap() else {
        panic!("no entry");
    };
    assert_eq!(e.rdb_type, 20);
    assert_eq!(canon_rdb(&e.value), Canon::Set(v(&[b"1", b"2", b"x"])));
    assert_eq!(
        to_value(e.value, &Limits::default()).encoding(),
        "hashtable"
    );
    assert!(matches!(d.next().unwrap(), Some(Item::Eof { .. })));
    // Version 13 is refused.
    b[8] = b'3';
    assert!(matches!(
        Decoder::new(&b[..]),
        Err(amber_persist::rdb::RdbError::Unsupported { .. })
    ));
}
