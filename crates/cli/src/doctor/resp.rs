//! The few RESP2 round trips doctor needs (AUTH, PING, INFO, CONFIG GET) over a plain
//! blocking TcpStream. Error replies are values, not `Err`: `Err` means the connection itself
//! failed.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn text(&self) -> String {
        match self {
            Reply::Status(s) | Reply::Error(s) => s.clone(),
            Reply::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
            Reply::Int(n) => n.to_string(),
            Reply::Bulk(None) | Reply::Array(None) => String::new(),
            Reply::Array(Some(v)) => format!("({} elements)", v.len()),
        }
    }
}

/// Longest line or bulk accepted: INFO and CONFIG GET replies are small.
const MAX_BULK: usize = 64 * 1024 * 1024;

pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    pub fn connect(addr: &str, timeout: Duration) -> io::Result<Conn> {
        let mut last = None;
        for sa in addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&sa, timeout) {
                Ok(s) => {
                    s.set_nodelay(true)?;
                    s.set_read_timeout(Some(timeout))?;
                    s.set_write_timeout(Some(timeout))?;
                    let w = s.try_clone()?;
                    return Ok(Conn {
                        reader: BufReader::new(s),
                        writer: w,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other(format!("{addr} resolves to nothing"))))
    }

    pub fn call(&mut self, args: &[&str]) -> io::Result<Reply> {
        let mut out = Vec::new();
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&out)?;
        read_reply(&mut self.reader)
    }
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("protocol error: {msg}"))
}

fn read_line<R: BufRead>(r: &mut R) -> io::Result<String> {
    let mut line = Vec::new();
    r.by_ref()
        .take(MAX_BULK as u64)
        .read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection",
        ));
    }
    if !line.ends_with(b"\r\n") {
        return Err(bad("a line without CRLF"));
    }
    line.truncate(line.len() - 2);
    Ok(String::from_utf8_lossy(&line).into_owned())
}

fn read_len(s: &str) -> io::Result<i64> {
    s.parse::<i64>().map_err(|_| bad("a bad length"))
}

pub fn read_reply<R: BufRead>(r: &mut R) -> io::Result<Reply> {
    let line = read_line(r)?;
    let (kind, rest) = line.split_at(line.chars().next().map_or(0, char::len_utf8));
    match kind {
        "+" => Ok(Reply::Status(rest.to_string())),
        "-" => Ok(Reply::Error(rest.to_string())),
        ":" => Ok(Reply::Int(read_len(rest)?)),
        "$" => {
            let n = read_len(rest)?;
            if n < 0 {
                return Ok(Reply::Bulk(None));
            }
            let n = n as usize;
            if n > MAX_BULK {
                return Err(bad("a bulk too large"));
            }
            let mut buf = vec![0u8; n + 2];
            r.read_exact(&mut buf)?;
            if &buf[n..] != b"\r\n" {
                return Err(bad("a bulk without CRLF"));
            }
            buf.truncate(n);
            Ok(Reply::Bulk(Some(buf)))
        }
        "*" => {
            let n = read_len(rest)?;
            if n < 0 {
                return Ok(Reply::Array(None));
            }
            if n as usize > MAX_BULK {
                return Err(bad("an array too large"));
            }
            let mut v = Vec::with_capacity((n as usize).min(1024));
            for _ in 0..n {
                v.push(read_reply(r)?);
            }
            Ok(Reply::Array(Some(v)))
        }
        _ => Err(bad("an unknown reply type")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_replies() {
        let mut r: &[u8] =
            b"+PONG\r\n-MISCONF no\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*2\r\n$1\r\na\r\n:1\r\n";
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Status("PONG".into()));
        assert_eq!(
            read_reply(&mut r).unwrap(),
            Reply::Error("MISCONF no".into())
        );
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Int(42));
        assert_eq!(read_reply(&mut r).unwrap().text(), "abc");
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Bulk(None));
        assert_eq!(
            read_reply(&mut r).unwrap(),
            Reply::Array(Some(vec![Reply::Bulk(Some(b"a".to_vec())), Reply::Int(1)]))
        );
        assert!(read_reply(&mut r).is_err());
    }
}
