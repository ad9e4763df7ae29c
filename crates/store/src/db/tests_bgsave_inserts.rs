//! A snapshot while new keys arrive (BGSAVE under inserts): the keys inserted after the
//! snapshot's instant cost it nothing and never reach it, the keys deleted after it do, and
//! both hold while segments split under the walk, walked ones and not yet walked ones.

use std::collections::BTreeMap;

use super::*;
use rand::{Rng, SeedableRng};

fn k(s: &str) -> Key {
    Key::from_slice(s.as_bytes())
}

/// Every (key, value) a snapshot yields, read on another thread, with the number of times
/// each key came.
fn reader(
    snap: crate::snapshot::Snapshot,
) -> std::thread::JoinHandle<BTreeMap<Vec<u8>, (i64, u32)>> {
    std::thread::spawn(move || {
        let mut out: BTreeMap<Vec<u8>, (i64, u32)> = BTreeMap::new();
        while let Some(batch) = snap.next_batch() {
            for e in batch {
                let Value::Int(v) = e.value else {
                    panic!("unexpected value {:?}", e.value)
                };
                let slot = out.entry(e.key.to_vec()).or_insert((v, 0));
                slot.1 += 1;
            }
        }
        out
    })
}

#[test]
fn inserts_during_a_snapshot_take_no_before_image_and_never_reach_it() {
    let mut db = Db::new();
    let n = 20_000i64;
    for i in 0..n {
        db.insert(k(&format!("k{i}")), Value::Int(i), NO_EXPIRE, 0);
    }
    let snap = db.begin_snapshot();
    let segs_at_start = db.segments().len();
    // New keys before the walk has started: segments not walked yet split under it.
    for i in 0..2 * n {
        db.insert(k(&format!("new{i}")), Value::Int(-1), NO_EXPIRE, 0);
    }
    assert!(db.segments().len() > segs_at_start, "no split happened");
    // A new key is not in the snapshot: inserting it hands nothing over and holds nothing.
    assert_eq!(db.snapshot_held_bytes(), 0);
    // Overwriting and deleting the new keys does not either (they carry the newest mark).
    for i in 0..n {
        db.insert(k(&format!("new{i}")), Value::Int(-2), NO_EXPIRE, 0);
        db.remove(format!("new{}", i + n).as_bytes());
    }
    assert_eq!(db.snapshot_held_bytes(), 0);
    let out = reader(snap);

    // Then the walk runs in small steps while more keys arrive (splitting walked segments
    // and segments still ahead of the walk) and keys of the snapshot go away or change.
    let mut rng = rand::rngs::SmallRng::seed_from_u64(18);
    let mut next_new = 2 * n;
    let mut splits_during_walk = 0;
    while db.snapshot_in_progress() {
        let before = db.segments().len();
        for _ in 0..300 {
            db.insert(k(&format!("new{next_new}")), Value::Int(-3), NO_EXPIRE, 0);
            next_new += 1;
        }
        let i = rng.gen_range(0..n);
        match rng.gen_range(0..3) {
            0 => {
                db.remove(format!("k{i}").as_bytes());
            }
            1 => {
                db.insert(k(&format!("k{i}")), Value::Int(-4), NO_EXPIRE, 0);
            }
            _ => {
                // Deleted, then a new key of the same name: still the old value for the snapshot.
                db.remove(format!("k{i}").as_bytes());
                db.insert(k(&format!("k{i}")), Value::Int(-5), NO_EXPIRE, 0);
            }
        }
        splits_during_walk += db.segments().len() - before;
        db.snapshot_step(200, None);
    }
    assert!(
        splits_during_walk > 10,
        "{splits_during_walk} splits during the walk"
    );
    let got = out.join().expect("reader");
    let want: BTreeMap<Vec<u8>, (i64, u32)> = (0..n)
        .map(|i| (format!("k{i}").into_bytes(), (i, 1)))
        .collect();
    assert_eq!(
        got.len(),
        want.len(),
        "keys inserted after the instant or missed"
    );
    assert_eq!(got, want);
}
