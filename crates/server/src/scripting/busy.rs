//! A script past busy-reply-threshold (lua-time-limit): from the Lua count hook, the other
//! clients are served as Redis's processEventsWhileBlocked does: SCRIPT KILL, FUNCTION KILL
//! and SHUTDOWN NOSAVE run, everything else gets -BUSY. Their sockets are read and written
//! directly (the connection tasks are parked while the script holds the thread); a partial
//! request left over is handed back to the connection when the script ends.

use std::ffi::c_int;

use super::api::{running, RunCtx};
use super::convert::push_error;
use super::ffi::*;
use crate::server::Server;

const SLOWEVAL: &str =
    "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";
const SLOWSCRIPT: &str =
    "-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n";

/// busy-reply-threshold in ms (0: never busy).
pub(crate) fn threshold_ms(srv: &Server) -> u64 {
    ["busy-reply-threshold", "lua-time-limit"]
        .iter()
        .find_map(|k| srv.config.accepted.get(*k))
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000)
}

/// The count hook (luaMaskCountHook): past the threshold, serve the others; raise when
/// the script was killed (and keep raising on every line, so pcall cannot swallow it).
pub(crate) unsafe extern "C-unwind" fn hook(l: State, _ar: *mut lua_Debug) {
    let Some(ctx) = running() else {
        return;
    };
    // SAFETY: the context outlives the run; the hook runs on the script's thread.
    let killed = interrupt(unsafe { &mut *ctx });
    if killed {
        unsafe {
            lua_sethook(l, Some(hook), LUA_MASKLINE, 0);
            push_error(l, b"Script killed by user with SCRIPT KILL...");
            lua_error(l);
        }
    }
}

fn interrupt(ctx: &mut RunCtx) -> bool {
    if ctx.killed {
        return true;
    }
    // SAFETY: see RunCtx.
    let srv = unsafe { &mut *ctx.srv };
    let elapsed = ctx.start.elapsed().as_millis() as u64;
    if !ctx.timed_out {
        if elapsed < threshold_ms(srv) {
            return false;
        }
        ctx.timed_out = true;
        srv.log.warning(&format!(
            "Slow script detected: still in execution after {elapsed} milliseconds. You can try killing the script using the {} command.",
            if ctx.is_eval { "SCRIPT KILL" } else { "FUNCTION KILL" }
        ));
    }
    serve(ctx);
    ctx.killed
}

/// Reads what the other clients sent and answers each complete request.
fn serve(ctx: &mut RunCtx) {
    // SAFETY: see RunCtx.
    let srv = unsafe { &mut *ctx.srv };
    crate::net::accept_while_busy(srv);
    let clients: Vec<_> = srv
        .clients
        .iter()
        .filter(|(id, _)| **id != ctx.caller_id)
        .map(|(_, c)| c.clone())
        .collect();
    for rc in clients {
        let Ok(mut c) = rc.try_borrow_mut() else {
            continue;
        };
        if c.fd < 0 {
            continue;
        }
        let mut buf = [0u8; 16 * 1024];
        loop {
            // SAFETY: reading into a local buffer from the client's socket.
            let n =
                unsafe { libc::recv(c.fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
            if n <= 0 {
                break;
            }
            c.busy_in.extend_from_slice(&buf[..n as usize]);
        }
        let limits = amber_resp::Limits::default();
        let mut replies = Vec::new();
        while let Ok(Some(p)) = amber_resp::parse_request(&c.busy_in, &limits) {
            c.busy_in.drain(..p.consumed);
            if p.args.is_empty() {
                continue;
            }
            replies.extend_from_slice(answer(ctx, &p.args).as_bytes());
        }
        send_all(c.fd, &replies);
    }
}

fn send_all(fd: c_int, mut b: &[u8]) {
    while !b.is_empty() {
        // SAFETY: writing a local buffer to the client's socket.
        let n = unsafe {
            libc::send(
                fd,
                b.as_ptr().cast(),
                b.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if n <= 0 {
            return;
        }
        b = &b[n as usize..];
    }
}

/// One request while busy (processCommand's busy branch plus scriptKill).
fn answer(ctx: &mut RunCtx, args: &[Vec<u8>]) -> String {
    let is = |i: usize, s: &str| {
        args.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(s.as_bytes()))
    };
    if (is(0, "script") || is(0, "function")) && is(1, "kill") && args.len() == 2 {
        return kill(ctx, is(0, "script")).to_string();
    }
    if is(0, "shutdown")
        && args
            .iter()
            .skip(1)
            .any(|a| a.eq_ignore_ascii_case(b"nosave"))
    {
        // SAFETY: see RunCtx.
        let srv = unsafe { &mut *ctx.srv };
        srv.log
            .warning("User requested shutdown while a script was busy, exiting without saving.");
        std::process::exit(0);
    }
    if ctx.is_eval { SLOWEVAL } else { SLOWSCRIPT }.to_string()
}

/// scriptKill.
fn kill(ctx: &mut RunCtx, is_eval: bool) -> &'static str {
    if ctx.obey {
        return "-UNKILLABLE The busy script was sent by a master instance in the context of replication and cannot be killed.\r\n";
    }
    if ctx.write_dirty {
        return "-UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.\r\n";
    }
    if is_eval && !ctx.is_eval {
        return SLOWSCRIPT;
    }
    if !is_eval && ctx.is_eval {
        return SLOWEVAL;
    }
    ctx.killed = true;
    "+OK\r\n"
}

/// After a script that timed out: the connections with a partial request left over pick
/// it up.
pub(crate) fn end(srv: &mut Server, caller: u64) {
    srv.log.warning("Slow script finished.");
    for (id, rc) in &srv.clients {
        if *id == caller {
            continue;
        }
        if let Ok(c) = rc.try_borrow() {
            if !c.busy_in.is_empty() {
                c.notify.notify_one();
            }
        }
    }
}
