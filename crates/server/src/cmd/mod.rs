//! The command table. Dispatch (`process`, `call`, `Ctx`) is in dispatch.rs, blocking
//! operations in blocking.rs.
//!
//! Each command family lives in its own file and exports `COMMANDS`, a table of `Command`
//! rows: name, arity, flags, key positions, ACL categories and handler. A handler gets a `Ctx`
//! (server, client, arguments), writes its reply into the client's output buffer, and returns
//! `Err(Error)` to reply with an error instead.
//!
//! `process` follows Redis 7.0's `processCommand`: lookup, arity, authentication, pub/sub
//! context, MULTI queueing; then `call` runs the handler and keeps the statistics.

use std::borrow::Cow;

use hashbrown::HashMap;

pub(crate) mod args;
mod bitfield;
pub(crate) mod bitmaps;
mod blocking;
mod client_ctl;
pub(crate) mod connection;
mod debug;
pub(crate) mod digest;
mod dispatch;
pub(crate) mod docs;
pub(crate) mod dump;
mod geo;
pub(crate) mod getkeys;
pub(crate) mod glob;
pub(crate) mod hashes;
mod hyperloglog;
pub(crate) mod info;
pub(crate) mod keys;
mod keyspecs;
pub(crate) mod latency;
pub(crate) mod latency_hist;
mod latency_report;
pub(crate) mod ldouble;
pub(crate) mod lists;
mod lolwut;
pub(crate) mod memory;
mod module;
pub(crate) mod monitor;
pub(crate) mod notify;
pub(crate) mod persistence;
pub(crate) mod pubsub;
pub(crate) mod replication;
pub(crate) mod scan;
pub(crate) mod server_admin;
pub(crate) mod sets;
pub(crate) mod slowlog;
pub(crate) mod sort;
pub(crate) mod streams;
pub(crate) mod strings;
pub(crate) mod tx;
pub(crate) mod zsets;

pub(crate) use blocking::{handle_ready_keys, unregister_blocked};
pub(crate) use dispatch::{call, count_error, process, After, Ctx};

// Command flags (Redis's CMD_*). `FLAG_NAMES` gives their COMMAND INFO spelling.
pub(crate) const WRITE: u32 = 1 << 0;
pub(crate) const READONLY: u32 = 1 << 1;
pub(crate) const DENYOOM: u32 = 1 << 2;
pub(crate) const ADMIN: u32 = 1 << 3;
pub(crate) const PUBSUB: u32 = 1 << 4;
pub(crate) const NOSCRIPT: u32 = 1 << 5;
pub(crate) const BLOCKING: u32 = 1 << 6;
pub(crate) const LOADING: u32 = 1 << 7;
pub(crate) const STALE: u32 = 1 << 8;
pub(crate) const SKIP_MONITOR: u32 = 1 << 9;
pub(crate) const SKIP_SLOWLOG: u32 = 1 << 10;
pub(crate) const FAST: u32 = 1 << 11;
pub(crate) const NO_AUTH: u32 = 1 << 12;
pub(crate) const MAY_REPLICATE: u32 = 1 << 13;
pub(crate) const NO_MULTI: u32 = 1 << 14;
pub(crate) const ALLOW_BUSY: u32 = 1 << 15;
pub(crate) const NO_MANDATORY_KEYS: u32 = 1 << 16;
pub(crate) const SENTINEL: u32 = 1 << 17;
/// Key positions depend on arguments (numkeys): COMMAND INFO's `movablekeys`.
pub(crate) const MOVABLEKEYS: u32 = 1 << 18;
pub(crate) const NO_ASYNC_LOADING: u32 = 1 << 19;

pub(crate) const FLAG_NAMES: &[(u32, &str)] = &[
    (WRITE, "write"),
    (READONLY, "readonly"),
    (DENYOOM, "denyoom"),
    (ADMIN, "admin"),
    (PUBSUB, "pubsub"),
    (NOSCRIPT, "noscript"),
    (BLOCKING, "blocking"),
    (LOADING, "loading"),
    (STALE, "stale"),
    (SKIP_MONITOR, "skip_monitor"),
    (SKIP_SLOWLOG, "skip_slowlog"),
    (FAST, "fast"),
    (NO_AUTH, "no_auth"),
    // MAY_REPLICATE is left out: Redis 7.0 hides it from COMMAND INFO on purpose.
    (NO_MULTI, "no_multi"),
    (ALLOW_BUSY, "allow_busy"),
    (NO_MANDATORY_KEYS, "no_mandatory_keys"),
    (MOVABLEKEYS, "movablekeys"),
    (NO_ASYNC_LOADING, "no_async_loading"),
];

