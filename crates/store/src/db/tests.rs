//! Tests of the keyspace: layout, splits, SCAN, expiry and snapshots under writes.

use super::*;
use crate::snapshot::Snapshot;
use rand::{Rng, SeedableRng};

fn k(s: &str) -> Key {
    Key::from_slice(s.as_bytes())
}

#[test]
fn entry_is_48_bytes() {
    assert_eq!(std::mem::size_of::<Entry>(), 48);
}

#[test]
fn overhead_counts_the_tables() {
    let mut db = Db::new();
    let empty = db.overhead_bytes();
    for i in 0..100_000 {
        db.insert(k(&format!("key:{i}")), Value::Int(i), NO_EXPIRE, 0);
    }
    let per_key = (db.overhead_bytes() - empty) as f64 / 100_000.0;
    // 48-byte entries in arrays at most a quarter spare, plus 3 bytes per index bucket in
    // indexes between 44% and 87.5% full: 51-67. Entries in the hash table took 82.
    assert!(
        (48.0 + 3.0 / 0.875..=48.0 * 1.25 + 3.0 / 0.44).contains(&per_key),
        "{per_key}"
    );
    assert!(per_key < 62.0, "{per_key}");
}

/// Snapshots keep seeing their moment across the renumbering of the 8-bit marks (every
/// ~250 snapshots), with walks half done when it happens.
#[test]
fn snapshot_marks_renumber_past_255_generations() {
    use rand::rngs::SmallRng;
    use rand::SeedableRng;
    use std::collections::BTreeMap;
    let mut db = Db::new();
    let mut model = BTreeMap::new();
    for i in 0..3000i64 {
        db.insert(k(&format!("k{i}")), Value::Int(i), NO_EXPIRE, 0);
        model.insert(format!("k{i}").into_bytes(), i);
    }
    let mut rng = SmallRng::seed_from_u64(7);
    let mut pending = Vec::new();
    for j in 0..600 {
        pending.push((db.begin_snapshot(), model.clone()));
        for _ in 0..20 {
            let key = format!("k{}", rng.gen_range(0..3500));
            if rng.gen_bool(0.2) {
                db.remove(key.as_bytes());
                model.remove(key.as_bytes());
            } else {
                let v = rng.gen_range(0..1_000_000);
                db.insert(k(&key), Value::Int(v), NO_EXPIRE, 0);
                model.insert(key.into_bytes(), v);
            }
        }
        db.snapshot_step(500, None);
        if j % 3 == 2 {
            db.snapshot_step(usize::MAX, None);
            assert!(!db.snapshot_in_progress());
            for (s, want) in pending.drain(..) {
                let got: BTreeMap<Vec<u8>, i64> = std::iter::from_fn(|| s.next_batch())
                    .flatten()
                    .map(|e| match e.value {
                        Value::Int(v) => (e.key.to_vec(), v),
                        _ => unreachable!(),
                    })
                    .collect();
                assert_eq!(got, want, "snapshot {j}");
            }
        }
    }
}

