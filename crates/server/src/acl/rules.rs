//! Users and selectors, and the rules that change them (Redis's ACLSetUser and
//! ACLSetSelector), with Redis's error for each bad rule.

use super::table::{category_bit, table};

/// Key pattern permissions (%R~, %W~; ~ is both).
pub(crate) const KEY_READ: u8 = 1;
pub(crate) const KEY_WRITE: u8 = 2;
pub(crate) const KEY_ALL: u8 = KEY_READ | KEY_WRITE;

/// User flags, in the order Redis describes them.
pub(crate) const USER_ON: u8 = 1;
pub(crate) const USER_OFF: u8 = 2;
pub(crate) const USER_NOPASS: u8 = 4;
pub(crate) const USER_SKIP_SANITIZE: u8 = 8;
pub(crate) const USER_SANITIZE: u8 = 16;
pub(crate) const USER_FLAG_NAMES: &[(u8, &str)] = &[
    (USER_ON, "on"),
    (USER_OFF, "off"),
    (USER_NOPASS, "nopass"),
    (USER_SKIP_SANITIZE, "skip-sanitize-payload"),
    (USER_SANITIZE, "sanitize-payload"),
];

/// Why a rule was refused (Redis's errno values of ACLSetUser).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuleError {
    /// EINVAL
    Syntax,
    /// ENOENT
    UnknownCommand,
    /// EEXIST
    KeyAfterAll,
    /// EISDIR
    ChannelAfterAll,
    /// ENODEV
    NoSuchPassword,
    /// EBADMSG
    BadHash,
    /// ECHILD
    SubcommandFirstArg,
    /// EALREADY
    Duplicate,
}

