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

#[test]
fn walk_sees_what_decode_sees_and_stops_when_asked() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
    for round in 0..50 {
        let mut st = Stream::new();
        let n = rng.gen_range(1..300);
        for i in 0..n {
            // Same fields as the master entry or not, and a deletion now and then.
            let fields: Vec<(Vec<u8>, Vec<u8>)> = if rng.gen_bool(0.5) {
                vec![(b"f".to_vec(), format!("{i}").into_bytes())]
            } else {
                (0..rng.gen_range(0..4))
                    .map(|j| {
                        (
                            format!("g{j}").into_bytes(),
                            vec![b'v'; rng.gen_range(0..40)],
                        )
                    })
                    .collect()
            };
            let refs: Vec<(&[u8], &[u8])> = fields
                .iter()
                .map(|(a, b)| (a.as_slice(), b.as_slice()))
                .collect();
            let id = StreamId::new(1000 + i, round);
            let limits = NodeLimits {
                max_bytes: 4096,
                max_entries: 16,
            };
            st.add(AddId::Exact(id), 0, &refs, limits).expect("append");
            if rng.gen_bool(0.1) {
                st.delete(id);
            }
        }
        for (master, lp) in st.nodes.iter() {
            let d = node::decode(lp, *master).expect("a node the stream built");
            let mut seen = Vec::new();
            assert!(!node::walk(lp, *master, |id, flags, pairs| {
                seen.push((id, flags, pairs.to_vec()));
                true
            }));
            let want: Vec<_> = d
                .entries
                .iter()
                .map(|e| (e.id, e.flags, e.pairs.clone()))
                .collect();
            assert_eq!(seen, want);
            let stop_at = rng.gen_range(0..want.len().max(1));
            let mut calls = 0;
            let stopped = node::walk(lp, *master, |_, _, _| {
                calls += 1;
                calls <= stop_at
            });
            assert_eq!(
                (stopped, calls),
                (stop_at < want.len(), (stop_at + 1).min(want.len()))
            );
        }
    }
}
