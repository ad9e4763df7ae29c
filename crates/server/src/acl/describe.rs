//! Users described back as rules (ACL LIST, ACL GETUSER, ACL SAVE, CONFIG REWRITE), with
//! Redis's algorithm: +@all or -@all, then the best-fitting categories, then the single
//! commands that still differ.

use super::rules::{Selector, User, USER_FLAG_NAMES};
use super::table::{table, CATEGORIES};

/// (allowed, denied) commands of a category in a selector's bitmap.
fn count_category(s: &Selector, cat: u32) -> (usize, usize) {
    let (mut on, mut off) = (0, 0);
    for (id, c) in table().cmds.iter().enumerate() {
        if c.cats & cat != 0 {
            if s.bit(id) {
                on += 1;
            } else {
                off += 1;
            }
        }
    }
    (on, off)
}

/// ACLDescribeSelectorCommandRules.
pub(crate) fn command_rules(s: &Selector) -> String {
    let mut rules = String::new();
    let additive = !s.future();
    let mut fake = Selector::new(false, false);
    if additive {
        rules.push_str("-@all ");
        let _ = fake.apply(b"-@all");
    } else {
        rules.push_str("+@all ");
        let _ = fake.apply(b"+@all");
    }
    let mut temp = s.clone();
    temp.firstargs.clear();
    let mut applied = [false; 32];
    loop {
        let mut best = None;
        let (mut mindiff, mut maxsame) = (usize::MAX, 0);
        for (j, _) in CATEGORIES.iter().enumerate() {
            if applied[j] {
                continue;
            }
            let (on, off) = count_category(&temp, 1 << j);
            let (diff, same) = if additive { (off, on) } else { (on, off) };
            if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                best = Some(j);
                mindiff = diff;
                maxsame = same;
            }
        }
        let Some(j) = best else { break };
        fake.set_category(1 << j, additive);
        temp.set_category(1 << j, !additive);
        rules.push_str(if additive { "+@" } else { "-@" });
        rules.push_str(CATEGORIES[j]);
        rules.push(' ');
        applied[j] = true;
    }
    single_commands(s, &mut fake, &mut rules);
    rules.pop();
    rules
}

/// ACLDescribeSelectorCommandRulesSingleCommands, over the table in its order.
fn single_commands(s: &Selector, fake: &mut Selector, rules: &mut String) {
    let t = table();
    let emit = |id: u16, fake: &mut Selector, rules: &mut String| {
        let i = usize::from(id);
        let user = s.bit(i);
        if user != fake.bit(i) {
            rules.push(if user { '+' } else { '-' });
            rules.push_str(&t.cmds[i].full);
            rules.push(' ');
            fake.change_perm(id, user);
        }
    };
    for &id in &t.top {
        emit(id, fake, rules);
        for &sub in &t.cmds[usize::from(id)].subs {
            emit(sub, fake, rules);
        }
        if !s.bit(usize::from(id)) {
            if let Some((_, args)) = s.firstargs.iter().find(|(i, _)| *i == id) {
                for a in args {
                    rules.push('+');
                    rules.push_str(&t.cmds[usize::from(id)].full);
                    rules.push('|');
                    rules.push_str(&String::from_utf8_lossy(a));
                    rules.push(' ');
                }
            }
        }
    }
}

/// Key patterns as GETUSER shows them: "~*", or the patterns joined by spaces.
pub(crate) fn keys_field(s: &Selector) -> Vec<u8> {
    if s.allkeys {
        return b"~*".to_vec();
    }
    let mut out = Vec::new();
    for (i, k) in s.keys.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        k.describe(&mut out);
    }
    out
}

/// Channel patterns as GETUSER shows them.
pub(crate) fn channels_field(s: &Selector) -> Vec<u8> {
    if s.allchannels {
        return b"&*".to_vec();
    }
    let mut out = Vec::new();
    for (i, c) in s.channels.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.push(b'&');
        out.extend_from_slice(c);
    }
    out
}

/// ACLDescribeSelector.
fn selector(s: &Selector, out: &mut Vec<u8>) {
    if s.allkeys {
        out.extend_from_slice(b"~* ");
    } else {
        for k in &s.keys {
            k.describe(out);
            out.push(b' ');
        }
    }
    if s.allchannels {
        out.extend_from_slice(b"&* ");
    } else {
        out.extend_from_slice(b"resetchannels ");
        for c in &s.channels {
            out.push(b'&');
            out.extend_from_slice(c);
            out.push(b' ');
        }
    }
    out.extend_from_slice(command_rules(s).as_bytes());
}

/// ACLDescribeUser: flags, password hashes, then the selectors.
pub(crate) fn user(u: &User) -> Vec<u8> {
    let mut out = Vec::new();
    for (f, name) in USER_FLAG_NAMES {
        if u.flags & f != 0 {
            out.extend_from_slice(name.as_bytes());
            out.push(b' ');
        }
    }
    for p in &u.passwords {
        out.push(b'#');
        out.extend_from_slice(p.as_bytes());
        out.push(b' ');
    }
    for s in &u.selectors {
        if s.root {
            selector(s, &mut out);
        } else {
            out.extend_from_slice(b" (");
            selector(s, &mut out);
            out.push(b')');
        }
    }
    out
}

/// "user <name> <rules>": a line of ACL LIST and of the ACL file.
pub(crate) fn user_line(u: &User) -> Vec<u8> {
    let mut out = b"user ".to_vec();
    out.extend_from_slice(&u.name);
    out.push(b' ');
    out.extend_from_slice(&user(u));
    out
}
