//! The ACL command (Redis's aclCommand).

use std::cell::RefCell;
use std::rc::Rc;

use super::describe::{channels_field, command_rules, keys_field, user_line};
use super::rules::{has_spaces, merge_selectors, Selector, User, USER_FLAG_NAMES};
use super::table::{category_bit, table, CATEGORIES};
use super::{file, pubsub_all};
use crate::cmd::args::{self, is};
use crate::cmd::{Command, Ctx, Error, Reply, ADMIN, LOADING, NOSCRIPT, SENTINEL, STALE};

const NONE: &[&str] = &[];
const F: u32 = ADMIN | NOSCRIPT | LOADING | STALE | SENTINEL;
const F_OPEN: u32 = NOSCRIPT | LOADING | STALE | SENTINEL;

pub(crate) static COMMANDS: &[Command] = &[Command::container("acl", -2, SENTINEL, SUBCOMMANDS)];

static SUBCOMMANDS: &[Command] = &[
    Command::new("cat", -2, F_OPEN, (0, 0, 0), NONE, cat),
    Command::new("deluser", -3, F, (0, 0, 0), NONE, deluser),
    Command::new("dryrun", -4, F, (0, 0, 0), NONE, dryrun),
    Command::new("genpass", -2, F_OPEN, (0, 0, 0), NONE, genpass),
    Command::new("getuser", 3, F, (0, 0, 0), NONE, getuser),
    Command::new("help", 2, LOADING | STALE | SENTINEL, (0, 0, 0), NONE, help),
    Command::new("list", 2, F, (0, 0, 0), NONE, list),
    Command::new("load", 2, F, (0, 0, 0), NONE, load),
    Command::new("log", -2, F, (0, 0, 0), NONE, log),
    Command::new("save", 2, F, (0, 0, 0), NONE, save),
    Command::new("setuser", -3, F, (0, 0, 0), NONE, setuser),
    Command::new("users", 2, F, (0, 0, 0), NONE, users),
    Command::new("whoami", 2, F_OPEN, (0, 0, 0), NONE, whoami),
];

