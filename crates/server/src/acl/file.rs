//! Users from redis.conf `user` lines and from the ACL file (ACL LOAD, ACL SAVE, startup),
//! with Redis's messages.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use super::describe::user_line;
use super::rules::{has_spaces, merge_selectors, RuleError, User};
use super::{pubsub_all, Acl, UserRef};
use crate::client::Client;
use crate::server::Server;

/// ACLAppendUserForLoading's check of a `user` line of redis.conf (name and rules, without
/// the `user` word): the rules must parse, unknown commands aside. Err(message).
pub(crate) fn check_config_user(seen: &[Vec<Vec<u8>>], args: &[Vec<u8>]) -> Result<(), String> {
    let declaration = |i: usize, e: RuleError| {
        // Redis names argv[j] (j counted from the rules), whatever the word it is.
        let word = if i == 0 {
            b"user".to_vec()
        } else {
            args.get(i - 1).cloned().unwrap_or_default()
        };
        format!(
            "Error in user declaration '{}': {}",
            String::from_utf8_lossy(&word),
            e.message()
        )
    };
    if seen.iter().any(|u| u.first() == args.first()) {
        return Err(declaration(1, RuleError::Duplicate));
    }
    let merged = match merge_selectors(&args[1..]) {
        Ok(m) => m,
        Err(j) => return Err(declaration(j, RuleError::Syntax)),
    };
    let mut fake = User::new(b"", false);
    for (j, op) in merged.iter().enumerate() {
        match fake.apply(op, false) {
            Ok(()) | Err(RuleError::UnknownCommand) => {}
            Err(e) => return Err(declaration(j, e)),
        }
    }
    Ok(())
}

/// ACLLoadUsersAtStartup: requirepass, then the `user` lines or the ACL file. Err(the log
/// line) stops the server.
pub(crate) fn load_at_startup(srv: &mut Server) -> Result<(), String> {
    let pass = srv.config.requirepass.clone();
    super::set_default_password(srv, pass.as_deref());
    let file = acl_filename(srv);
    let users = srv.config.acl_users.clone();
    if !file.is_empty() && !users.is_empty() {
        return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
    }
    let all = pubsub_all(srv);
    for args in &users {
        let name = &args[0];
        if has_spaces(name) {
            return Err("Spaces not allowed in ACL usernames".into());
        }
        let u = match srv.acl.users.get(name) {
            Some(u) => {
                let _ = u.borrow_mut().apply(b"reset", all);
                u.clone()
            }
            None => {
                let u = Rc::new(RefCell::new(User::new(name, all)));
                srv.acl.users.insert(name.clone(), u.clone());
                u
            }
        };
        let rules = merge_selectors(&args[1..]).unwrap_or_default();
        let mut u = u.borrow_mut();
        for op in rules {
            if let Err(e) = u.apply(&op, all) {
                return Err(format!(
                    "Error loading ACL rule '{}' for the user named '{}': {}",
                    String::from_utf8_lossy(&op),
                    String::from_utf8_lossy(name),
                    e.message()
                ));
            }
        }
    }
    if !file.is_empty() {
        let mut me = None;
        if let Err(e) = load_file(srv, &mut me) {
            return Err(format!("Aborting Redis startup because of ACL errors: {e}"));
        }
    }
    Ok(())
}

/// The aclfile directive ("" when there is none).
pub(crate) fn acl_filename(srv: &Server) -> String {
    srv.config
        .accepted
        .get("aclfile")
        .cloned()
        .unwrap_or_default()
}

/// The most a line of an ACL file is read as (fgets's buffer joins lines anyway; this caps
/// what an untrusted file can make us allocate per user).
const MAX_FILE: u64 = 64 << 20;

