//! The ACL log (ACL LOG): refused commands, keys, channels and authentications, with
//! similar events within a minute merged into one entry (Redis's addACLLogEntry).

use std::collections::VecDeque;

use amber_resp::ReplyBuf;

use super::check::Denied;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Context {
    Toplevel,
    Multi,
    Lua,
}

impl Context {
    fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

fn reason_name(d: Denied) -> &'static str {
    match d {
        Denied::Cmd => "command",
        Denied::Key => "key",
        Denied::Channel => "channel",
        Denied::Auth => "auth",
    }
}

pub(crate) struct Entry {
    count: u64,
    reason: Denied,
    context: Context,
    object: Vec<u8>,
    username: Vec<u8>,
    /// Unix ms of the last event.
    ctime: i64,
    client_info: String,
}

/// How far back events merge, and how many entries are looked at for a match.
const GROUPING_MS: i64 = 60_000;
const SCAN: usize = 10;

#[derive(Default)]
pub(crate) struct Log {
    entries: VecDeque<Entry>,
}

pub(crate) struct Event {
    pub(crate) reason: Denied,
    pub(crate) context: Context,
    pub(crate) object: Vec<u8>,
    pub(crate) username: Vec<u8>,
    pub(crate) client_info: String,
}

impl Log {
    pub(crate) fn add(&mut self, ev: Event, now_ms: i64, max_len: usize) {
        let found = self.entries.iter().take(SCAN).position(|e| {
            e.reason == ev.reason
                && e.context == ev.context
                && (e.ctime - now_ms).abs() <= GROUPING_MS
                && e.object == ev.object
                && e.username == ev.username
        });
        if let Some(i) = found {
            if let Some(mut e) = self.entries.remove(i) {
                e.count += 1;
                e.ctime = now_ms;
                e.client_info = ev.client_info;
                self.entries.push_front(e);
            }
            return;
        }
        self.entries.push_front(Entry {
            count: 1,
            reason: ev.reason,
            context: ev.context,
            object: ev.object,
            username: ev.username,
            ctime: now_ms,
            client_info: ev.client_info,
        });
        self.entries.truncate(max_len);
    }

    pub(crate) fn reset(&mut self) {
        self.entries.clear();
    }

    /// ACL LOG [count]: the newest `count` entries, each a map of 7 fields.
    pub(crate) fn reply(&self, out: &mut ReplyBuf, count: usize, now_ms: i64) {
        let n = count.min(self.entries.len());
        out.array(n);
        for e in self.entries.iter().take(n) {
            out.map(7);
            out.bulk(b"count");
            out.int(e.count as i64);
            out.bulk(b"reason");
            out.bulk(reason_name(e.reason).as_bytes());
            out.bulk(b"context");
            out.bulk(e.context.name().as_bytes());
            out.bulk(b"object");
            out.bulk(&e.object);
            out.bulk(b"username");
            out.bulk(&e.username);
            out.bulk(b"age-seconds");
            out.double((now_ms - e.ctime) as f64 / 1000.0);
            out.bulk(b"client-info");
            out.bulk(e.client_info.as_bytes());
        }
    }
}
