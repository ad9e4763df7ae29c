//! A stream as the commands that rebuild it (aof.c's rewriteStreamObject): its entries as
//! XADD with their IDs (an empty stream as XADD MAXLEN 0 0-1 x y), XSETID with ENTRIESADDED
//! and MAXDELETEDID, then per group XGROUP CREATE ... ENTRIESREAD, and per consumer either
//! XGROUP CREATECONSUMER or one XCLAIM ... TIME RETRYCOUNT JUSTID FORCE per pending entry.

use amber_resp::command::{push_array_header as header, push_bulk as bulk};
use amber_store::stream::{node::text, Stream, StreamId};

pub fn write_stream_commands(buf: &mut Vec<u8>, key: &[u8], s: &Stream) {
    if s.length > 0 {
        s.range(StreamId::MIN, StreamId::MAX, false, |id, pairs| {
            header(buf, 3 + pairs.len() * 2);
            bulk(buf, b"XADD");
            bulk(buf, key);
            bulk(buf, &id.to_bytes());
            for (f, v) in pairs {
                bulk(buf, &text(*f));
                bulk(buf, &text(*v));
            }
            true
        });
    } else {
        header(buf, 7);
        for a in [b"XADD".as_slice(), key, b"MAXLEN", b"0", b"0-1", b"x", b"y"] {
            bulk(buf, a);
        }
    }
    header(buf, 7);
    bulk(buf, b"XSETID");
    bulk(buf, key);
    bulk(buf, &s.last_id.to_bytes());
    bulk(buf, b"ENTRIESADDED");
    bulk(buf, s.entries_added.to_string().as_bytes());
    bulk(buf, b"MAXDELETEDID");
    bulk(buf, &s.max_deleted_entry_id.to_bytes());
    for (name, g) in &s.groups {
        header(buf, 7);
        for a in [b"XGROUP".as_slice(), b"CREATE", key, name] {
            bulk(buf, a);
        }
        bulk(buf, &g.last_id.to_bytes());
        bulk(buf, b"ENTRIESREAD");
        bulk(buf, g.entries_read.to_string().as_bytes());
        for (cname, c) in &g.consumers {
            if c.pel.is_empty() {
                header(buf, 5);
                for a in [b"XGROUP".as_slice(), b"CREATECONSUMER", key, name, cname] {
                    bulk(buf, a);
                }
                continue;
            }
            for id in &c.pel {
                let Some(n) = g.pel.get(id) else { continue };
                header(buf, 12);
                for a in [b"XCLAIM".as_slice(), key, name, cname, b"0"] {
                    bulk(buf, a);
                }
                bulk(buf, &id.to_bytes());
                bulk(buf, b"TIME");
                bulk(buf, n.delivery_time.to_string().as_bytes());
                bulk(buf, b"RETRYCOUNT");
                bulk(buf, n.delivery_count.to_string().as_bytes());
                bulk(buf, b"JUSTID");
                bulk(buf, b"FORCE");
            }
        }
    }
}
