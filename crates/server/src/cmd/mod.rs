//! The command table and dispatch.
//!
//! Each command family lives in its own file and exports `COMMANDS`, a table of `Command`
//! rows: name, arity, flags, key positions, ACL categories and handler. A handler gets a `Ctx`
//! (server, client, arguments), writes its reply into the client's output buffer, and returns
//! `Err(Error)` to reply with an error instead.
//!
//! `process` follows Redis 7.0's `processCommand`: lookup, arity, authentication, pub/sub
//! context, MULTI queueing; then `call` runs the handler and keeps the statistics.

use std::borrow::Cow;

use amber_resp::ReplyBuf;
use hashbrown::HashMap;

use crate::client::{BlockState, Client, MultiState, Queued};
use crate::server::Server;

pub(crate) mod args;
pub(crate) mod bitmaps;
pub(crate) mod connection;
pub(crate) mod digest;
pub(crate) mod docs;
pub(crate) mod dump;
pub(crate) mod glob;
pub(crate) mod hashes;
pub(crate) mod info;
pub(crate) mod keys;
pub(crate) mod latency;
pub(crate) mod ldouble;
pub(crate) mod lists;
pub(crate) mod memory;
pub(crate) mod monitor;
pub(crate) mod persistence;
pub(crate) mod pubsub;
pub(crate) mod replication;
pub(crate) mod scan;
pub(crate) mod server_admin;
pub(crate) mod sets;
pub(crate) mod slowlog;
pub(crate) mod sort;
pub(crate) mod strings;
pub(crate) mod tx;
pub(crate) mod zsets;

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
    (MAY_REPLICATE, "may_replicate"),
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

pub(crate) fn families() -> [&'static [Command]; 19] {
    [
        connection::COMMANDS,
        keys::COMMANDS,
        strings::COMMANDS,
        bitmaps::COMMANDS,
        lists::COMMANDS,
        hashes::COMMANDS,
        sets::COMMANDS,
        zsets::COMMANDS,
        tx::COMMANDS,
        pubsub::COMMANDS,
        server_admin::COMMANDS,
        persistence::COMMANDS,
        dump::COMMANDS,
        replication::COMMANDS,
        slowlog::COMMANDS,
        sort::COMMANDS,
        monitor::COMMANDS,
        latency::COMMANDS,
        memory::COMMANDS,
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

/// Everything a handler may touch.
pub(crate) struct Ctx<'a> {
    pub(crate) srv: &'a mut Server,
    pub(crate) cl: &'a mut Client,
    pub(crate) args: &'a [Vec<u8>],
    pub(crate) cmd: &'static Command,
    /// Run again for a client that was blocked on a key that became ready.
    pub(crate) reprocessing: bool,
}

impl Ctx<'_> {
    pub(crate) fn out(&mut self) -> &mut ReplyBuf {
        &mut self.cl.out
    }

    /// A HELP reply: the lines as status replies, in one array.
    pub(crate) fn help_lines(&mut self, lines: &[&str]) -> Reply {
        let out = &mut self.cl.out;
        out.array(lines.len());
        for l in lines {
            out.simple(l);
        }
        Ok(())
    }

    /// Unix ms at which this command executes.
    pub(crate) fn now(&self) -> i64 {
        self.srv.cmd_time_ms
    }

    /// A key was written: WATCH-ers fail, the change counts for save points (`dirty`).
    pub(crate) fn modified(&mut self, db: usize, key: &[u8]) {
        self.srv.touch_watched(db, key);
        if self
            .cl
            .watched
            .iter()
            .any(|(d, k)| *d == db && k.as_slice() == key)
        {
            self.cl.dirty_cas = true;
        }
    }

    /// Whether an absolute expiry (Unix ms) means the key is gone at once (checkAlreadyExpired).
    /// Never while replaying the AOF: as Redis, the key is loaded with its expiry and
    /// expires like any other, so replay ends in exactly the dataset that was logged.
    pub(crate) fn already_expired(&self, when_ms: i64) -> bool {
        when_ms <= self.now() && self.cl.id != crate::durability::aof::load::AOF_CLIENT_ID
    }

    /// Adds `n` changes to the counter behind save points and INFO.
    pub(crate) fn dirty(&mut self, n: u64) {
        self.srv.dirty += n;
    }

    /// Records the effect to replay instead of the command as received (e.g. SPOP → SREM).
    pub(crate) fn propagate(&mut self, args: Vec<Vec<u8>>) {
        let db = self.cl.db;
        self.srv.propagate(db, args);
    }

    /// The keys a blocking command should try, in order: when a woken client runs again, the
    /// key that became ready comes first (Redis 7.0 serves a woken client from that key).
    pub(crate) fn serving_first<'k>(&self, keys: &'k [Vec<u8>]) -> Vec<&'k Vec<u8>> {
        let mut order: Vec<&Vec<u8>> = keys.iter().collect();
        if self.reprocessing {
            if let Some(ready) = &self.srv.blocking.serving {
                if let Some(i) = order.iter().position(|k| k.as_slice() == ready.as_slice()) {
                    let k = order.remove(i);
                    order.insert(0, k);
                }
            }
        }
        order
    }

    /// Whether a blocking command may wait (not inside MULTI).
    pub(crate) fn can_block(&self) -> bool {
        !self.cl.in_multi()
    }

    /// Blocks the client on `keys` until one is ready or `timeout_ms` passes (0 = forever).
    /// The command runs again, with `reprocessing` set, when a key becomes ready.
    pub(crate) fn block(
        &mut self,
        keys: Vec<amber_store::Key>,
        timeout_ms: i64,
        on_timeout: fn(&mut ReplyBuf),
    ) {
        let deadline = match &self.cl.blocked {
            // Keep the original deadline when re-blocking after a wake-up.
            Some(b) if self.reprocessing => b.deadline,
            // A timeout too far to represent is no timeout (Redis blocks as long).
            _ if timeout_ms > 0 => std::time::Instant::now()
                .checked_add(std::time::Duration::from_millis(timeout_ms as u64)),
            _ => None,
        };
        self.cl.blocked = Some(BlockState {
            db: self.cl.db,
            keys,
            deadline,
            cmd: self.cmd,
            args: self.args.to_vec(),
            on_timeout,
        });
    }
}

