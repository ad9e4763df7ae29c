//! Shutting down, in one place, as Redis's prepareForShutdown: SHUTDOWN, SIGTERM and SIGINT
//! all end here. The AOF is flushed and fsynced, a snapshot in progress is abandoned, the
//! final snapshot is saved when save points exist (or SAVE was given), and a failed save
//! cancels the shutdown unless FORCE.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use tokio::sync::Notify;

use crate::server::Server;

/// Wakes the main loop to shut down (SHUTDOWN).
pub(crate) fn shutdown_notify() -> Arc<Notify> {
    static N: OnceLock<Arc<Notify>> = OnceLock::new();
    N.get_or_init(|| Arc::new(Notify::new())).clone()
}

/// SHUTDOWN's options (a signal shuts down with none).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ShutdownFlags {
    pub(crate) nosave: bool,
    pub(crate) save: bool,
    pub(crate) now: bool,
    pub(crate) force: bool,
}

/// Redis's prepareForShutdown, for the RDB: abandons a BGSAVE in progress, then saves the
/// final snapshot when save points exist (or SAVE was given) unless NOSAVE. A failed save
/// cancels the shutdown unless FORCE: the server keeps running with its data. Returns whether
/// the server may exit.
pub(crate) fn prepare_for_shutdown(srv: &mut Server, flags: ShutdownFlags) -> bool {
    crate::durability::aof::on_shutdown(srv);
    if srv.rdb.bgsave.is_some() {
        srv.log
            .warning("There is a snapshot thread saving an .rdb. Stopping it!");
        crate::durability::save::bgsave_cancel(srv);
    }
    if (!srv.config.save_params.is_empty() && !flags.nosave) || flags.save {
        srv.log
            .notice("Saving the final RDB snapshot before exiting.");
        if crate::durability::save::save_now(srv).is_err() {
            if flags.force {
                srv.log.warning("Error trying to save the DB. Exit anyway.");
            } else {
                srv.log.warning("Error trying to save the DB, can't exit.");
                return false;
            }
        }
    }
    true
}

/// Waits for SIGTERM, SIGINT or SHUTDOWN, then shuts down as Redis does.
pub(super) async fn wait_for_shutdown(srv: Rc<RefCell<Server>>) -> i32 {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        srv.borrow().log.warning("Can't install signal handlers");
        return 1;
    };
    let shutdown_notify = shutdown_notify();
    loop {
        let (signal_name, on_signal) = tokio::select! {
            _ = term.recv() => ("SIGTERM", srv.borrow().config.shutdown_on_sigterm),
            _ = int.recv() => ("SIGINT", srv.borrow().config.shutdown_on_sigint),
            // SHUTDOWN already saved (or was told not to).
            _ = shutdown_notify.notified() => break,
        };
        let mut s = srv.borrow_mut();
        s.log
            .warning(&format!("Received {signal_name} scheduling shutdown..."));
        if s.loading.is_some() {
            // Nothing of ours to save yet: the file being loaded is the data.
            break;
        }
        let flags = ShutdownFlags {
            save: on_signal.save,
            nosave: on_signal.nosave,
            now: on_signal.now,
            force: on_signal.force,
        };
        if prepare_for_shutdown(&mut s, flags) {
            break;
        }
        s.log
            .warning("SIGTERM received but errors trying to shut down the server, check the logs for more information");
    }
    let s = srv.borrow();
    crate::net::supervise::stopping(&s.log);
    s.log.warning("User requested shutdown...");
    s.log.warning("Amber is now ready to exit, bye bye...");
    0
}
