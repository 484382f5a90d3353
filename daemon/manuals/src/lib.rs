//! Manual pages and shell completions of a CIP binary, written from its own clap definition, so
//! what is packaged says what that very build parses. Each binary writes its own when
//! `CIP_WRITE_MANUALS` names a directory; `assets/debian/build-package` asks them before
//! `cargo deb`. A variable rather than a hidden option, which completions would offer.

use clap_complete::Shell;
use std::path::Path;
use std::process::ExitCode;

/// The variable that asks a binary for its manuals instead of its work: where to write them.
pub const WRITE_MANUALS: &str = "CIP_WRITE_MANUALS";

/// The shells whose completions are written (Debian's bash-completion, zsh and fish each look
/// in a vendor directory of their own).
const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// When [`WRITE_MANUALS`] is set, writes the manuals of `command` there and gives the exit
/// status the binary ends with; otherwise `None`, and the binary does its work.
pub fn write_if_asked(command: impl FnOnce() -> clap::Command) -> Option<ExitCode> {
    let out = std::env::var_os(WRITE_MANUALS)?;
    let out = Path::new(&out);
    let command = command();
    let name = command.get_name().to_owned();
    Some(match write(command, out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "{name}: cannot write the manuals into {}: {e}",
                out.display()
            );
            ExitCode::FAILURE
        }
    })
}

/// Writes `out/man/`, a page for `command` and one for each subcommand (`cipd.1`,
/// `cipd-user-add.1`, …), and `out/completions/`: `NAME.bash`, `_NAME` (zsh) and `NAME.fish`.
fn write(mut command: clap::Command, out: &Path) -> std::io::Result<()> {
    let (man, completions) = (out.join("man"), out.join("completions"));
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;
    clap_mangen::generate_to(command.clone(), &man)?;
    let name = command.get_name().to_owned();
    for shell in SHELLS {
        clap_complete::generate_to(shell, &mut command, &name, &completions)?;
    }
    Ok(())
}