/// What the connection should do after a command.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum After {
    Continue,
    /// The client blocked or was paused: stop processing its input until woken.
    Wait,
}

/// Processes one request from a client, as Redis's processCommand.
pub(crate) fn process(srv: &mut Server, cl: &mut Client, args: Vec<Vec<u8>>) -> After {
    // The AOF holds Redis's names, whatever rename-command says.
    let found = if cl.id == crate::durability::aof::load::AOF_CLIENT_ID {
        srv.commands.lookup_original(&args[0])
    } else {
        srv.commands.lookup(&args[0])
    };
    let Some(cmd) = found else {
        let mut rest = String::new();
        for a in args.iter().skip(1) {
            if rest.len() >= 128 {
                break;
            }
            let room = 128 - rest.len();
            let s = String::from_utf8_lossy(a);
            let s: String = s.chars().take(room).collect();
            rest.push_str(&format!("'{s}' "));
        }
        let name: String = String::from_utf8_lossy(&args[0])
            .chars()
            .take(128)
            .collect();
        reject(
            srv,
            cl,
            format!("ERR unknown command '{name}', with args beginning with: {rest}"),
        );
        return After::Continue;
    };
    // A container with arity -1 (COMMAND) also runs on its own, without a subcommand.
    let (parent, cmd) = if cmd.subcommands.is_empty() || (args.len() == 1 && cmd.arity == -1) {
        (None, cmd)
    } else if args.len() == 1 {
        reject_cmd(
            srv,
            cl,
            Some(CmdName::of(None, cmd)),
            format!("ERR wrong number of arguments for '{}' command", cmd.name),
        );
        return After::Continue;
    } else {
        match subcommand(cmd, &args) {
            Some(sub) => (Some(cmd), sub),
            None => {
                let sub: String = String::from_utf8_lossy(&args[1])
                    .chars()
                    .take(128)
                    .collect();
                reject(
                    srv,
                    cl,
                    format!(
                        "ERR unknown subcommand '{}'. Try {} HELP.",
                        sub,
                        cmd.name.to_ascii_uppercase()
                    ),
                );
                return After::Continue;
            }
        }
    };
    let stat = CmdName::of(parent, cmd);
    let argc = args.len() as i32;
    if (cmd.arity > 0 && cmd.arity != argc) || argc < -cmd.arity {
        reject_cmd(
            srv,
            cl,
            Some(stat),
            format!(
                "ERR wrong number of arguments for '{}' command",
                full_name(parent, cmd)
            ),
        );
        return After::Continue;
    }
    if !cl.authenticated && srv.config.requirepass.is_some() && cmd.flags & NO_AUTH == 0 {
        reject_cmd(
            srv,
            cl,
            Some(stat),
            "NOAUTH Authentication required.".to_string(),
        );
        return After::Continue;
    }
    if parent.is_none()
        && cmd.name == "debug"
        && !protected_allowed(srv.config.enable_debug_command, cl)
    {
        reject_cmd(srv, cl, Some(stat), "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.".to_string());
        return After::Continue;
    }
    if cl.in_multi() && cmd.flags & NO_MULTI != 0 {
        reject_cmd(
            srv,
            cl,
            Some(stat),
            "ERR Command not allowed inside a transaction".to_string(),
        );
        return After::Continue;
    }
    let name = parent.map(|p| p.name).unwrap_or(cmd.name);
    // A failed background save refuses writes (and PING, as Redis does) until a save succeeds.
    let is_write = cmd.flags & WRITE != 0
        || (name == "exec"
            && cl
                .multi
                .as_ref()
                .is_some_and(|m| m.queue.iter().any(|q| q.cmd.is_write())));
    if (is_write || name == "ping") && cl.id != crate::durability::aof::load::AOF_CLIENT_ID {
        if crate::durability::save::writes_denied(srv) {
            reject_cmd(
                srv,
                cl,
                Some(stat),
                crate::durability::save::MISCONF.to_string(),
            );
            return After::Continue;
        }
        if let Some(msg) = crate::durability::aof::writes_denied(srv) {
            reject_cmd(srv, cl, Some(stat), msg);
            return After::Continue;
        }
    }
    // A MONITOR client is a replica to Redis: it may not touch the keyspace.
    if cl.monitor && (cmd.flags & (WRITE | READONLY | MAY_REPLICATE) != 0 || is_write) {
        reject_cmd(
            srv,
            cl,
            Some(stat),
            "ERR Replica can't interact with the keyspace".to_string(),
        );
        return After::Continue;
    }
    if cl.subscriptions() > 0
        && cl.resp() == 2
        && !matches!(
            name,
            "ping"
                | "subscribe"
                | "ssubscribe"
                | "unsubscribe"
                | "sunsubscribe"
                | "psubscribe"
                | "punsubscribe"
                | "quit"
                | "reset"
        )
    {
        reject_cmd(srv, cl, Some(stat), format!("ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context", full_name(parent, cmd)));
        return After::Continue;
    }
    if srv.loading.is_some() && cmd.flags & LOADING == 0 {
        reject_cmd(
            srv,
            cl,
            Some(stat),
            "LOADING Redis is loading the dataset in memory".to_string(),
        );
        return After::Continue;
    }
    if cl.in_multi()
        && !matches!(
            name,
            "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
        )
    {
        if let Some(m) = cl.multi.as_mut() {
            m.queue.push(Queued {
                cmd: parent.unwrap_or(cmd),
                args,
            });
        }
        cl.out.simple("QUEUED");
        return After::Continue;
    }
    call(srv, cl, parent.unwrap_or(cmd), &args, false);
    if cl.blocked.is_some() {
        register_blocked(srv, cl);
        return After::Wait;
    }
    After::Continue
}

