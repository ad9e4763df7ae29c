//! Dispatch: `process` follows Redis 7.0's `processCommand` (lookup, arity, authentication,
//! the refusals of a failed save or AOF write, pub/sub context, loading, MULTI queueing);
//! `call` runs the handler, records what reaches the AOF and keeps the statistics. `Ctx` is
//! what a handler may touch.

use std::borrow::Cow;

use amber_resp::ReplyBuf;

use super::blocking::register_blocked;
use super::*;
use crate::client::{Client, Queued};
use crate::server::Server;

/// Everything a handler may touch.
pub(crate) struct Ctx<'a> {
    pub(crate) srv: &'a mut Server,
    pub(crate) cl: &'a mut Client,
    pub(crate) args: &'a [Vec<u8>],
    pub(crate) cmd: &'static Command,
    /// Run again for a client that was blocked on a key that became ready.
    pub(crate) reprocessing: bool,
    /// A key was marked modified: `call` checks that a change was counted too.
    pub(crate) touched: bool,
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

    /// A write changed `key` by `changes` (Redis's `signalModifiedKey` + `server.dirty +=`):
    /// WATCH-ers fail, and the changes count for save points and INFO. The count is also what
    /// sends the command to the AOF (`call` logs a write only when it counted a change), so a
    /// handler that changes a key says so in this one call.
    pub(crate) fn changed(&mut self, db: usize, key: &[u8], changes: u64) {
        self.modified(db, key);
        self.dirty(changes);
    }

    /// Another key of a change already counted with `changed` (RENAME's source, LMOVE's
    /// destination, each key of MSET): WATCH-ers of it fail.
    pub(crate) fn modified(&mut self, db: usize, key: &[u8]) {
        self.touched = true;
        self.srv.signal_modified_key(db, key, Some(&mut *self.cl));
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
        // Nor on a replica: its master decides (and sends the DEL).
        when_ms <= self.now()
            && self.cl.id != crate::durability::aof::load::AOF_CLIENT_ID
            && self.srv.repl.link.is_none()
    }

    /// Adds `n` changes to the counter behind save points and INFO.
    pub(crate) fn dirty(&mut self, n: u64) {
        self.srv.dirty += n;
    }

    /// A keyspace event on `key` of the client's database (notifyKeyspaceEvent), delivered at
    /// once, after any queued by lookups (an expiry).
    pub(crate) fn notify(&mut self, class: u32, event: &str, key: &[u8]) {
        let db = self.cl.db;
        self.notify_db(class, event, key, db);
    }

    /// A keyspace event in another database (MOVE, COPY ... DB).
    pub(crate) fn notify_db(&mut self, class: u32, event: &str, key: &[u8], db: usize) {
        self.srv.notify(class, event, key, db);
        super::notify::flush(self.srv, Some(&mut *self.cl));
    }

    /// Nothing of this command reaches the AOF or replicas, beyond what it propagates
    /// itself (preventCommandPropagation).
    pub(crate) fn no_propagate(&mut self) {
        self.srv.propagation_replaced = true;
    }

    /// Records the effect to replay instead of the command as received (e.g. SPOP → SREM).
    pub(crate) fn propagate(&mut self, args: Vec<Vec<u8>>) {
        let db = self.cl.db;
        self.srv.propagate(db, args);
    }
}

/// What the connection should do after a command.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum After {
    Continue,
    /// The client blocked or was paused: stop processing its input until woken.
    Wait,
}

/// Processes one request from a client, as Redis's processCommand; under CLIENT REPLY OFF
/// or SKIP what it replied is dropped (as Redis's prepareClientToWrite refuses to write).
pub(crate) fn process(srv: &mut Server, cl: &mut Client, args: Vec<Vec<u8>>) -> After {
    let mark = cl.out.len();
    let prev = srv.tracking.set_current(Some(cl.id));
    // CLIENT CACHING holds for the next command or transaction (Redis's resetClient).
    let keeps_caching = cl.tracking.on
        && srv
            .commands
            .lookup(&args[0])
            .is_some_and(|c| c.name == "client");
    let after = process_request(srv, cl, args);
    if cl.blocked.is_none() {
        cl.end_command(mark);
        if !cl.in_multi() && !keeps_caching {
            cl.tracking.caching = false;
        }
    }
    srv.tracking.set_current(prev);
    crate::net::output_limit::enforce(srv, cl);
    crate::net::client_eviction::account(srv, cl);
    after
}

