//! pubsub commands.

use super::Command;

pub static COMMANDS: &[Command] = &[];

/// Drops every subscription of a client that goes away.
pub fn unsubscribe_all(srv: &mut crate::server::Server, cl: &mut crate::client::Client) {
    for ch in cl.channels.drain() {
        if let Some(ids) = srv.pubsub.channels.get_mut(&ch) {
            ids.retain(|id| *id != cl.id);
            if ids.is_empty() {
                srv.pubsub.channels.remove(&ch);
            }
        }
    }
    cl.patterns.clear();
    srv.pubsub.patterns.retain(|(_, id)| *id != cl.id);
}
