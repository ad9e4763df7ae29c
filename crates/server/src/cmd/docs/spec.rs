//! The syntax of one command's argument line and its parser into the tree COMMAND DOCS returns.
//!
//! Each command's arguments are written as one compact syntax line, parsed on first use into
//! the argument tree that `COMMAND DOCS` returns. The grammar:
//!
//! ```text
//! line    := elem (' ' elem)*
//! elem    := leaf | '[' leaf ']' | group
//! leaf    := word ['=' word] [':' type] suffix*
//!              `NX`            pure token NX named "nx" (a bare word starting uppercase)
//!              `ALPHA=sorting` pure token ALPHA named "sorting"
//!              `EX=seconds:i`  token EX followed by an integer named "seconds"
//!              `member`        a string named "member" (a bare word starting lowercase)
//!              `key:k`         a key named "key"
//! group   := [word] ('[' body ']' | '(' body ')') '=' word [':o' | ':b'] suffix*
//!              `[NX|XX]=condition`   an optional oneof named "condition"
//!              `(score:d member)=d`  a required block named "d"
//!              `LIMIT[offset:i count:i]=offset_count`  a block introduced by the token LIMIT
//!            A body with '|' is a oneof, otherwise a block; ':o'/':b' force the kind when the
//!            body has a single element.
//! body    := elems ('|' elems)*
//! type    := 's' string | 'i' integer | 'd' double | 'k' key | 'p' pattern | 't' unix-time
//! suffix  := '#' n       key_spec_index (a key without one has 0)
//!          | '@' version since
//!          | '!' version deprecated_since
//!          | '*'         multiple
//!          | '+'         multiple_token
//! word    := [A-Za-z0-9_/-]+ | "'" any text but "'" "'"

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    String,
    Integer,
    Double,
    Key,
    Pattern,
    UnixTime,
    PureToken,
    OneOf,
    Block,
}

impl Kind {
    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Integer => "integer",
            Kind::Double => "double",
            Kind::Key => "key",
            Kind::Pattern => "pattern",
            Kind::UnixTime => "unix-time",
            Kind::PureToken => "pure-token",
            Kind::OneOf => "oneof",
            Kind::Block => "block",
        }
    }

    fn from_code(c: u8) -> Option<Kind> {
        Some(match c {
            b's' => Kind::String,
            b'i' => Kind::Integer,
            b'd' => Kind::Double,
            b'k' => Kind::Key,
            b'p' => Kind::Pattern,
            b't' => Kind::UnixTime,
            _ => return None,
        })
    }
}

/// One node of an argument tree, as COMMAND DOCS describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Arg {
    pub(super) name: String,
    pub(super) kind: Kind,
    /// Keys always have one (0 unless written); a pattern naming keys may have one too.
    pub(super) key_spec_index: Option<u32>,
    pub(super) token: Option<&'static str>,
    pub(super) since: Option<&'static str>,
    pub(super) deprecated_since: Option<&'static str>,
    pub(super) optional: bool,
    pub(super) multiple: bool,
    pub(super) multiple_token: bool,
    pub(super) args: Vec<Arg>,
}

impl Arg {
    fn new(name: &str, kind: Kind) -> Arg {
        Arg {
            name: name.to_string(),
            kind,
            key_spec_index: None,
            token: None,
            since: None,
            deprecated_since: None,
            optional: false,
            multiple: false,
            multiple_token: false,
            args: Vec::new(),
        }
    }
}

/// A recursive-descent parser over one syntax line.
pub(super) struct Parser {
    s: &'static str,
    pos: usize,
}

pub(super) type Parsed<T> = Result<T, String>;

impl Parser {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn fail<T>(&self, what: &str) -> Parsed<T> {
        Err(format!("{what} at byte {} of {:?}", self.pos, self.s))
    }

