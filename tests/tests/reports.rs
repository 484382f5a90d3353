//! CSV exports as agency staff read them: Python's `csv` module reads back every field as it was
//! taken (commas, quotes, newlines, non-ASCII), and cells a spreadsheet would run are defused.

use cip_common::payment::PaymentRequest;
use cip_tests::http::{Agency, HTTP_CONFIG};
use cip_tests::{Daemon, card_request, ctx, new_key};
use std::collections::BTreeMap;

const APP: &str = "\
[[application]]
id = \"LIB-FINES\"
name = \"Library fines\"
currency = \"USD\"
min_amount_minor = 100
max_amount_minor = 50000
methods = [\"card\"]

[[application.fields]]
name = \"notes\"
label = \"notes\"
required = false
max_len = 200
hint = \"anything the library should know\"
";

fn fine(number: &str, payer: &str, notes: &str) -> PaymentRequest {
    let mut request = card_request(number, 1_250);
    request.payer.name = payer.to_owned();
    request.fields = BTreeMap::from([("notes".to_owned(), notes.to_owned())]);
    request
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_reads_back_in_python_exactly_and_defuses_formulas() {
    let daemon = Daemon::start_with(HTTP_CONFIG).await;
    daemon.add_application(APP);
    daemon.add_user("lib-api", "api", "LIB-FINES");

    let taken = [
        (
            "4242424242424242",
            "Zoë \"Zed\" O'Brien, Jr.",
            "paid at the desk,\nsecond line",
        ),
        ("4242424242424242", "=HYPERLINK(\"http://x\")", "=1+1"),
        ("4242424242424242", "+1 555 0100", "-2+3"),
        ("4242424242424242", "@handle", "tab\tinside"),
        ("4000000000009995", "Łukasz Żółć 李", "déjà vu"),
    ];
    let rpc = daemon.client().await;
    let mut ids = Vec::new();
    for (number, payer, notes) in taken {
        let request = fine(number, payer, notes);
        daemon.sent(&request);
        let payment = rpc
            .gateway_submit(
                ctx(),
                "LIB-FINES".into(),
                "lib-api".into(),
                cip_common::secret::Password::new("lib-api-pass-2026"),
                new_key(),
                request,
            )
            .await
            .expect("rpc")
            .expect("taken");
        ids.push(payment.id);
    }

    let csv = daemon.dir.path().join("lib-fines.csv");
    let out = daemon.cipd(
        &[
            "report",
            "export",
            "--app",
            "LIB-FINES",
            "--out",
            csv.to_str().expect("utf-8"),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("5 rows written"));
    let header = std::fs::read_to_string(&csv).expect("the file");
    assert_eq!(
        header.lines().next().expect("a header row"),
        documented_columns(&["notes"]).join(","),
        "the columns in the README's order"
    );

    let read = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import csv, json, sys\n\
             with open(sys.argv[1], newline='', encoding='utf-8') as f:\n\
             \x20   print(json.dumps(list(csv.DictReader(f))))",
        )
        .arg(&csv)
        .output()
        .expect("python3 runs");
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let rows: Vec<BTreeMap<String, String>> =
        serde_json::from_slice(&read.stdout).expect("rows as JSON");
    assert_eq!(rows.len(), 5);
    let defused = |cell: &str| match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    };
    // Rows come in the export's order, by payment id (oldest first); payments taken in one
    // millisecond order among themselves by the id's random part, not as they were sent.
    let exported: Vec<&str> = rows.iter().map(|r| r["payment_id"].as_str()).collect();
    let mut by_id = exported.clone();
    by_id.sort_unstable();
    assert_eq!(exported, by_id, "rows are in payment id order");
    for row in &rows {
        let sent = ids
            .iter()
            .position(|id| *id == row["payment_id"])
            .unwrap_or_else(|| panic!("a payment that was not taken: {row:?}"));
        let (number, payer, notes) = taken[sent];
        assert_eq!(row["payer_name"], defused(payer), "{row:?}");
        assert_eq!(row["field:notes"], defused(notes), "{row:?}");
        assert_eq!(row["amount"], "12.50");
        assert_eq!(row["fee"], "0.00");
        assert_eq!(row["total"], "12.50");
        assert_eq!(row["last_four"], number[number.len() - 4..]);
        let approved = number.starts_with("4242");
        assert_eq!(
            row["status"],
            if approved { "approved" } else { "declined" }
        );
        assert_eq!(row["confirmation_code"].is_empty(), !approved);
        assert_eq!(row["mode"], "gateway");
        assert_eq!(row["batch_id"], "");
    }

    let declined = daemon.cipd(
        &[
            "report",
            "export",
            "--app",
            "LIB-FINES",
            "--status",
            "declined",
        ],
        None,
    );
    let text = String::from_utf8_lossy(&declined.stdout);
    assert_eq!(
        text.lines().count(),
        2,
        "a header and the one decline: {text}"
    );

    let bad = daemon.cipd(
        &[
            "report",
            "export",
            "--app",
            "LIB-FINES",
            "--from",
            "2026-13-01",
        ],
        None,
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("YYYY-MM-DD"));

    // The same export over HTTP, for the application's api user.
    let mut agency = Agency::new(&daemon, "LIB-FINES").await;
    agency.user = "lib-api".into();
    agency.password = "lib-api-pass-2026".into();
    let response = agency
        .get("/v1/reports/payments.csv")
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/csv")
    );
    let over_http = response.bytes().await.expect("a body");
    assert_eq!(
        over_http,
        std::fs::read(&csv).expect("the file"),
        "the same CSV either way"
    );
    let refused = agency
        .get("/v1/reports/payments.csv?from=yesterday")
        .send()
        .await
        .expect("answers");
    assert_eq!(refused.status(), 400);

    // The export over HTTP is audited once its last row is out: a moment after the body ends.
    let audited = || {
        daemon.sql("SELECT count(*) FROM audit_log WHERE action = 'payments.export'")[0][0]
            .parse::<i64>()
            .expect("a count")
    };
    for _ in 0..100 {
        if audited() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(audited(), 3, "each export is audited");
    daemon.assert_no_card_data();
}

/// The export's columns as the README lists them, with one `field:<name>` per field of
/// `fields`: the backquoted names between "The columns:" and "RFC 4180", leaving out what is
/// said in parentheses (the `ach` brand, what `fee` holds).
fn documented_columns(fields: &[&str]) -> Vec<String> {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("The columns:")
        .expect("the README lists the columns");
    let end = start + readme[start..].find("RFC 4180").expect("the list ends");
    let mut plain = String::new();
    let mut depth = 0usize;
    for c in readme[start..end].chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    plain
        .split('`')
        .skip(1)
        .step_by(2)
        .flat_map(|names| names.split(", "))
        .flat_map(|name| match name {
            "field:<name>" => fields.iter().map(|f| format!("field:{f}")).collect(),
            _ => vec![name.to_owned()],
        })
        .collect()
}

/// Waits for `child` and returns its peak resident memory in KiB (the kernel's own count).
fn peak_rss_kib(child: std::process::Child) -> i64 {
    let pid = libc::pid_t::try_from(child.id()).expect("a pid");
    let mut status = 0;
    // SAFETY: rusage is plain data the kernel fills in; wait4 reaps only this child, which
    // `Child` no longer waits for once dropped.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "cipd was waited for");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the export failed"
    );
    usage.ru_maxrss
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_of_a_million_payments_takes_the_memory_of_none() {
    const COPIES: i64 = 999_999;
    let daemon = Daemon::start().await;
    let rpc = daemon.client().await;
    let agent = daemon.login(&rpc, "DMV-RENEWAL", "agent1").await;
    let request = card_request("4000000000009995", 4_200);
    daemon.sent(&request);
    rpc.submit(ctx(), agent, new_key(), request)
        .await
        .expect("rpc")
        .expect("declined");
    // Copies of that real payment, each with its own id in the same millisecond.
    let columns = "application_id, mode, status, amount_minor, currency, payer_name, payer_email,
        payer_postal_code, fields, method, brand, first_six, exp_month, exp_year, routing_number,
        account_type, last_four, code, message, idempotency_key, user_id, created_ms, decided_ms";
    // Numbers written out to 8 digits: SQLite's printf, PostgreSQL's lpad.
    let (numbers, numbered) = match daemon.store_url {
        Some(_) => (
            format!("SELECT generate_series(1, {COPIES}) AS i"),
            "lpad(n.i::text, 8, '0')",
        ),
        None => (
            format!("SELECT 1 AS i UNION ALL SELECT i + 1 FROM n WHERE i < {COPIES}"),
            "printf('%08d', n.i)",
        ),
    };
    daemon.sql(&format!(
        "WITH RECURSIVE n(i) AS ({numbers})
         INSERT INTO payments (id, {columns})
         SELECT substr(p.id, 1, 13) || {numbered}, {columns}
         FROM payments p, n"
    ));

    let export = |name: &str, filter: &[&str]| {
        let file = daemon.dir.path().join(name);
        let mut args = vec![
            "report",
            "export",
            "--app",
            "DMV-RENEWAL",
            "--out",
            file.to_str().expect("utf-8"),
        ];
        args.extend(filter);
        let peak = peak_rss_kib(daemon.spawn_cipd(&args));
        (peak, std::fs::read(&file).expect("exported"))
    };
    let (none_kib, none) = export("none.csv", &["--status", "voided"]);
    let (all_kib, all) = export("all.csv", &[]);
    assert_eq!(String::from_utf8_lossy(&none).lines().count(), 1);
    assert_eq!(
        all.iter().filter(|&&b| b == b'\n').count() as i64,
        COPIES + 2
    );
    eprintln!(
        "peak RSS: {} MiB exporting no rows, {} MiB exporting {} rows ({} MiB of CSV)",
        none_kib / 1024,
        all_kib / 1024,
        COPIES + 1,
        all.len() / (1 << 20)
    );
    // SQLite's page cache (32 MiB) fills as the rows are read; nothing else may grow. Holding
    // the rows or the CSV in memory would break the bound several times over.
    let bound_kib = 48 * 1024;
    assert!(all.len() as i64 > 2 * bound_kib * 1024);
    assert!(
        all_kib < none_kib + bound_kib,
        "{all_kib} KiB for every row against {none_kib} KiB for none"
    );
    daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_in_parts_fits_every_frame_and_adds_up_to_the_whole() {
    // Frames of 4 KiB: each part holds only a row or two.
    let daemon = Daemon::start_with("[rpc]\nmax_frame_bytes = 4096\n").await;
    let rpc = daemon.client().await;
    let agent = daemon.login(&rpc, "DMV-RENEWAL", "agent1").await;
    for n in 0..25 {
        let mut request = card_request("4242424242424242", 100 + n);
        request.payer.name = format!("\"Quoted\" payer, number {n}, with a longer name");
        daemon.sent(&request);
        rpc.submit(ctx(), agent.clone(), new_key(), request)
            .await
            .expect("rpc")
            .expect("approved");
    }
    let supervisor = daemon.login(&rpc, "DMV-RENEWAL", "super1").await;
    let filter = cip_common::report::ReportFilter {
        application: "DMV-RENEWAL".into(),
        ..Default::default()
    };
    let (mut csv, mut after, mut parts) = (String::new(), None, 0);
    loop {
        let part = rpc
            .export_part(ctx(), supervisor.clone(), filter.clone(), after)
            .await
            .expect("every part fits a frame")
            .expect("a part");
        csv.push_str(&part.csv);
        parts += 1;
        match part.next_after {
            Some(last) => after = Some(last),
            None => break,
        }
    }
    assert!(parts > 5, "{parts} parts");
    let whole = daemon.cipd(&["report", "export", "--app", "DMV-RENEWAL"], None);
    assert_eq!(csv, String::from_utf8_lossy(&whole.stdout));
    // Only supervisors, and only for their applications.
    let refused = rpc
        .export_part(ctx(), agent, filter.clone(), None)
        .await
        .expect("rpc");
    assert!(matches!(
        refused,
        Err(cip_common::ApiError::Forbidden { .. })
    ));
    daemon.add_application(APP);
    let other = cip_common::report::ReportFilter {
        application: "LIB-FINES".into(),
        ..filter
    };
    let refused = rpc
        .export_part(ctx(), supervisor, other, None)
        .await
        .expect("rpc");
    assert!(
        matches!(refused, Err(cip_common::ApiError::Forbidden { .. })),
        "{refused:?}"
    );
    daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_narrowed_by_each_filter_takes_exactly_the_payments_it_matches() {
    let daemon = Daemon::start().await;
    let rpc = daemon.client().await;
    let agent = daemon.login(&rpc, "DMV-RENEWAL", "agent1").await;
    let supervisor = daemon.login(&rpc, "DMV-RENEWAL", "super1").await;
    // DMV-RENEWAL keeps UTC: the minute before the first payment, as the application reads it.
    let start = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .datetime();
    let minute = |at: jiff::civil::DateTime| at.strftime("%Y-%m-%d %H:%M").to_string();
    let mut taken = BTreeMap::new();
    for (who, number, amount_minor) in [
        ("Ada Lovelace", "4242424242424242", 1_000),
        ("Grace Hopper", "5555555555554444", 2_000),
        ("Alan Turing", "4242424242424242", 3_000),
        ("Ada Byron", "4000000000000002", 4_000),
    ] {
        let mut request = card_request(number, amount_minor);
        request.payer.name = who.to_owned();
        request.payer.email = format!("{}@example.org", who.to_lowercase().replace(' ', "."));
        daemon.sent(&request);
        let payment = rpc
            .submit(ctx(), agent.clone(), new_key(), request)
            .await
            .expect("rpc")
            .expect("decided");
        taken.insert(who, payment);
    }
    rpc.refund(
        ctx(),
        supervisor,
        taken["Alan Turing"].id.clone(),
        new_key(),
        cip_common::refund::RefundRequest {
            amount_minor: 500,
            reason: cip_common::refund::RefundReason::Duplicate,
            note: String::new(),
            expected_refundable_minor: None,
        },
    )
    .await
    .expect("rpc")
    .expect("refunded");
    let payers = |filters: &[&str]| -> Vec<String> {
        let args = [&["report", "export", "--app", "DMV-RENEWAL"], filters].concat();
        let out = daemon.cipd(&args, None);
        assert!(
            out.status.success(),
            "{filters:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cip_tests::csv_rows(&out.stdout)
            .into_iter()
            .filter(|row| row["type"] == "payment")
            .map(|row| row["payer_name"].clone())
            .collect()
    };
    assert_eq!(payers(&[]).len(), 4);
    assert_eq!(payers(&["--last-four", "4444"]), ["Grace Hopper"]);
    assert_eq!(payers(&["--payer", "ADA"]), ["Ada Lovelace", "Ada Byron"]);
    assert_eq!(payers(&["--payer", "hopper@"]), ["Grace Hopper"]);
    assert_eq!(
        payers(&["--payer", "ada", "--status", "approved"]),
        ["Ada Lovelace"]
    );
    assert_eq!(
        payers(&["--min-amount", "15", "--max-amount", "30.00"]),
        ["Grace Hopper", "Alan Turing"]
    );
    assert_eq!(payers(&["--refunded"]), ["Alan Turing"]);
    let code = taken["Grace Hopper"]
        .confirmation_code
        .clone()
        .expect("approved");
    // Typed as a person reads it out: lower case, spaced, O for 0.
    let typed = code.to_lowercase().replace('-', " ").replace('0', "o");
    assert_eq!(payers(&["--code", &typed]), ["Grace Hopper"]);
    assert_eq!(
        payers(&["--payment", &taken["Ada Byron"].id]),
        ["Ada Byron"]
    );
    assert_eq!(payers(&["--from", &minute(start)]).len(), 4);
    let before = start - jiff::SignedDuration::from_mins(1);
    assert!(payers(&["--to", &minute(before)]).is_empty());
    // What a batch report took, and not what came after it.
    let run = daemon.cipd(&["report", "run", "--app", "DMV-RENEWAL"], None);
    let said = String::from_utf8_lossy(&run.stdout).to_string();
    let batch = said
        .split_whitespace()
        .find(|w| w.starts_with("bat_"))
        .unwrap_or_else(|| panic!("a batch: {said}"))
        .trim_end_matches(':')
        .to_owned();
    let mut later = card_request("4242424242424242", 500);
    later.payer.name = "After Batch".to_owned();
    daemon.sent(&later);
    rpc.submit(ctx(), agent.clone(), new_key(), later)
        .await
        .expect("rpc")
        .expect("approved");
    assert_eq!(payers(&["--batch", &batch]).len(), 4, "{said}");
    assert_eq!(payers(&[]).len(), 5);
    // A filter the CLI cannot read names itself and what to write.
    let out = daemon.cipd(
        &[
            "report",
            "export",
            "--app",
            "DMV-RENEWAL",
            "--min-amount",
            "ten",
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--min-amount"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