/// addReplySubcommandSyntaxError.
fn syntax_error(ctx: &Ctx<'_>) -> Error {
    let sub: String = lossy(&ctx.args[1]).chars().take(128).collect();
    Error::new(format!(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try ACL HELP."
    ))
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// ACLStringSetUser: all rules are tried on a copy; the user changes only if all apply.
pub(crate) fn set_user(ctx: &mut Ctx<'_>, name: &[u8], rules: &[Vec<u8>]) -> Reply {
    let merged = merge_selectors(rules).map_err(|j| {
        Error::new(format!(
            "ERR Unmatched parenthesis in acl selector starting at '{}'.",
            lossy(&rules[j])
        ))
    })?;
    let all = pubsub_all(ctx.srv);
    let existing = ctx.srv.acl.users.get(name).cloned();
    let mut temp = match &existing {
        Some(u) => u.borrow().clone(),
        None => User::new(name, all),
    };
    for op in &merged {
        temp.apply(op, all).map_err(|e| {
            Error::new(format!(
                "ERR Error in ACL SETUSER modifier '{}': {}",
                lossy(op),
                e.message()
            ))
        })?;
    }
    match existing {
        Some(u) => {
            super::kill_pubsub_clients_if_needed(ctx.srv, ctx.cl, &u, &temp);
            *u.borrow_mut() = temp;
        }
        None => {
            ctx.srv
                .acl
                .users
                .insert(name.to_vec(), Rc::new(RefCell::new(temp)));
        }
    }
    Ok(())
}

fn setuser(ctx: &mut Ctx<'_>) -> Reply {
    let name = ctx.args[2].clone();
    if has_spaces(&name) {
        return Err(Error::new(
            "ERR Usernames can't contain spaces or null characters",
        ));
    }
    let rules = ctx.args[3..].to_vec();
    set_user(ctx, &name, &rules)?;
    ctx.cl.out.ok();
    Ok(())
}

fn deluser(ctx: &mut Ctx<'_>) -> Reply {
    if ctx.args[2..].iter().any(|n| n.as_slice() == b"default") {
        return Err(Error::new("ERR The 'default' user cannot be removed"));
    }
    let mut deleted = 0;
    for name in &ctx.args[2..] {
        if let Some(u) = ctx.srv.acl.users.remove(name.as_slice()) {
            super::kill_clients_of(ctx.srv, Some(&mut *ctx.cl), &u);
            deleted += 1;
        }
    }
    ctx.cl.out.int(deleted);
    Ok(())
}

/// Commands, keys and channels of a selector: three fields of GETUSER.
fn selector_fields(out: &mut amber_resp::ReplyBuf, s: &Selector) {
    out.bulk(b"commands");
    out.bulk(command_rules(s).as_bytes());
    out.bulk(b"keys");
    out.bulk(&keys_field(s));
    out.bulk(b"channels");
    out.bulk(&channels_field(s));
}

fn getuser(ctx: &mut Ctx<'_>) -> Reply {
    let Some(u) = ctx.srv.acl.users.get(ctx.args[2].as_slice()).cloned() else {
        ctx.cl.out.null();
        return Ok(());
    };
    let u = u.borrow();
    let out = &mut ctx.cl.out;
    out.map(6);
    out.bulk(b"flags");
    let flags: Vec<&str> = USER_FLAG_NAMES
        .iter()
        .filter(|(f, _)| u.flags & f != 0)
        .map(|(_, n)| *n)
        .collect();
    out.set(flags.len());
    for f in flags {
        out.bulk(f.as_bytes());
    }
    out.bulk(b"passwords");
    out.array(u.passwords.len());
    for p in &u.passwords {
        out.bulk(p.as_bytes());
    }
    selector_fields(out, u.root());
    out.bulk(b"selectors");
    out.array(u.selectors.len() - 1);
    for s in &u.selectors[1..] {
        out.map(3);
        selector_fields(out, s);
    }
    Ok(())
}

fn list(ctx: &mut Ctx<'_>) -> Reply {
    let lines: Vec<Vec<u8>> = ctx
        .srv
        .acl
        .users
        .values()
        .map(|u| user_line(&u.borrow()))
        .collect();
    let out = &mut ctx.cl.out;
    out.array(lines.len());
    for l in lines {
        out.bulk(&l);
    }
    Ok(())
}

fn users(ctx: &mut Ctx<'_>) -> Reply {
    let names: Vec<Vec<u8>> = ctx.srv.acl.users.keys().cloned().collect();
    let out = &mut ctx.cl.out;
    out.array(names.len());
    for n in names {
        out.bulk(&n);
    }
    Ok(())
}

fn whoami(ctx: &mut Ctx<'_>) -> Reply {
    let name = super::user_name(ctx.srv, ctx.cl);
    ctx.cl.out.bulk(&name);
    Ok(())
}

const NO_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

fn load(ctx: &mut Ctx<'_>) -> Reply {
    if file::acl_filename(ctx.srv).is_empty() {
        return Err(Error::new(NO_FILE));
    }
    let mut me = Some(&mut *ctx.cl);
    file::load_file(ctx.srv, &mut me).map_err(|e| Error::new(format!("ERR {e}")))?;
    ctx.cl.out.ok();
    Ok(())
}

fn save(ctx: &mut Ctx<'_>) -> Reply {
    if file::acl_filename(ctx.srv).is_empty() {
        return Err(Error::new(NO_FILE));
    }
    if let Err(e) = file::save_file(ctx.srv) {
        ctx.srv
            .log
            .warning(&format!("Writing ACL file for ACL SAVE: {e}"));
        return Err(Error::new("ERR There was an error trying to save the ACLs. Please check the server logs for more information"));
    }
    ctx.cl.out.ok();
    Ok(())
}

fn cat(ctx: &mut Ctx<'_>) -> Reply {
    if ctx.args.len() > 3 {
        return Err(syntax_error(ctx));
    }
    let out = &mut ctx.cl.out;
    if ctx.args.len() == 2 {
        out.array(CATEGORIES.len());
        for c in CATEGORIES {
            out.bulk(c.as_bytes());
        }
        return Ok(());
    }
    let Some(bit) = category_bit(&ctx.args[2]) else {
        let name: String = lossy(&ctx.args[2]).chars().take(128).collect();
        return Err(Error::new(format!("ERR Unknown category '{name}'")));
    };
    let names: Vec<&str> = table()
        .cmds
        .iter()
        .filter(|c| c.cats & bit != 0)
        .map(|c| c.full.as_str())
        .collect();
    out.array(names.len());
    for n in names {
        out.bulk(n.as_bytes());
    }
    Ok(())
}

fn genpass(ctx: &mut Ctx<'_>) -> Reply {
    if ctx.args.len() > 3 {
        return Err(syntax_error(ctx));
    }
    let bits = match ctx.args.get(2) {
        Some(a) => args::int(a)?,
        None => 256,
    };
    if !(1..=4096).contains(&bits) {
        return Err(Error::new("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"));
    }
    let chars = ((bits + 3) / 4) as usize;
    let mut bytes = vec![0u8; chars.div_ceil(2)];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    ctx.cl.out.bulk(&hex.as_bytes()[..chars]);
    Ok(())
}

fn log(ctx: &mut Ctx<'_>) -> Reply {
    if ctx.args.len() > 3 {
        return Err(syntax_error(ctx));
    }
    let mut count = 10i64;
    if let Some(a) = ctx.args.get(2) {
        if is(a, "reset") {
            ctx.srv.acl.log.reset();
            ctx.cl.out.ok();
            return Ok(());
        }
        count = args::int(a)?.max(0);
    }
    let now = crate::server::unix_ms();
    ctx.srv.acl.log.reply(&mut ctx.cl.out, count as usize, now);
    Ok(())
}

fn dryrun(ctx: &mut Ctx<'_>) -> Reply {
    let Some(u) = ctx.srv.acl.users.get(ctx.args[2].as_slice()).cloned() else {
        return Err(Error::new(format!(
            "ERR User '{}' not found",
            lossy(&ctx.args[2])
        )));
    };
    let argv = &ctx.args[3..];
    let found = ctx.srv.commands.lookup(&argv[0]).and_then(|c| {
        if c.subcommands.is_empty() || (argv.len() == 1 && c.arity == -1) {
            Some(c)
        } else {
            crate::cmd::subcommand(c, argv)
        }
    });
    let Some(cmd) = found else {
        return Err(Error::new(format!(
            "ERR Command '{}' not found",
            lossy(&argv[0])
        )));
    };
    let t = table();
    let Some(id) = t.id_of(cmd) else {
        return Err(Error::new(format!(
            "ERR Command '{}' not found",
            lossy(&argv[0])
        )));
    };
    let full = &t.cmds[usize::from(id)].full;
    let argc = argv.len() as i32;
    if (cmd.arity > 0 && cmd.arity != argc) || argc < -cmd.arity {
        return Err(Error::new(format!(
            "ERR wrong number of arguments for '{full}' command"
        )));
    }
    let res = super::check::user_check(&u.borrow(), id, argv);
    match res {
        Ok(()) => ctx.cl.out.ok(),
        Err((why, idx)) => {
            let msg = super::dryrun_message(why, full, argv.get(idx).map_or(&[][..], |a| a));
            ctx.cl.out.bulk(msg.as_bytes());
        }
    }
    Ok(())
}

fn help(ctx: &mut Ctx<'_>) -> Reply {
    const LINES: &[&str] = &[
        "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CAT [<category>]",
        "    List all commands that belong to <category>, or all command categories",
        "    when no category is specified.",
        "DELUSER <username> [<username> ...]",
        "    Delete a list of users.",
        "DRYRUN <username> <command> [<arg> ...]",
        "    Returns whether the user can execute the given command without executing the command.",
        "GETUSER <username>",
        "    Get the user's details.",
        "GENPASS [<bits>]",
        "    Generate a secure 256-bit user password. The optional `bits` argument can",
        "    be used to specify a different size.",
        "LIST",
        "    Show users details in config file format.",
        "LOAD",
        "    Reload users from the ACL file.",
        "LOG [<count> | RESET]",
        "    Show the ACL log entries.",
        "SAVE",
        "    Save the current config to the ACL file.",
        "SETUSER <username> <attribute> [<attribute> ...]",
        "    Create or modify a user with the specified attributes.",
        "USERS",
        "    List all the registered usernames.",
        "WHOAMI",
        "    Return the current connection username.",
        "HELP",
        "    Prints this help.",
    ];
    ctx.help_lines(LINES)
}
