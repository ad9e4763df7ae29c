//! The command ids ACL bitmaps are indexed by, each command's categories, and which commands
//! name channels. Built once from the command table, with Redis's own command names (ACL
//! rules ignore rename-command, as Redis bases them on its original table).

use std::sync::OnceLock;

use hashbrown::HashMap;

use crate::cmd::{families, Command};

/// Redis's ACL categories, in its order (ACL CAT, rule descriptions). Bit `j` of a
/// command's category mask is category `j`.
pub(crate) const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// The bit of a category name (case-insensitive), as ACLGetCommandCategoryFlagByName.
pub(crate) fn category_bit(name: &[u8]) -> Option<u32> {
    CATEGORIES
        .iter()
        .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

/// How a command names channels (Redis's commands_with_channels, the kinds ACL checks).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channels {
    None,
    /// SUBSCRIBE, SSUBSCRIBE: every argument is a channel.
    Subscribe,
    /// PSUBSCRIBE: every argument is a pattern, matched literally against the rules.
    PSubscribe,
    /// PUBLISH, SPUBLISH: the first argument.
    Publish,
}

pub(crate) struct CmdInfo {
    /// Amber's command; None for a Redis command Amber does not have (rules may still name
    /// it, as Redis's ACL files do).
    pub(crate) cmd: Option<&'static Command>,
    pub(crate) parent: Option<u16>,
    /// "get", "config|get".
    pub(crate) full: String,
    pub(crate) cats: u32,
    pub(crate) subs: Vec<u16>,
    pub(crate) channels: Channels,
    pub(crate) has_keys: bool,
}

impl CmdInfo {
    /// NO_AUTH commands (AUTH, HELLO) are never refused by the command rules.
    pub(crate) fn no_auth(&self) -> bool {
        self.cmd.is_some_and(|c| c.flags & crate::cmd::NO_AUTH != 0)
    }
}

pub(crate) struct Table {
    pub(crate) cmds: Vec<CmdInfo>,
    /// The top-level commands, by name.
    pub(crate) top: Vec<u16>,
    by_ptr: HashMap<usize, u16>,
    by_name: HashMap<String, u16>,
}

impl Table {
    /// Redis's command table, then Amber's commands mapped onto it (and any Redis lacks
    /// added with the categories Amber gives them).
    fn build() -> Table {
        let mut t = Table {
            cmds: Vec::new(),
            top: Vec::new(),
            by_ptr: HashMap::new(),
            by_name: HashMap::new(),
        };
        for (full, cats) in super::redis_commands::REDIS_COMMANDS {
            t.add(full, *cats);
        }
        for fam in families() {
            for c in fam.iter() {
                t.map(c, None);
                for s in c.subcommands {
                    t.map(s, Some(c));
                }
            }
        }
        t
    }

    fn add(&mut self, full: &str, cats: u32) -> u16 {
        let id = self.cmds.len() as u16;
        let parent = full
            .split_once('|')
            .and_then(|(p, _)| self.by_name.get(p).copied());
        let channels = match full {
            "subscribe" | "ssubscribe" => Channels::Subscribe,
            "psubscribe" => Channels::PSubscribe,
            "publish" | "spublish" => Channels::Publish,
            _ => Channels::None,
        };
        match parent {
            Some(p) => self.cmds[usize::from(p)].subs.push(id),
            None => self.top.push(id),
        }
        self.by_name.insert(full.to_string(), id);
        self.cmds.push(CmdInfo {
            cmd: None,
            parent,
            full: full.to_string(),
            cats,
            subs: Vec::new(),
            channels,
            has_keys: false,
        });
        id
    }

    fn map(&mut self, c: &'static Command, parent: Option<&'static Command>) {
        let full = crate::cmd::full_name(parent, c);
        let id = match self.by_name.get(&full) {
            Some(&id) => id,
            None => {
                let mut cats = 0;
                for cat in crate::cmd::server_admin::acl_categories(c) {
                    if let Some(b) = category_bit(cat.trim_start_matches('@').as_bytes()) {
                        cats |= b;
                    }
                }
                self.add(&full, cats)
            }
        };
        let info = &mut self.cmds[usize::from(id)];
        info.cmd = Some(c);
        info.has_keys = crate::cmd::getkeys::has_keys(&full);
        self.by_ptr.insert(c as *const Command as usize, id);
    }

    /// The id of a command of the table.
    pub(crate) fn id_of(&self, c: &'static Command) -> Option<u16> {
        self.by_ptr.get(&(c as *const Command as usize)).copied()
    }

    /// A command by Redis's name, "get" or "config|get" (case-insensitive), as
    /// ACLLookupCommand: more than one `|` finds nothing.
    pub(crate) fn lookup(&self, name: &[u8]) -> Option<u16> {
        let s = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
        if s.matches('|').count() > 1 {
            return None;
        }
        self.by_name.get(&s).copied()
    }

    /// Number of command ids; the bitmap keeps one more bit: "future commands" (+@all).
    pub(crate) fn len(&self) -> usize {
        self.cmds.len()
    }
}

static TABLE: OnceLock<Table> = OnceLock::new();

pub(crate) fn table() -> &'static Table {
    TABLE.get_or_init(Table::build)
}
