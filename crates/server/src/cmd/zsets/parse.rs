//! Parsing of score and lex bounds and integer range arguments (t_zset.c's zslParseRange,
//! zslParseLexRange and friends).

use amber_store::zset::{LexBound, LexRange, ScoreRange};

use crate::cmd::args::{self};
use crate::cmd::Error;

/// A range end as Redis's zslParseRange reads it with strtod: leading spaces allowed, overflow
/// to infinity allowed, an empty string is 0, NaN refused, and the C string ends at a NUL.
fn strtod_whole(s: &[u8]) -> Option<f64> {
    let s = match s.iter().position(|&b| b == 0) {
        Some(p) => &s[..p],
        None => s,
    };
    if s.is_empty() {
        return Some(0.0);
    }
    let t = match s.iter().position(|b| !b" \t\n\x0b\x0c\r".contains(b)) {
        Some(p) => &s[p..],
        None => return None,
    };
    let st = std::str::from_utf8(t).ok()?;
    let lower = st.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if body.len() + 1 < lower.len() {
        return None; // more than one sign
    }
    if body.starts_with("0x") {
        return args::parse_f64(t);
    }
    if body.starts_with("nan") {
        return None;
    }
    st.parse::<f64>().ok().filter(|v| !v.is_nan())
}

fn parse_score_bound(a: &[u8]) -> Option<(f64, bool)> {
    match a.first() {
        Some(b'(') => strtod_whole(&a[1..]).map(|v| (v, true)),
        _ => strtod_whole(a).map(|v| (v, false)),
    }
}

pub(super) fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, Error> {
    match (parse_score_bound(min), parse_score_bound(max)) {
        (Some((min, minex)), Some((max, maxex))) => Ok(ScoreRange {
            min,
            max,
            minex,
            maxex,
        }),
        _ => Err(Error::new("ERR min or max is not a float")),
    }
}

fn parse_lex_bound(a: &[u8]) -> Option<LexBound> {
    let single = a.len() == 1 || a.get(1) == Some(&0);
    match a.first() {
        Some(b'+') if single => Some(LexBound::Max),
        Some(b'-') if single => Some(LexBound::Min),
        Some(b'(') => Some(LexBound::Excl(a[1..].to_vec())),
        Some(b'[') => Some(LexBound::Incl(a[1..].to_vec())),
        _ => None,
    }
}

pub(super) fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, Error> {
    match (parse_lex_bound(min), parse_lex_bound(max)) {
        (Some(min), Some(max)) => Ok(LexRange { min, max }),
        _ => Err(Error::new("ERR min or max not valid string range item")),
    }
}

/// A long in [min, max] with Redis's getRangeLongFromObjectOrReply messages.
pub(super) fn range_long(
    a: &[u8],
    min: i64,
    max: i64,
    msg: Option<&'static str>,
) -> Result<i64, Error> {
    let err = |generic: Error| match msg {
        Some(m) => Error::new(format!("ERR {m}")),
        None => generic,
    };
    let v = args::int(a).map_err(err)?;
    if v < min || v > max {
        return Err(match msg {
            Some(m) => Error::new(format!("ERR {m}")),
            None => Error::new(format!(
                "ERR value is out of range, value must between {min} and {max}"
            )),
        });
    }
    Ok(v)
}