/// More snapshots at once than 8-bit generations can tell apart: the oldest are walked
/// to the end early, and every one still sees its moment.
#[test]
fn three_hundred_snapshots_at_once() {
    let mut db = Db::new();
    for i in 0..100 {
        db.insert(k(&format!("k{i}")), Value::Int(0), NO_EXPIRE, 0);
    }
    let mut snaps = Vec::new();
    for j in 0..300i64 {
        snaps.push((db.begin_snapshot(), j));
        for i in 0..100 {
            db.get_mut(format!("k{i}").as_bytes()).unwrap().value = Value::Int(j + 1);
        }
    }
    while db.snapshot_in_progress() {
        db.snapshot_step(usize::MAX, None);
    }
    for (s, j) in snaps {
        let vals: Vec<i64> = std::iter::from_fn(|| s.next_batch())
            .flatten()
            .map(|e| match e.value {
                Value::Int(v) => v,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(vals, vec![j; 100], "snapshot {j}");
    }
}

/// Indexes stay reasonably full at every size, including 1M keys in 1024-key units, where
/// uniform placement leaves every index half empty; entry arrays are never more than a
/// quarter spare.
#[test]
fn load_factor_is_good_at_unlucky_sizes() {
    for n in [1 << 17, 1_000_000 / 8] {
        let mut db = Db::new();
        for i in 0..n {
            db.insert(k(&format!("key:{i}")), Value::Int(i), NO_EXPIRE, 0);
        }
        let buckets: usize = db
            .segments()
            .iter()
            .map(|s| s.table.index_capacity() * 8 / 7)
            .sum();
        let slots: usize = db.segments().iter().map(|s| s.table.capacity()).sum();
        assert!(slots as f64 <= n as f64 * 1.25, "n={n} slots={slots}");
        let load = n as f64 / buckets as f64;
        assert!(load > 0.58, "n={n} load={load:.2}");
    }
}

#[test]
fn insert_get_remove_and_counters() {
    let mut db = Db::new();
    assert!(db.insert(k("a"), Value::Int(1), NO_EXPIRE, 0).is_none());
    assert!(db.insert(k("b"), Value::Int(2), 1000, 0).is_none());
    assert_eq!((db.len(), db.volatile_len()), (2, 1));
    assert!(db.insert(k("b"), Value::Int(3), NO_EXPIRE, 0).is_some());
    assert_eq!((db.len(), db.volatile_len()), (2, 0));
    assert!(db.set_expire(b"a", 5));
    assert_eq!(db.volatile_len(), 1);
    assert!(db.get(b"a").unwrap().is_expired(5));
    assert!(!db.get(b"a").unwrap().is_expired(4));
    assert!(db.remove(b"a").is_some());
    assert!(db.remove(b"a").is_none());
    assert_eq!((db.len(), db.volatile_len()), (1, 0));
}

#[test]
fn reserve_and_batches_keep_every_key_and_report_duplicates() {
    let mut db = Db::new();
    let n = 100_000;
    db.reserve(n);
    let depth_after_reserve = db.segments().len();
    assert!(depth_after_reserve >= n / SPLIT_AT, "{depth_after_reserve}");
    let mut batch: Vec<(Key, Value, i64)> = (0..n)
        .map(|i| {
            (
                k(&format!("key:{i}")),
                Value::Int(i as i64),
                if i % 5 == 0 { 99 } else { NO_EXPIRE },
            )
        })
        .collect();
    assert!(db.insert_batch(&mut batch, 0).is_none());
    assert_eq!(db.len(), n);
    assert_eq!(db.volatile_len(), n / 5);
    for i in (0..n).step_by(997) {
        assert!(
            matches!(db.get(format!("key:{i}").as_bytes()).map(|e| &e.value), Some(Value::Int(v)) if *v == i as i64)
        );
    }
    // Pre-sized well: few segments had to split while loading.
    assert!(db.segments().len() < depth_after_reserve * 2);
    let mut again = vec![(k("key:7"), Value::Int(0), NO_EXPIRE)];
    assert_eq!(
        db.insert_batch(&mut again, 0).as_deref(),
        Some(&b"key:7"[..])
    );
    // reserve does nothing on a database that has keys
    let segs = db.segments().len();
    db.reserve(10 * n);
    assert_eq!(db.segments().len(), segs);
}

#[test]
fn splits_keep_every_key_and_bound_segments() {
    let mut db = Db::new();
    let n = 50_000;
    for i in 0..n {
        db.insert(
            k(&format!("key:{i}")),
            Value::Int(i),
            if i % 3 == 0 { 10 } else { NO_EXPIRE },
            0,
        );
    }
    assert_eq!(db.len(), n as usize);
    assert!(db.segments().len() > n as usize / SPLIT_AT);
    assert!(db.segments().iter().all(|s| s.len() <= SPLIT_AT));
    let vol: usize = db.segments().iter().map(|s| s.volatile).sum();
    assert_eq!(vol, db.volatile_len());
    for i in 0..n {
        match db.get(format!("key:{i}").as_bytes()).map(|e| &e.value) {
            Some(Value::Int(v)) => assert_eq!(*v, i),
            other => panic!("key:{i}: {other:?}"),
        }
    }
    // Every directory slot points at a segment whose depth and prefix agree with it.
    for (slot, &si) in db.dir.iter().enumerate() {
        let seg = &db.segs[si as usize];
        assert!(seg.depth <= db.depth);
        let p = (slot as u64) << (32 - u32::from(db.depth));
        assert_eq!(db.slot_of_prefix(p), slot);
    }
}

#[test]
fn model_check_random_operations() {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    let mut db = Db::new();
    let mut model = std::collections::HashMap::new();
    for _ in 0..100_000 {
        let key = format!("k{}", rng.gen_range(0..5000));
        match rng.gen_range(0..3) {
            0 | 1 => {
                let v = rng.gen_range(0..1000);
                let old = db.insert(k(&key), Value::Int(v), NO_EXPIRE, 0);
                assert_eq!(old.is_some(), model.insert(key, v).is_some());
            }
            _ => {
                assert_eq!(
                    db.remove(key.as_bytes()).is_some(),
                    model.remove(&key).is_some()
                );
            }
        }
    }
    assert_eq!(db.len(), model.len());
    for (key, v) in &model {
        assert!(matches!(db.get(key.as_bytes()).map(|e| &e.value), Some(Value::Int(x)) if x == v));
    }
}

#[test]
fn snapshot_is_isolated_from_later_writes() {
    let mut db = Db::new();
    for i in 0..5000 {
        db.insert(k(&format!("k{i}")), Value::Int(i), NO_EXPIRE, 0);
    }
    let snap = db.snapshot();
    for i in 0..5000 {
        db.insert(k(&format!("k{i}")), Value::Int(-i), NO_EXPIRE, 0);
    }
    for i in 5000..20000 {
        db.insert(k(&format!("k{i}")), Value::Int(i), NO_EXPIRE, 0);
    }
    db.remove(b"k1");
    assert_eq!(snap.len(), 5000);
    for i in 0..5000 {
        match snap.get(format!("k{i}").as_bytes()).map(|e| &e.value) {
            Some(Value::Int(v)) => assert_eq!(*v, i),
            other => panic!("k{i}: {other:?}"),
        }
    }
    assert!(snap.get(b"k6000").is_none());
}

#[test]
fn scan_visits_every_stable_key_despite_changes_and_splits() {
    let mut db = Db::new();
    for i in 0..3000 {
        db.insert(k(&format!("k{i}")), Value::Int(i), NO_EXPIRE, 0);
    }
    let mut seen = std::collections::HashSet::new();
    let mut cursor = 0;
    let mut round = 0;
    loop {
        cursor = db.scan(cursor, 10, |e| {
            seen.insert(e.key.to_vec());
        });
        // Churn that also forces splits: many new keys between calls.
        round += 1;
        for j in 0..20 {
            db.insert(k(&format!("tmp{round}-{j}")), Value::Int(0), NO_EXPIRE, 0);
        }
        db.remove(format!("tmp{}-0", round - 1).as_bytes());
        if cursor == 0 {
            break;
        }
        assert!(round < 100_000, "scan does not terminate");
    }
    for i in 0..3000 {
        assert!(seen.contains(format!("k{i}").as_bytes()), "k{i} missed");
    }
}

#[test]
fn scan_of_small_db_and_empty_db() {
    let mut db = Db::new();
    assert_eq!(db.scan(0, 10, |_| panic!("empty")), 0);
    db.insert(k("only"), Value::Int(1), NO_EXPIRE, 0);
    let mut n = 0;
    assert_eq!(db.scan(0, 10, |_| n += 1), 0);
    assert_eq!(n, 1);
}

#[test]
fn expire_cycle_removes_only_expired() {
    let mut db = Db::new();
    for i in 0..2000 {
        db.insert(
            k(&format!("v{i}")),
            Value::Int(i),
            if i % 2 == 0 { 10 } else { 1000 },
            0,
        );
        db.insert(k(&format!("p{i}")), Value::Int(i), NO_EXPIRE, 0);
    }
    let mut cursor = 0;
    let mut gone = 0;
    let mut total = 0;
    for _ in 0..db.segments().len() {
        let (_, e) = db.expire_cycle_step(&mut cursor, 100_000, 500, |_| gone += 1);
        total += e;
    }
    assert_eq!((gone, total), (1000, 1000));
    assert_eq!((db.len(), db.volatile_len()), (3000, 1000));
}

/// Reads a whole snapshot on another thread while `writes` runs on this one, stepping the
/// walk between writes as the server does between client batches. Returns (key, value)
/// of every integer entry the snapshot yielded.
fn snapshot_under(db: &mut Db, mut writes: impl FnMut(&mut Db, usize)) -> Vec<(Vec<u8>, i64)> {
    let snap = db.begin_snapshot();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        while let Some(batch) = snap.next_batch() {
            for e in batch {
                if let Value::Int(v) = e.value {
                    out.push((e.key.to_vec(), v));
                }
            }
        }
        assert_eq!(snap.keys_done(), out.len());
        out
    });
    let mut round = 0;
    while db.snapshot_in_progress() {
        writes(db, round);
        round += 1;
        if round % 64 == 0 {
            db.snapshot_step(256, None);
        }
    }
    // Writes after the walk finished must not reach the snapshot either.
    for _ in 0..1000 {
        writes(db, round);
        round += 1;
    }
    let mut got = reader.join().unwrap();
    got.sort();
    got
}