/// ACLLoadFromFile: every line is checked; on any error nothing changes and the errors are
/// returned in one line. On success the users are replaced (the default user object kept)
/// and clients of the old users are closed.
pub(crate) fn load_file(srv: &mut Server, me: &mut Option<&mut Client>) -> Result<(), String> {
    let fname = acl_filename(srv);
    let text = read_capped(&fname).map_err(|e| {
        format!(
            "Error loading ACLs, opening file '{fname}': {}",
            crate::durability::aof::failure::strerror_of(&e)
        )
    })?;
    let all = pubsub_all(srv);
    let mut users: BTreeMap<Vec<u8>, User> = BTreeMap::new();
    let mut errors = String::new();
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let linenum = i + 1;
        let line = trim(raw, b" \t\r\n");
        if line.is_empty() {
            continue;
        }
        let argv: Vec<Vec<u8>> = line.split(|&b| b == b' ').map(<[u8]>::to_vec).collect();
        if argv[0] != b"user" || argv.len() < 2 {
            errors.push_str(&format!(
                "{fname}:{linenum} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let name = &argv[1];
        if has_spaces(name) {
            errors.push_str(&format!(
                "'{fname}:{linenum}: username '{}' contains invalid characters. ",
                String::from_utf8_lossy(name)
            ));
            continue;
        }
        if users.contains_key(name) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{}' found on line {linenum}. ",
                String::from_utf8_lossy(name)
            ));
            continue;
        }
        let mut u = User::new(name, all);
        let merged = match merge_selectors(&argv[2..]) {
            Ok(m) => m,
            Err(_) => {
                errors.push_str(&format!(
                    "{fname}:{linenum}: Unmatched parenthesis in selector definition."
                ));
                Vec::new()
            }
        };
        let mut syntax_error = false;
        for op in merged {
            let op = trim(&op, b"\t\r\n");
            match u.apply(op, all) {
                Ok(()) => {}
                Err(RuleError::UnknownCommand) => errors.push_str(&format!(
                    "{fname}:{linenum}: Error in applying operation '{}': {}. ",
                    String::from_utf8_lossy(op),
                    RuleError::UnknownCommand.message()
                )),
                Err(e) if !syntax_error => {
                    errors.push_str(&format!("{fname}:{linenum}: {}. ", e.message()));
                    syntax_error = true;
                }
                Err(_) => {}
            }
        }
        users.insert(name.clone(), u);
    }
    if !errors.is_empty() {
        errors.push_str("WARNING: ACL errors detected, no change to the previously active ACL rules was performed");
        return Err(errors);
    }
    install(srv, me, users, all);
    Ok(())
}

/// Replaces the users with a loaded set: the default user object takes the new default's
/// rules; the clients of every other old user are closed.
fn install(
    srv: &mut Server,
    me: &mut Option<&mut Client>,
    mut users: BTreeMap<Vec<u8>, User>,
    all: bool,
) {
    let new_default = users
        .remove(&b"default"[..])
        .unwrap_or_else(|| User::default_user(all));
    let old = std::mem::take(&mut srv.acl.users);
    *srv.acl.default.borrow_mut() = new_default;
    for (name, u) in old {
        if name != b"default" {
            kill(srv, me, &u);
        }
    }
    let default = srv.acl.default.clone();
    srv.acl.users.insert(b"default".to_vec(), default);
    for (name, u) in users {
        srv.acl.users.insert(name, Rc::new(RefCell::new(u)));
    }
}

fn kill(srv: &mut Server, me: &mut Option<&mut Client>, u: &UserRef) {
    super::kill_clients_of(srv, me.as_deref_mut(), u);
}

fn read_capped(path: &str) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    f.take(MAX_FILE).read_to_end(&mut buf)?;
    Ok(buf)
}

fn trim<'a>(s: &'a [u8], set: &[u8]) -> &'a [u8] {
    let start = s.iter().position(|b| !set.contains(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !set.contains(b))
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// The ACL file's text: one `user` line per user, by name.
pub(crate) fn file_text(acl: &Acl) -> Vec<u8> {
    let mut out = Vec::new();
    for u in acl.users.values() {
        out.extend_from_slice(&user_line(&u.borrow()));
        out.push(b'\n');
    }
    out
}

/// The `user` lines CONFIG REWRITE writes (rewriteConfigUserOption); None with an ACL file.
pub(crate) fn config_user_lines(srv: &Server) -> Option<Vec<String>> {
    if !acl_filename(srv).is_empty() {
        return None;
    }
    let lines = srv
        .acl
        .users
        .values()
        .map(|u| String::from_utf8_lossy(&user_line(&u.borrow())).into_owned())
        .collect();
    Some(lines)
}

/// ACLSaveToFile: written to a temp file beside it, then renamed over it.
pub(crate) fn save_file(srv: &Server) -> Result<(), String> {
    let fname = acl_filename(srv);
    let text = file_text(&srv.acl);
    let tmp = format!(
        "{fname}.tmp-{}-{}",
        std::process::id(),
        crate::server::unix_ms()
    );
    let res = (|| -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &fname)
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.to_string());
    }
    Ok(())
}
