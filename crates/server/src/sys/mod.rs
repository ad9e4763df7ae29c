//! What the server needs of the system: the counting allocator, cheap clocks, logging in
//! Redis's format, and crash reports.

pub(crate) mod alloc;
pub(crate) mod clock;
pub(crate) mod crash;
pub(crate) mod log;