fn process_request(srv: &mut Server, cl: &mut Client, args: Vec<Vec<u8>>) -> After {
    let Some((parent, cmd)) = resolve(srv, cl, &args) else {
        return After::Continue;
    };
    // CLIENT LIST's cmd= (and ACL LOG's client-info) name this command from here on, even
    // when it is refused (processCommand sets c->lastcmd at lookup).
    cl.last_cmd = Some(CmdName::of(parent, cmd));
    let refused = early_refusal(srv, cl, parent, cmd)
        .or_else(|| crate::acl::check_command(srv, cl, cmd, &args));
    // maxmemory-clients, before key eviction: a client evicted now runs nothing more.
    if refused.is_none() && crate::net::client_eviction::evict(srv, Some(&mut *cl)) {
        return After::Continue;
    }
    let refused = refused
        .or_else(|| oom_refusal(srv, cl, parent, cmd, &args))
        .or_else(|| {
            // Keep the invalidation table within tracking-table-max-keys.
            crate::tracking::limit(srv, Some(&mut *cl));
            crate::tracking::flush_pending(srv, cl);
            refusal(srv, cl, parent, cmd)
        });
    if let Some(msg) = refused {
        reject_cmd(srv, cl, Some(CmdName::of(parent, cmd)), msg);
        return After::Continue;
    }
    let name = parent.map(|p| p.name).unwrap_or(cmd.name);
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

/// The command a request names, and its container when it is a subcommand; `None` after
/// replying with Redis's unknown-command, unknown-subcommand or arity error.
#[allow(clippy::type_complexity)]
fn resolve(
    srv: &mut Server,
    cl: &mut Client,
    args: &[Vec<u8>],
) -> Option<(Option<&'static Command>, &'static Command)> {
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
            let s = shown(a, 128 - rest.len());
            rest.push_str(&format!("'{s}' "));
        }
        let name = shown(&args[0], 128);
        reject(
            srv,
            cl,
            format!("ERR unknown command '{name}', with args beginning with: {rest}"),
        );
        return None;
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
        return None;
    } else {
        match subcommand(cmd, args) {
            Some(sub) => (Some(cmd), sub),
            None => {
                let sub = shown(&args[1], 128);
                let name = cmd.name.to_ascii_uppercase();
                reject(
                    srv,
                    cl,
                    format!("ERR unknown subcommand '{sub}'. Try {name} HELP."),
                );
                return None;
            }
        }
    };
    let argc = args.len() as i32;
    if (cmd.arity > 0 && cmd.arity != argc) || argc < -cmd.arity {
        reject_cmd(
            srv,
            cl,
            Some(CmdName::of(parent, cmd)),
            format!(
                "ERR wrong number of arguments for '{}' command",
                full_name(parent, cmd)
            ),
        );
        return None;
    }
    Some((parent, cmd))
}

/// An argument as an error message shows it: at most `max` characters (Redis cuts at 128).
fn shown(arg: &[u8], max: usize) -> String {
    String::from_utf8_lossy(arg).chars().take(max).collect()
}

/// Why a found command may not run now (Redis's processCommand checks, in its order):
/// authentication, DEBUG protection, MULTI; then (`oom_refusal`) maxmemory; then (`refusal`)
/// a failed save or AOF write, MONITOR, the pub/sub context of RESP2, loading.
fn early_refusal(
    srv: &Server,
    cl: &Client,
    parent: Option<&'static Command>,
    cmd: &'static Command,
) -> Option<String> {
    if cmd.flags & NO_AUTH == 0 && crate::acl::auth_required(srv, cl) {
        return Some("NOAUTH Authentication required.".to_string());
    }
    if parent.is_none()
        && cmd.name == "debug"
        && !protected_allowed(srv.config.enable_debug_command, cl)
    {
        return Some("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.".to_string());
    }
    if parent.is_some_and(|p| p.name == "module")
        && super::module::is_protected(cmd.name)
        && !protected_allowed(module_command_protection(srv), cl)
    {
        return Some("ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.".to_string());
    }
    if cl.in_multi() && cmd.flags & NO_MULTI != 0 {
        return Some("ERR Command not allowed inside a transaction".to_string());
    }
    None
}

