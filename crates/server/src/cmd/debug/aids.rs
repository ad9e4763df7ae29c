//! DEBUG's test aids beyond data and crashes (debug.c): ERROR, PROTOCOL, CHANGE-REPL-ID,
//! QUICKLIST-PACKED-THRESHOLD, STRINGMATCH-TEST, LISTPACK, QUICKLIST, HTSTATS, HTSTATS-KEY.

use std::io::Write as _;

use amber_store::Value;
use rand::Rng;

use crate::cmd::{args, Ctx, Error, Reply};

/// DEBUG ERROR <text>: `-text` as it is (no code added), newlines made spaces. Like Redis's
/// addReplySds, it is written raw and does not count as an error reply.
pub(super) fn error(ctx: &mut Ctx<'_>) -> Reply {
    let mut line = Vec::with_capacity(ctx.args[2].len() + 3);
    line.push(b'-');
    line.extend(
        ctx.args[2]
            .iter()
            .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
    );
    line.extend_from_slice(b"\r\n");
    ctx.cl.out.raw(&line);
    Ok(())
}

/// DEBUG PROTOCOL <type>: one reply of each RESP type, as Redis writes them.
pub(super) fn protocol(ctx: &mut Ctx<'_>) -> Reply {
    let name = String::from_utf8_lossy(&ctx.args[2]).to_ascii_lowercase();
    let out = &mut ctx.cl.out;
    let resp3 = out.resp3();
    match name.as_str() {
        "string" => out.bulk(b"Hello World"),
        "integer" => out.int(12345),
        // Redis's test value, not pi.
        #[allow(clippy::approx_constant)]
        "double" => out.double(3.141),
        "bignum" => {
            let n = b"1234567999999999999999999999999999999";
            if resp3 {
                out.raw(b"(");
                out.raw(n);
                out.raw(b"\r\n");
            } else {
                out.bulk(n);
            }
        }
        "null" => out.null(),
        "array" | "set" => {
            if name == "set" {
                out.set(3);
            } else {
                out.array(3);
            }
            for j in 0..3 {
                out.int(j);
            }
        }
        "map" => {
            out.map(3);
            for j in 0..3 {
                out.int(j);
                out.boolean(j == 1);
            }
        }
        "attrib" => {
            if resp3 {
                out.raw(b"|1\r\n");
                out.bulk(b"key-popularity");
                out.array(2);
                out.bulk(b"key:123");
                out.int(90);
            }
            out.bulk(b"Some real reply following the attribute");
        }
        "push" => {
            if !resp3 {
                return Err(Error::new("ERR RESP2 is not supported by this command"));
            }
            out.push(2);
            out.bulk(b"server-cpu-usage");
            out.int(42);
            out.bulk(b"Some real reply following the push reply");
        }
        "true" => out.boolean(true),
        "false" => out.boolean(false),
        "verbatim" => out.verbatim(b"This is a verbatim\nstring"),
        _ => {
            return Err(Error::new(
                "ERR Wrong protocol type name. Please use one of the following: \
                 string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
            ))
        }
    }
    Ok(())
}

/// DEBUG CHANGE-REPL-ID: a new replication ID, and no secondary one (changeReplicationId and
/// clearReplicationId2).
pub(super) fn change_repl_id(ctx: &mut Ctx<'_>) -> Reply {
    ctx.srv
        .log
        .warning("Changing replication IDs after receiving DEBUG change-repl-id");
    let id = crate::replication::random_id(&mut ctx.srv.rng);
    let repl = &mut ctx.srv.repl;
    repl.replid = id;
    repl.replid2 = crate::replication::NULL_REPLID.to_string();
    repl.second_offset = -1;
    ctx.cl.out.ok();
    Ok(())
}

/// DEBUG QUICKLIST-PACKED-THRESHOLD <size>: list elements at least this long are saved as
/// plain quicklist nodes of their own (0 restores the default, 1GB).
pub(super) fn quicklist_packed_threshold(ctx: &mut Ctx<'_>) -> Reply {
    let sz = std::str::from_utf8(&ctx.args[2])
        .ok()
        .filter(|s| !s.starts_with('-'))
        .and_then(crate::config::directives::parse_memory)
        .and_then(|v| u64::try_from(v).ok());
    match sz {
        Some(sz) if amber_persist::rdb::set_packed_threshold(sz) => {
            ctx.cl.out.ok();
            Ok(())
        }
        _ => Err(Error::new(
            "ERR argument must be a memory value bigger than 1 and smaller than 4gb",
        )),
    }
}

