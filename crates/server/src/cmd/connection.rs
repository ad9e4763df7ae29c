//! Connection commands: PING ECHO SELECT QUIT AUTH HELLO RESET and CLIENT.

use std::time::{Duration, Instant};

use amber_resp::Proto;

use super::args::{self, is};
use super::{Command, Ctx, Error, Reply, ADMIN, FAST, LOADING, NOSCRIPT, NO_AUTH, SENTINEL, STALE};
use crate::client::Client;
use crate::server::Pause;

const CONN: &[&str] = &["@connection"];

pub(crate) static COMMANDS: &[Command] = &[
    Command::new("ping", -1, FAST | SENTINEL, (0, 0, 0), CONN, ping),
    Command::new("echo", 2, LOADING | STALE | FAST, (0, 0, 0), CONN, echo),
    Command::new("select", 2, LOADING | STALE | FAST, (0, 0, 0), CONN, select),
    Command::new("quit", -1, ALLOW_BUSY_NOAUTH, (0, 0, 0), CONN, quit),
    Command::new(
        "auth",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | SENTINEL | super::ALLOW_BUSY,
        (0, 0, 0),
        CONN,
        auth,
    ),
    Command::new(
        "hello",
        -1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | SENTINEL | super::ALLOW_BUSY,
        (0, 0, 0),
        CONN,
        hello,
    ),
    Command::new(
        "reset",
        1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | super::ALLOW_BUSY,
        (0, 0, 0),
        CONN,
        reset,
    ),
    Command::container("client", -2, 0, CLIENT_SUBCOMMANDS),
];

const ALLOW_BUSY_NOAUTH: u32 = super::ALLOW_BUSY | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH;
const CLIENT_FLAGS: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

static CLIENT_SUBCOMMANDS: &[Command] = &[
    Command::new(
        "id",
        2,
        NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        CONN,
        client_id,
    ),
    Command::new(
        "info",
        2,
        NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        CONN,
        client_info,
    ),
    Command::new("list", -2, CLIENT_FLAGS, (0, 0, 0), CONN, client_list),
    Command::new("kill", -3, CLIENT_FLAGS, (0, 0, 0), CONN, client_kill),
    Command::new(
        "setname",
        3,
        NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        CONN,
        client_setname,
    ),
    Command::new(
        "getname",
        2,
        NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        CONN,
        client_getname,
    ),
    Command::new("pause", -3, CLIENT_FLAGS, (0, 0, 0), CONN, client_pause),
    Command::new("unpause", 2, CLIENT_FLAGS, (0, 0, 0), CONN, client_unpause),
    Command::new(
        "no-evict",
        3,
        CLIENT_FLAGS,
        (0, 0, 0),
        CONN,
        super::client_ctl::client_no_evict,
    ),
    Command::new(
        "reply",
        3,
        NOSCRIPT | LOADING | STALE | super::SENTINEL,
        (0, 0, 0),
        CONN,
        super::client_ctl::client_reply,
    ),
    Command::new(
        "unblock",
        -3,
        CLIENT_FLAGS | super::SENTINEL,
        (0, 0, 0),
        CONN,
        super::client_ctl::client_unblock,
    ),
    Command::new(
        "getredir",
        2,
        NOSCRIPT | LOADING | STALE | super::SENTINEL,
        (0, 0, 0),
        CONN,
        crate::tracking::command::client_getredir,
    ),
    Command::new(
        "trackinginfo",
        2,
        NOSCRIPT | LOADING | STALE | super::SENTINEL,
        (0, 0, 0),
        CONN,
        crate::tracking::command::client_trackinginfo,
    ),
    Command::new(
        "tracking",
        -3,
        NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        CONN,
        crate::tracking::command::client_tracking,
    ),
    Command::new(
        "caching",
        3,
        NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        CONN,
        crate::tracking::command::client_caching,
    ),
    Command::new("help", 2, LOADING | STALE, (0, 0, 0), CONN, client_help),
];