fn numbered(n: i64) -> Vec<(Vec<u8>, i64)> {
    let mut want: Vec<(Vec<u8>, i64)> = (0..n).map(|i| (format!("k{i}").into_bytes(), i)).collect();
    want.sort();
    want
}

#[test]
fn snapshot_equals_dataset_at_start_under_concurrent_writes() {
    let mut db = Db::new();
    let n = 30_000i64;
    for i in 0..n {
        db.insert(k(&format!("k{i}")), Value::Int(i), NO_EXPIRE, 0);
    }
    let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
    let got = snapshot_under(&mut db, |db, round| {
        // New keys too, so that segments split while the walk runs.
        let i = rng.gen_range(0..n + 20_000);
        match round % 4 {
            0 | 3 => {
                db.insert(k(&format!("k{i}")), Value::Int(-1), NO_EXPIRE, 0);
            }
            1 => {
                db.remove(format!("k{i}").as_bytes());
            }
            _ => {
                if let Some(e) = db.get_mut(format!("k{i}").as_bytes()) {
                    e.value = Value::Int(-2);
                }
                db.set_expire(format!("k{}", i + 1).as_bytes(), 1);
            }
        }
    });
    assert_eq!(got, numbered(n));
}

#[test]
fn snapshot_survives_flush_and_expire_cycle() {
    let mut db = Db::new();
    let n = 20_000i64;
    for i in 0..n {
        db.insert(
            k(&format!("k{i}")),
            Value::Int(i),
            if i % 2 == 0 { 1 } else { NO_EXPIRE },
            0,
        );
    }
    let mut cursor = 0;
    let got = snapshot_under(&mut db, |db, round| match round {
        10 => {
            db.expire_cycle_step(&mut cursor, 5_000, 100, |_| {});
        }
        20 => db.clear(),
        _ => {
            db.insert(k(&format!("new{round}")), Value::Int(-1), NO_EXPIRE, 0);
        }
    });
    assert_eq!(got, numbered(n));
}

