//! `cipd`'s administration commands as an operator types them.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn cipd(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cipd"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("CIP_CONFIG")
        .env_remove("CIP_SOCKET")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cipd starts");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(stdin.as_bytes())
        .expect("written");
    child.wait_with_output().expect("cipd ends")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn init_demo_prints_the_demo_users_and_refuses_to_run_twice() {
    let dir = tempfile::tempdir().unwrap();
    let out = cipd(dir.path(), &["init", "--demo"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for line in [
        "agent1",
        "agent1-demo-pass",
        "super1-demo-pass",
        "admin1-demo-pass",
        "api1-demo-pass",
    ] {
        assert!(stdout.contains(line), "{stdout}");
    }
    let apps = cipd(dir.path(), &["app", "list"], "");
    let listed = text(&apps.stdout);
    assert!(
        listed.contains("DMV-RENEWAL") && listed.contains("1.00 to 2,000.00"),
        "{listed}"
    );
    assert!(
        listed.contains("TAX-PAYMENT") && listed.contains("card,ach"),
        "{listed}"
    );
    let again = cipd(dir.path(), &["init", "--demo"], "");
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("already holds applications"));
}

#[test]
fn users_get_passwords_from_stdin_and_the_policy_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    assert!(cipd(dir.path(), &["init", "--demo"], "").status.success());
    let weak = cipd(
        dir.path(),
        &[
            "user",
            "add",
            "agent2",
            "--role",
            "agent",
            "--app",
            "DMV-RENEWAL",
        ],
        "short1\n",
    );
    assert!(!weak.status.success());
    assert!(
        text(&weak.stderr).contains("at least 12 characters"),
        "{}",
        text(&weak.stderr)
    );
    let letters_only = cipd(
        dir.path(),
        &[
            "user",
            "add",
            "agent2",
            "--role",
            "agent",
            "--app",
            "DMV-RENEWAL",
        ],
        "onlylettershere\n",
    );
    assert!(text(&letters_only.stderr).contains("letters and digits"));
    let no_app = cipd(
        dir.path(),
        &["user", "add", "agent2", "--role", "agent", "--app", "NOPE"],
        "a-good-password-42\n",
    );
    assert!(
        text(&no_app.stderr).contains("no application NOPE"),
        "{}",
        text(&no_app.stderr)
    );
    let added = cipd(
        dir.path(),
        &[
            "user",
            "add",
            "agent2",
            "--role",
            "agent",
            "--app",
            "DMV-RENEWAL",
        ],
        "a-good-password-42\n",
    );
    assert!(added.status.success(), "{}", text(&added.stderr));
    let listed = text(&cipd(dir.path(), &["user", "list"], "").stdout);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("agent2") && l.contains("agent") && l.contains("DMV-RENEWAL")),
        "{listed}"
    );
    let passwd = cipd(
        dir.path(),
        &["user", "passwd", "agent2"],
        "another-password-43\n",
    );
    assert!(passwd.status.success(), "{}", text(&passwd.stderr));
    // There is no way to pass a password on the command line.
    let argv = cipd(
        dir.path(),
        &["user", "passwd", "agent2", "--password", "x"],
        "",
    );
    assert!(!argv.status.success());
}

#[test]
fn an_application_file_is_added_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    assert!(cipd(dir.path(), &["init"], "").status.success());
    let file = dir.path().join("app.toml");
    std::fs::write(
        &file,
        r#"[[application]]
id = "LIB-FINES"
name = "Library fines"
currency = "JPY"
min_amount_minor = 100
max_amount_minor = 50000
methods = ["card"]
[[application.fields]]
name = "card_number"
label = "library card number"
max_len = 12
pattern = "[0-9]{12}"
hint = "the 12 digits on the library card"
"#,
    )
    .unwrap();
    let added = cipd(
        dir.path(),
        &["app", "add", "--file", file.to_str().unwrap()],
        "",
    );
    assert!(added.status.success(), "{}", text(&added.stderr));
    let shown = text(&cipd(dir.path(), &["app", "show", "LIB-FINES"], "").stdout);
    assert!(
        shown.contains("currency = \"JPY\"") && shown.contains("library card number"),
        "{shown}"
    );
    let twice = cipd(
        dir.path(),
        &["app", "add", "--file", file.to_str().unwrap()],
        "",
    );
    assert!(text(&twice.stderr).contains("exists already"));
    std::fs::write(&file, "[[application]]\nid = \"bad id\"\nname = \"x\"\ncurrency = \"USD\"\nmin_amount_minor = 0\nmax_amount_minor = 1\nmethods = []\n").unwrap();
    let bad = text(
        &cipd(
            dir.path(),
            &["app", "add", "--file", file.to_str().unwrap()],
            "",
        )
        .stderr,
    );
    assert!(
        bad.contains("capital letters")
            && bad.contains("amount limits")
            && bad.contains("payment method"),
        "{bad}"
    );
}

#[test]
fn an_invalid_settings_file_is_refused_with_the_key_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cipd.toml");
    std::fs::write(&config, "[processor]\ndeadline_ms = \"soon\"\n").unwrap();
    let out = cipd(
        dir.path(),
        &["--config", config.to_str().unwrap(), "init"],
        "",
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("processor.deadline_ms") && stderr.contains("invalid type"),
        "{stderr}"
    );
    std::fs::write(&config, "[auth]\nlockout_minutes = 1\n").unwrap();
    let stderr = text(
        &cipd(
            dir.path(),
            &["--config", config.to_str().unwrap(), "init"],
            "",
        )
        .stderr,
    );
    assert!(
        stderr.contains("auth.lockout_minutes") && stderr.contains("at least 30"),
        "{stderr}"
    );
}
