//! ACL users, as Redis 7.0: who may authenticate, and which commands, keys and channels each
//! user may use.
//!
//! - table.rs: command ids (the bitmap index) and categories;
//! - rules.rs: users, selectors and the rules that change them;
//! - describe.rs: users described back as rules;
//! - check.rs: the permission check;
//! - log.rs: ACL LOG;
//! - file.rs: `user` lines, the ACL file (ACL LOAD / SAVE);
//! - command.rs: the ACL command.
//!
//! A client's `user` is None for the default user. The default user has all commands, keys
//! and channels unless told otherwise; such a user costs one flag test per command.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

pub(crate) mod check;
pub(crate) mod command;
pub(crate) mod describe;
pub(crate) mod file;
pub(crate) mod log;
mod redis_commands;
pub(crate) mod rules;
pub(crate) mod table;

use crate::client::Client;
use crate::cmd::Command;
use crate::server::Server;
use check::Denied;
use log::{Context, Event};
use rules::User;

pub(crate) type UserRef = Rc<RefCell<User>>;

pub(crate) struct Acl {
    /// Every user, the default one included, by name (sorted, as Redis's rax).
    pub(crate) users: BTreeMap<Vec<u8>, UserRef>,
    /// The default user: the same object whatever ACL LOAD does.
    pub(crate) default: UserRef,
    pub(crate) log: log::Log,
}

impl Default for Acl {
    fn default() -> Self {
        let default = Rc::new(RefCell::new(User::default_user(false)));
        let mut users = BTreeMap::new();
        users.insert(b"default".to_vec(), default.clone());
        Acl {
            users,
            default,
            log: log::Log::default(),
        }
    }
}

/// acl-pubsub-default: whether new users get all channels.
pub(crate) fn pubsub_all(srv: &Server) -> bool {
    srv.config
        .accepted
        .get("acl-pubsub-default")
        .is_some_and(|v| v == "allchannels")
}

fn log_max_len(srv: &Server) -> usize {
    srv.config
        .accepted
        .get("acllog-max-len")
        .and_then(|v| v.parse().ok())
        .unwrap_or(128)
}

/// The user a client runs as.
pub(crate) fn user_of<'a>(srv: &'a Server, cl: &'a Client) -> &'a UserRef {
    cl.user.as_ref().unwrap_or(&srv.acl.default)
}

/// The client's user name (CLIENT LIST's `user=`, ACL WHOAMI).
pub(crate) fn user_name(srv: &Server, cl: &Client) -> Vec<u8> {
    user_of(srv, cl).borrow().name.clone()
}

/// Whether the default user lets connections in without AUTH: a new connection (and
/// RESET) starts authenticated when it does.
pub(crate) fn default_open(srv: &Server) -> bool {
    let d = srv.acl.default.borrow();
    d.nopass() && d.enabled()
}

/// authRequired: the client must AUTH before other commands.
pub(crate) fn auth_required(srv: &Server, cl: &Client) -> bool {
    !cl.authenticated && !default_open(srv)
}

/// requirepass: the default user's password (None: nopass), as ACLUpdateDefaultUserPassword.
pub(crate) fn set_default_password(srv: &mut Server, pass: Option<&[u8]>) {
    let all = pubsub_all(srv);
    let mut d = srv.acl.default.borrow_mut();
    let _ = d.apply(b"resetpass", all);
    match pass {
        Some(p) => {
            let mut op = b">".to_vec();
            op.extend_from_slice(p);
            let _ = d.apply(&op, all);
        }
        None => {
            let _ = d.apply(b"nopass", all);
        }
    }
}

/// Logs an event for this client (addACLLogEntry).
fn log_event(
    srv: &mut Server,
    info_of: &Client,
    reason: Denied,
    ctx: Context,
    object: Vec<u8>,
    username: Vec<u8>,
) {
    let client_info = crate::cmd::connection::client_line(info_of, false);
    let max = log_max_len(srv);
    let now = crate::server::unix_ms();
    srv.acl.log.add(
        Event {
            reason,
            context: ctx,
            object,
            username,
            client_info,
        },
        now,
        max,
    );
}

