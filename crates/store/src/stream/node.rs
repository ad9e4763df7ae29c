//! One node of a stream: a listpack laid out exactly as Redis 7.0 lays out the nodes of its
//! stream radix tree (t_stream.c), so that memory stays close to Redis's, approximate trimming
//! removes the same nodes, and the RDB writes the bytes as they are.
//!
//! ```text
//! master entry: count | deleted | num-fields | field_1 .. field_N | 0
//! entry:        flags | ms-diff | seq-diff | [num-fields | f1 v1 .. fN vN] or [v1 .. vN] | lp-count
//! ```
//! `flags` has SAMEFIELDS (the entry's fields are the master's, only values follow) and DELETED.

use super::StreamId;
use crate::listpack::{self, LpEntry, LpWriter};

pub const FLAG_DELETED: i64 = 1;
pub const FLAG_SAMEFIELDS: i64 = 2;

/// The string an element stands for (integers in decimal, as lpGet gives them).
pub fn text(e: LpEntry<'_>) -> std::borrow::Cow<'_, [u8]> {
    match e {
        LpEntry::Str(s) => std::borrow::Cow::Borrowed(s),
        LpEntry::Int(v) => std::borrow::Cow::Owned(v.to_string().into_bytes()),
    }
}

fn int(e: LpEntry<'_>) -> Option<i64> {
    match e {
        LpEntry::Int(v) => Some(v),
        LpEntry::Str(s) => crate::value::parse_i64(s),
    }
}

/// One entry of a node, decoded.
pub struct RawEntry<'a> {
    pub id: StreamId,
    pub flags: i64,
    /// Index of the flags element in the node's element list.
    pub at: usize,
    /// field, value pairs.
    pub pairs: Vec<(LpEntry<'a>, LpEntry<'a>)>,
}

impl RawEntry<'_> {
    pub fn deleted(&self) -> bool {
        self.flags & FLAG_DELETED != 0
    }
}

/// A node's listpack decoded into its master entry and entries.
pub struct Decoded<'a> {
    pub elems: Vec<LpEntry<'a>>,
    pub count: i64,
    pub deleted: i64,
    pub master_fields: Vec<LpEntry<'a>>,
    pub entries: Vec<RawEntry<'a>>,
}

/// Decodes and checks a node whose master ID is `master` (Redis's deep
/// streamValidateListpackIntegrity plus ID order). Errors name what is wrong.
pub fn decode(lp: &[u8], master: StreamId) -> Result<Decoded<'_>, &'static str> {
    let mut elems = Vec::new();
    listpack::for_each(lp, |e| {
        elems.push(e);
        Ok(())
    })?;
    let get = |i: usize| -> Result<LpEntry<'_>, &'static str> {
        elems.get(i).copied().ok_or("stream node ends early")
    };
    let geti = |i: usize| -> Result<i64, &'static str> {
        match get(i)? {
            LpEntry::Int(v) => Ok(v),
            LpEntry::Str(_) => Err("stream node integer expected"),
        }
    };
    let count = geti(0)?;
    let deleted = geti(1)?;
    let nmaster = geti(2)?;
    if count < 0 || deleted < 0 || nmaster < 0 || nmaster as usize > elems.len() {
        return Err("stream node master entry is invalid");
    }
    let nmaster = nmaster as usize;
    let master_fields: Vec<LpEntry<'_>> =
        (0..nmaster).map(|j| get(3 + j)).collect::<Result<_, _>>()?;
    let mut p = 3 + nmaster;
    if geti(p)? != 0 {
        return Err("stream node master entry lacks its terminator");
    }
    p += 1;
    let total = count
        .checked_add(deleted)
        .ok_or("stream node count overflows")?;
    let mut entries = Vec::new();
    let mut prev: Option<StreamId> = None;
    let (mut live, mut dead) = (0i64, 0i64);
    for _ in 0..total {
        let at = p;
        let flags = geti(p)?;
        let ms = (master.ms).wrapping_add(geti(p + 1)? as u64);
        let seq = (master.seq).wrapping_add(geti(p + 2)? as u64);
        let id = StreamId { ms, seq };
        p += 3;
        let mut pairs = Vec::new();
        let extra = if flags & FLAG_SAMEFIELDS != 0 {
            for f in &master_fields {
                pairs.push((*f, get(p)?));
                p += 1;
            }
            3 + nmaster as i64
        } else {
            let n = geti(p)?;
            if n < 0 || n as usize > elems.len() {
                return Err("stream entry field count is invalid");
            }
            p += 1;
            for _ in 0..n {
                pairs.push((get(p)?, get(p + 1)?));
                p += 2;
            }
            3 + 1 + 2 * n
        };
        if geti(p)? != extra {
            return Err("stream entry lp-count does not match");
        }
        p += 1;
        if prev.is_some_and(|q| q >= id) || id < master {
            return Err("stream node IDs out of order");
        }
        prev = Some(id);
        if flags & FLAG_DELETED != 0 {
            dead += 1;
        } else {
            live += 1;
        }
        entries.push(RawEntry {
            id,
            flags,
            at,
            pairs,
        });
    }
    if p != elems.len() {
        return Err("stream node has trailing elements");
    }
    if live != count || dead != deleted {
        return Err("stream node counts do not match its entries");
    }
    Ok(Decoded {
        elems,
        count,
        deleted,
        master_fields,
        entries,
    })
}