fn ping(ctx: &mut Ctx<'_>) -> Reply {
    if ctx.args.len() > 2 {
        return Err(Error::new(
            "ERR wrong number of arguments for 'ping' command",
        ));
    }
    if ctx.cl.subscriptions() > 0 && ctx.cl.out.proto == Proto::Resp2 {
        let out = &mut ctx.cl.out;
        out.array(2);
        out.bulk(b"pong");
        out.bulk(ctx.args.get(1).map(|a| a.as_slice()).unwrap_or(b""));
        return Ok(());
    }
    match ctx.args.get(1) {
        Some(a) => ctx.cl.out.bulk(a),
        None => ctx.cl.out.simple("PONG"),
    }
    Ok(())
}

fn echo(ctx: &mut Ctx<'_>) -> Reply {
    ctx.cl.out.bulk(&ctx.args[1]);
    Ok(())
}

fn select(ctx: &mut Ctx<'_>) -> Reply {
    let id = args::int32(&ctx.args[1])?;
    if id < 0 || id as usize >= ctx.srv.dbs.len() {
        return Err(Error::new("ERR DB index is out of range"));
    }
    ctx.cl.db = id as usize;
    ctx.cl.out.ok();
    Ok(())
}

fn quit(ctx: &mut Ctx<'_>) -> Reply {
    ctx.cl.out.ok();
    ctx.cl.close_after_reply = true;
    Ok(())
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

fn auth(ctx: &mut Ctx<'_>) -> Reply {
    if ctx.args.len() > 3 {
        return Err(Error::syntax());
    }
    let (user, pass): (&[u8], &[u8]) = if ctx.args.len() == 2 {
        if ctx.srv.acl.default.borrow().nopass() {
            return Err(Error::new("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"));
        }
        (b"default", &ctx.args[1])
    } else {
        (&ctx.args[1], &ctx.args[2])
    };
    let argv0 = ctx.args[0].clone();
    if crate::acl::authenticate(ctx.srv, ctx.cl, user, pass, &argv0) {
        ctx.cl.out.ok();
        Ok(())
    } else {
        Err(Error::new(WRONGPASS))
    }
}

fn hello(ctx: &mut Ctx<'_>) -> Reply {
    let mut next = 1;
    let mut ver = 0;
    if ctx.args.len() >= 2 {
        ver = args::int_msg(
            &ctx.args[1],
            "Protocol version is not an integer or out of range",
        )?;
        next = 2;
        if !(2..=3).contains(&ver) {
            return Err(Error::new("NOPROTO unsupported protocol version"));
        }
    }
    let mut creds = None;
    let mut name = None;
    let mut j = next;
    while j < ctx.args.len() {
        let more = ctx.args.len() - 1 - j;
        let opt = &ctx.args[j];
        if is(opt, "AUTH") && more >= 2 {
            creds = Some((ctx.args[j + 1].clone(), ctx.args[j + 2].clone()));
            j += 2;
        } else if is(opt, "SETNAME") && more >= 1 {
            name = Some(ctx.args[j + 1].clone());
            j += 1;
        } else {
            return Err(Error::new(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(opt)
            )));
        }
        j += 1;
    }
    if let Some((u, p)) = creds {
        let argv0 = ctx.args[0].clone();
        if !crate::acl::authenticate(ctx.srv, ctx.cl, &u, &p, &argv0) {
            return Err(Error::new(WRONGPASS));
        }
    }
    if !ctx.cl.authenticated {
        return Err(Error::new("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"));
    }
    if let Some(n) = name {
        set_name(ctx.cl, &n)?;
    }
    if ver == 3 {
        ctx.cl.out.proto = Proto::Resp3;
    } else if ver == 2 {
        ctx.cl.out.proto = Proto::Resp2;
    }
    let id = ctx.cl.id as i64;
    let resp = i64::from(ctx.cl.resp());
    let out = ctx.out();
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(crate::REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(resp);
    out.bulk(b"id");
    out.int(id);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    Ok(())
}

fn reset(ctx: &mut Ctx<'_>) -> Reply {
    ctx.cl.multi = None;
    super::tx::unwatch_all(ctx.srv, ctx.cl);
    super::pubsub::unsubscribe_all(ctx.srv, ctx.cl);
    crate::tracking::disable(ctx.srv, ctx.cl);
    ctx.cl.db = 0;
    ctx.cl.out.proto = Proto::Resp2;
    ctx.cl.name = None;
    crate::acl::reset_client(ctx.srv, ctx.cl);
    ctx.cl.out.simple("RESET");
    Ok(())
}

fn set_name(cl: &mut Client, name: &[u8]) -> Reply {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(Error::new(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    cl.name = if name.is_empty() {
        None
    } else {
        Some(name.to_vec())
    };
    Ok(())
}

fn client_id(ctx: &mut Ctx<'_>) -> Reply {
    let id = ctx.cl.id as i64;
    ctx.out().int(id);
    Ok(())
}

fn client_setname(ctx: &mut Ctx<'_>) -> Reply {
    set_name(ctx.cl, &ctx.args[2])?;
    ctx.cl.out.ok();
    Ok(())
}

fn client_getname(ctx: &mut Ctx<'_>) -> Reply {
    match ctx.cl.name.clone() {
        Some(n) => ctx.out().bulk(&n),
        None => ctx.out().null(),
    }
    Ok(())
}

/// A client's class, as Redis's getClientType: a replica (not MONITOR), a master, a
/// subscriber, or normal.
pub(crate) fn client_type(cl: &Client) -> &'static str {
    if cl.is_master {
        "master"
    } else if cl.replica {
        "slave"
    } else if cl.subscriptions() > 0 {
        "pubsub"
    } else {
        "normal"
    }
}

/// Whether a TYPE argument (lowercased: normal, master, replica, slave, pubsub) names `kind`.
fn same_type(arg: &str, kind: &str) -> bool {
    arg == kind || (arg == "replica" && kind == "slave")
}

/// One CLIENT LIST line, in Redis 7.0's field order.
pub(crate) fn client_line(cl: &Client, executing: bool) -> String {
    // In Redis 7.0's order.
    let mut flags = String::new();
    if cl.monitor {
        flags.push('O');
    } else if cl.replica {
        flags.push('S');
    }
    if cl.is_master {
        flags.push('M');
    }
    if cl.subscriptions() > 0 {
        flags.push('P');
    }
    if cl.in_multi() {
        flags.push('x');
    }
    if cl.blocked.is_some() {
        flags.push('b');
    }
    crate::tracking::command::list_flags(cl, &mut flags);
    if cl.dirty_cas {
        flags.push('d');
    }
    if cl.close_after_reply {
        flags.push('c');
    }
    if cl.is_unix {
        flags.push('U');
    }
    if cl.no_evict {
        flags.push('e');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let multi = cl
        .multi
        .as_ref()
        .map(|m| m.queue.len() as i64)
        .unwrap_or(-1);
    let cmd = match cl.last_cmd {
        _ if executing => "client|list".to_string(),
        Some(c) => c.to_string(),
        None => "NULL".to_string(),
    };
    let omem = cl.pending_output();
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl={} oll=0 omem={} tot-mem={} events=r cmd={} user={} redir={} resp={}",
        cl.id,
        cl.addr,
        cl.laddr,
        cl.fd,
        cl.name.as_ref().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default(),
        cl.created.elapsed().as_secs(),
        if executing { 0 } else { cl.last_interaction.elapsed().as_secs() },
        flags,
        cl.db,
        cl.channels.len(),
        cl.patterns.len(),
        cl.shard_channels.len(),
        multi,
        cl.qbuf_len,
        16384usize.saturating_sub(cl.qbuf_len),
        omem,
        omem,
        crate::net::client_eviction::client_mem(cl),
        cmd,
        cl.user
            .as_ref()
            .map_or_else(|| "default".to_string(), |u| String::from_utf8_lossy(&u.borrow().name).into_owned()),
        if cl.tracking.on { cl.tracking.redirect as i64 } else { -1 },
        cl.resp()
    )
}

fn client_info(ctx: &mut Ctx<'_>) -> Reply {
    let mut line = client_line(ctx.cl, true).replace("cmd=client|list", "cmd=client|info");
    line.push('\n');
    ctx.out().verbatim(line.as_bytes());
    Ok(())
}

fn client_list(ctx: &mut Ctx<'_>) -> Reply {
    let mut type_filter: Option<String> = None;
    let mut ids: Option<Vec<u64>> = None;
    let a = ctx.args;
    if a.len() == 4 && is(&a[2], "TYPE") {
        let t = String::from_utf8_lossy(&a[3]).to_ascii_lowercase();
        if !matches!(
            t.as_str(),
            "normal" | "master" | "replica" | "slave" | "pubsub"
        ) {
            return Err(Error::new(format!(
                "ERR Unknown client type '{}'",
                String::from_utf8_lossy(&a[3])
            )));
        }
        type_filter = Some(t);
    } else if a.len() > 3 && is(&a[2], "ID") {
        let mut v = Vec::new();
        for x in &a[3..] {
            let id = args::int(x)
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| Error::new("ERR Invalid client ID"))?;
            v.push(id as u64);
        }
        ids = Some(v);
    } else if a.len() != 2 {
        return Err(Error::syntax());
    }
    let mut text = String::new();
    let me = ctx.cl.id;
    for (id, c) in &ctx.srv.clients {
        if let Some(ids) = &ids {
            if !ids.contains(id) {
                continue;
            }
        }
        let (line, kind) = if *id == me {
            (client_line(ctx.cl, true), client_type(ctx.cl))
        } else {
            match c.try_borrow() {
                Ok(c) => (client_line(&c, false), client_type(&c)),
                Err(_) => continue,
            }
        };
        if type_filter.as_deref().is_some_and(|t| !same_type(t, kind)) {
            continue;
        }
        text.push_str(&line);
        text.push('\n');
    }
    ctx.out().verbatim(text.as_bytes());
    Ok(())
}

fn client_kill(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let me = ctx.cl.id;
    // Old form: CLIENT KILL addr:port
    if a.len() == 3 {
        let addr = &a[2];
        let target = ctx
            .srv
            .clients
            .iter()
            .find(|(id, c)| {
                if **id == me {
                    ctx.cl.addr.as_bytes() == addr.as_slice()
                } else {
                    c.try_borrow()
                        .is_ok_and(|c| c.addr.as_bytes() == addr.as_slice())
                }
            })
            .map(|(id, _)| *id);
        return match target {
            None => Err(Error::new("ERR No such client")),
            Some(id) => {
                kill(ctx, id);
                ctx.cl.out.ok();
                Ok(())
            }
        };
    }
    let mut f_id = None;
    let mut f_type: Option<String> = None;
    let mut f_addr: Option<Vec<u8>> = None;
    let mut f_laddr: Option<Vec<u8>> = None;
    let mut f_user: Option<Vec<u8>> = None;
    let mut skipme = true;
    let mut i = 2;
    while i < a.len() {
        if i + 1 >= a.len() {
            return Err(Error::syntax());
        }
        let v = &a[i + 1];
        if is(&a[i], "ID") {
            let id = args::int(v)
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| Error::new("ERR client-id should be greater than 0"))?;
            f_id = Some(id as u64);
        } else if is(&a[i], "TYPE") {
            let t = String::from_utf8_lossy(v).to_ascii_lowercase();
            if !matches!(
                t.as_str(),
                "normal" | "master" | "replica" | "slave" | "pubsub"
            ) {
                return Err(Error::new(format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(v)
                )));
            }
            f_type = Some(t);
        } else if is(&a[i], "ADDR") {
            f_addr = Some(v.clone());
        } else if is(&a[i], "LADDR") {
            f_laddr = Some(v.clone());
        } else if is(&a[i], "USER") {
            if !ctx.srv.acl.users.contains_key(v.as_slice()) {
                return Err(Error::new(format!(
                    "ERR No such user '{}'",
                    String::from_utf8_lossy(v)
                )));
            }
            f_user = Some(v.clone());
        } else if is(&a[i], "SKIPME") {
            skipme = if is(v, "yes") {
                true
            } else if is(v, "no") {
                false
            } else {
                return Err(Error::syntax());
            };
        } else {
            return Err(Error::syntax());
        }
        i += 2;
    }
    let mut victims = Vec::new();
    for (id, c) in &ctx.srv.clients {
        if *id == me && skipme {
            continue;
        }
        let (addr, laddr, kind, user) = if *id == me {
            (
                ctx.cl.addr.clone(),
                ctx.cl.laddr.clone(),
                client_type(ctx.cl),
                crate::acl::user_name(ctx.srv, ctx.cl),
            )
        } else {
            match c.try_borrow() {
                Ok(c) => (
                    c.addr.clone(),
                    c.laddr.clone(),
                    client_type(&c),
                    crate::acl::user_name(ctx.srv, &c),
                ),
                Err(_) => continue,
            }
        };
        if f_user.as_ref().is_some_and(|f| *f != user) {
            continue;
        }
        if f_id.is_some_and(|f| f != *id) {
            continue;
        }
        if f_addr
            .as_ref()
            .is_some_and(|f| f.as_slice() != addr.as_bytes())
        {
            continue;
        }
        if f_laddr
            .as_ref()
            .is_some_and(|f| f.as_slice() != laddr.as_bytes())
        {
            continue;
        }
        if f_type.as_deref().is_some_and(|t| !same_type(t, kind)) {
            continue;
        }
        victims.push(*id);
    }
    for id in &victims {
        kill(ctx, *id);
    }
    ctx.out().int(victims.len() as i64);
    Ok(())
}