/// The maxmemory step of processCommand: evicts what the policy allows (evict.rs); if memory
/// stays over the limit, refuses a denyoom command, an EXEC of queued denyoom commands, and
/// anything to queue inside MULTI (queueing grows memory) but EXEC, DISCARD, QUIT and RESET.
fn oom_refusal(
    srv: &mut Server,
    cl: &mut Client,
    parent: Option<&'static Command>,
    cmd: &'static Command,
    args: &[Vec<u8>],
) -> Option<String> {
    if srv.config.maxmemory == 0 {
        return None;
    }
    let out_of_memory = crate::evict::perform_evictions(srv) == crate::evict::Outcome::Fail;
    crate::evict::flush(srv, cl);
    // Invalidations of evicted keys reach the client before its command runs.
    crate::tracking::flush_pending(srv, cl);
    if !out_of_memory {
        srv.evict.pre_command_oom = false;
        return None;
    }
    let name = parent.map(|p| p.name).unwrap_or(cmd.name);
    let denyoom = denyoom(srv, cmd, args)
        || (name == "exec"
            && cl
                .multi
                .as_ref()
                .is_some_and(|m| m.queue.iter().any(|q| denyoom(srv, q.cmd, &q.args))));
    let queues = cl.in_multi() && !matches!(name, "exec" | "discard" | "quit" | "reset");
    let refused = (denyoom || queues).then(|| crate::evict::OOM.to_string());
    // Kept for the scripts this command runs (none when it is refused).
    srv.evict.pre_command_oom = true;
    refused
}

/// Whether a command may not run over maxmemory (getCommandFlags' CMD_DENYOOM): a script
/// that declares flags decides for EVAL, EVALSHA and FCALL.
fn denyoom(srv: &Server, cmd: &Command, args: &[Vec<u8>]) -> bool {
    crate::scripting::declared_denyoom(srv, cmd.name, args).unwrap_or(cmd.flags & DENYOOM != 0)
}

/// The checks of processCommand after maxmemory (see `early_refusal`).
fn refusal(
    srv: &Server,
    cl: &Client,
    parent: Option<&'static Command>,
    cmd: &'static Command,
) -> Option<String> {
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
            return Some(crate::durability::save::MISCONF.to_string());
        }
        if let Some(msg) = crate::durability::aof::writes_denied(srv) {
            return Some(msg);
        }
    }
    if let Some(msg) = crate::replication::refusal(srv, cl, is_write, cmd.flags & STALE != 0) {
        return Some(msg);
    }
    // A MONITOR client is a replica to Redis: it may not touch the keyspace.
    if cl.monitor && (cmd.flags & (WRITE | READONLY | MAY_REPLICATE) != 0 || is_write) {
        return Some("ERR Replica can't interact with the keyspace".to_string());
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
        return Some(format!("ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context", full_name(parent, cmd)));
    }
    if srv.loading.is_some() && cmd.flags & LOADING == 0 {
        return Some("LOADING Redis is loading the dataset in memory".to_string());
    }
    None
}

/// enable-module-command (an accepted directive: yes, local or no).
fn module_command_protection(srv: &Server) -> crate::config::Protection {
    match srv
        .config
        .accepted
        .get("enable-module-command")
        .map(String::as_str)
    {
        Some("yes") => crate::config::Protection::Yes,
        Some("local") => crate::config::Protection::Local,
        _ => crate::config::Protection::No,
    }
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
            count_error(srv, msg.as_bytes());
            cl.out.error(&msg);
            return;
        }
    }
    count_error(srv, msg.as_bytes());
    cl.out.error(&msg);
}

/// One error reply in INFO's total_error_replies and errorstats, under the code that starts
/// `msg` (its bytes as they are: a script's error code need not be UTF-8).
pub(crate) fn count_error(srv: &mut Server, msg: &[u8]) {
    srv.stats.total_error_replies += 1;
    let code = msg.split(|&b| b == b' ').next().unwrap_or_default();
    match srv.stats.error_codes.get_mut(code) {
        Some(n) => *n += 1,
        None => {
            srv.stats.error_codes.insert(code.to_vec(), 1);
        }
    }
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
    let outer_failed = std::mem::replace(&mut srv.reply_failed, false);
    srv.call_depth += 1;
    let mut ctx = Ctx {
        srv,
        cl,
        args,
        cmd: stat_cmd,
        reprocessing,
        touched: false,
    };
    let top = ctx.srv.call_depth == 1;
    let prev_current = if top {
        crate::sys::crash::set_current(ctx.cl.id, Some(args));
        Some(ctx.srv.tracking.set_current(Some(ctx.cl.id)))
    } else {
        None
    };
    let script_caller = crate::tracking::before_call(ctx.srv, ctx.cl, stat, args);
    let res = (stat_cmd.handler)(&mut ctx);
    let touched = ctx.touched;
    crate::tracking::after_call(srv, cl, stat, stat_cmd.flags, args, script_caller);
    // Events queued where no client was at hand (a key found expired by a lookup).
    super::notify::flush(srv, Some(&mut *cl));
    if top {
        crate::sys::crash::set_current(0, None);
    }
    let usec = crate::sys::clock::monotonic_us().saturating_sub(start);
    srv.call_depth -= 1;
    let replaced = std::mem::replace(&mut srv.propagation_replaced, outer_replaced);
    let is_write = cmd.is_write() || stat_cmd.is_write();
    let counted = srv.dirty > dirty_before;
    if touched && !counted && is_write {
        // A handler marked a key modified and counted no change: the write would miss the
        // AOF and the save points. A bug in the handler: loud in tests, logged in service.
        debug_assert!(false, "{stat} modified a key without counting a change");
        srv.log.warning(&format!(
            "BUG: '{stat}' modified a key without counting a change; it is not in the AOF"
        ));
    }
    // A write that changed something is replayed as received, unless it said otherwise.
    // (Only recorded when something consumes it: the AOF, the replication stream.)
    if !replaced && (srv.aof.is_some() || srv.repl.backlog.is_some()) && counted && is_write {
        let mut logged = args.to_vec();
        if !logged[0].eq_ignore_ascii_case(cmd.name.as_bytes()) {
            // Called by a rename-command name: the AOF gets Redis's name.
            logged[0] = cmd.name.as_bytes().to_vec();
        }
        srv.propagated.push((db_before, logged));
    }
    if let Err(e) = &res {
        count_error(srv, e.0.as_bytes());
        cl.out.error(&e.0);
    }
    let run = Ran {
        cmd,
        parent,
        stat_cmd,
        stat,
        args,
        usec,
        failed: res.is_err() || std::mem::replace(&mut srv.reply_failed, outer_failed),
        reprocessing,
    };
    account(srv, cl, &run);
    cl.last_cmd = Some(stat);
    if srv.call_depth == 0 {
        release_after_feed(srv, cl, stat_cmd, appended_before);
        // Invalidations for this client wait for its reply (Redis's afterCommand).
        crate::tracking::flush_pending(srv, cl);
    }
    if let Some(prev) = prev_current {
        srv.tracking.set_current(prev);
    }
}