/// Visits a node's entries in order, decoding as it goes and stopping as soon as `f` returns
/// false (Redis's streamIteratorGetID walks a node the same way): a range that wants the
/// first few entries of a node reads only those. `f` gets every entry, deleted ones
/// included. The node is one the stream holds (checked when it was loaded or built); a
/// malformed one ends the walk early. Returns whether `f` asked to stop.
pub fn walk<'a>(
    lp: &'a [u8],
    master: StreamId,
    mut f: impl FnMut(StreamId, i64, &[(LpEntry<'a>, LpEntry<'a>)]) -> bool,
) -> bool {
    const STOP: &str = "stop";
    #[derive(Clone, Copy)]
    enum At {
        Header(usize),
        MasterField,
        MasterEnd,
        Flags,
        Ms,
        Seq,
        NumFields,
        Field,
        Value,
        LpCount,
    }
    let mut at = At::Header(0);
    let mut nmaster = 0usize;
    let mut master_fields: Vec<LpEntry<'a>> = Vec::new();
    let mut pairs: Vec<(LpEntry<'a>, LpEntry<'a>)> = Vec::new();
    let (mut flags, mut ms, mut seq, mut left) = (0i64, 0u64, 0u64, 0usize);
    let mut field: Option<LpEntry<'a>> = None;
    let int = |e: LpEntry<'_>| match e {
        LpEntry::Int(v) => Ok(v),
        LpEntry::Str(_) => Err("stream node integer expected"),
    };
    let r = listpack::for_each(lp, |e| {
        at = match at {
            At::Header(2) => {
                nmaster = usize::try_from(int(e)?).map_err(|_| "bad field count")?;
                if nmaster == 0 {
                    At::MasterEnd
                } else {
                    At::MasterField
                }
            }
            At::Header(i) => At::Header(i + 1),
            At::MasterField => {
                master_fields.push(e);
                if master_fields.len() == nmaster {
                    At::MasterEnd
                } else {
                    At::MasterField
                }
            }
            At::MasterEnd | At::LpCount => At::Flags,
            At::Flags => {
                flags = int(e)?;
                At::Ms
            }
            At::Ms => {
                ms = master.ms.wrapping_add(int(e)? as u64);
                At::Seq
            }
            At::Seq => {
                seq = master.seq.wrapping_add(int(e)? as u64);
                pairs.clear();
                if flags & FLAG_SAMEFIELDS != 0 {
                    left = nmaster;
                    if left == 0 {
                        At::LpCount
                    } else {
                        At::Value
                    }
                } else {
                    At::NumFields
                }
            }
            At::NumFields => {
                left = usize::try_from(int(e)?).map_err(|_| "bad field count")?;
                if left == 0 {
                    At::LpCount
                } else {
                    At::Field
                }
            }
            At::Field => {
                field = Some(e);
                At::Value
            }
            At::Value => {
                let f = match field.take() {
                    Some(f) => f,
                    None => *master_fields.get(pairs.len()).ok_or("bad field")?,
                };
                pairs.push((f, e));
                left -= 1;
                if left == 0 {
                    At::LpCount
                } else if flags & FLAG_SAMEFIELDS != 0 {
                    At::Value
                } else {
                    At::Field
                }
            }
        };
        if matches!(at, At::LpCount) && !f(StreamId { ms, seq }, flags, &pairs) {
            return Err(STOP);
        }
        Ok(())
    });
    r == Err(STOP)
}

