#![allow(clippy::unwrap_used)]
use super::*;

fn ids(s: &Stream, start: StreamId, end: StreamId, rev: bool) -> Vec<StreamId> {
    let mut v = Vec::new();
    s.range(start, end, rev, |id, _| {
        v.push(id);
        true
    });
    v
}

fn filled(n: u64) -> Stream {
    let mut s = Stream::new();
    for i in 1..=n {
        let v = i.to_string();
        s.add(
            AddId::Exact(StreamId::new(i, 0)),
            0,
            &[(b"f".as_slice(), v.as_bytes())],
            NodeLimits::default(),
        )
        .unwrap();
    }
    s
}

#[test]
fn add_range_and_nodes_follow_redis_limits() {
    let s = filled(250);
    assert_eq!(s.length, 250);
    // 100 entries per node, as stream-node-max-entries.
    assert_eq!(s.node_count(), 3);
    let all = ids(&s, StreamId::MIN, StreamId::MAX, false);
    assert_eq!(all.len(), 250);
    assert!(all.windows(2).all(|w| w[0] < w[1]));
    let back = ids(&s, StreamId::new(10, 0), StreamId::new(120, 0), true);
    assert_eq!(back.first(), Some(&StreamId::new(120, 0)));
    assert_eq!(back.len(), 111);
    assert_eq!(
        s.get(StreamId::new(7, 0)).unwrap(),
        vec![(b"f".to_vec(), b"7".to_vec())]
    );
}

#[test]
fn ids_must_grow() {
    let mut s = filled(3);
    let lim = NodeLimits::default();
    let r = s.add(AddId::Exact(StreamId::new(3, 0)), 0, &[(b"a", b"b")], lim);
    assert_eq!(r, Err(AddError::NotGreater));
    let r = s.add(AddId::Ms(3), 0, &[(b"a", b"b")], lim).unwrap();
    assert_eq!(r, StreamId::new(3, 1));
    let r = s.add(AddId::Auto, 2, &[(b"a", b"b")], lim).unwrap();
    assert_eq!(r, StreamId::new(3, 2));
}

#[test]
fn delete_and_trim() {
    let mut s = filled(250);
    assert!(s.delete(StreamId::new(5, 0)));
    assert!(!s.delete(StreamId::new(5, 0)));
    assert_eq!(s.length, 249);
    assert!(!s.exists(StreamId::new(5, 0)));
    // Approximate: only whole nodes go (the first holds 99 live entries).
    assert_eq!(s.trim(TrimBy::MaxLen(100), true, 0), 99);
    assert_eq!(s.length, 150);
    assert_eq!(s.first_id, StreamId::new(101, 0));
    // Exact.
    assert_eq!(s.trim(TrimBy::MaxLen(120), false, 0), 30);
    assert_eq!(s.first_id, StreamId::new(131, 0));
    assert_eq!(s.trim(TrimBy::MinId(StreamId::new(200, 0)), false, 0), 69);
    assert_eq!(s.length, 51);
}

#[test]
fn nodes_decode_back_and_reject_damage() {
    let s = filled(3);
    let (m, lp) = s.nodes().next().unwrap();
    let d = node::decode(lp, *m).unwrap();
    assert_eq!(d.entries.len(), 3);
    for i in 0..lp.len() {
        let mut bad = lp.clone();
        bad[i] ^= 0x41;
        let _ = node::decode(&bad, *m);
    }
    // IDs are deltas from the master ID (the node's key).
    let d = node::decode(lp, StreamId::new(9, 0)).unwrap();
    assert_eq!(d.entries[2].id, StreamId::new(11, 0));
    assert!(node::decode(&lp[..lp.len() - 1], *m).is_err());
}