    /// A bare or quoted word; the flag says whether it was quoted.
    fn word(&mut self) -> Parsed<(&'static str, bool)> {
        let s = self.s;
        if self.eat(b'\'') {
            let start = self.pos;
            match s[start..].find('\'') {
                Some(len) => {
                    self.pos = start + len + 1;
                    Ok((&s[start..start + len], true))
                }
                None => self.fail("unterminated quote"),
            }
        } else {
            let start = self.pos;
            while self
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'/' | b'-'))
            {
                self.pos += 1;
            }
            if self.pos == start {
                return self.fail("expected a word");
            }
            Ok((&s[start..self.pos], false))
        }
    }

    /// A version such as 2.6.12, after '@' or '!'.
    fn version(&mut self) -> Parsed<&'static str> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == b'.') {
            self.pos += 1;
        }
        if self.pos == start {
            return self.fail("expected a version");
        }
        Ok(&self.s[start..self.pos])
    }

    fn suffixes(&mut self, arg: &mut Arg) -> Parsed<()> {
        loop {
            match self.peek() {
                Some(b'#') => {
                    self.pos += 1;
                    let v = self.version()?;
                    arg.key_spec_index = match v.parse() {
                        Ok(n) => Some(n),
                        Err(_) => return self.fail("bad key_spec_index"),
                    };
                }
                Some(b'@') => {
                    self.pos += 1;
                    arg.since = Some(self.version()?);
                }
                Some(b'!') => {
                    self.pos += 1;
                    arg.deprecated_since = Some(self.version()?);
                }
                Some(b'*') => {
                    self.pos += 1;
                    arg.multiple = true;
                }
                Some(b'+') => {
                    self.pos += 1;
                    arg.multiple_token = true;
                }
                _ => return Ok(()),
            }
        }
    }

    /// Elements up to `close` (or the end of the line when `close` is None), split into
    /// alternatives at '|'.
    fn body(&mut self, close: Option<u8>) -> Parsed<Vec<Vec<Arg>>> {
        let mut alts = vec![Vec::new()];
        loop {
            if let Some(last) = alts.last_mut() {
                last.push(self.elem()?);
            }
            match self.peek() {
                Some(b' ') => self.pos += 1,
                Some(b'|') if close.is_some() => {
                    self.pos += 1;
                    alts.push(Vec::new());
                }
                c if c == close => {
                    self.pos += 1;
                    return Ok(alts);
                }
                _ => return self.fail("unexpected character"),
            }
        }
    }

    fn elem(&mut self) -> Parsed<Arg> {
        match self.peek() {
            Some(b'[' | b'(') => self.group(None),
            _ => {
                let (w, quoted) = self.word()?;
                if matches!(self.peek(), Some(b'[' | b'(')) {
                    self.group(Some(w))
                } else {
                    self.leaf(w, quoted)
                }
            }
        }
    }

    fn leaf(&mut self, first: &'static str, quoted: bool) -> Parsed<Arg> {
        let mut arg = if self.eat(b'=') {
            let (name, _) = self.word()?;
            let mut a = Arg::new(name, Kind::PureToken);
            a.token = Some(first);
            a
        } else if !quoted && first.starts_with(|c: char| c.is_ascii_uppercase()) {
            let mut a = Arg::new(&first.to_ascii_lowercase(), Kind::PureToken);
            a.token = Some(first);
            a
        } else {
            Arg::new(first, Kind::String)
        };
        if self.eat(b':') {
            match self.peek().and_then(Kind::from_code) {
                Some(k) => {
                    self.pos += 1;
                    arg.kind = k;
                    if k == Kind::Key {
                        arg.key_spec_index = Some(0);
                    }
                }
                None => return self.fail("unknown type code"),
            }
        }
        self.suffixes(&mut arg)?;
        Ok(arg)
    }

    fn group(&mut self, token: Option<&'static str>) -> Parsed<Arg> {
        let optional = self.peek() == Some(b'[');
        let close = if optional { b']' } else { b')' };
        self.pos += 1;
        let mut alts = self.body(Some(close))?;
        if !self.eat(b'=') {
            // Brackets around a single leaf: an optional argument, not a group.
            return match (token, optional, alts.pop(), alts.is_empty()) {
                (None, true, Some(mut only), true) if only.len() == 1 => match only.pop() {
                    Some(mut a) => {
                        a.optional = true;
                        Ok(a)
                    }
                    None => self.fail("empty brackets"),
                },
                _ => self.fail("a group needs a name"),
            };
        }
        let (name, _) = self.word()?;
        let mut kind = if alts.len() > 1 {
            Kind::OneOf
        } else {
            Kind::Block
        };
        if self.eat(b':') {
            kind = match self.peek() {
                Some(b'o') => Kind::OneOf,
                Some(b'b') => Kind::Block,
                _ => return self.fail("unknown group kind"),
            };
            self.pos += 1;
        }
        let mut arg = Arg::new(name, kind);
        arg.token = token;
        arg.optional = optional;
        arg.args = match kind {
            Kind::OneOf => {
                let mut v = Vec::with_capacity(alts.len());
                for mut alt in alts {
                    match (alt.pop(), alt.is_empty()) {
                        (Some(a), true) => v.push(a),
                        _ => return self.fail("a oneof alternative is a single element"),
                    }
                }
                v
            }
            _ => match (alts.pop(), alts.is_empty()) {
                (Some(v), true) => v,
                _ => return self.fail("a block has no alternatives"),
            },
        };
        self.suffixes(&mut arg)?;
        Ok(arg)
    }
}