impl RuleError {
    /// ACLSetUserStringError.
    pub(crate) fn message(self) -> &'static str {
        match self {
            RuleError::UnknownCommand => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::KeyAfterAll => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleError::ChannelAfterAll => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleError::Duplicate => "Duplicate user found. A user can only be defined once in config files",
            RuleError::SubcommandFirstArg => "Allowing first-arg of a subcommand is not supported",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyPattern {
    pub(crate) flags: u8,
    pub(crate) pattern: Vec<u8>,
}

impl KeyPattern {
    /// sdsCatPatternString.
    pub(crate) fn describe(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(match self.flags {
            KEY_READ => b"%R~",
            KEY_WRITE => b"%W~",
            _ => b"~",
        });
        out.extend_from_slice(&self.pattern);
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Selector {
    pub(crate) root: bool,
    pub(crate) allkeys: bool,
    pub(crate) allchannels: bool,
    pub(crate) allcommands: bool,
    /// One bit per command id, and a last one for "future commands" (set only by +@all).
    pub(crate) bits: Vec<u64>,
    /// Allowed first arguments of otherwise denied commands (+select|0).
    pub(crate) firstargs: Vec<(u16, Vec<Vec<u8>>)>,
    pub(crate) keys: Vec<KeyPattern>,
    pub(crate) channels: Vec<Vec<u8>>,
}

impl Selector {
    /// An empty selector (ACLCreateSelector): no commands, keys or channels, but all
    /// channels when acl-pubsub-default is allchannels.
    pub(crate) fn new(root: bool, pubsub_all: bool) -> Self {
        let words = (table().len() + 1).div_ceil(64);
        Selector {
            root,
            allkeys: false,
            allchannels: pubsub_all,
            allcommands: false,
            bits: vec![0; words],
            firstargs: Vec::new(),
            keys: Vec::new(),
            channels: Vec::new(),
        }
    }

    pub(crate) fn bit(&self, id: usize) -> bool {
        self.bits
            .get(id / 64)
            .is_some_and(|w| w & (1u64 << (id % 64)) != 0)
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        if let Some(w) = self.bits.get_mut(id / 64) {
            if on {
                *w |= 1u64 << (id % 64);
            } else {
                *w &= !(1u64 << (id % 64));
                self.allcommands = false;
            }
        }
    }

    /// Whether +@all set the "future commands" bit.
    pub(crate) fn future(&self) -> bool {
        self.bit(table().len())
    }

    /// ACLChangeSelectorPerm: a command, and a container's subcommands.
    pub(crate) fn change_perm(&mut self, id: u16, allow: bool) {
        self.set_bit(usize::from(id), allow);
        self.firstargs.retain(|(i, _)| *i != id);
        for &s in &table().cmds[usize::from(id)].subs {
            self.set_bit(usize::from(s), allow);
        }
    }

    /// ACLSetSelectorCommandBitsForCategory.
    pub(crate) fn set_category(&mut self, cat: u32, allow: bool) {
        let t = table();
        for (id, c) in t.cmds.iter().enumerate() {
            if c.cats & cat != 0 {
                self.change_perm(id as u16, allow);
            }
        }
    }

    fn set_all_commands(&mut self, allow: bool) {
        let fill = if allow { u64::MAX } else { 0 };
        self.bits.iter_mut().for_each(|w| *w = fill);
        self.allcommands = allow;
        self.firstargs.clear();
    }

    /// ACLSetSelector: one rule for this selector.
    pub(crate) fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if is("allkeys") || is("~*") {
            self.allkeys = true;
            self.keys.clear();
        } else if is("resetkeys") {
            self.allkeys = false;
            self.keys.clear();
        } else if is("allchannels") || is("&*") {
            self.allchannels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.allchannels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.set_all_commands(true);
        } else if is("nocommands") || is("-@all") {
            self.set_all_commands(false);
        } else if op[0] == b'~' || op[0] == b'%' {
            self.add_key_pattern(op)?;
        } else if op[0] == b'&' {
            if self.allchannels {
                return Err(RuleError::ChannelAfterAll);
            }
            let pat = &op[1..];
            if has_spaces(pat) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c == pat) {
                self.channels.push(pat.to_vec());
            }
            self.allchannels = false;
        } else if op[0] == b'+' && op.get(1) != Some(&b'@') {
            self.allow_command(&op[1..])?;
        } else if op[0] == b'-' && op.get(1) != Some(&b'@') {
            let id = table().lookup(&op[1..]).ok_or(RuleError::UnknownCommand)?;
            self.change_perm(id, false);
        } else if (op[0] == b'+' || op[0] == b'-') && op.get(1) == Some(&b'@') {
            let cat = category_bit(&op[2..]).ok_or(RuleError::UnknownCommand)?;
            self.set_category(cat, op[0] == b'+');
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    fn add_key_pattern(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if self.allkeys {
            return Err(RuleError::KeyAfterAll);
        }
        let mut flags = 0;
        let mut offset = 1;
        if op[0] == b'%' {
            while offset < op.len() {
                let c = op[offset].to_ascii_uppercase();
                if c == b'R' && flags & KEY_READ == 0 {
                    flags |= KEY_READ;
                } else if c == b'W' && flags & KEY_WRITE == 0 {
                    flags |= KEY_WRITE;
                } else if op[offset] == b'~' {
                    offset += 1;
                    break;
                } else {
                    return Err(RuleError::Syntax);
                }
                offset += 1;
            }
            // "%~x" names no permission: Redis 7.0.15 would keep a pattern it cannot
            // describe (and crash on ACL LIST); it is refused here.
            if flags == 0 {
                return Err(RuleError::Syntax);
            }
        } else {
            flags = KEY_ALL;
        }
        let pat = &op[offset.min(op.len())..];
        if has_spaces(pat) {
            return Err(RuleError::Syntax);
        }
        match self.keys.iter_mut().find(|k| k.pattern == pat) {
            Some(k) => k.flags |= flags,
            None => self.keys.push(KeyPattern {
                flags,
                pattern: pat.to_vec(),
            }),
        }
        self.allkeys = false;
        Ok(())
    }

    /// "+cmd", "+container|sub" or "+cmd|firstarg".
    fn allow_command(&mut self, name: &[u8]) -> Result<(), RuleError> {
        let t = table();
        let Some(bar) = name.iter().rposition(|&b| b == b'|') else {
            let id = t.lookup(name).ok_or(RuleError::UnknownCommand)?;
            self.change_perm(id, true);
            return Ok(());
        };
        let (base, sub) = (&name[..bar], &name[bar + 1..]);
        let id = t.lookup(base).ok_or(RuleError::UnknownCommand)?;
        let info = &t.cmds[usize::from(id)];
        if info.parent.is_some() {
            return Err(RuleError::SubcommandFirstArg);
        }
        if sub.is_empty() {
            return Err(RuleError::Syntax);
        }
        if !info.subs.is_empty() {
            let sid = t.lookup(name).ok_or(RuleError::UnknownCommand)?;
            self.change_perm(sid, true);
        } else {
            match self.firstargs.iter_mut().find(|(i, _)| *i == id) {
                Some((_, subs)) => {
                    if !subs.iter().any(|s| s.eq_ignore_ascii_case(sub)) {
                        subs.push(sub.to_vec());
                    }
                }
                None => self.firstargs.push((id, vec![sub.to_vec()])),
            }
        }
        Ok(())
    }

    /// Whether this selector lets through any command, key and channel.
    pub(crate) fn unrestricted(&self) -> bool {
        self.allcommands && self.allkeys && self.allchannels
    }
}

/// ACLStringHasSpaces: whitespace or NUL.
pub(crate) fn has_spaces(s: &[u8]) -> bool {
    s.iter()
        .any(|&b| b == 0 || b == b' ' || (b'\t'..=b'\r').contains(&b))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct User {
    pub(crate) name: Vec<u8>,
    pub(crate) flags: u8,
    /// SHA-256 hex digests.
    pub(crate) passwords: Vec<String>,
    /// The root selector first.
    pub(crate) selectors: Vec<Selector>,
}

/// SHA-256 of a password, in lowercase hex (ACLHashPassword).
pub(crate) fn hash_password(pass: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(pass);
    let mut s = String::with_capacity(64);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn valid_hash(h: &[u8]) -> bool {
    h.len() == 64
        && h.iter()
            .all(|&c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

impl User {
    /// A new user: off, no password, no permissions (ACLCreateUser).
    pub(crate) fn new(name: &[u8], pubsub_all: bool) -> Self {
        User {
            name: name.to_vec(),
            flags: USER_OFF,
            passwords: Vec::new(),
            selectors: vec![Selector::new(true, pubsub_all)],
        }
    }

    /// The default user: on, nopass, everything (ACLCreateDefaultUser).
    pub(crate) fn default_user(pubsub_all: bool) -> Self {
        let mut u = User::new(b"default", pubsub_all);
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            let _ = u.apply(op.as_bytes(), pubsub_all);
        }
        u
    }

    pub(crate) fn root(&self) -> &Selector {
        &self.selectors[0]
    }

    pub(crate) fn enabled(&self) -> bool {
        self.flags & USER_OFF == 0
    }

    pub(crate) fn nopass(&self) -> bool {
        self.flags & USER_NOPASS != 0
    }

    /// Anything goes: one selector with all commands, keys and channels.
    pub(crate) fn unrestricted(&self) -> bool {
        self.selectors.len() == 1 && self.selectors[0].unrestricted()
    }

    /// ACLSetUser: one rule. `pubsub_all` is acl-pubsub-default (for new selectors and
    /// `reset`).
    pub(crate) fn apply(&mut self, op: &[u8], pubsub_all: bool) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if is("on") {
            self.flags = (self.flags | USER_ON) & !USER_OFF;
        } else if is("off") {
            self.flags = (self.flags | USER_OFF) & !USER_ON;
        } else if is("skip-sanitize-payload") {
            self.flags = (self.flags | USER_SKIP_SANITIZE) & !USER_SANITIZE;
        } else if is("sanitize-payload") {
            self.flags = (self.flags | USER_SANITIZE) & !USER_SKIP_SANITIZE;
        } else if is("nopass") {
            self.flags |= USER_NOPASS;
            self.passwords.clear();
        } else if is("resetpass") {
            self.flags &= !USER_NOPASS;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let h = if op[0] == b'>' {
                hash_password(&op[1..])
            } else if valid_hash(&op[1..]) {
                String::from_utf8_lossy(&op[1..]).into_owned()
            } else {
                return Err(RuleError::BadHash);
            };
            if !self.passwords.contains(&h) {
                self.passwords.push(h);
            }
            self.flags &= !USER_NOPASS;
        } else if op[0] == b'<' || op[0] == b'!' {
            let h = if op[0] == b'<' {
                hash_password(&op[1..])
            } else if valid_hash(&op[1..]) {
                String::from_utf8_lossy(&op[1..]).into_owned()
            } else {
                return Err(RuleError::BadHash);
            };
            let Some(i) = self.passwords.iter().position(|p| *p == h) else {
                return Err(RuleError::NoSuchPassword);
            };
            self.passwords.remove(i);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let inner = &op[1..op.len() - 1];
            let mut s = Selector::new(false, pubsub_all);
            // An unbalanced quote splits into nothing: an empty selector, as sdssplitargs.
            for rule in amber_resp::parse::split_args(inner).unwrap_or_default() {
                s.apply_nonempty(&rule)?;
            }
            self.selectors.push(s);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            for r in ["resetpass", "resetkeys", "resetchannels"] {
                self.apply(r.as_bytes(), pubsub_all)?;
            }
            if pubsub_all {
                self.apply(b"allchannels", pubsub_all)?;
            }
            for r in ["off", "sanitize-payload", "clearselectors", "-@all"] {
                self.apply(r.as_bytes(), pubsub_all)?;
            }
        } else {
            self.selectors[0].apply(op)?;
        }
        Ok(())
    }

    /// Checks a password against this user (ACLCheckUserCredentials, after the user is found).
    pub(crate) fn password_ok(&self, pass: &[u8]) -> bool {
        if !self.enabled() {
            return false;
        }
        if self.nopass() {
            return true;
        }
        let h = hash_password(pass);
        self.passwords
            .iter()
            .any(|p| constant_time_eq(p.as_bytes(), h.as_bytes()))
    }
}

impl Selector {
    /// A rule inside "(...)": an empty one is nothing, as in ACLSetUser.
    fn apply_nonempty(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if op.is_empty() {
            return Err(RuleError::Syntax);
        }
        self.apply(op)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// ACLMergeSelectorArguments: a selector spread over several arguments ("(+get", "~x)")
/// becomes one. Err(index) of an opening parenthesis never closed.
pub(crate) fn merge_selectors(args: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, usize> {
    let mut out = Vec::with_capacity(args.len());
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (j, op) in args.iter().enumerate() {
        if let Some((_, sel)) = open.as_mut() {
            sel.push(b' ');
            sel.extend_from_slice(op);
            if op.last() == Some(&b')') {
                if let Some((_, s)) = open.take() {
                    out.push(s);
                }
            }
            continue;
        }
        if op.first() == Some(&b'(') && op.last() != Some(&b')') {
            open = Some((j, op.clone()));
            continue;
        }
        out.push(op.clone());
    }
    match open {
        Some((j, _)) => Err(j),
        None => Ok(out),
    }
}