fn protected_allowed(p: crate::config::Protection, cl: &Client) -> bool {
    match p {
        crate::config::Protection::Yes => true,
        crate::config::Protection::No => false,
        crate::config::Protection::Local => cl.is_local,
    }
}

/// Refuses a command: replies with the error and, inside MULTI, dooms the transaction.
/// A refused EXEC aborts the transaction at once (Redis's execCommandAbort).
fn reject(srv: &mut Server, cl: &mut Client, msg: String) {
    reject_cmd(srv, cl, None, msg)
}

/// Refuses a command that was found (`stat` names it): counted in its `rejected_calls`.
fn reject_cmd(srv: &mut Server, cl: &mut Client, stat: Option<CmdName>, msg: String) {
    if let Some(m) = cl.multi.as_mut() {
        m.dirty_exec = true;
    }
    if let Some(c) = stat {
        srv.stats.commands.entry(c).or_default().rejected_calls += 1;
        if c.parent.is_none() && c.name == "exec" {
            cl.multi = None;
            tx::unwatch_all(srv, cl);
            let why = msg.strip_prefix("ERR ").unwrap_or(&msg);
            let msg = format!("EXECABORT Transaction discarded because of: {why}");
            count_error(srv, &msg);
            cl.out.error(&msg);
            return;
        }
    }
    count_error(srv, &msg);
    cl.out.error(&msg);
}

