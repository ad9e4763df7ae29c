//! Whether a user may run a command with its arguments (Redis's ACLCheckAllUserCommandPerm):
//! the command bitmap, the keys the command's key specs name, the channels it names.

use super::rules::{Selector, User, KEY_READ, KEY_WRITE};
use super::table::{table, Channels};
use crate::cmd::getkeys::flags as kf;
use crate::cmd::glob::matches as glob_match;

/// Why a command was refused, in Redis's order of relevance (ACL_DENIED_*).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Denied {
    Cmd,
    Key,
    Auth,
    Channel,
}

/// A refusal and the argument it is about (a key or channel), as argv index.
pub(crate) type Refusal = (Denied, usize);

/// The keys of the command, found once for all selectors.
struct KeyCache(Option<Vec<(usize, u16)>>);

fn selector_check(
    s: &Selector,
    id: u16,
    args: &[Vec<u8>],
    keys: &mut KeyCache,
) -> Result<(), Refusal> {
    let t = table();
    let info = &t.cmds[usize::from(id)];
    if !s.allcommands && !info.no_auth() && !s.bit(usize::from(id)) {
        let idx = if info.parent.is_some() { 2 } else { 1 };
        let allowed = args.len() >= 2
            && s.firstargs
                .iter()
                .find(|(i, _)| *i == id)
                .is_some_and(|(_, subs)| {
                    args.get(idx)
                        .is_some_and(|a| subs.iter().any(|x| x.eq_ignore_ascii_case(a)))
                });
        if !allowed {
            return Err((Denied::Cmd, 0));
        }
    }
    if !s.allkeys && info.has_keys {
        let found = keys
            .0
            .get_or_insert_with(|| crate::cmd::getkeys::keys_of(&info.full, args));
        for &(pos, flags) in found.iter() {
            if !key_allowed(s, &args[pos], flags) {
                return Err((Denied::Key, pos));
            }
        }
    }
    if !s.allchannels && info.channels != Channels::None {
        let (from, to) = match info.channels {
            Channels::Publish => (1, 2.min(args.len())),
            _ => (1, args.len()),
        };
        let pattern = info.channels == Channels::PSubscribe;
        for (pos, ch) in args.iter().enumerate().take(to).skip(from) {
            if !channel_allowed(&s.channels, ch, pattern) {
                return Err((Denied::Channel, pos));
            }
        }
    }
    Ok(())
}

/// The permission a key-spec's flags need (ACLSelectorCheckKey).
fn needed(spec_flags: u16) -> u8 {
    let mut f = 0;
    if spec_flags & kf::ACCESS != 0 {
        f |= KEY_READ;
    }
    if spec_flags & (kf::INSERT | kf::DELETE | kf::UPDATE) != 0 {
        f |= KEY_WRITE;
    }
    f
}

fn key_allowed(s: &Selector, key: &[u8], spec_flags: u16) -> bool {
    if s.allkeys {
        return true;
    }
    let need = needed(spec_flags);
    s.keys
        .iter()
        .any(|p| p.flags & need == need && glob_match(&p.pattern, key, false))
}

/// ACLCheckChannelAgainstList: a pattern (PSUBSCRIBE) must equal a rule; a channel
/// must match one.
pub(crate) fn channel_allowed(rules: &[Vec<u8>], ch: &[u8], is_pattern: bool) -> bool {
    rules.iter().any(|r| {
        if is_pattern {
            r.as_slice() == ch
        } else {
            glob_match(r, ch, false)
        }
    })
}

/// ACLCheckAllUserCommandPerm: Ok, or the refusal to report (no selector runs the command:
/// the command; otherwise the last key or channel no selector allowed).
pub(crate) fn user_check(u: &User, id: u16, args: &[Vec<u8>]) -> Result<(), Refusal> {
    if u.unrestricted() {
        return Ok(());
    }
    let mut keys = KeyCache(None);
    let mut relevant = (Denied::Cmd, 0);
    for s in &u.selectors {
        match selector_check(s, id, args, &mut keys) {
            Ok(()) => return Ok(()),
            Err((why, idx)) => {
                if why > relevant.0 || (why == relevant.0 && idx > relevant.1) {
                    relevant = (why, idx);
                }
            }
        }
    }
    Err(relevant)
}

/// ACLUserCheckCmdWithUnrestrictedKeyAccess for read access (SORT's BY and GET): a selector
/// runs the command and reads every key (allkeys, or a `*` pattern with read permission).
pub(crate) fn user_reads_all_keys(u: &User, id: u16, args: &[Vec<u8>]) -> bool {
    if u.unrestricted() {
        return true;
    }
    let mut keys = KeyCache(None);
    u.selectors.iter().any(|s| {
        selector_check(s, id, args, &mut keys).is_ok()
            && (s.allkeys
                || s.keys
                    .iter()
                    .any(|p| p.flags & KEY_READ != 0 && p.pattern == b"*"))
    })
}
