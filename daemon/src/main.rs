//! `cipd`: run and administer CIP's payment daemon.

/// Many small short-lived allocations per payment across threads: mimalloc keeps them cheap and
/// returns memory to the system instead of keeping an arena per thread.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cip_daemon::cli::main()
}