fn count_error(srv: &mut Server, msg: &str) {
    srv.stats.total_error_replies += 1;
    let code = msg.split(' ').next().unwrap_or("ERR").to_string();
    *srv.stats.error_codes.entry(code).or_insert(0) += 1;
}

/// Runs a command (top-level `cmd`, the handler resolves subcommands) and keeps statistics.
pub(crate) fn call(
    srv: &mut Server,
    cl: &mut Client,
    cmd: &'static Command,
    args: &[Vec<u8>],
    reprocessing: bool,
) {
    let (parent, stat_cmd) = match subcommand(cmd, args) {
        Some(sub) if !cmd.subcommands.is_empty() => (Some(cmd), sub),
        _ => (None, cmd),
    };
    let stat = CmdName::of(parent, stat_cmd);
    let start = crate::sys::clock::monotonic_us();
    let dirty_before = srv.dirty;
    let appended_before = crate::durability::aof::appended(srv);
    let db_before = cl.db;
    let outer_replaced = std::mem::replace(&mut srv.propagation_replaced, false);
    srv.call_depth += 1;
    let mut ctx = Ctx {
        srv,
        cl,
        args,
        cmd: stat_cmd,
        reprocessing,
    };
    let top = ctx.srv.call_depth == 1;
    if top {
        crate::sys::crash::set_current(ctx.cl.id, Some(args));
    }
    let res = (stat_cmd.handler)(&mut ctx);
    if top {
        crate::sys::crash::set_current(0, None);
    }
    let usec = crate::sys::clock::monotonic_us().saturating_sub(start);
    srv.call_depth -= 1;
    let replaced = std::mem::replace(&mut srv.propagation_replaced, outer_replaced);
    // A write that changed something is replayed as received, unless it said otherwise.
    // (Only recorded when something consumes it: the AOF.)
    if !replaced
        && srv.aof.is_some()
        && srv.dirty > dirty_before
        && (cmd.is_write() || stat_cmd.is_write())
    {
        let mut logged = args.to_vec();
        if !logged[0].eq_ignore_ascii_case(cmd.name.as_bytes()) {
            // Called by a rename-command name: the AOF gets Redis's name.
            logged[0] = cmd.name.as_bytes().to_vec();
        }
        srv.propagated.push((db_before, logged));
    }
    if let Err(e) = &res {
        count_error(srv, &e.0);
        cl.out.error(&e.0);
    }
    // As Redis 7.0, a blocking command counts once: as processed when first run, and in its
    // command's calls when it completes (served here, or timed out in the connection).
    if !reprocessing {
        srv.stats.total_commands_processed += 1;
    }
    // "config|get" for a subcommand: what the slow log and MONITOR redact by; built only for
    // a command that is logged or shown.
    let full = || match parent {
        None => Cow::Borrowed(cmd.name),
        Some(_) => Cow::Owned(stat.to_string()),
    };
    let st = srv.stats.commands.entry(stat).or_default();
    if cl.blocked.as_ref().is_none_or(|b| b.keys.is_empty()) {
        st.calls += 1;
        st.usec += usec;
        // The slow log, as Redis: not while the AOF is replayed, not for SKIP_SLOWLOG
        // commands (EXEC: the commands it ran are logged one by one).
        if cmd.flags & SKIP_SLOWLOG == 0
            && stat_cmd.flags & SKIP_SLOWLOG == 0
            && cl.id != crate::durability::aof::load::AOF_CLIENT_ID
            && slowlog::is_slow(srv.config.slowlog_log_slower_than, usec)
        {
            let max = srv.config.slowlog_max_len;
            srv.slowlog.push(max, &full(), args, usec, cl);
        }
        if cl.id != crate::durability::aof::load::AOF_CLIENT_ID {
            let event = if stat_cmd.flags & FAST != 0 {
                "fast-command"
            } else {
                "command"
            };
            let threshold = srv.config.latency_monitor_threshold;
            srv.latency.note(threshold, event, usec / 1000);
        }
    }
    if res.is_err() {
        st.failed_calls += 1;
    }
    if !srv.monitors.is_empty()
        && !reprocessing
        && cl.id != crate::durability::aof::load::AOF_CLIENT_ID
        && stat_cmd.flags & (SKIP_MONITOR | ADMIN) == 0
    {
        monitor::feed(srv, cl, &full(), args);
    }
    cl.last_cmd = Some(stat);
    if srv.call_depth == 0 {
        crate::durability::aof::feed_propagated(srv);
        // Its replies wait until what it (or anything before it) fed is durable.
        cl.aof_need = crate::durability::aof::appended(srv);
        if cl.aof_need != appended_before {
            // A read that deleted an expired key fed a DEL, but it wrote nothing of its own.
            if stat_cmd.flags & READONLY == 0 {
                cl.aof_own = cl.aof_need;
            }
        } else {
            let now = srv.cmd_time_ms;
            if let Some(aof) = srv.aof.as_mut() {
                aof.note_unlogged(now);
            }
        }
    }
}

