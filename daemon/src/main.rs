//! `cipd`: run and administer CIP's payment daemon.

fn main() -> std::process::ExitCode {
    cip_daemon::cli::main()
}
