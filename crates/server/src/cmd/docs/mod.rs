//! COMMAND DOCS: the documentation table and its reply.
//!
//! redis-cli 7.0 builds its interactive hints and `HELP` text from the `COMMAND DOCS` reply, so
//! the shape of that reply (field order, map/set/array types, simple-string flags) follows Redis
//! 7.0 exactly. The facts (summaries, versions, argument names, types and tokens) are Redis's
//! interface, checked against a real 7.0.15 server by tests/test_command_docs.py.
//!
//! Each command's arguments are written as one compact syntax line (see `spec`), parsed on first
//! use into the argument tree that `COMMAND DOCS` returns. The rows live in `table`.

mod spec;
mod table;

use std::collections::HashMap;
use std::sync::OnceLock;

use amber_resp::ReplyBuf;

use super::{full_name, Command};
use spec::{parse, Arg, Kind};
use table::{Row, DEPRECATED, DOC_FLAGS, HISTORY, ROWS};

/// One command's documentation, ready to reply with.
struct Doc {
    row: &'static Row,
    args: Vec<Arg>,
    history: Vec<(&'static str, &'static str)>,
    doc_flags: Vec<&'static str>,
    deprecated_since: Option<&'static str>,
    replaced_by: Option<&'static str>,
}

fn table() -> &'static HashMap<&'static str, Doc> {
    static TABLE: OnceLock<HashMap<&'static str, Doc>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut docs: HashMap<&'static str, Doc> = ROWS
            .iter()
            .map(|row| {
                // A line that does not parse is a bug in the table (the unit test catches it);
                // the command then gets its summary without arguments rather than a panic.
                let args = parse(row.5).unwrap_or_default();
                let doc = Doc {
                    row,
                    args,
                    history: Vec::new(),
                    doc_flags: Vec::new(),
                    deprecated_since: None,
                    replaced_by: None,
                };
                (row.0, doc)
            })
            .collect();
        for &(name, version, change) in HISTORY {
            if let Some(d) = docs.get_mut(name) {
                d.history.push((version, change));
            }
        }
        for &(name, since, by) in DEPRECATED {
            if let Some(d) = docs.get_mut(name) {
                d.deprecated_since = Some(since);
                d.replaced_by = Some(by);
            }
        }
        for &(name, flag) in DOC_FLAGS {
            if let Some(d) = docs.get_mut(name) {
                d.doc_flags.push(flag);
            }
        }
        docs
    })
}

fn write_arg(out: &mut ReplyBuf, a: &Arg) {
    let nested = matches!(a.kind, Kind::OneOf | Kind::Block);
    let has_flags = a.optional || a.multiple || a.multiple_token;
    let n = 2
        + usize::from(a.key_spec_index.is_some())
        + usize::from(a.token.is_some())
        + usize::from(a.since.is_some())
        + usize::from(a.deprecated_since.is_some())
        + usize::from(has_flags)
        + usize::from(nested);
    out.map(n);
    out.bulk(b"name");
    out.bulk(a.name.as_bytes());
    out.bulk(b"type");
    out.bulk(a.kind.name().as_bytes());
    if let Some(i) = a.key_spec_index {
        out.bulk(b"key_spec_index");
        out.int(i64::from(i));
    }
    if let Some(t) = a.token {
        out.bulk(b"token");
        out.bulk(t.as_bytes());
    }
    if let Some(s) = a.since {
        out.bulk(b"since");
        out.bulk(s.as_bytes());
    }
    if let Some(s) = a.deprecated_since {
        out.bulk(b"deprecated_since");
        out.bulk(s.as_bytes());
    }
    if has_flags {
        out.bulk(b"flags");
        let flags = [
            (a.optional, "optional"),
            (a.multiple, "multiple"),
            (a.multiple_token, "multiple_token"),
        ];
        out.set(flags.iter().filter(|f| f.0).count());
        for (_, f) in flags.iter().filter(|f| f.0) {
            out.simple(f);
        }
    }
    if nested {
        out.bulk(b"arguments");
        write_args(out, &a.args);
    }
}

fn write_args(out: &mut ReplyBuf, args: &[Arg]) {
    out.array(args.len());
    for a in args {
        write_arg(out, a);
    }
}

/// Writes one command's name and documentation map. `group_of` names the group of a command
/// the table does not cover.
fn write_doc(
    out: &mut ReplyBuf,
    c: &Command,
    parent: Option<&Command>,
    group_of: fn(&Command) -> &'static str,
) {
    let name = full_name(parent, c);
    out.bulk(name.as_bytes());
    let subs = !c.subcommands.is_empty();
    let Some(d) = table().get(name.as_str()) else {
        out.map(3 + usize::from(subs));
        out.bulk(b"summary");
        out.bulk(format!("The {} command", name.to_ascii_uppercase()).as_bytes());
        out.bulk(b"since");
        out.bulk(b"1.0.0");
        out.bulk(b"group");
        out.bulk(group_of(parent.unwrap_or(c)).as_bytes());
        write_subcommands(out, c, group_of);
        return;
    };
    let (_, since, group, complexity, summary, _) = *d.row;
    let n = 3
        + usize::from(!complexity.is_empty())
        + usize::from(!d.doc_flags.is_empty())
        + usize::from(d.deprecated_since.is_some())
        + usize::from(d.replaced_by.is_some())
        + usize::from(!d.history.is_empty())
        + usize::from(!d.args.is_empty())
        + usize::from(subs);
    out.map(n);
    out.bulk(b"summary");
    out.bulk(summary.as_bytes());
    out.bulk(b"since");
    out.bulk(since.as_bytes());
    out.bulk(b"group");
    out.bulk(group.as_bytes());
    if !complexity.is_empty() {
        out.bulk(b"complexity");
        out.bulk(complexity.as_bytes());
    }
    if !d.doc_flags.is_empty() {
        out.bulk(b"doc_flags");
        out.set(d.doc_flags.len());
        for f in &d.doc_flags {
            out.simple(f);
        }
    }
    if let Some(s) = d.deprecated_since {
        out.bulk(b"deprecated_since");
        out.bulk(s.as_bytes());
    }
    if let Some(s) = d.replaced_by {
        out.bulk(b"replaced_by");
        out.bulk(s.as_bytes());
    }
    if !d.history.is_empty() {
        out.bulk(b"history");
        out.set(d.history.len());
        for (version, change) in &d.history {
            out.array(2);
            out.bulk(version.as_bytes());
            out.bulk(change.as_bytes());
        }
    }
    if !d.args.is_empty() {
        out.bulk(b"arguments");
        write_args(out, &d.args);
    }
    write_subcommands(out, c, group_of);
}

fn write_subcommands(out: &mut ReplyBuf, c: &Command, group_of: fn(&Command) -> &'static str) {
    if c.subcommands.is_empty() {
        return;
    }
    out.bulk(b"subcommands");
    out.map(c.subcommands.len());
    for s in c.subcommands {
        write_doc(out, s, Some(c), group_of);
    }
}

/// The COMMAND DOCS reply for `list` (command, parent when it is a subcommand).
pub(crate) fn reply(
    out: &mut ReplyBuf,
    list: &[(&'static Command, Option<&'static Command>)],
    group_of: fn(&Command) -> &'static str,
) {
    out.map(list.len());
    for &(c, parent) in list {
        write_doc(out, c, parent, group_of);
    }
}
