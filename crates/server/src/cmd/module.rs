//! MODULE. Amber loads no Redis modules (they are C libraries written against
//! Redis's module API): MODULE LIST is empty, and MODULE LOAD / LOADEX fail as a module that
//! does not load fails in Redis, with the reason in the log.

use super::{
    Command, Ctx, Error, Reply, ADMIN, FAST, LOADING, NOSCRIPT, NO_ASYNC_LOADING, READONLY, STALE,
};

const PROTECTED: u32 = NO_ASYNC_LOADING | ADMIN | NOSCRIPT;

pub(crate) static COMMANDS: &[Command] = &[
    Command::container("module", -2, 0, MODULE_SUBCOMMANDS),
    Command::new(
        "lolwut",
        -1,
        READONLY | FAST,
        (0, 0, 0),
        &[],
        super::lolwut::lolwut,
    ),
];

static MODULE_SUBCOMMANDS: &[Command] = &[
    Command::new("help", 2, LOADING | STALE, (0, 0, 0), &[], module_help),
    Command::new("list", 2, ADMIN | NOSCRIPT, (0, 0, 0), &[], module_list),
    Command::new("load", -3, PROTECTED, (0, 0, 0), &[], module_load),
    Command::new("loadex", -3, PROTECTED, (0, 0, 0), &[], module_load),
    Command::new("unload", 3, PROTECTED, (0, 0, 0), &[], module_unload),
];

/// The subcommands Redis refuses unless enable-module-command allows them.
pub(crate) fn is_protected(name: &str) -> bool {
    matches!(name, "load" | "loadex" | "unload")
}

fn module_help(ctx: &mut Ctx<'_>) -> Reply {
    ctx.help_lines(&[
        "MODULE <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LIST",
        "    Return a list of loaded modules.",
        "LOAD <path> [<arg> ...]",
        "    Load a module library from <path>, passing to it any optional arguments.",
        "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
        "    Load a module library from <path>, while passing it module configurations and optional arguments.",
        "UNLOAD <name>",
        "    Unload a module.",
        "HELP",
        "    Prints this help.",
    ])
}

fn module_list(ctx: &mut Ctx<'_>) -> Reply {
    ctx.out().array(0);
    Ok(())
}

fn module_load(ctx: &mut Ctx<'_>) -> Reply {
    let path = String::from_utf8_lossy(&ctx.args[2]);
    ctx.srv.log.warning(&format!(
        "Module {path} failed to load: Amber does not load Redis modules (they are C libraries for Redis's own module API)"
    ));
    Err(Error::new(
        "ERR Error loading the extension. Please check the server logs.",
    ))
}

fn module_unload(_ctx: &mut Ctx<'_>) -> Reply {
    Err(Error::new(
        "ERR Error unloading module: no such module with that name",
    ))
}
