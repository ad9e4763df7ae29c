//! Applying decoded values: the store value, with the encoding Redis 7.0.15's rdbLoadObject
//! ends up with for that stored type and the configured thresholds, so OBJECT ENCODING after
//! loading a Redis-written file reports what Redis would.
//!
//! | stored as                      | Redis 7.0 keeps the compact encoding when               |
//! |--------------------------------|---------------------------------------------------------|
//! | SET                            | size <= set-max-intset-entries and all canonical ints   |
//! | SET_INTSET                     | size <= set-max-intset-entries                          |
//! | HASH, HASH_ZIPMAP              | size <= hash-max-listpack-entries, all lengths <= value |
//! | HASH_LISTPACK, HASH_ZIPLIST    | size <= hash-max-listpack-entries (lengths not checked) |
//! | ZSET, ZSET_2                   | size <= zset-max-listpack-entries, members <= value     |
//! | ZSET_LISTPACK, ZSET_ZIPLIST    | size <= zset-max-listpack-entries                       |
//!
//! Strings go through tryObjectEncoding (int, embstr up to 44 bytes, raw); lists are always
//! quicklists. A compact encoding that would pass 1 GiB (`PACKED_MAX`) takes the general one
//! whatever the thresholds, as Redis's lpSafeToAdd does.

use std::collections::VecDeque;
use std::sync::Arc;

use amber_store::hash::{Hash, Table};
use amber_store::intset::IntSet;
use amber_store::list::List;
use amber_store::set::Set;
use amber_store::shared::PACKED_MAX;
use amber_store::value::EMBSTR_MAX;
use amber_store::zset::{cmp_entry, ZSet};
use amber_store::{Blob, Limits, Value};

use crate::rdb::num::parse_i64;
use crate::rdb::RdbValue;

/// A string value as tryObjectEncoding leaves it, without copying long strings.
pub fn string_value(s: Vec<u8>) -> Value {
    if s.len() <= 20 {
        if let Some(n) = parse_i64(&s) {
            return Value::Int(n);
        }
    }
    if s.len() <= EMBSTR_MAX {
        Value::Emb(amber_store::EmbStr::from_slice(&s))
    } else {
        Value::raw(s)
    }
}

