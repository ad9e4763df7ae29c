//! The replica side (REPLICAOF): not built yet in this layer; these answer for a server
//! that is always a master.

use crate::server::Server;

/// Why SYNC/PSYNC cannot be served now (a replica without its master link).
pub(crate) fn sync_refusal(_srv: &Server) -> Option<String> {
    None
}

/// Whether this server replicates a master.
pub(crate) fn is_replica(_srv: &Server) -> bool {
    false
}

/// REPLCONF GETACK from our master: send REPLCONF ACK at once.
pub(crate) fn send_ack_now(_srv: &mut Server) {}
