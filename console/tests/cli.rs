//! `cip` as a new user first meets it on the command line.

use std::process::{Command, Stdio};

fn cip(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cip"))
        .args(args)
        .env_remove("CIP_SOCKET")
        .env_remove("CIP_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("cip runs")
}

#[test]
fn help_names_the_demo_and_the_socket() {
    let out = cip(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("--demo") && help.contains("--socket"),
        "{help}"
    );
}

#[test]
fn without_a_terminal_it_says_so_instead_of_garbling_output() {
    let out = cip(&["--socket", "/nonexistent/cipd.sock"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cip needs a terminal"), "{stderr}");
}