fn hash_table(pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Hash {
    let mut t = Table::with_capacity(pairs.len());
    for (f, v) in pairs {
        t.insert(&f, Blob::from_vec(v));
    }
    Hash::Table(t)
}

fn hash_pack(pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Hash {
    Hash::Pack(
        pairs
            .into_iter()
            .map(|(f, v)| (Blob::from_vec(f), Blob::from_vec(v)))
            .collect(),
    )
}

fn set_table<'a>(members: impl Iterator<Item = std::borrow::Cow<'a, [u8]>>, n: usize) -> Set {
    let mut t = Table::with_capacity(n);
    for m in members {
        t.insert(&m, ());
    }
    Set::Table(t)
}

/// Whether strings of these lengths fit one packed block, with room for their lengths and
/// scores (past `PACKED_MAX` a collection takes its general encoding, whatever the limits).
fn fits_packed(lens: impl Iterator<Item = usize>) -> bool {
    lens.map(|l| l.saturating_add(20))
        .try_fold(0usize, |a, l| a.checked_add(l))
        .is_some_and(|t| t <= PACKED_MAX)
}

/// A sorted set, packed when `small` (and it fits a block), a skiplist otherwise.
fn zset_value(mut v: Vec<(Vec<u8>, f64)>, small: bool) -> ZSet {
    if small && fits_packed(v.iter().map(|(m, _)| m.len())) {
        // A listpack keeps scores as text: -0 reads back as 0.
        v.sort_by(|a, b| cmp_entry(a.1, &a.0, b.1, &b.0));
        return ZSet::Pack(
            v.into_iter()
                .map(|(m, s)| (Blob::from_vec(m), s + 0.0))
                .collect(),
        );
    }
    // Never packed on the way: a big set need not fit one block.
    let entries = v.into_iter().map(|(m, s)| (Blob::from_vec(m), s)).collect();
    let skip_only = Limits {
        zset_max_listpack_entries: 0,
        ..Limits::default()
    };
    let mut z = ZSet::from_entries(entries, &skip_only);
    z.convert_to_skiplist();
    z
}

/// The store value for a decoded value (see the module table for the encoding rules).
pub fn to_value(v: RdbValue, limits: &Limits) -> Value {
    match v {
        RdbValue::String(s) => string_value(s),
        RdbValue::List(items) => {
            let items: VecDeque<Blob> = items.into_iter().map(Blob::from_vec).collect();
            Value::List(Arc::new(List { items }))
        }
        RdbValue::Set(members) => {
            let n = members.len();
            if n <= limits.set_max_intset_entries && n <= PACKED_MAX / 8 {
                let ints: Option<Vec<i64>> = members.iter().map(|m| parse_i64(m)).collect();
                if let Some(ints) = ints {
                    return Value::Set(Set::Ints(IntSet::from_vec(ints)));
                }
            }
            Value::Set(set_table(
                members.into_iter().map(std::borrow::Cow::Owned),
                n,
            ))
        }
        RdbValue::IntSet(ints) => {
            let n = ints.len();
            if n > limits.set_max_intset_entries || n > PACKED_MAX / 8 {
                let it = ints
                    .iter()
                    .map(|i| std::borrow::Cow::Owned(i.to_string().into_bytes()));
                return Value::Set(set_table(it, n));
            }
            Value::Set(Set::Ints(IntSet::from_vec(ints)))
        }
        RdbValue::Hash(pairs) => {
            let small = pairs.len() <= limits.hash_max_listpack_entries
                && pairs.iter().all(|(f, v)| {
                    f.len() <= limits.hash_max_listpack_value
                        && v.len() <= limits.hash_max_listpack_value
                })
                && fits_packed(pairs.iter().map(|(f, v)| f.len() + v.len()));
            Value::Hash(if small {
                hash_pack(pairs)
            } else {
                hash_table(pairs)
            })
        }
        RdbValue::HashListpack(pairs) => Value::Hash(
            if pairs.len() > limits.hash_max_listpack_entries
                || !fits_packed(pairs.iter().map(|(f, v)| f.len() + v.len()))
            {
                hash_table(pairs)
            } else {
                hash_pack(pairs)
            },
        ),
        RdbValue::ZSet(entries) => {
            let small = entries.len() <= limits.zset_max_listpack_entries
                && entries
                    .iter()
                    .all(|(m, _)| m.len() <= limits.zset_max_listpack_value);
            Value::ZSet(zset_value(entries, small))
        }
        RdbValue::Stream(s) => Value::Stream(Arc::new(*s)),
        RdbValue::ZSetListpack(entries) => {
            let small = entries.len() <= limits.zset_max_listpack_entries;
            Value::ZSet(zset_value(entries, small))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    #[test]
    fn encodings_follow_redis_7_0() {
        let l = Limits {
            hash_max_listpack_entries: 2,
            hash_max_listpack_value: 4,
            set_max_intset_entries: 2,
            zset_max_listpack_entries: 2,
            zset_max_listpack_value: 4,
            ..Limits::default()
        };
        assert_eq!(to_value(RdbValue::String(b("12")), &l).encoding(), "int");
        assert_eq!(
            to_value(RdbValue::String(b("012")), &l).encoding(),
            "embstr"
        );
        assert_eq!(
            to_value(RdbValue::String(vec![b'x'; 45]), &l).encoding(),
            "raw"
        );
        assert_eq!(
            to_value(RdbValue::Set(vec![b("2"), b("1")]), &l).encoding(),
            "intset"
        );
        assert_eq!(
            to_value(RdbValue::Set(vec![b("2"), b("x")]), &l).encoding(),
            "hashtable"
        );
        assert_eq!(
            to_value(RdbValue::Set(vec![b("1"), b("2"), b("3")]), &l).encoding(),
            "hashtable"
        );
        assert_eq!(
            to_value(RdbValue::IntSet(vec![1, 2, 3]), &l).encoding(),
            "hashtable"
        );
        assert_eq!(
            to_value(RdbValue::IntSet(vec![1, 2]), &l).encoding(),
            "intset"
        );
        let long = (b("f"), b("longvalue"));
        assert_eq!(
            to_value(RdbValue::Hash(vec![long.clone()]), &l).encoding(),
            "hashtable"
        );
        assert_eq!(
            to_value(RdbValue::HashListpack(vec![long]), &l).encoding(),
            "listpack"
        );
        let three = vec![(b("a"), b("1")), (b("b"), b("2")), (b("c"), b("3"))];
        assert_eq!(
            to_value(RdbValue::HashListpack(three), &l).encoding(),
            "hashtable"
        );
        assert_eq!(
            to_value(RdbValue::ZSet(vec![(b("longmember"), 1.0)]), &l).encoding(),
            "skiplist"
        );
        assert_eq!(
            to_value(RdbValue::ZSetListpack(vec![(b("longmember"), 1.0)]), &l).encoding(),
            "listpack"
        );
        let Value::ZSet(z) = to_value(RdbValue::ZSet(vec![(b("b"), 2.0), (b("a"), -0.0)]), &l)
        else {
            panic!("not a zset");
        };
        let got: Vec<(&[u8], f64)> = z.iter().collect();
        assert_eq!(got, vec![(&b"a"[..], 0.0), (&b"b"[..], 2.0)]);
        assert!(got[0].1.is_sign_positive());
    }
}