/// An error reply. The text carries its code: "ERR ...", "WRONGTYPE ...", "NOAUTH ...".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Error(pub Cow<'static, str>);

impl Error {
    pub(crate) fn new(msg: impl Into<Cow<'static, str>>) -> Self {
        Error(msg.into())
    }
    pub(crate) fn wrongtype() -> Self {
        Error::new("WRONGTYPE Operation against a key holding the wrong kind of value")
    }
    pub(crate) fn syntax() -> Self {
        Error::new("ERR syntax error")
    }
    pub(crate) fn not_int() -> Self {
        Error::new("ERR value is not an integer or out of range")
    }
    pub(crate) fn not_float() -> Self {
        Error::new("ERR value is not a valid float")
    }
    pub(crate) fn no_such_key() -> Self {
        Error::new("ERR no such key")
    }
    pub(crate) fn out_of_range() -> Self {
        Error::new("ERR index out of range")
    }
}

pub(crate) type Reply = Result<(), Error>;
pub(crate) type Handler = fn(&mut Ctx<'_>) -> Reply;

/// One row of the command table.
pub(crate) struct Command {
    /// Lowercase name; for subcommands the subcommand name alone.
    pub(crate) name: &'static str,
    /// Exact argument count when positive, minimum when negative (the name counts).
    pub(crate) arity: i32,
    pub(crate) flags: u32,
    pub(crate) first_key: i32,
    pub(crate) last_key: i32,
    pub(crate) step: i32,
    /// ACL categories beyond those implied by flags, such as "@string" or "@keyspace".
    pub(crate) acl: &'static [&'static str],
    pub(crate) handler: Handler,
    pub(crate) subcommands: &'static [Command],
}

impl Command {
    pub(crate) const fn new(
        name: &'static str,
        arity: i32,
        flags: u32,
        keys: (i32, i32, i32),
        acl: &'static [&'static str],
        handler: Handler,
    ) -> Self {
        Command {
            name,
            arity,
            flags,
            first_key: keys.0,
            last_key: keys.1,
            step: keys.2,
            acl,
            handler,
            subcommands: &[],
        }
    }

    /// A command with subcommands (CLIENT, CONFIG, ...). Like Redis, the container has no ACL
    /// categories of its own: its subcommands carry them.
    pub(crate) const fn container(
        name: &'static str,
        arity: i32,
        flags: u32,
        subcommands: &'static [Command],
    ) -> Self {
        Self::container_with_handler(name, arity, flags, &[], |_| Ok(()), subcommands)
    }

    /// A container that also runs on its own, with no subcommand (COMMAND), and so has ACL
    /// categories of its own.
    pub(crate) const fn container_with_handler(
        name: &'static str,
        arity: i32,
        flags: u32,
        acl: &'static [&'static str],
        handler: Handler,
        subcommands: &'static [Command],
    ) -> Self {
        Command {
            name,
            arity,
            flags,
            first_key: 0,
            last_key: 0,
            step: 0,
            acl,
            handler,
            subcommands,
        }
    }

    pub(crate) fn is_write(&self) -> bool {
        self.flags & WRITE != 0
    }
}

/// Name → command, for every family.
pub(crate) struct CommandTable {
    /// The names clients call commands by (after rename-command).
    by_name: HashMap<Box<str>, &'static Command>,
    /// Redis's own names: what the AOF holds, whatever the renames.
    original: HashMap<&'static str, &'static Command>,
}