#[test]
fn two_snapshots_at_once_each_see_their_moment() {
    let mut db = Db::new();
    for i in 0..5_000 {
        db.insert(k(&format!("k{i}")), Value::Int(i), NO_EXPIRE, 0);
    }
    let first = db.begin_snapshot();
    for i in 0..2_500 {
        db.insert(k(&format!("k{i}")), Value::Int(i + 5_000), NO_EXPIRE, 0);
    }
    let second = db.begin_snapshot();
    for i in 0..5_000 {
        db.get_mut(format!("k{i}").as_bytes()).unwrap().value = Value::Int(-1);
    }
    while db.snapshot_in_progress() {
        db.snapshot_step(100, None);
    }
    let collect = |s: Snapshot| {
        let mut v: Vec<i64> = std::iter::from_fn(|| s.next_batch())
            .flatten()
            .map(|e| match e.value {
                Value::Int(v) => v,
                _ => unreachable!(),
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(collect(first), (0..5_000).collect::<Vec<_>>());
    assert_eq!(collect(second), (2_500..7_500).collect::<Vec<_>>());
}

#[test]
fn writes_during_snapshot_copy_no_segment_and_dropped_snapshot_stops() {
    let mut db = Db::new();
    for i in 0..20_000 {
        db.insert(k(&format!("k{i}")), Value::Int(i), NO_EXPIRE, 0);
    }
    let before: Vec<*const Segment> = db.segments().iter().map(Arc::as_ptr).collect();
    let snap = db.begin_snapshot();
    for i in 0..20_000 {
        db.insert(k(&format!("k{i}")), Value::Int(-7), NO_EXPIRE, 0);
    }
    let after: Vec<*const Segment> = db.segments().iter().map(Arc::as_ptr).collect();
    assert_eq!(before, after);
    // Every entry was written once before the walk: all of them are before-images.
    db.snapshot_step(0, None);
    let mut n = 0;
    while db.snapshot_in_progress() {
        db.snapshot_step(1000, None);
    }
    while let Some(b) = snap.next_batch() {
        assert!(b.iter().all(|e| !matches!(e.value, Value::Int(-7))));
        n += b.len();
    }
    assert_eq!(n, 20_000);
    let snap = db.begin_snapshot();
    drop(snap);
    db.snapshot_step(10, None);
    assert!(!db.snapshot_in_progress());
}

#[test]
fn clear_and_shrink() {
    let mut db = Db::new();
    for i in 0..10000 {
        db.insert(k(&format!("k{i}")), Value::Int(i), NO_EXPIRE, 0);
    }
    for i in 0..9990 {
        db.remove(format!("k{i}").as_bytes());
    }
    assert_eq!(db.len(), 10);
    assert!(db
        .segments()
        .iter()
        .all(|s| s.table.index_capacity() <= 64 || s.len() * 8 >= s.table.index_capacity()));
    assert!(db
        .segments()
        .iter()
        .all(|s| s.table.capacity() <= 16 || s.len() * 4 >= s.table.capacity()));
    db.clear();
    assert!(db.is_empty() && db.get(b"k9999").is_none());
}

/// The indexes that splits and `reserve` make have the two layouts the table allocator serves
/// exactly (see `table_alloc.rs`): if hashbrown's layout changed, they would silently go back
/// to the general allocator's rounded size classes.
#[cfg(target_arch = "x86_64")]
#[test]
fn full_tables_have_the_slab_layouts() {
    use super::table_alloc::{slab_size, TableAlloc};
    use hashbrown::HashTable;
    for (cap, size) in [(SPLIT_AT, 3_088), (448, 1_552)] {
        let t: HashTable<u16, TableAlloc> = HashTable::with_capacity_in(cap, TableAlloc);
        let layout = std::alloc::Layout::from_size_align(t.allocation_size(), 16).unwrap();
        assert_eq!(slab_size(layout), Some(size));
    }
}