pub(super) fn parse(line: &'static str) -> Parsed<Vec<Arg>> {
    if line.is_empty() {
        return Ok(Vec::new());
    }
    let mut p = Parser { s: line, pos: 0 };
    p.body(None)
        .and_then(|mut alts| match (alts.pop(), alts.is_empty()) {
            (Some(v), true) => Ok(v),
            _ => p.fail("'|' outside a group"),
        })
}

#[cfg(test)]
mod tests {
    use super::super::table::ROWS;
    use super::*;

    #[test]
    fn every_row_parses() {
        for row in ROWS {
            if let Err(e) = parse(row.5) {
                panic!("{}: {e}", row.0);
            }
        }
    }

    #[test]
    fn set_tree() {
        let args = parse("key:k value [NX|XX]=condition@2.6.12 [GET@6.2.0]").unwrap_or_default();
        assert_eq!(args.len(), 4);
        assert_eq!(args[0].kind, Kind::Key);
        assert_eq!(args[1].kind, Kind::String);
        assert_eq!(args[2].kind, Kind::OneOf);
        assert!(args[2].optional);
        assert_eq!(args[2].since, Some("2.6.12"));
        assert_eq!(args[2].args[1].token, Some("XX"));
        assert_eq!(args[2].args[1].name, "xx");
        assert_eq!(args[3].kind, Kind::PureToken);
        assert!(args[3].optional);
    }

    #[test]
    fn tokens_blocks_and_quotes() {
        let args = parse(
            "LIMIT[offset:i count:i]=offset_count [GET=pattern:p*+] ('ip:port'!2.8.12|''=e)=f",
        )
        .unwrap_or_default();
        assert_eq!(args.len(), 3);
        assert_eq!(args[0].kind, Kind::Block);
        assert_eq!(args[0].token, Some("LIMIT"));
        assert!(args[0].optional);
        assert_eq!(args[0].args[1].kind, Kind::Integer);
        assert!(args[1].multiple && args[1].multiple_token && args[1].optional);
        assert_eq!(args[1].kind, Kind::Pattern);
        assert_eq!(args[2].args[0].name, "ip:port");
        assert_eq!(args[2].args[0].deprecated_since, Some("2.8.12"));
        assert_eq!(args[2].args[1].token, Some(""));
        assert_eq!(args[2].args[1].kind, Kind::PureToken);
    }

    #[test]
    fn malformed_lines_are_errors() {
        for bad in ["[a b]", "(a)", "a|b", "[a", "x:z", "'open", "[a|b]=", "k#x"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