/// AUTH and HELLO AUTH (ACLAuthenticateUser): on success the client runs as the user; on
/// failure the attempt is logged. `argv0` is the command as the client spelled it.
pub(crate) fn authenticate(
    srv: &mut Server,
    cl: &mut Client,
    name: &[u8],
    pass: &[u8],
    argv0: &[u8],
) -> bool {
    let found = srv.acl.users.get(name).cloned();
    if let Some(u) = found.filter(|u| u.borrow().password_ok(pass)) {
        cl.authenticated = true;
        cl.user = if Rc::ptr_eq(&u, &srv.acl.default) {
            None
        } else {
            Some(u)
        };
        return true;
    }
    let ctx = if cl.in_multi() {
        Context::Multi
    } else {
        Context::Toplevel
    };
    log_event(srv, cl, Denied::Auth, ctx, argv0.to_vec(), name.to_vec());
    false
}

/// The client back to the default user (RESET, clientSetDefaultAuth).
pub(crate) fn reset_client(srv: &Server, cl: &mut Client) {
    cl.user = None;
    cl.authenticated = default_open(srv);
}

/// The object a refusal is about: the command's name, or the key or channel argument.
fn object(r: check::Refusal, full: &str, args: &[Vec<u8>]) -> Vec<u8> {
    match r.0 {
        Denied::Cmd => full.as_bytes().to_vec(),
        _ => args.get(r.1).cloned().unwrap_or_default(),
    }
}

/// Checks a command against the client's user; on refusal logs it and gives the refusal.
/// The AOF and our master run anything (Redis's clients without a user).
fn refusal(
    srv: &mut Server,
    cl: &Client,
    user_cl: &Client,
    cmd: &'static Command,
    args: &[Vec<u8>],
    ctx: Context,
) -> Option<(Denied, String)> {
    if cl.is_master || cl.id == crate::durability::aof::load::AOF_CLIENT_ID {
        return None;
    }
    // The default user: one flag test, no reference count touched.
    if user_of(srv, user_cl).borrow().unrestricted() {
        return None;
    }
    let u = user_of(srv, user_cl).clone();
    let u = u.borrow();
    let t = table::table();
    let id = t.id_of(cmd)?;
    let r = check::user_check(&u, id, args).err()?;
    let full = &t.cmds[usize::from(id)].full;
    let obj = object(r, full, args);
    log_event(srv, cl, r.0, ctx, obj, u.name.clone());
    Some((r.0, full.clone()))
}

/// processCommand's ACL step: None, or the NOPERM error to reply.
pub(crate) fn check_command(
    srv: &mut Server,
    cl: &Client,
    cmd: &'static Command,
    args: &[Vec<u8>],
) -> Option<String> {
    let ctx = if cl.in_multi() {
        Context::Multi
    } else {
        Context::Toplevel
    };
    let (why, full) = refusal(srv, cl, cl, cmd, args, ctx)?;
    Some(match why {
        Denied::Cmd => format!("NOPERM this user has no permissions to run the '{full}' command"),
        Denied::Key => {
            "NOPERM this user has no permissions to access one of the keys used as arguments"
                .to_string()
        }
        Denied::Channel => {
            "NOPERM this user has no permissions to access one of the channels used as arguments"
                .to_string()
        }
        Denied::Auth => "ERR no permission".to_string(),
    })
}

/// EXEC's check of each queued command (the rules may have changed since it was queued).
pub(crate) fn check_queued(
    srv: &mut Server,
    cl: &Client,
    cmd: &'static Command,
    args: &[Vec<u8>],
) -> Option<String> {
    let (why, _) = refusal(srv, cl, cl, cmd, args, Context::Multi)?;
    let reason = match why {
        Denied::Cmd => "no permission to execute the command or subcommand",
        Denied::Key => "no permission to touch the specified keys",
        Denied::Channel => "no permission to access one of the channels used as arguments",
        Denied::Auth => "no permission",
    };
    Some(format!("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {reason}"))
}

/// Whether the client's user may read any key with this command (SORT's BY and GET
/// patterns name keys no key spec shows).
pub(crate) fn reads_all_keys(
    srv: &Server,
    cl: &Client,
    cmd: &'static Command,
    args: &[Vec<u8>],
) -> bool {
    let u = user_of(srv, cl).borrow();
    if u.unrestricted() {
        return true;
    }
    table::table()
        .id_of(cmd)
        .is_some_and(|id| check::user_reads_all_keys(&u, id, args))
}

