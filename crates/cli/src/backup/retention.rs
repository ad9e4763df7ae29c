//! Retention rules for `backup prune`, as a pure function of the catalog and the clock.
//!
//! A backup is kept when any rule selects it:
//! - `keep_last N`: the N newest;
//! - `keep_daily D`: the newest of each of the D most recent UTC days that have a backup;
//! - `keep_weekly W`: the newest of each of the W most recent ISO weeks (Monday to Sunday,
//!   UTC) that have a backup;
//! - with no keep rule at all, everything is selected (only `max_age` then prunes);
//!
//! then `max_age` removes what is older, whatever selected it; and last, the newest verified
//! backup is always kept, whatever the rules say, so a prune never leaves nothing to restore.

use std::collections::BTreeSet;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Policy {
    pub keep_last: Option<usize>,
    pub keep_daily: Option<usize>,
    pub keep_weekly: Option<usize>,
    pub max_age_ms: Option<i64>,
}

impl Policy {
    pub fn is_empty(&self) -> bool {
        *self == Policy::default()
    }
}

#[derive(Clone, Debug)]
pub struct Candidate {
    pub id: String,
    pub time_ms: i64,
    pub verified: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub id: String,
    pub keep: bool,
    /// Why kept ("last", "daily", "weekly", "newest verified", "all"), or why it goes
    /// ("older than max-age", "no rule keeps it").
    pub reasons: Vec<&'static str>,
}

const DAY_MS: i64 = 86_400_000;