pub(crate) fn families() -> [&'static [Command]; 28] {
    [
        connection::COMMANDS,
        keys::COMMANDS,
        strings::COMMANDS,
        bitmaps::COMMANDS,
        bitfield::COMMANDS,
        hyperloglog::COMMANDS,
        lists::COMMANDS,
        hashes::COMMANDS,
        sets::COMMANDS,
        zsets::COMMANDS,
        geo::COMMANDS,
        streams::COMMANDS,
        tx::COMMANDS,
        pubsub::COMMANDS,
        server_admin::COMMANDS,
        debug::COMMANDS,
        persistence::COMMANDS,
        dump::COMMANDS,
        replication::COMMANDS,
        slowlog::COMMANDS,
        sort::COMMANDS,
        monitor::COMMANDS,
        latency::COMMANDS,
        memory::COMMANDS,
        module::COMMANDS,
        crate::scripting::EVAL_COMMANDS,
        crate::scripting::FUNCTION_COMMANDS,
        crate::acl::command::COMMANDS,
    ]
}

impl CommandTable {
    pub(crate) fn new() -> Self {
        let mut original = HashMap::new();
        for fam in families() {
            for c in fam {
                original.insert(c.name, c);
            }
        }
        let by_name = original.iter().map(|(n, c)| (Box::from(*n), *c)).collect();
        CommandTable { by_name, original }
    }

    /// The table with redis.conf's `rename-command` lines applied in order (an empty new
    /// name disables the command). Errors carry Redis's texts.
    pub(crate) fn with_renames(renames: &[(String, String)]) -> Result<Self, String> {
        let mut t = CommandTable::new();
        for (old, new) in renames {
            t.rename(old, new)?;
        }
        Ok(t)
    }

    fn rename(&mut self, old: &str, new: &str) -> Result<(), String> {
        let old = old.to_ascii_lowercase();
        let Some(cmd) = self.by_name.remove(old.as_str()) else {
            return Err("No such command in rename-command".into());
        };
        if !new.is_empty() {
            let new = new.to_ascii_lowercase();
            if self.by_name.contains_key(new.as_str()) {
                self.by_name.insert(old.into(), cmd);
                return Err("Target command name already exists".into());
            }
            self.by_name.insert(new.into(), cmd);
        }
        Ok(())
    }

    /// The command a client calls `name`.
    pub(crate) fn lookup(&self, name: &[u8]) -> Option<&'static Command> {
        let mut buf = [0u8; 32];
        match lowercase(name, &mut buf) {
            Some(s) => self.by_name.get(s).copied(),
            // Only a renamed command can have a longer name.
            None => {
                let lower = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
                self.by_name.get(lower.as_str()).copied()
            }
        }
    }

    /// The command Redis calls `name` (AOF replay, commands the server runs itself).
    pub(crate) fn lookup_original(&self, name: &[u8]) -> Option<&'static Command> {
        let mut buf = [0u8; 32];
        self.original.get(lowercase(name, &mut buf)?).copied()
    }
}

/// `name` lowercased into `buf` without allocating; None when it does not fit (or is not
/// UTF-8, which no command name is).
fn lowercase<'a>(name: &[u8], buf: &'a mut [u8; 32]) -> Option<&'a str> {
    let lower = buf.get_mut(..name.len())?;
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    std::str::from_utf8(lower).ok()
}

impl Default for CommandTable {
    fn default() -> Self {
        Self::new()
    }
}

/// Resolves a container command's subcommand from the arguments.
pub(crate) fn subcommand(cmd: &'static Command, args: &[Vec<u8>]) -> Option<&'static Command> {
    let sub = args.get(1)?;
    cmd.subcommands
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(sub))
}

/// A command's full name, as Redis's `fullname`: "get", or "config|get" for a subcommand.
/// The key of the per-command statistics and what CLIENT LIST shows as `cmd=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct CmdName {
    pub(crate) parent: Option<&'static str>,
    pub(crate) name: &'static str,
}

impl CmdName {
    pub(crate) const fn of(parent: Option<&'static Command>, cmd: &'static Command) -> Self {
        CmdName {
            parent: match parent {
                Some(p) => Some(p.name),
                None => None,
            },
            name: cmd.name,
        }
    }
}

impl std::fmt::Display for CmdName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.parent {
            Some(p) => write!(f, "{p}|{}", self.name),
            None => f.write_str(self.name),
        }
    }
}

/// The name Redis uses in messages and statistics: "get", "config|get".
pub(crate) fn full_name(parent: Option<&Command>, cmd: &Command) -> String {
    match parent {
        Some(p) => format!("{}|{}", p.name, cmd.name),
        None => cmd.name.to_string(),
    }
}