/// getAclErrorMessage.
fn error_message(why: Denied) -> &'static str {
    match why {
        Denied::Cmd => "can't run this command or subcommand",
        Denied::Key => "can't access at least one of the keys mentioned in the command arguments",
        Denied::Channel => "can't publish to the channel mentioned in the command",
        Denied::Auth => "lacking the permissions for the command",
    }
}

/// redis.call / pcall's check (scriptVerifyACL): the script's client runs as the caller's
/// user (scripting/run.rs sets it). None, or the error text for the script. The log's
/// client-info describes the script's client (Redis describes the caller).
pub(crate) fn check_script_call(
    srv: &mut Server,
    sc: &Client,
    cmd: &'static Command,
    args: &[Vec<u8>],
) -> Option<String> {
    let (why, _) = refusal(srv, sc, sc, cmd, args, Context::Lua)?;
    Some(format!(
        "The user executing the script {}",
        error_message(why)
    ))
}

/// ACL DRYRUN's text for a refusal.
pub(crate) fn dryrun_message(why: Denied, full: &str, arg: &[u8]) -> String {
    let arg = String::from_utf8_lossy(arg);
    match why {
        Denied::Cmd => format!("This user has no permissions to run the '{full}' command"),
        Denied::Key => format!("This user has no permissions to access the '{arg}' key"),
        _ => format!("This user has no permissions to access the '{arg}' channel"),
    }
}

/// Whether client `c` runs as user `u`.
fn runs_as(srv: &Server, c: &Client, u: &UserRef) -> bool {
    match &c.user {
        Some(x) => Rc::ptr_eq(x, u),
        None => Rc::ptr_eq(&srv.acl.default, u),
    }
}

/// Closes the clients authenticated as `u` (a deleted or reloaded user): they fall back to
/// the default user, unauthenticated, and are closed (the current one, `me`, after its
/// reply), as ACLFreeUserAndKillClients.
pub(crate) fn kill_clients_of(srv: &mut Server, me: Option<&mut Client>, u: &UserRef) {
    if let Some(me) = me {
        if me.user.as_ref().is_some_and(|x| Rc::ptr_eq(x, u)) {
            me.user = None;
            me.authenticated = false;
            me.close_after_reply = true;
        }
    }
    for c in srv.clients.values() {
        let Ok(mut c) = c.try_borrow_mut() else {
            continue;
        };
        if c.user.as_ref().is_some_and(|x| Rc::ptr_eq(x, u)) {
            c.user = None;
            c.authenticated = false;
            c.close_asap = true;
            c.notify.notify_one();
        }
    }
}

/// ACLKillPubsubClientsIfNeeded: after `u` changed to `new`, its pub/sub clients whose
/// subscriptions the new channel rules no longer allow are closed.
pub(crate) fn kill_pubsub_clients_if_needed(
    srv: &mut Server,
    me: &mut Client,
    u: &UserRef,
    new: &User,
) {
    if new.selectors.iter().any(|s| s.allchannels) {
        return;
    }
    let upcoming: Vec<Vec<u8>> = new
        .selectors
        .iter()
        .flat_map(|s| s.channels.iter().cloned())
        .collect();
    let old = u.borrow();
    let superset = old
        .selectors
        .iter()
        .all(|s| !s.allchannels && s.channels.iter().all(|c| upcoming.contains(c)));
    drop(old);
    if superset {
        return;
    }
    let violates = |c: &Client| {
        c.subscriptions() > 0
            && (c
                .patterns
                .iter()
                .any(|p| !check::channel_allowed(&upcoming, p, true))
                || c.channels
                    .iter()
                    .chain(c.shard_channels.iter())
                    .any(|ch| !check::channel_allowed(&upcoming, ch, false)))
    };
    if runs_as(srv, me, u) && violates(me) {
        me.close_after_reply = true;
    }
    for c in srv.clients.values() {
        let Ok(mut c) = c.try_borrow_mut() else {
            continue;
        };
        if runs_as(srv, &c, u) && violates(&c) {
            c.close_asap = true;
            c.notify.notify_one();
        }
    }
}

#[cfg(test)]
mod tests;