fn kill(ctx: &mut Ctx<'_>, id: u64) {
    if id == ctx.cl.id {
        ctx.cl.close_after_reply = true;
        return;
    }
    if let Some(c) = ctx.srv.clients.get(&id) {
        if let Ok(mut c) = c.try_borrow_mut() {
            c.close_asap = true;
            c.notify.notify_one();
        }
    }
}

fn client_pause(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let ms = args::int_msg(&a[2], "timeout is not an integer or out of range")?;
    if ms < 0 {
        return Err(Error::new("ERR timeout is negative"));
    }
    let write_only = match a.len() {
        3 => false,
        4 if is(&a[3], "WRITE") => true,
        4 if is(&a[3], "ALL") => false,
        4 => return Err(Error::new("ERR CLIENT PAUSE mode must be WRITE or ALL")),
        _ => return Err(Error::syntax()),
    };
    let until = Instant::now() + Duration::from_millis(ms as u64);
    // A new pause never shortens one in force, and ALL wins over WRITE (as Redis).
    let p = match ctx.srv.pause {
        Some(old) if old.until > Instant::now() => Pause {
            until: old.until.max(until),
            write_only: old.write_only && write_only,
        },
        _ => Pause { until, write_only },
    };
    ctx.srv.pause = Some(p);
    ctx.cl.out.ok();
    Ok(())
}

