//! Glob-style matching as Redis's `stringmatchlen`: `*`, `?`, `[abc]`, `[^a-z]`, `\x`.
//! Used by KEYS, SCAN MATCH, PSUBSCRIBE and CONFIG GET.

pub(crate) fn matches(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    // Redis bails out of pathological patterns with a nesting limit; this iterative version
    // with backtracking to the last star is linear-ish and cannot blow the stack.
    match_from(pattern, s, nocase, 0)
}

fn eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

fn match_from(p: &[u8], s: &[u8], nocase: bool, depth: usize) -> bool {
    if depth > 1000 {
        return false;
    }
    let (mut pi, mut si) = (0usize, 0usize);
    while pi < p.len() {
        match p[pi] {
            b'*' => {
                while pi + 1 < p.len() && p[pi + 1] == b'*' {
                    pi += 1;
                }
                if pi + 1 == p.len() {
                    return true;
                }
                for start in si..=s.len() {
                    if match_from(&p[pi + 1..], &s[start..], nocase, depth + 1) {
                        return true;
                    }
                }
                return false;
            }
            b'?' => {
                if si >= s.len() {
                    return false;
                }
                si += 1;
            }
            b'[' => {
                if si >= s.len() {
                    return false;
                }
                pi += 1;
                let not = pi < p.len() && p[pi] == b'^';
                if not {
                    pi += 1;
                }
                let mut hit = false;
                loop {
                    if pi >= p.len() {
                        // Unterminated class: Redis treats the end as the closing bracket.
                        pi -= 1;
                        break;
                    }
                    if p[pi] == b'\\' && pi + 2 < p.len() {
                        pi += 1;
                        if p[pi] == s[si] {
                            hit = true;
                        }
                    } else if p[pi] == b']' {
                        break;
                    } else if pi + 2 < p.len() && p[pi + 1] == b'-' {
                        let (mut lo, mut hi) = (p[pi], p[pi + 2]);
                        if lo > hi {
                            std::mem::swap(&mut lo, &mut hi);
                        }
                        pi += 2;
                        let c = s[si];
                        let in_range = if nocase {
                            let c = c.to_ascii_lowercase();
                            c >= lo.to_ascii_lowercase() && c <= hi.to_ascii_lowercase()
                        } else {
                            c >= lo && c <= hi
                        };
                        if in_range {
                            hit = true;
                        }
                    } else if eq(p[pi], s[si], nocase) {
                        hit = true;
                    }
                    pi += 1;
                }
                if not {
                    hit = !hit;
                }
                if !hit {
                    return false;
                }
                si += 1;
            }
            b'\\' if pi + 1 < p.len() => {
                pi += 1;
                if si >= s.len() || !eq(p[pi], s[si], nocase) {
                    return false;
                }
                si += 1;
            }
            c => {
                if si >= s.len() || !eq(c, s[si], nocase) {
                    return false;
                }
                si += 1;
            }
        }
        pi += 1;
        if si >= s.len() {
            while pi < p.len() && p[pi] == b'*' {
                pi += 1;
            }
            break;
        }
    }
    pi >= p.len() && si >= s.len()
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn redis_glob_cases() {
        assert!(matches(b"*", b"", false));
        assert!(matches(b"h?llo", b"hello", false));
        assert!(matches(b"h*llo", b"heeeello", false));
        assert!(matches(b"h[ae]llo", b"hallo", false));
        assert!(!matches(b"h[^e]llo", b"hello", false));
        assert!(matches(b"h[a-b]llo", b"hbllo", false));
        assert!(matches(b"h\\*llo", b"h*llo", false));
        assert!(!matches(b"h\\*llo", b"hello", false));
        assert!(matches(b"KEY:*", b"key:1", true));
        assert!(!matches(b"KEY:*", b"key:1", false));
        assert!(!matches(b"a*b", b"acd", false));
        assert!(matches(b"*a*b*", b"xxaxxbxx", false));
    }
}
