//! RESP2/RESP3 for a server: the request parser (multibulk and inline, with Redis's limits and
//! error texts) and the reply encoder. It knows nothing but bytes.

pub mod parse;
pub mod reply;

pub use parse::{parse_request, Limits, ParseError, Parsed};
pub use reply::{format_double, Proto, ReplyBuf};
