//! Sampling keys for eviction (Redis's dictGetSomeKeys): a few entries from a random place of
//! the keyspace, cheap enough to run before every command over the memory limit.

use rand::Rng;

use super::{Db, Entry};

impl Db {
    /// Calls `f` with up to `n` distinct entries (expired ones included), only those with an
    /// expiry when `volatile_only`: consecutive entries from a random position of a random
    /// segment, going on into the next segments while fewer were found. Like Redis's
    /// dictGetSomeKeys, the entries are not independent draws (neighbours in one table), which
    /// does not matter for eviction: a table's order has nothing to do with access times.
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
        let mut first = true;
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
            let len = seg.table.len();
            let start = if first { rng.gen_range(0..len) } else { 0 };
            first = false;
            let wanted = |e: &&Entry| !volatile_only || e.has_expire();
            let entries = seg.table.entries();
            for e in entries[start..]
                .iter()
                .chain(&entries[..start])
                .filter(wanted)
            {
                f(e);
                got += 1;
                if got == want {
                    return;
                }
            }
        }
    }
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
}
