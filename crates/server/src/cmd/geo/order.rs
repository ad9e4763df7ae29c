//! The orders of search results. Redis sorts by distance with glibc's `qsort` when it
//! returns every result, and with its own `pqsort` (Bentley & McIlroy's quicksort that skips
//! the partitions outside the wanted ranks) when COUNT keeps fewer. Points at the same
//! distance end up where these two algorithms leave them, so both are reproduced here step for
//! step, over a permutation of indexes, with C's int-valued comparators.
//!
//! glibc 2.36's `qsort` is a top-down merge sort that takes the left element on ties (it falls
//! back to a quicksort only when the array is over a quarter of physical memory).

/// A C comparator over indexes: negative, zero or positive.
pub(super) type Cmp<'a> = &'a dyn Fn(usize, usize) -> i32;

/// glibc's msort: sorts `v` (a permutation) with the merge order of msort_with_tmp.
pub(super) fn merge_sort(v: &mut [usize], cmp: Cmp<'_>) {
    let mut tmp = Vec::with_capacity(v.len());
    msort(v, &mut tmp, cmp);
}

fn msort(v: &mut [usize], tmp: &mut Vec<usize>, cmp: Cmp<'_>) {
    let n = v.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    msort(&mut v[..n1], tmp, cmp);
    msort(&mut v[n1..], tmp, cmp);
    tmp.clear();
    let (mut i, mut j) = (0, n1);
    while i < n1 && j < n {
        if cmp(v[i], v[j]) <= 0 {
            tmp.push(v[i]);
            i += 1;
        } else {
            tmp.push(v[j]);
            j += 1;
        }
    }
    tmp.extend_from_slice(&v[i..n1]);
    // What is left of the right half is already in place.
    v[..tmp.len()].copy_from_slice(tmp);
}

/// Redis's pqsort: sorts `v` enough that ranks `left..=right` hold what a full sort would put
/// there (the rest is partitioned around them).
pub(super) fn partial_sort(v: &mut [usize], cmp: Cmp<'_>, left: usize, right: usize) {
    let n = v.len();
    pqsort(v, 0, n, cmp, (left, right));
}

fn med3(v: &[usize], a: usize, b: usize, c: usize, cmp: Cmp<'_>) -> usize {
    if cmp(v[a], v[b]) < 0 {
        if cmp(v[b], v[c]) < 0 {
            b
        } else if cmp(v[a], v[c]) < 0 {
            c
        } else {
            a
        }
    } else if cmp(v[b], v[c]) > 0 {
        b
    } else if cmp(v[a], v[c]) < 0 {
        a
    } else {
        c
    }
}

/// Swaps the `n` elements from `a` with the `n` from `b`, one by one in increasing order.
fn vecswap(v: &mut [usize], a: usize, b: usize, n: usize) {
    for k in 0..n {
        v.swap(a + k, b + k);
    }
}

/// Whether the partition of `len` elements at `start` holds none of the wanted ranks.
fn outside(start: usize, len: usize, (l, r): (usize, usize)) -> bool {
    (l < start && r < start) || (l >= start + len && r >= start + len)
}

/// _pqsort on `v[a..a + n]`; `ranks` are absolute positions in `v`.
fn pqsort(v: &mut [usize], mut a: usize, mut n: usize, cmp: Cmp<'_>, ranks: (usize, usize)) {
    loop {
        if n < 7 {
            for pm in a + 1..a + n {
                let mut pl = pm;
                while pl > a && cmp(v[pl - 1], v[pl]) > 0 {
                    v.swap(pl, pl - 1);
                    pl -= 1;
                }
            }
            return;
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(a, pm);
        let (mut pa, mut pb) = (a + 1, a + 1);
        let (mut pc, mut pd) = (a + n - 1, a + n - 1);
        loop {
            while pb <= pc {
                let c = cmp(v[pb], v[a]);
                if c > 0 {
                    break;
                }
                if c == 0 {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let c = cmp(v[pc], v[a]);
                if c < 0 {
                    break;
                }
                if c == 0 {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        vecswap(v, a, pb - r, r);
        let r = (pd - pc).min(pn - pd - 1);
        vecswap(v, pb, pn - r, r);
        let r = pb - pa;
        if r > 1 && !outside(a, r, ranks) {
            pqsort(v, a, r, cmp, ranks);
        }
        let r = pd - pc;
        if r > 1 {
            a = pn - r;
            n = r;
            if !outside(a, n, ranks) {
                continue;
            }
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asc(keys: &[f64]) -> impl Fn(usize, usize) -> i32 + '_ {
        move |a, b| {
            if keys[a] > keys[b] {
                1
            } else if keys[a] == keys[b] {
                0
            } else {
                -1
            }
        }
    }

    fn keys(seed: u64, n: usize) -> Vec<f64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 33) % 50) as f64
            })
            .collect()
    }

    #[test]
    fn merge_sort_is_stable() {
        let k = keys(7, 300);
        let mut v: Vec<usize> = (0..k.len()).collect();
        merge_sort(&mut v, &asc(&k));
        for w in v.windows(2) {
            assert!(k[w[0]] < k[w[1]] || (k[w[0]] == k[w[1]] && w[0] < w[1]));
        }
    }

    #[test]
    fn partial_sort_orders_the_wanted_ranks() {
        for (seed, n, count) in [
            (1, 5, 2),
            (2, 8, 3),
            (3, 41, 10),
            (4, 300, 17),
            (5, 1000, 999),
        ] {
            let k = keys(seed, n);
            let mut v: Vec<usize> = (0..n).collect();
            partial_sort(&mut v, &asc(&k), 0, count - 1);
            let mut sorted = k.clone();
            sorted.sort_by(f64::total_cmp);
            let got: Vec<f64> = v[..count].iter().map(|&i| k[i]).collect();
            assert_eq!(got, sorted[..count].to_vec(), "seed {seed}");
            let mut all = v.clone();
            all.sort_unstable();
            assert_eq!(all, (0..n).collect::<Vec<_>>());
        }
    }
}
