//! The `az-os` binary: everything lives in the library; this only sets the exit code.

fn main() {
    // The sandbox's re-exec comes first: no argument parsing, no logging, just confine
    // and exec (see `az_os::sandbox`).
    let mut args = std::env::args_os();
    if args.nth(1).is_some_and(|a| a == az_os::sandbox::SUBCOMMAND) {
        std::process::exit(az_os::sandbox::exec_main(args));
    }
    az_os::sandbox::protect_this_process();
    std::process::exit(az_os::cli::main());
}