/// One finished run of a command, for its statistics.
struct Ran<'a> {
    cmd: &'static Command,
    parent: Option<&'static Command>,
    stat_cmd: &'static Command,
    stat: CmdName,
    args: &'a [Vec<u8>],
    usec: u64,
    failed: bool,
    reprocessing: bool,
}

/// INFO commandstats, the slow log, the latency monitor and MONITOR.
fn account(srv: &mut Server, cl: &mut Client, run: &Ran<'_>) {
    let (cmd, stat_cmd, usec) = (run.cmd, run.stat_cmd, run.usec);
    let replaying = cl.id == crate::durability::aof::load::AOF_CLIENT_ID;
    // As Redis 7.0, a blocking command counts once: as processed when first run, and in its
    // command's calls when it completes (served here, or timed out in the connection).
    if !run.reprocessing {
        srv.stats.total_commands_processed += 1;
    }
    // "config|get" for a subcommand: what the slow log and MONITOR redact by; built only for
    // a command that is logged or shown.
    let full = || match run.parent {
        None => Cow::Borrowed(cmd.name),
        Some(_) => Cow::Owned(run.stat.to_string()),
    };
    let st = srv.stats.commands.entry(run.stat).or_default();
    if run.failed {
        st.failed_calls += 1;
    }
    if cl.blocked.as_ref().is_none_or(|b| b.keys.is_empty()) {
        st.calls += 1;
        st.usec += usec;
        if srv.config.latency_tracking {
            st.latency.get_or_insert_with(Default::default).record(usec);
        }
        // The slow log, as Redis: not while the AOF is replayed, not for SKIP_SLOWLOG
        // commands (EXEC: the commands it ran are logged one by one).
        if cmd.flags & SKIP_SLOWLOG == 0
            && stat_cmd.flags & SKIP_SLOWLOG == 0
            && !replaying
            && slowlog::is_slow(srv.config.slowlog_log_slower_than, usec)
        {
            let max = srv.config.slowlog_max_len;
            srv.slowlog.push(max, &full(), run.args, usec, cl);
        }
        if !replaying {
            let event = if stat_cmd.flags & FAST != 0 {
                "fast-command"
            } else {
                "command"
            };
            let threshold = srv.config.latency_monitor_threshold;
            srv.latency.note(threshold, event, usec / 1000);
        }
    }
    if !srv.monitors.is_empty()
        && !run.reprocessing
        && !replaying
        && stat_cmd.flags & (SKIP_MONITOR | ADMIN) == 0
    {
        monitor::feed(srv, cl, &full(), run.args);
    }
}

/// After a top-level command: what it propagated goes to the AOF, and the client's replies
/// wait until what it (or anything before it) fed is durable.
fn release_after_feed(srv: &mut Server, cl: &mut Client, stat_cmd: &Command, appended_before: u64) {
    crate::replication::feed(srv, Some(cl));
    crate::durability::aof::feed_propagated(srv);
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