fn day(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// ISO week number since the epoch: 1970-01-01 was a Thursday, so day + 3 starts weeks on
/// Monday.
fn week(ms: i64) -> i64 {
    (day(ms) + 3).div_euclid(7)
}

/// The decisions, newest first.
pub fn plan(backups: &[Candidate], p: &Policy, now_ms: i64) -> Vec<Decision> {
    let mut order: Vec<&Candidate> = backups.iter().collect();
    order.sort_by(|a, b| b.time_ms.cmp(&a.time_ms).then_with(|| b.id.cmp(&a.id)));
    let any_keep_rule = p.keep_last.is_some() || p.keep_daily.is_some() || p.keep_weekly.is_some();
    let mut days = BTreeSet::new();
    let mut weeks = BTreeSet::new();
    let mut newest_verified_seen = false;
    let mut out = Vec::with_capacity(order.len());
    for (i, b) in order.iter().enumerate() {
        let mut reasons = Vec::new();
        if !any_keep_rule {
            reasons.push("all");
        }
        if p.keep_last.is_some_and(|n| i < n) {
            reasons.push("last");
        }
        // The first backup met of a day (newest first) is that day's newest.
        let d = day(b.time_ms);
        if !days.contains(&d) {
            if p.keep_daily.is_some_and(|n| days.len() < n) {
                reasons.push("daily");
            }
            days.insert(d);
        }
        let w = week(b.time_ms);
        if !weeks.contains(&w) {
            if p.keep_weekly.is_some_and(|n| weeks.len() < n) {
                reasons.push("weekly");
            }
            weeks.insert(w);
        }
        let too_old = p.max_age_ms.is_some_and(|age| now_ms - b.time_ms > age);
        if too_old {
            reasons.clear();
        }
        let mut keep = !reasons.is_empty();
        if b.verified && !newest_verified_seen {
            newest_verified_seen = true;
            if !keep {
                reasons.clear();
                keep = true;
            }
            reasons.push("newest verified");
        }
        if !keep {
            reasons.push(if too_old {
                "older than max-age"
            } else {
                "no rule keeps it"
            });
        }
        out.push(Decision {
            id: b.id.clone(),
            keep,
            reasons,
        });
    }
    out
}

/// "30d", "12h", "2w", "90m", "45s", "1d12h"; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("bad duration '{s}' (use e.g. 30d, 12h, 2w, 1d12h)");
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: i64 = 0;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit: i64 = match c {
            's' => 1000,
            'm' => 60_000,
            'h' => 3_600_000,
            'd' => DAY_MS,
            'w' => 7 * DAY_MS,
            _ => return Err(bad()),
        };
        let n: i64 = num.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        num.clear();
    }
    if !num.is_empty() {
        let n: i64 = num.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(1000)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    /// 2025-01-08 00:00 UTC, a Wednesday.
    const T0: i64 = 1_736_294_400_000;

    fn c(id: &str, hours_ago: i64, verified: bool) -> Candidate {
        Candidate {
            id: id.into(),
            time_ms: T0 - hours_ago * H,
            verified,
        }
    }

    fn kept(d: &[Decision]) -> Vec<&str> {
        d.iter().filter(|x| x.keep).map(|x| x.id.as_str()).collect()
    }

    #[test]
    fn retention_table() {
        // a: 1h ago (Tue 7th), b: 5h (Tue), c: 25h (Mon 6th), d: 49h (Sun 5th, previous ISO
        // week), e: 73h (Sat 4th), f: 10 days (Sun Dec 29th, week before), g: 40 days.
        let all = vec![
            c("a", 1, false),
            c("b", 5, true),
            c("c", 25, true),
            c("d", 49, false),
            c("e", 73, true),
            c("f", 240, true),
            c("g", 960, false),
        ];
        let p = |last, daily, weekly, age: Option<i64>| Policy {
            keep_last: last,
            keep_daily: daily,
            keep_weekly: weekly,
            max_age_ms: age.map(|h| h * H),
        };
        let table: Vec<(Policy, Vec<&str>)> = vec![
            // Only the newest: b stays too, the newest verified.
            (p(Some(1), None, None, None), vec!["a", "b"]),
            (p(Some(3), None, None, None), vec!["a", "b", "c"]),
            // Newest per day for 3 days: a (Tue), c (Mon), d (Sun).
            (p(None, Some(3), None, None), vec!["a", "b", "c", "d"]),
            // Newest per ISO week: a (this week), d (week of Dec 30), f (week of Dec 23).
            (p(None, None, Some(3), None), vec!["a", "b", "d", "f"]),
            // Rules add up.
            (p(Some(2), Some(2), Some(1), None), vec!["a", "b", "c"]),
            // max-age alone keeps everything younger.
            (p(None, None, None, Some(48)), vec!["a", "b", "c"]),
            // max-age overrides keep rules.
            (p(Some(10), None, None, Some(24)), vec!["a", "b"]),
            // Nothing young enough: the newest verified still stays.
            (p(None, None, None, Some(0)), vec!["b"]),
            (p(Some(0), Some(0), Some(0), None), vec!["b"]),
        ];
        for (i, (policy, want)) in table.iter().enumerate() {
            let d = plan(&all, policy, T0);
            assert_eq!(kept(&d), *want, "row {i}: {policy:?}");
            assert_eq!(d.len(), all.len());
        }
        // Input order does not matter.
        let mut rev = all.clone();
        rev.reverse();
        assert_eq!(
            kept(&plan(&rev, &p(None, Some(3), None, None), T0)),
            vec!["a", "b", "c", "d"]
        );
        // No verified backup at all: rules alone.
        let unverified: Vec<Candidate> = all
            .iter()
            .map(|x| Candidate {
                verified: false,
                ..x.clone()
            })
            .collect();
        assert_eq!(
            kept(&plan(&unverified, &p(None, None, None, Some(0)), T0)),
            Vec::<&str>::new()
        );
        let d = plan(&all, &p(Some(1), None, None, None), T0);
        assert_eq!(d[1].reasons, vec!["newest verified"]);
        assert_eq!(d[2].reasons, vec!["no rule keeps it"]);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d"), Ok(30 * DAY_MS));
        assert_eq!(parse_duration("1d12h"), Ok(36 * H));
        assert_eq!(parse_duration("2w"), Ok(14 * DAY_MS));
        assert_eq!(parse_duration("90m"), Ok(90 * 60_000));
        assert_eq!(parse_duration("45"), Ok(45_000));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("3x").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}
