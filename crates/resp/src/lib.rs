//! RESP2/RESP3 for a server: the request parser (multibulk and inline, with Redis's limits and
//! error texts), the reply encoder, the command encoder clients and the AOF share, and Redis's
//! argument splitter (sdssplitargs). It knows nothing but bytes.

pub mod command;
pub mod parse;
pub mod reply;
pub mod splitargs;

pub use command::encode_command;
pub use parse::{parse_request, Limits, ParseError, Parsed};
pub use reply::{format_double, Proto, ReplyBuf};
pub use splitargs::split_args;
