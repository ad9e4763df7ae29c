//! FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]: a coordinated switch of roles
//! between this master and one of its replicas, as Redis 7.0's failoverCommand.
//!
//! ```text
//!  FAILOVER ─▶ waiting-for-sync: writes paused (clients wait, nothing expires, no PINGs
//!              with a TIMEOUT), until the target (or any replica) acknowledged our whole
//!              stream ─▶ failover-in-progress: we become a replica of the target, and our
//!              link sends it PSYNC <our replid> <offset+1> FAILOVER
//!  target: PSYNC ... FAILOVER with its own replid ─▶ it promotes itself (REPLICAOF NO ONE)
//!          and answers the PSYNC: +CONTINUE <new replid> ─▶ we are its replica, unpaused
//!  TIMEOUT expiry: FORCE goes to failover-in-progress anyway, else the failover is aborted;
//!  a target that refuses the PSYNC aborts it (we become a master again, under a new replid)
//! ```

use std::time::{Duration, Instant};

use crate::cmd::args::is;
use crate::cmd::{Ctx, Error, Reply};
use crate::server::Server;

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) enum State {
    #[default]
    None,
    WaitForSync,
    InProgress,
}

/// The failover in force (Redis's failover_* fields).
#[derive(Default)]
pub(crate) struct Failover {
    pub(crate) state: State,
    /// TIMEOUT's deadline.
    end: Option<Instant>,
    force: bool,
    /// TO host port, or the replica found caught up.
    target: Option<(String, u16)>,
}

/// INFO's master_failover_state.
pub(crate) fn state_name(srv: &Server) -> &'static str {
    match srv.repl.failover.state {
        State::None => "no-failover",
        State::WaitForSync => "waiting-for-sync",
        State::InProgress => "failover-in-progress",
    }
}

/// Whether a failover holds writes back (Redis's PAUSE_DURING_FAILOVER).
pub(crate) fn pausing(srv: &Server) -> bool {
    srv.repl.failover.state != State::None
}

/// Whether clients are paused (CLIENT PAUSE or a failover): the dataset stays as it is,
/// keys do not expire (checkClientPauseTimeoutAndReturnIfPaused).
pub(crate) fn clients_paused(srv: &Server) -> bool {
    pausing(srv) || srv.pause.is_some_and(|p| p.until > Instant::now())
}

/// Whether the periodic PING to replicas is held back: a failover with a TIMEOUT, while
/// paused (so the offsets stay put, as Redis's replicationCron).
pub(crate) fn hold_pings(srv: &Server) -> bool {
    srv.repl.failover.end.is_some() && clients_paused(srv)
}

/// The FAILOVER command.
pub(crate) fn command(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    if a.len() == 2 && is(&a[1], "abort") {
        if ctx.srv.repl.failover.state == State::None {
            return Err(Error::new("ERR No failover in progress."));
        }
        abort(ctx.srv, "Failover manually aborted");
        ctx.cl.out.ok();
        return Ok(());
    }
    let mut timeout_ms: i64 = 0;
    let mut force = false;
    let mut target: Option<(String, i64)> = None;
    let mut j = 1;
    while j < a.len() {
        if is(&a[j], "timeout") && j + 1 < a.len() && timeout_ms == 0 {
            timeout_ms = crate::cmd::args::int(&a[j + 1])?;
            if timeout_ms <= 0 {
                return Err(Error::new("ERR FAILOVER timeout must be greater than 0"));
            }
            j += 2;
        } else if is(&a[j], "to") && j + 2 < a.len() && target.is_none() {
            let port = crate::cmd::args::int(&a[j + 2])?;
            target = Some((String::from_utf8_lossy(&a[j + 1]).into_owned(), port));
            j += 3;
        } else if is(&a[j], "force") && !force {
            force = true;
            j += 1;
        } else {
            return Err(Error::syntax());
        }
    }
    let srv = &mut *ctx.srv;
    if srv.repl.failover.state != State::None {
        return Err(Error::new("ERR FAILOVER already in progress."));
    }
    if super::replica::is_replica(srv) {
        return Err(Error::new(
            "ERR FAILOVER is not valid when server is a replica.",
        ));
    }
    if srv.repl.replicas.is_empty() {
        return Err(Error::new("ERR FAILOVER requires connected replicas."));
    }
    if force && (timeout_ms == 0 || target.is_none()) {
        return Err(Error::new(
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        ));
    }
    let mut fo = Failover::default();
    if let Some((host, port)) = target {
        let Some(r) = find_replica(srv, &host, port) else {
            return Err(Error::new(
                "ERR FAILOVER target HOST and PORT is not a replica.",
            ));
        };
        if r.state != super::master::State::Online {
            return Err(Error::new("ERR FAILOVER target replica is not online."));
        }
        srv.log
            .notice(&format!("FAILOVER requested to {host}:{port}."));
        // A replica's listening port is one it announced: within u16 when it matched.
        fo.target = Some((host, u16::try_from(port).unwrap_or(0)));
    } else {
        srv.log.notice("FAILOVER requested to any replica.");
    }
    if timeout_ms > 0 {
        fo.end = Instant::now().checked_add(Duration::from_millis(timeout_ms as u64));
    }
    fo.force = force;
    fo.state = State::WaitForSync;
    srv.repl.failover = fo;
    ctx.cl.out.ok();
    Ok(())
}