fn client_unpause(ctx: &mut Ctx<'_>) -> Reply {
    ctx.srv.pause = None;
    for (id, c) in &ctx.srv.clients {
        if *id != ctx.cl.id {
            if let Ok(c) = c.try_borrow() {
                c.notify.notify_one();
            }
        }
    }
    ctx.cl.out.ok();
    Ok(())
}

fn client_help(ctx: &mut Ctx<'_>) -> Reply {
    let lines = [
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GETREDIR",
        "    Return the client ID we are redirecting to when tracking is enabled.",
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are:",
        "    * ADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made from the specified address",
        "    * LADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made to specified local address",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Kill connections by type.",
        "    * USER <username>",
        "      Kill connections authenticated by <username>.",
        "    * SKIPME (YES|NO)",
        "      Skip killing current connection (default: yes).",
        "LIST [options ...]",
        "    Return information about client connections. Options:",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Return clients of specified type.",
        "UNPAUSE",
        "    Stop the current client pause, resuming traffic.",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend all, or just write, clients for <timeout> milliseconds.",
        "REPLY (ON|OFF|SKIP)",
        "    Control the replies sent to the current connection.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "UNBLOCK <clientid> [TIMEOUT|ERROR]",
        "    Unblock the specified blocked client.",
        "TRACKINGINFO",
        "    Report tracking status for the current connection.",
        "NO-EVICT (ON|OFF)",
        "    Protect current client connection from eviction.",
        "HELP",
        "    Prints this help.",
    ];
    ctx.help_lines(&lines)
}
