//! The `az-os` binary: everything lives in the library; this only sets the exit code.

fn main() {
    std::process::exit(az_os::cli::main());
}
