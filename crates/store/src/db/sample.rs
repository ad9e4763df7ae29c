//! Sampling keys for eviction (Redis's dictGetSomeKeys): a few entries from a random place of
//! the keyspace, cheap enough to run before every command over the memory limit.

use rand::Rng;

use super::{Db, Entry};

impl Db {
    /// Calls `f` with up to `n` distinct entries (expired ones included), only those with an
    /// expiry when `volatile_only`: entries of a random segment, going on into the next
    /// segments while fewer were found. Like Redis's dictGetSomeKeys, the entries are not
    /// independent draws (one segment's), which does not matter for eviction as long as their
    /// order says nothing about access times. A segment's array is in insertion order, so it
    /// is not read in that order: from a random position by a random stride coprime with its
    /// length, which visits every entry once with neighbours of the visit far apart in time.
    pub fn sample<R: Rng>(
        &self,
        rng: &mut R,
        n: usize,
        volatile_only: bool,
        mut f: impl FnMut(&Entry),
    ) {
        let total = if volatile_only {
            self.volatile
        } else {
            self.len
        };
        let want = n.min(total);
        if want == 0 {
            return;
        }
        let nsegs = self.segs.len();
        let mut si = rng.gen_range(0..nsegs);
        let mut got = 0;
        // Every segment at most once: `want` entries exist, so the loop finds them.
        for _ in 0..nsegs {
            let seg = &self.segs[si];
            si = (si + 1) % nsegs;
            let candidates = if volatile_only {
                seg.volatile
            } else {
                seg.table.len()
            };
            if candidates == 0 {
                continue;
            }
            let entries = seg.table.entries();
            let len = entries.len();
            let stride = coprime_stride(rng, len);
            let mut at = rng.gen_range(0..len);
            for _ in 0..len {
                let e = &entries[at];
                at = (at + stride) % len;
                if volatile_only && !e.has_expire() {
                    continue;
                }
                f(e);
                got += 1;
                if got == want {
                    return;
                }
            }
        }
    }
}

/// A random step in 1..len that shares no factor with `len` (so stepping by it from any
/// position visits all `len` positions once); 1 when a few tries find none.
fn coprime_stride<R: Rng>(rng: &mut R, len: usize) -> usize {
    fn gcd(mut a: usize, mut b: usize) -> usize {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    }
    if len <= 2 {
        return 1;
    }
    for _ in 0..8 {
        let s = rng.gen_range(1..len);
        if gcd(s, len) == 1 {
            return s;
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    use crate::db::{Db, NO_EXPIRE};
    use crate::value::{Key, Value};

    #[test]
    fn samples_are_distinct_and_volatile_only_when_asked() {
        let mut db = Db::new();
        let mut rng = SmallRng::seed_from_u64(3);
        let mut got = Vec::new();
        db.sample(&mut rng, 5, false, |e| got.push(e.key.clone()));
        assert!(got.is_empty());
        for i in 0..5000 {
            let expire = if i % 100 == 0 { 1 << 40 } else { NO_EXPIRE };
            db.insert(
                Key::from_slice(format!("k{i}").as_bytes()),
                Value::Int(i),
                expire,
                0,
            );
        }
        for _ in 0..200 {
            let mut got = Vec::new();
            db.sample(&mut rng, 5, false, |e| got.push(e.key.clone()));
            assert_eq!(got.len(), 5);
            got.sort();
            got.dedup();
            assert_eq!(got.len(), 5);
            let mut vol = Vec::new();
            db.sample(&mut rng, 5, true, |e| {
                assert!(e.has_expire());
                vol.push(e.key.clone());
            });
            assert_eq!(vol.len(), 5);
        }
        // Asking for more than there are: each volatile key once.
        let mut all = Vec::new();
        db.sample(&mut rng, 1000, true, |e| all.push(e.key.clone()));
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 50);
    }

    /// A segment's array is in insertion order; samples must not be runs of keys inserted
    /// together (their access times would be alike, and eviction would compare near-equals).
    #[test]
    fn samples_are_not_runs_of_keys_inserted_together() {
        let mut db = Db::new();
        let n = 20_000i64;
        for i in 0..n {
            db.insert(
                Key::from_slice(format!("k{i}").as_bytes()),
                Value::Int(i),
                NO_EXPIRE,
                0,
            );
        }
        let mut rng = SmallRng::seed_from_u64(11);
        let mut spreads = Vec::new();
        for _ in 0..500 {
            let mut ids = Vec::new();
            db.sample(&mut rng, 5, false, |e| {
                if let Value::Int(i) = e.value {
                    ids.push(i);
                }
            });
            assert_eq!(ids.len(), 5);
            spreads.push(ids.iter().max().unwrap() - ids.iter().min().unwrap());
        }
        spreads.sort_unstable();
        // Five consecutive entries of one segment span about 5 x (number of segments) ids,
        // a few hundred; five scattered ones about two-thirds of all of them.
        let median = spreads[spreads.len() / 2];
        assert!(median > n / 4, "median spread {median}");
    }

    #[test]
    fn strides_are_coprime() {
        let mut rng = SmallRng::seed_from_u64(1);
        for len in 1..1000usize {
            let s = super::coprime_stride(&mut rng, len);
            assert!(s >= 1 && (len <= 1 || s < len));
            let mut seen = vec![false; len];
            let mut at = 0;
            for _ in 0..len {
                assert!(!seen[at], "len {len} stride {s}");
                seen[at] = true;
                at = (at + s) % len;
            }
        }
    }
}