/// Writes elements back as a listpack (integers stay integers: the bytes are what Redis's
/// lpReplaceInteger leaves).
pub fn encode(elems: &[LpEntry<'_>]) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut w = LpWriter::new(&mut buf);
    for e in elems {
        match *e {
            LpEntry::Int(v) => w.push_int(v),
            LpEntry::Str(s) => w.push_str(s),
        }
    }
    w.finish();
    buf
}

/// A new node holding one entry: its fields become the master fields.
pub fn new_node(id: StreamId, pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut w = LpWriter::new(&mut buf);
    w.push_int(1);
    w.push_int(0);
    w.push_int(pairs.len() as i64);
    for (f, _) in pairs {
        w.push(f);
    }
    w.push_int(0);
    write_entry(&mut w, id, id, pairs, true);
    w.finish();
    buf
}

fn write_entry(
    w: &mut LpWriter<'_>,
    id: StreamId,
    master: StreamId,
    pairs: &[(&[u8], &[u8])],
    same: bool,
) {
    w.push_int(if same { FLAG_SAMEFIELDS } else { 0 });
    w.push_int(id.ms.wrapping_sub(master.ms) as i64);
    w.push_int(id.seq.wrapping_sub(master.seq) as i64);
    if !same {
        w.push_int(pairs.len() as i64);
    }
    for (f, v) in pairs {
        if !same {
            w.push(f);
        }
        w.push(v);
    }
    let n = pairs.len() as i64;
    w.push_int(if same { n + 3 } else { 2 * n + 4 });
}

/// Live plus deleted entries (what stream-node-max-entries counts).
pub fn slots(lp: &[u8]) -> i64 {
    let mut n = 0;
    let mut seen = 0;
    let _ = listpack::for_each(lp, |e| {
        if seen < 2 {
            n += int(e).unwrap_or(0);
            seen += 1;
            if seen == 2 {
                return Err("stop");
            }
        }
        Ok(())
    });
    n
}

/// Appends an entry to an existing node (streamAppendItem's second half): the count in the
/// master entry goes up by one and the entry follows the last one; only the master entry is
/// read, so an append costs what the node's copy costs, not a decode of every entry.
pub fn append(lp: &mut Vec<u8>, master: StreamId, id: StreamId, pairs: &[(&[u8], &[u8])]) {
    // The master entry: count, deleted, num-fields, fields.
    let mut head: Vec<LpEntry<'_>> = Vec::new();
    let mut want = 3usize;
    let _ = listpack::for_each(lp, |e| {
        head.push(e);
        if head.len() == 3 {
            want = 3 + usize::try_from(int(e).unwrap_or(0)).unwrap_or(0);
        }
        if head.len() >= want {
            return Err("enough");
        }
        Ok(())
    });
    if head.len() < 3 || head.len() < want {
        return;
    }
    let count = int(head[0]).unwrap_or(0);
    let same = head[3..].len() == pairs.len()
        && head[3..]
            .iter()
            .zip(pairs)
            .all(|(m, (f, _))| text(*m).as_ref() == *f);
    let old_count_len = listpack::int_entry_size(count);
    let declared = u16::from_le_bytes([lp[4], lp[5]]);
    let mut entry = Vec::new();
    let mut w = LpWriter::new(&mut entry);
    write_entry(&mut w, id, master, pairs, same);
    let added = w.count();
    w.finish();
    let mut new_count = Vec::with_capacity(10);
    listpack::append_int(&mut new_count, count + 1);
    lp.splice(
        listpack::HEADER..listpack::HEADER + old_count_len,
        new_count,
    );
    lp.pop();
    lp.extend_from_slice(&entry[listpack::HEADER..entry.len() - 1]);
    lp.push(listpack::EOF);
    let total = lp.len() as u32;
    lp[0..4].copy_from_slice(&total.to_le_bytes());
    let n = if declared == listpack::COUNT_UNKNOWN {
        listpack::COUNT_UNKNOWN
    } else {
        u16::try_from(usize::from(declared) + added).unwrap_or(listpack::COUNT_UNKNOWN)
    };
    lp[4..6].copy_from_slice(&n.to_le_bytes());
}
