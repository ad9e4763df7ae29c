//! Redis's `sdssplitargs`, the one argument splitter: inline commands, redis.conf and
//! CONFIG REWRITE's reading of it, the AOF manifest, and the CLI's reading of redis.conf.
//!
//! ```text
//! words     separated by blanks (isspace before a word; ' ' \n \r \t end an unquoted one)
//! "..."     \xHH and \n \r \t \b \a escapes; any other escaped byte stands for itself
//! '...'     only \' is an escape
//! a closing quote must be followed by a blank or the end; unbalanced quotes: None
//! ```
//!
//! Redis passes it a C string, so the line ends at its first NUL byte.

/// Splits `line` into arguments as `sdssplitargs` does; `None` on unbalanced quotes or a
/// closing quote followed by something other than a blank.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let line = match line.iter().position(|&c| c == 0) {
        Some(n) => &line[..n],
        None => line,
    };
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut args = Vec::new();
    let mut p = 0usize;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Some(args);
        }
        let mut cur = Vec::new();
        let mut quote: Option<u8> = None;
        loop {
            let c = at(p);
            match quote {
                None => match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' | b'\'' => quote = Some(c),
                    _ => cur.push(c),
                },
                Some(q) if c == q => {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    p += 1;
                    break;
                }
                Some(_) if c == 0 => return None,
                Some(b'"') if c == b'\\' && at(p + 1) != 0 => {
                    if at(p + 1) == b'x' {
                        if let (Some(h), Some(l)) = (hex_val(at(p + 2)), hex_val(at(p + 3))) {
                            cur.push(h << 4 | l);
                            p += 4;
                            continue;
                        }
                    }
                    p += 1;
                    cur.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                }
                Some(b'\'') if c == b'\\' && at(p + 1) == b'\'' => {
                    p += 1;
                    cur.push(b'\'');
                }
                Some(_) => cur.push(c),
            }
            p += 1;
        }
        args.push(cur);
    }
}

/// C `isspace` in the C locale.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &[u8]) -> Option<Vec<String>> {
        split_args(s).map(|v| {
            v.into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect()
        })
    }

    #[test]
    fn words_and_quotes() {
        assert_eq!(split(b"  set  a b \r\n").unwrap(), ["set", "a", "b"]);
        assert_eq!(split(b"").unwrap(), Vec::<String>::new());
        assert_eq!(split(b" \t\x0b\x0c ").unwrap(), Vec::<String>::new());
        assert_eq!(
            split(br#"set "a b" 'c d' "x\x41\n" 'it\'s' "\q" """#).unwrap(),
            ["set", "a b", "c d", "xA\n", "it's", "q", ""]
        );
        // A quote inside a word opens a quoted part of the same word.
        assert_eq!(split(br#"a"b c"d"#), None);
        assert_eq!(split(br#"a"b c" d"#).unwrap(), ["ab c", "d"]);
        // \x without two hex digits is an escaped x.
        assert_eq!(split(br#""\xZ1""#).unwrap(), ["xZ1"]);
        assert_eq!(split(br#"'a\nb'"#).unwrap(), ["a\\nb"]);
    }

    #[test]
    fn unbalanced_or_glued_quotes_are_refused() {
        assert_eq!(split(br#"set "a"#), None);
        assert_eq!(split(br#"set 'a"#), None);
        assert_eq!(split(br#"set "a\"#), None);
        assert_eq!(split(br#""a"b"#), None);
        assert_eq!(split(br#"'a'b"#), None);
        // Any blank may follow a closing quote, \v and \f included (isspace).
        assert_eq!(split(b"\"a\"\x0bb").unwrap(), ["a", "b"]);
    }

    /// Where Redis's C string handling shows: a NUL ends the line, and \v \f end no
    /// unquoted word (only ' ' \n \r \t do).
    #[test]
    fn c_string_edges_as_redis() {
        assert_eq!(split(b"set a\0b c").unwrap(), ["set", "a"]);
        assert_eq!(split(b"set \"a\0b\"").map(|v| v.len()), None);
        assert_eq!(split(b"a\x0bb c\x0cd").unwrap(), ["a\x0bb", "c\x0cd"]);
    }
}
