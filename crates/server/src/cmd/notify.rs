//! Keyspace notifications (notify.c): with `notify-keyspace-events` on, a change to a key is
//! published as `__keyspace@<db>__:<key>` carrying the event name and as
//! `__keyevent@<db>__:<event>` carrying the key, for the classes the setting names.
//!
//! A change queues its messages on the server (`Server::notify`, callable where no client is
//! at hand: the expiry of a key found by a lookup, the active expire cycle); they are
//! delivered as pub/sub messages at the next `flush`: at once by `Ctx::notify`, after every
//! command by `call`, and after each expire cycle.

use crate::client::Client;
use crate::config::Config;
use crate::server::Server;

pub(crate) const KEYSPACE: u32 = 1 << 0; // K
pub(crate) const KEYEVENT: u32 = 1 << 1; // E
pub(crate) const GENERIC: u32 = 1 << 2; // g
pub(crate) const STRING: u32 = 1 << 3; // $
pub(crate) const LIST: u32 = 1 << 4; // l
pub(crate) const SET: u32 = 1 << 5; // s
pub(crate) const HASH: u32 = 1 << 6; // h
pub(crate) const ZSET: u32 = 1 << 7; // z
pub(crate) const EXPIRED: u32 = 1 << 8; // x
pub(crate) const EVICTED: u32 = 1 << 9; // e
pub(crate) const STREAM: u32 = 1 << 10; // t
pub(crate) const KEY_MISS: u32 = 1 << 11; // m (not part of A)
pub(crate) const MODULE: u32 = 1 << 13; // d
pub(crate) const NEW: u32 = 1 << 14; // n (not part of A)
const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// The classes in the order Redis writes them back (keyspaceEventsFlagsToString).
const CLASS_CHARS: &[(u32, char)] = &[
    (GENERIC, 'g'),
    (STRING, '$'),
    (LIST, 'l'),
    (SET, 's'),
    (HASH, 'h'),
    (ZSET, 'z'),
    (EXPIRED, 'x'),
    (EVICTED, 'e'),
    (STREAM, 't'),
    (MODULE, 'd'),
    (NEW, 'n'),
];

/// keyspaceEventsStringToFlags: None for a character that names no class.
pub(crate) fn parse_flags(s: &str) -> Option<u32> {
    let mut flags = 0;
    for c in s.chars() {
        flags |= match c {
            'A' => ALL,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            'm' => KEY_MISS,
            c => CLASS_CHARS.iter().find(|(_, ch)| *ch == c)?.0,
        };
    }
    Some(flags)
}

/// keyspaceEventsFlagsToString: what CONFIG GET and CONFIG REWRITE show.
pub(crate) fn flags_to_string(flags: u32) -> String {
    let mut s = String::new();
    if flags & ALL == ALL {
        s.push('A');
    } else {
        for (f, c) in CLASS_CHARS {
            if flags & f != 0 {
                s.push(*c);
            }
        }
    }
    for (f, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if flags & f != 0 {
            s.push(c);
        }
    }
    s
}

impl Server {
    /// notifyKeyspaceEvent: queues the messages of one event when its class is enabled.
    pub(crate) fn notify(&mut self, class: u32, event: &str, key: &[u8], db: usize) {
        queue(
            &self.config,
            &mut self.notifications,
            (class, event),
            key,
            db,
        );
    }
}

/// `Server::notify` on the two fields it needs, for callers holding a borrow of the data.
pub(crate) fn queue(
    config: &Config,
    out: &mut Vec<(Vec<u8>, Vec<u8>)>,
    (class, event): (u32, &str),
    key: &[u8],
    db: usize,
) {
    let flags = config.notify_keyspace_events;
    if flags & class == 0 {
        return;
    }
    if flags & KEYSPACE != 0 {
        let mut ch = format!("__keyspace@{db}__:").into_bytes();
        ch.extend_from_slice(key);
        out.push((ch, event.as_bytes().to_vec()));
    }
    if flags & KEYEVENT != 0 {
        let ch = format!("__keyevent@{db}__:{event}").into_bytes();
        out.push((ch, key.to_vec()));
    }
}

/// Publishes the queued notifications, in order. `current` is the client being served, if
/// any (it may itself be a subscriber).
pub(crate) fn flush(srv: &mut Server, mut current: Option<&mut Client>) {
    if srv.notifications.is_empty() {
        return;
    }
    let queued = std::mem::take(&mut srv.notifications);
    for (channel, msg) in &queued {
        super::pubsub::publish_message(srv, current.as_deref_mut(), channel, msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_as_redis_writes_them() {
        for (given, shown) in [
            ("", ""),
            ("KEA", "AKE"),
            ("Ex", "xE"),
            ("K$lg", "g$lK"),
            ("AKEmn", "AKEm"),
            ("g$lshzxetd", "A"),
        ] {
            assert_eq!(
                flags_to_string(parse_flags(given).unwrap()),
                shown,
                "{given}"
            );
        }
        assert_eq!(parse_flags("KEQ"), None);
        assert_eq!(parse_flags("A").unwrap() & NEW, 0);
    }
}
