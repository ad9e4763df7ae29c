//! Per-command latency histograms, bucket for bucket as Redis 7.0 keeps them: an hdr_histogram
//! from 1 ns to 1 s with two significant digits (256 sub-buckets, 23 buckets, 3,072 counters),
//! fed with the call's microseconds times 1000. LATENCY HISTOGRAM reads it through
//! [`LatencyHist::log_steps`], INFO latencystats through [`LatencyHist::value_at_percentile`],
//! so both give what Redis gives for the same calls.

/// hdr_histogram's layout for lowest 1, highest 1e9, 2 significant figures.
const SUB_BUCKET_HALF_MAGNITUDE: u32 = 7;
const SUB_BUCKET_HALF: u64 = 1 << SUB_BUCKET_HALF_MAGNITUDE;
const SUB_BUCKET_COUNT: u64 = SUB_BUCKET_HALF * 2;
const SUB_BUCKET_MASK: u64 = SUB_BUCKET_COUNT - 1;
const BUCKETS: usize = 23;
const COUNTS_LEN: usize = (BUCKETS + 1) * SUB_BUCKET_HALF as usize;
/// LATENCY_HISTOGRAM_MIN_VALUE / MAX_VALUE, in ns.
const MIN_NS: u64 = 1;
const MAX_NS: u64 = 1_000_000_000;

/// Steps of LATENCY HISTOGRAM's log iterator: powers of two from 1024 ns.
pub(crate) const LOG_STEPS: usize = 21;

pub(crate) struct LatencyHist {
    counts: Box<[u64; COUNTS_LEN]>,
    total: u64,
}

impl Default for LatencyHist {
    fn default() -> Self {
        LatencyHist {
            counts: Box::new([0; COUNTS_LEN]),
            total: 0,
        }
    }
}

fn bucket_index(v: u64) -> u32 {
    let pow2ceiling = 64 - (v | SUB_BUCKET_MASK).leading_zeros();
    pow2ceiling - (SUB_BUCKET_HALF_MAGNITUDE + 1)
}

fn counts_index(v: u64) -> usize {
    let b = bucket_index(v);
    let sub = v >> b;
    (((b as u64 + 1) << SUB_BUCKET_HALF_MAGNITUDE) + sub - SUB_BUCKET_HALF) as usize
}

fn value_at_index(i: usize) -> u64 {
    let mut b = (i as i64 >> SUB_BUCKET_HALF_MAGNITUDE) - 1;
    let mut sub = (i as u64 & (SUB_BUCKET_HALF - 1)) + SUB_BUCKET_HALF;
    if b < 0 {
        sub -= SUB_BUCKET_HALF;
        b = 0;
    }
    sub << b
}

fn lowest_equivalent(v: u64) -> u64 {
    let b = bucket_index(v);
    (v >> b) << b
}

fn highest_equivalent(v: u64) -> u64 {
    let b = bucket_index(v);
    let adjusted = if (v >> b) >= SUB_BUCKET_COUNT {
        b + 1
    } else {
        b
    };
    lowest_equivalent(v) + (1u64 << adjusted) - 1
}

/// The highest value hdr_histogram counts as equal to log step `i` (2^(10+i) ns).
pub(crate) fn log_step_top(i: usize) -> u64 {
    highest_equivalent(1u64 << (10 + i))
}

impl LatencyHist {
    /// updateCommandLatencyHistogram: one call of `usec` microseconds.
    pub(crate) fn record(&mut self, usec: u64) {
        let ns = usec.saturating_mul(1000).clamp(MIN_NS, MAX_NS);
        self.counts[counts_index(ns)] += 1;
        self.total += 1;
    }

    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// hdr_value_at_percentile, in ns.
    pub(crate) fn value_at_percentile(&self, percentile: f64) -> u64 {
        let requested = percentile.min(100.0);
        let wanted = (((requested / 100.0) * self.total as f64) + 0.5) as u64;
        let wanted = wanted.max(1);
        let mut seen = 0u64;
        let mut value = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= wanted {
                value = value_at_index(i);
                break;
            }
        }
        if percentile == 0.0 {
            lowest_equivalent(value)
        } else {
            highest_equivalent(value)
        }
    }

    /// The calls in each log step: step i holds those above step i-1's top and up to step
    /// i's (the last step also takes anything above it).
    pub(crate) fn log_steps(&self) -> [u64; LOG_STEPS] {
        let mut steps = [0u64; LOG_STEPS];
        let mut step = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let v = value_at_index(i);
            while step + 1 < LOG_STEPS && v > log_step_top(step) {
                step += 1;
            }
            steps[step] += c;
        }
        steps
    }
}

/// A percentile as Redis prints it in INFO latencystats: "%f" with trailing zeros (and a
/// trailing point) trimmed.
pub(crate) fn percentile_label(p: f64) -> String {
    let s = format!("{p:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_hdr_histogram() {
        // Below 256 ns every value is its own counter.
        for v in [1u64, 2, 127, 128, 255] {
            assert_eq!(counts_index(v), v as usize);
            assert_eq!(value_at_index(counts_index(v)), v);
            assert_eq!(highest_equivalent(v), v);
        }
        // From 256 on, 128 counters per doubling with a resolution of 2^(bucket).
        assert_eq!(counts_index(256), 256);
        assert_eq!(highest_equivalent(256), 257);
        assert_eq!(highest_equivalent(1000), 1003);
        assert_eq!(log_step_top(0), 1031);
        assert_eq!(log_step_top(20), (1 << 30) + (1 << 23) - 1);
        assert!(counts_index(MAX_NS) < COUNTS_LEN);
    }

    #[test]
    fn percentiles_as_hdr_reports_them() {
        let mut h = LatencyHist::default();
        for _ in 0..98 {
            h.record(1);
        }
        h.record(10);
        h.record(2000);
        // 1000 ns falls in a counter of 4 ns: its highest equivalent value is 1003.
        assert_eq!(h.value_at_percentile(50.0), 1003);
        assert_eq!(h.value_at_percentile(99.0), 10_047);
        assert_eq!(h.value_at_percentile(100.0), highest_equivalent(2_000_000));
        assert_eq!(h.value_at_percentile(0.0), 1000);
        let steps = h.log_steps();
        assert_eq!(steps[0], 98);
        assert_eq!(steps.iter().sum::<u64>(), 100);
        assert_eq!(percentile_label(50.0), "50");
        assert_eq!(percentile_label(99.9), "99.9");
    }
}