/// The replica known as host:port (its announced or peer ip, and its listening port).
fn find_replica<'a>(srv: &'a Server, host: &str, port: i64) -> Option<&'a super::master::Replica> {
    srv.repl
        .replicas
        .values()
        .find(|r| r.ip().eq_ignore_ascii_case(host) && r.hs.listening_port == port)
}

/// updateFailoverStatus: run by the cron and after each acknowledgement. Starts the
/// switch when the target caught up (or the time is up with FORCE), aborts at the deadline.
pub(crate) fn update(srv: &mut Server) {
    if srv.repl.failover.state != State::WaitForSync {
        return;
    }
    if srv.repl.failover.end.is_some_and(|e| e <= Instant::now()) {
        if srv.repl.failover.force {
            let (host, port) = srv.repl.failover.target.clone().unwrap_or_default();
            srv.log.notice(&format!(
                "FAILOVER to {host}:{port} time out exceeded, failing over."
            ));
            switch(srv, host, port);
        } else {
            abort(srv, "Replica never caught up before timeout");
        }
        return;
    }
    let offset = srv.repl.offset;
    let caught_up = match &srv.repl.failover.target {
        Some((host, port)) => find_replica(srv, host, i64::from(*port))
            .filter(|r| r.ack_off == offset)
            .map(|_| (host.clone(), *port)),
        None => srv
            .repl
            .replicas
            .values()
            .find(|r| r.ack_off == offset)
            .map(|r| (r.ip(), u16::try_from(r.hs.listening_port).unwrap_or(0))),
    };
    if let Some((host, port)) = caught_up {
        srv.log.notice(&format!(
            "Failover target {host}:{port} is synced, failing over."
        ));
        switch(srv, host, port);
    }
}

/// failover-in-progress: we become a replica of the target, whose link sends PSYNC FAILOVER.
fn switch(srv: &mut Server, host: String, port: u16) {
    srv.repl.failover.state = State::InProgress;
    srv.repl.failover.target = Some((host.clone(), port));
    super::replica::set_master(srv, host, port);
}

/// Our link's PSYNC ... FAILOVER was answered: +CONTINUE / +FULLRESYNC end the failover,
/// anything else aborts it.
pub(crate) fn psync_answered(srv: &mut Server, accepted: bool) {
    if srv.repl.failover.state != State::InProgress {
        return;
    }
    if accepted {
        clear(srv);
    } else {
        abort(srv, "Failover target rejected psync request");
    }
}

/// The link could not send its PSYNC ... FAILOVER.
pub(crate) fn write_error(srv: &mut Server) {
    abort(srv, "Write error to failover target");
}

/// Whether our link must add FAILOVER to its PSYNC.
pub(crate) fn in_progress(srv: &Server) -> bool {
    srv.repl.failover.state == State::InProgress
}

/// abortFailover: logged; a failover in progress makes us a master again.
pub(crate) fn abort(srv: &mut Server, why: &str) {
    if srv.repl.failover.state == State::None {
        return;
    }
    match &srv.repl.failover.target {
        Some((h, p)) => srv
            .log
            .notice(&format!("FAILOVER to {h}:{p} aborted: {why}")),
        None => srv
            .log
            .notice(&format!("FAILOVER to any replica aborted: {why}")),
    }
    if srv.repl.failover.state == State::InProgress {
        super::replica::promote(srv);
    }
    clear(srv);
}

/// clearFailoverState: the pause ends, held clients run again.
fn clear(srv: &mut Server) {
    srv.repl.failover = Failover::default();
    for c in srv.clients.values() {
        if let Ok(c) = c.try_borrow() {
            c.notify.notify_one();
        }
    }
}

/// The target's side: PSYNC <replid> <offset> FAILOVER from our master. With our replid we
/// become a master (and the PSYNC goes on, to continue under our new history); the error
/// to answer otherwise.
pub(crate) fn psync_request(ctx: &mut Ctx<'_>) -> Result<(), Error> {
    let replid = String::from_utf8_lossy(&ctx.args[1]).into_owned();
    ctx.srv
        .log
        .warning(&format!("Failover request received for replid {replid}."));
    if !super::replica::is_replica(ctx.srv) {
        return Err(Error::new("ERR PSYNC FAILOVER can't be sent to a master."));
    }
    if !replid.eq_ignore_ascii_case(&ctx.srv.repl.replid) {
        return Err(Error::new(
            "ERR PSYNC FAILOVER replid must match my replid.",
        ));
    }
    super::replica::promote(ctx.srv);
    let msg = format!(
        "MASTER MODE enabled (failover request from '{}')",
        super::replica::client_brief(ctx.cl)
    );
    ctx.srv.log.notice(&msg);
    Ok(())
}
