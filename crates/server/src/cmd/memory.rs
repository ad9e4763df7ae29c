//! MEMORY USAGE, DOCTOR, MALLOC-STATS, PURGE and HELP. USAGE estimates Amber's own layout
//! (amber_store::memory): the same data costs different amounts in Redis and in Amber.

use super::{Command, Ctx, Error, Reply, LOADING, READONLY, STALE};

pub(crate) static COMMANDS: &[Command] = &[Command::container("memory", -2, 0, SUBCOMMANDS)];

static SUBCOMMANDS: &[Command] = &[
    Command::new("usage", -3, READONLY, (2, 2, 1), &[], usage),
    Command::new("doctor", 2, 0, (0, 0, 0), &[], doctor),
    Command::new("malloc-stats", 2, 0, (0, 0, 0), &[], malloc_stats),
    Command::new("purge", 2, 0, (0, 0, 0), &[], purge),
    Command::new("help", 2, LOADING | STALE, (0, 0, 0), &[], help),
];

/// Redis's default sample size for nested values.
const DEFAULT_SAMPLES: usize = 5;

fn usage(ctx: &mut Ctx<'_>) -> Reply {
    let a = ctx.args;
    let samples = match a.len() {
        3 => DEFAULT_SAMPLES,
        5 if a[3].eq_ignore_ascii_case(b"samples") => match super::args::int(&a[4])? {
            n if n < 0 => return Err(Error::syntax()),
            0 => usize::MAX,
            n => usize::try_from(n).unwrap_or(usize::MAX),
        },
        _ => return Err(Error::syntax()),
    };
    let db = ctx.cl.db;
    let key = amber_store::Key::from_slice(&a[2]);
    match ctx.srv.lookup_read(db, &a[2]) {
        None => ctx.cl.out.null(),
        Some(e) => {
            let n = amber_store::memory::usage(&key, &e.value, samples);
            ctx.cl.out.int(n as i64);
        }
    }
    Ok(())
}

fn doctor(ctx: &mut Ctx<'_>) -> Reply {
    // Redis's two reports that need no allocator internals: too little data to judge (under
    // 5 MB used), or nothing found.
    let text = if crate::sys::alloc::used_memory() < 5 * 1024 * 1024 {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n"
    } else {
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
    };
    ctx.cl.out.verbatim(text.as_bytes());
    Ok(())
}

fn malloc_stats(ctx: &mut Ctx<'_>) -> Reply {
    // What Redis answers when built without jemalloc.
    ctx.cl
        .out
        .bulk(b"Stats not supported for the current allocator");
    Ok(())
}

fn purge(ctx: &mut Ctx<'_>) -> Reply {
    ctx.cl.out.ok();
    Ok(())
}

fn help(ctx: &mut Ctx<'_>) -> Reply {
    ctx.help_lines(&[
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DOCTOR",
        "    Return memory problems reports.",
        "MALLOC-STATS",
        "    Return internal statistics report from the memory allocator.",
        "PURGE",
        "    Attempt to purge dirty pages for reclamation by the allocator.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
        "HELP",
        "    Prints this help.",
    ])
}
