//! `cip`, CIP's terminal console. The full-mode payment screens come next; today it points a new
//! user at the daemon.

fn main() {
    println!(
        "cip: the console comes next. Start the daemon with `cargo run --release -p cip-daemon -- init --demo` \
         and `cargo run --release -p cip-daemon -- serve`; see the README."
    );
}