/// DEBUG STRINGMATCH-TEST: Redis's stringmatchlen fuzz test over Amber's glob matcher:
/// random patterns and strings of bytes below 128, up to 31 long; it must not crash.
pub(super) fn stringmatch_test(ctx: &mut Ctx<'_>) -> Reply {
    const CYCLES: u32 = 10_000_000;
    let rng = &mut ctx.srv.rng;
    let (mut s, mut p) = ([0u8; 32], [0u8; 32]);
    let mut total = 0u64;
    for _ in 0..CYCLES {
        let sl = rng.gen_range(0..32);
        let pl = rng.gen_range(0..32);
        for b in &mut s[..sl] {
            *b = rng.gen_range(0..128);
        }
        for b in &mut p[..pl] {
            *b = rng.gen_range(0..128);
        }
        total += u64::from(crate::cmd::glob::matches(&p[..pl], &s[..sl], false));
    }
    ctx.srv.log.verbose(&format!("Total matches: {total}"));
    ctx.cl
        .out
        .simple("Apparently Redis did not crash: test passed");
    Ok(())
}

/// The listpack a value is saved as (its RDB payload without LZF), when it is one.
fn listpack_of(v: &Value) -> Option<Vec<u8>> {
    let opts = amber_persist::rdb::EncodeOptions {
        compression: false,
        checksum: true,
    };
    let mut buf = Vec::new();
    amber_persist::rdb::write_value(&mut buf, v, &opts);
    // [type][length][listpack]: a string as the RDB writes it (6/14/32-bit lengths).
    let body = buf.get(1..)?;
    let (len, at): (usize, usize) = match body.first()? >> 6 {
        0 => (usize::from(body[0] & 0x3f), 1),
        1 => (
            (usize::from(body[0] & 0x3f) << 8) | usize::from(*body.get(1)?),
            2,
        ),
        2 if body[0] == 0x80 => (
            u32::from_be_bytes(body.get(1..5)?.try_into().ok()?) as usize,
            5,
        ),
        _ => return None,
    };
    body.get(at..at.checked_add(len)?).map(<[u8]>::to_vec)
}

/// One entry's (header bytes, header + payload bytes) from its first bytes.
fn lp_entry_size(e: &[u8]) -> Option<(usize, usize)> {
    let b0 = *e.first()?;
    Some(if b0 & 0x80 == 0 {
        (1, 1)
    } else if b0 & 0xc0 == 0x80 {
        (1, 1 + usize::from(b0 & 0x3f))
    } else if b0 & 0xe0 == 0xc0 {
        (1, 2)
    } else if b0 & 0xf0 == 0xe0 {
        (
            2,
            2 + ((usize::from(b0 & 0x0f) << 8) | usize::from(*e.get(1)?)),
        )
    } else {
        match b0 {
            0xf0 => (
                5,
                5 + u32::from_le_bytes(e.get(1..5)?.try_into().ok()?) as usize,
            ),
            0xf1 => (1, 3),
            0xf2 => (1, 4),
            0xf3 => (1, 5),
            0xf4 => (1, 9),
            _ => return None,
        }
    })
}