/// Adds a client that just blocked to the per-key wait lists.
fn register_blocked(srv: &mut Server, cl: &mut Client) {
    let Some(b) = cl.blocked.as_ref() else { return };
    for k in &b.keys {
        let list = srv.blocking.by_key.entry((b.db, k.clone())).or_default();
        if !list.contains(&cl.id) {
            list.push(cl.id);
        }
    }
    srv.blocking.count += 1;
}

/// Removes a client from the per-key wait lists.
pub(crate) fn unregister_blocked(srv: &mut Server, cl: &mut Client) {
    let Some(b) = cl.blocked.take() else { return };
    for k in &b.keys {
        let key = (b.db, k.clone());
        if let Some(list) = srv.blocking.by_key.get_mut(&key) {
            list.retain(|id| *id != cl.id);
            if list.is_empty() {
                srv.blocking.by_key.remove(&key);
            }
        }
    }
    srv.blocking.count = srv.blocking.count.saturating_sub(1);
}

/// Serves clients blocked on keys that became ready, in the order they blocked
/// (Redis's handleClientsBlockedOnKeys). `current` is the client whose command made them ready.
pub(crate) fn handle_ready_keys(srv: &mut Server, current: &mut Client) {
    while !srv.blocking.ready.is_empty() {
        let ready = std::mem::take(&mut srv.blocking.ready);
        srv.blocking.ready_set.clear();
        for key in ready {
            let waiting = srv.blocking.by_key.get(&key).cloned().unwrap_or_default();
            for id in waiting {
                if id == current.id {
                    continue;
                }
                let Some(rc) = srv.clients.get(&id).cloned() else {
                    continue;
                };
                let Ok(mut other) = rc.try_borrow_mut() else {
                    continue;
                };
                let Some((cmd, args, db, deadline)) = other
                    .blocked
                    .as_ref()
                    .map(|b| (b.cmd, b.args.clone(), b.db, b.deadline))
                else {
                    continue;
                };
                // As Redis 7.0: a client is served only while the key holds a value of the type
                // it waits for. Otherwise it keeps waiting, in its place in the queue (a key
                // pushed then emptied or overwritten in a transaction wakes nobody).
                let kind = srv.lookup_quiet(key.0, &key.1).map(|e| e.value.kind());
                match (kind, blocked_kind(cmd)) {
                    (None, _) => break,
                    (Some(k), Some(want)) if k != want => continue,
                    _ => {}
                }
                unregister_blocked(srv, &mut other);
                let saved_db = other.db;
                other.db = db;
                // A placeholder that carries the deadline in case the command blocks again.
                other.blocked = Some(BlockState {
                    db,
                    keys: Vec::new(),
                    deadline,
                    cmd,
                    args: Vec::new(),
                    on_timeout: |_| {},
                });
                srv.cmd_time_ms = crate::server::unix_ms();
                srv.blocking.serving = Some(key.1.clone());
                call(srv, &mut other, cmd, &args, true);
                srv.blocking.serving = None;
                if other.blocked.as_ref().is_some_and(|b| b.keys.is_empty()) {
                    other.blocked = None;
                }
                other.db = saved_db;
                if other.blocked.is_some() {
                    register_blocked(srv, &mut other);
                } else {
                    other.notify.notify_one();
                }
            }
        }
    }
}

/// The type of value a blocking command waits for, when it waits for one type only.
fn blocked_kind(cmd: &Command) -> Option<amber_store::value::Kind> {
    use amber_store::value::Kind;
    match cmd.name {
        "blpop" | "brpop" | "brpoplpush" | "blmove" | "blmpop" => Some(Kind::List),
        "bzpopmin" | "bzpopmax" | "bzmpop" => Some(Kind::ZSet),
        _ => None,
    }
}

/// Starts a transaction for `cl` (used by MULTI).
pub(crate) fn begin_multi(cl: &mut Client) {
    cl.multi = Some(MultiState::default());
}
