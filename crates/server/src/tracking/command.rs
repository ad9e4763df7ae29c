//! CLIENT TRACKING, CACHING, GETREDIR and TRACKINGINFO (networking.c's clientCommand), with
//! Redis's argument checks in Redis's order and its error texts.

use crate::cmd::args::{self, is};
use crate::cmd::{Ctx, Error, Reply};

use super::disable;

/// CLIENT TRACKING ON|OFF [REDIRECT id] [BCAST] [PREFIX p]... [OPTIN] [OPTOUT] [NOLOOP]
pub(crate) fn client_tracking(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let mut redirect: i64 = 0;
    let (mut bcast, mut optin, mut optout, mut noloop) = (false, false, false, false);
    let mut prefixes: Vec<&[u8]> = Vec::new();
    let mut j = 3;
    while j < a.len() {
        let more = j + 1 < a.len();
        let opt = &a[j];
        if is(opt, "redirect") && more {
            j += 1;
            if redirect != 0 {
                return Err(Error::new(
                    "ERR A client can only redirect to a single other client",
                ));
            }
            redirect = args::int(&a[j])?;
            let exists = u64::try_from(redirect)
                .ok()
                .is_some_and(|id| id == ctx.cl.id || ctx.srv.clients.contains_key(&id));
            if !exists {
                return Err(Error::new(
                    "ERR The client ID you want redirect to does not exist",
                ));
            }
        } else if is(opt, "bcast") {
            bcast = true;
        } else if is(opt, "optin") {
            optin = true;
        } else if is(opt, "optout") {
            optout = true;
        } else if is(opt, "noloop") {
            noloop = true;
        } else if is(opt, "prefix") && more {
            j += 1;
            prefixes.push(&a[j]);
        } else {
            return Err(Error::syntax());
        }
        j += 1;
    }
    if is(&a[2], "on") {
        let t = &ctx.cl.tracking;
        if !bcast && !prefixes.is_empty() {
            return Err(Error::new(
                "ERR PREFIX option requires BCAST mode to be enabled",
            ));
        }
        if t.on && t.bcast != bcast {
            return Err(Error::new("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
        if bcast && (optin || optout) {
            return Err(Error::new(
                "ERR OPTIN and OPTOUT are not compatible with BCAST",
            ));
        }
        if optin && optout {
            return Err(Error::new(
                "ERR You can't specify both OPTIN mode and OPTOUT mode",
            ));
        }
        if (optin && t.optout) || (optout && t.optin) {
            return Err(Error::new("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
        if bcast {
            check_prefix_collisions(&t.prefixes, &prefixes)?;
        }
        enable(
            ctx,
            redirect as u64,
            (bcast, optin, optout, noloop),
            &prefixes,
        );
    } else if is(&a[2], "off") {
        disable(ctx.srv, ctx.cl);
    } else {
        return Err(Error::syntax());
    }
    ctx.cl.out.ok();
    Ok(())
}

/// Two prefixes overlap when one starts the other (both would announce the same key).
fn overlaps(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// checkPrefixCollisionsOrReply: a new prefix may overlap neither one the client has nor
/// another new one.
fn check_prefix_collisions(
    existing: &std::collections::BTreeSet<Vec<u8>>,
    new: &[&[u8]],
) -> Result<(), Error> {
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    for (i, p) in new.iter().enumerate() {
        if let Some(old) = existing.iter().find(|old| overlaps(old, p)) {
            return Err(Error::new(format!(
                "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                s(p),
                s(old)
            )));
        }
        if let Some(other) = new[i + 1..].iter().find(|o| overlaps(p, o)) {
            return Err(Error::new(format!(
                "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                s(p),
                s(other)
            )));
        }
    }
    Ok(())
}

/// enableTracking.
fn enable(
    ctx: &mut Ctx<'_>,
    redirect: u64,
    (bcast, optin, optout, noloop): (bool, bool, bool, bool),
    prefixes: &[&[u8]],
) {
    let id = ctx.cl.id;
    let t = &mut ctx.cl.tracking;
    if !t.on {
        ctx.srv.tracking.clients += 1;
    }
    t.on = true;
    t.broken_redir = false;
    t.redirect = redirect;
    t.bcast = bcast;
    t.optin = optin;
    t.optout = optout;
    t.noloop = noloop;
    if bcast {
        let all: &[&[u8]] = &[b""];
        for p in if prefixes.is_empty() { all } else { prefixes } {
            let bs = ctx.srv.tracking.prefixes.entry(p.to_vec()).or_default();
            if !bs.clients.contains(&id) {
                bs.clients.push(id);
                t.prefixes.insert(p.to_vec());
            }
        }
    }
}

/// CLIENT CACHING YES|NO: whether the next command (or transaction) is tracked, in OPTIN or
/// OPTOUT mode.
pub(crate) fn client_caching(ctx: &mut Ctx<'_>) -> Reply {
    let t = &mut ctx.cl.tracking;
    if !t.on {
        return Err(Error::new("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
    }
    let opt = &ctx.args[2];
    if is(opt, "yes") {
        if !t.optin {
            return Err(Error::new(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if is(opt, "no") {
        if !t.optout {
            return Err(Error::new(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(Error::syntax());
    }
    t.caching = true;
    ctx.cl.out.ok();
    Ok(())
}

/// CLIENT GETREDIR: the redirection (0 for none), -1 when tracking is off.
pub(crate) fn client_getredir(ctx: &mut Ctx<'_>) -> Reply {
    let t = &ctx.cl.tracking;
    let v = if t.on { t.redirect as i64 } else { -1 };
    ctx.out().int(v);
    Ok(())
}

/// CLIENT TRACKINGINFO: flags, redirect, prefixes.
pub(crate) fn client_trackinginfo(ctx: &mut Ctx<'_>) -> Reply {
    let t = &ctx.cl.tracking;
    let mut flags: Vec<&str> = vec![if t.on { "on" } else { "off" }];
    if t.bcast {
        flags.push("bcast");
    }
    if t.optin {
        flags.push("optin");
        if t.caching {
            flags.push("caching-yes");
        }
    }
    if t.optout {
        flags.push("optout");
        if t.caching {
            flags.push("caching-no");
        }
    }
    if t.noloop {
        flags.push("noloop");
    }
    if t.broken_redir {
        flags.push("broken_redirect");
    }
    let redirect = if t.on { t.redirect as i64 } else { -1 };
    let prefixes: Vec<Vec<u8>> = t.prefixes.iter().cloned().collect();
    let out = &mut ctx.cl.out;
    out.map(3);
    out.bulk(b"flags");
    out.set(flags.len());
    for f in flags {
        out.bulk(f.as_bytes());
    }
    out.bulk(b"redirect");
    out.int(redirect);
    out.bulk(b"prefixes");
    out.array(prefixes.len());
    for p in &prefixes {
        out.bulk(p);
    }
    Ok(())
}

/// CLIENT LIST's tracking flags: `t` tracking, `R` broken redirect, `B` BCAST.
pub(crate) fn list_flags(cl: &crate::client::Client, flags: &mut String) {
    let t = &cl.tracking;
    if t.on {
        flags.push('t');
    }
    if t.broken_redir {
        flags.push('R');
    }
    if t.bcast {
        flags.push('B');
    }
}