/// lpEncodeBacklen's size for an entry of `n` bytes.
fn backlen_size(n: usize) -> usize {
    match n {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// lpRepr's text for a listpack (the addresses are offsets from its start).
fn lp_repr(lp: &[u8]) -> Option<String> {
    use std::fmt::Write as _;
    let total = lp.len();
    let count = u16::from_le_bytes(lp.get(4..6)?.try_into().ok()?);
    let mut s = format!("{{total bytes {total}}} {{num entries {count}}}\n");
    let mut p = 6;
    let mut index = 0;
    while *lp.get(p)? != 0xff {
        let (hdr, size) = lp_entry_size(&lp[p..])?;
        let back = backlen_size(size);
        let bytes = lp.get(p..p + size + back)?;
        let _ = write!(
            s,
            "{{\n\taddr: 0x{p:08x},\n\tindex: {index:2},\n\toffset: {p:1},\n\thdr+entrylen+backlen: {:2},\n\thdrlen: {hdr:3},\n\tbacklen: {back:2},\n\tpayload: {:1}\n\tbytes: ",
            size + back,
            size - hdr
        );
        for b in bytes {
            let _ = write!(s, "{b:02x}|");
        }
        let payload = &lp[p + hdr..p + size];
        let text = if lp[p] & 0x80 == 0 || lp[p] & 0xe0 == 0xc0 || (0xf1..=0xf4).contains(&lp[p]) {
            let mut v = Vec::new();
            let _ = amber_persist::rdb::listpack::for_each(
                &listpack_one(&lp[p..p + size + back]),
                |e| {
                    if let amber_persist::rdb::listpack::LpEntry::Int(i) = e {
                        v = i.to_string().into_bytes();
                    }
                    Ok(())
                },
            );
            v
        } else {
            payload.to_vec()
        };
        let shown = if text.len() > 40 {
            [&text[..40], b"..."].concat()
        } else {
            text
        };
        let _ = write!(s, "\n\t[str]{}\n}}\n", String::from_utf8_lossy(&shown));
        p += size + back;
        index += 1;
    }
    s.push_str("{end}\n\n");
    Some(s)
}

/// A listpack holding one entry (to decode an integer entry with the persist decoder).
fn listpack_one(entry: &[u8]) -> Vec<u8> {
    let mut lp = Vec::with_capacity(entry.len() + 7);
    lp.extend_from_slice(&((entry.len() + 7) as u32).to_le_bytes());
    lp.extend_from_slice(&1u16.to_le_bytes());
    lp.extend_from_slice(entry);
    lp.push(0xff);
    lp
}

/// DEBUG LISTPACK key: the listpack's structure on stdout, as lpRepr prints it. Amber keeps
/// small values in its own compact form; what is printed is the listpack Redis would hold
/// (and Amber saves) for them.
pub(super) fn listpack(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let Some(e) = ctx.srv.lookup_quiet(db, &ctx.args[2]) else {
        return Err(Error::no_such_key());
    };
    if e.value.encoding() != "listpack" {
        return Err(Error::new("ERR Not a listpack encoded object."));
    }
    if let Some(text) = listpack_of(&e.value).and_then(|lp| lp_repr(&lp)) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
    ctx.cl.out.simple("Listpack structure printed on stdout");
    Ok(())
}

/// DEBUG QUICKLIST key [full]: the check and reply of Redis's (Amber's lists are not
/// quicklists in memory; what they are saved as is listed by DEBUG OBJECT's ql_ fields).
pub(super) fn quicklist(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let Some(e) = ctx.srv.lookup_quiet(db, &ctx.args[2]) else {
        return Err(Error::no_such_key());
    };
    if e.value.encoding() != "quicklist" {
        return Err(Error::new("ERR Not a quicklist encoded object."));
    }
    if let Value::List(l) = &e.value {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{{count : {}}}", l.len());
        let _ = out.flush();
    }
    ctx.cl.out.simple("Quicklist structure printed on stdout");
    Ok(())
}

/// dictGetStats's text for a table of `n` elements. Amber's tables are open-addressing
/// (hashbrown): no chains, every element in a slot of its own.
fn table_stats(n: usize, slots: usize) -> String {
    if n == 0 {
        return "Hash table 0 stats (main hash table):\nNo stats available for empty dictionaries\n"
            .to_string();
    }
    let empty = slots.saturating_sub(n);
    let pct = |c: usize| c as f32 / slots as f32 * 100.0;
    let mut s = format!(
        "Hash table 0 stats (main hash table):\n table size: {slots}\n number of elements: {n}\n different slots: {n}\n max chain length: 1\n avg chain length (counted): 1.00\n avg chain length (computed): 1.00\n Chain length distribution:\n"
    );
    if empty > 0 {
        s.push_str(&format!("   0: {empty} ({:.02}%)\n", pct(empty)));
    }
    s.push_str(&format!("   1: {n} ({:.02}%)\n", pct(n)));
    s
}

/// The slots a hashbrown table of `n` elements has at least (its power-of-two bucket count
/// at a 7/8 load).
fn slots_for(n: usize) -> usize {
    if n < 4 {
        4
    } else if n < 8 {
        8
    } else {
        (n * 8).div_ceil(7).next_power_of_two()
    }
}

/// DEBUG HTSTATS <dbid>: the keyspace's and the expiry set's table statistics.
pub(super) fn htstats(ctx: &mut Ctx<'_>) -> Reply {
    let id = args::int(&ctx.args[2])?;
    let Some(db) = usize::try_from(id).ok().and_then(|i| ctx.srv.dbs.get(i)) else {
        return Err(Error::new("ERR Out of range database"));
    };
    let (keys, volatile) = (db.len(), db.volatile_len());
    let text = format!(
        "[Dictionary HT]\n{}[Expires HT]\n{}",
        table_stats(keys, slots_for(keys)),
        table_stats(volatile, slots_for(volatile))
    );
    ctx.cl.out.verbatim(text.as_bytes());
    Ok(())
}

/// DEBUG HTSTATS-KEY key: the statistics of a hash, set or sorted set kept in a hash table.
pub(super) fn htstats_key(ctx: &mut Ctx<'_>) -> Reply {
    let db = ctx.cl.db;
    let Some(e) = ctx.srv.lookup_quiet(db, &ctx.args[2]) else {
        return Err(Error::no_such_key());
    };
    let n =
        match (&e.value, e.value.encoding()) {
            (Value::Hash(h), "hashtable") => h.len(),
            (Value::Set(s), "hashtable") => s.len(),
            (Value::ZSet(z), "skiplist") => z.len(),
            _ => return Err(Error::new(
                "ERR The value stored at the specified key is not represented using an hash table",
            )),
        };
    ctx.cl.out.verbatim(table_stats(n, slots_for(n)).as_bytes());
    Ok(())
}
