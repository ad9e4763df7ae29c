//! `amber-server [/path/to/redis.conf] [--directive value ...]`, started as redis-server is.

#[global_allocator]
static GLOBAL: amber_server::Counting = amber_server::Counting;

/// The allocator's options are set before anything is allocated: from the loader's
/// constructors (.init_array), before Rust's runtime starts main. Its first allocation
/// reserves an arena, and what that arena is set up with stays.
#[used]
#[link_section = ".init_array"]
static CONFIGURE_ALLOCATOR: extern "C" fn() = configure_allocator;

extern "C" fn configure_allocator() {
    amber_server::configure_allocator();
}

fn usage() {
    eprintln!(
        "Usage: ./amber-server [/path/to/redis.conf] [options] [-]\n       ./amber-server - (read config from stdin)\n       ./amber-server -v or --version\n       ./amber-server -h or --help\n\nExamples:\n       ./amber-server (run the server with default conf)\n       ./amber-server /etc/redis/6379.conf\n       ./amber-server --port 7777\n       ./amber-server /etc/myredis.conf --loglevel verbose -\n       ./amber-server /etc/myredis.conf --loglevel verbose"
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(first) = args.first() {
        match first.as_str() {
            "-v" | "--version" => {
                println!(
                    "Amber server v={} (Redis {} compatible) bits=64",
                    amber_server::AMBER_VERSION,
                    amber_server::REDIS_VERSION
                );
                return;
            }
            "-h" | "--help" => {
                usage();
                return;
            }
            _ => {}
        }
    }
    let config = match amber_server::Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    std::process::exit(amber_server::run(config));
}
