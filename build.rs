//! Build script: on Linux, `AZ_OS_NO_PIE=1` links the `az-os` executable at a fixed
//! address instead of as a position-independent executable. Nothing else is built or
//! generated here.
//!
//! Why it is offered: a position-independent az-os carries ~43,000 pointers in its
//! read-only data that the dynamic loader must relocate at every start, writing — and so
//! copying — every page that holds one, and az-os starts three times for each command a
//! task runs (the process, the supervisor, the confining helper). Linked at a fixed
//! address those pointers are final in the file. On the hello task (`cargo bench --bench
//! batch`, CPU time under `perf stat`, median of 40) this took the CPU time from 27.7 to
//! 23.1 ms and the page faults from 2,507 to 1,868 (docs/performance.md).
//!
//! Why it is not the default: the executable's own code and data would sit at the same
//! address in every run, which gives up part of address-space randomisation for an
//! agent that reads hostile model output; see docs/SECURITY.md.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=AZ_OS_NO_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let no_pie = std::env::var("AZ_OS_NO_PIE").is_ok_and(|v| v == "1");
    if linux && no_pie {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
