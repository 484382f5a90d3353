//! Measures the console under a busy feed: a real `cipd`, a real `cip` signed in as a supervisor
//! in a pseudo-terminal, and clients submitting payments at a steady rate (two events each). It
//! prints what the console cost: CPU, memory, frames drawn and bytes written to the terminal.
//!
//!     cargo build --release --workspace
//!     target/release/console-load --seconds 30 --events-per-second 1000

use cip_tests::terminal::Console;
use cip_tests::{Daemon, card_request, ctx, new_key};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Options {
    seconds: u64,
    events_per_second: u64,
    buffer: usize,
}

fn options() -> Options {
    let mut options = Options {
        seconds: 30,
        events_per_second: 1_000,
        buffer: 10_000,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = |what: &str| -> u64 {
            pair.get(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{what} takes a whole number"))
        };
        match pair[0].as_str() {
            "--seconds" => options.seconds = value("--seconds"),
            "--events-per-second" => options.events_per_second = value("--events-per-second"),
            "--buffer" => options.buffer = value("--buffer") as usize,
            other => {
                panic!("unknown option {other}: use --seconds N, --events-per-second N, --buffer N")
            }
        }
    }
    options
}

/// CPU time (user + system) of a process, in clock ticks, from /proc.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// A line of /proc/<pid>/status in MiB (VmRSS, VmHWM).
fn memory_mib(pid: u32, key: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() {
    let options = options();
    let config = format!(
        "[processor]\ndeadline_ms = 4000\n\n[console]\nfeed_buffer = {}\n",
        options.buffer
    );
    let daemon = Daemon::start_with(&config).await;
    let stats_file = daemon.dir.path().join("frames.txt");
    let stats_arg = stats_file.display().to_string();
    let mut console = Console::start_with(
        &daemon.socket,
        daemon.dir.path(),
        &[
            "--config",
            &daemon.dir.path().join("cipd.toml").display().to_string(),
            "--frame-stats",
            &stats_arg,
        ],
    );
    console.sign_in("DMV-RENEWAL", "super1");
    console.wait_for("following");
    let pid = console.pid();

    let client = daemon.client().await;
    let agent = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
    let payments_per_second = (options.events_per_second / 2).max(1);
    let submitted = Arc::new(AtomicU64::new(0));
    let clients = 16u64;
    let ticks_before = cpu_ticks(pid);
    let bytes_before = console.bytes_written();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (client, agent, submitted) = (client.clone(), agent.clone(), Arc::clone(&submitted));
        let period = Duration::from_secs_f64(clients as f64 / payments_per_second as f64);
        let seconds = options.seconds;
        tasks.push(tokio::spawn(async move {
            let mut every = tokio::time::interval_at(
                tokio::time::Instant::now() + period.mul_f64(c as f64 / clients as f64),
                period,
            );
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let end = Instant::now() + Duration::from_secs(seconds);
            let mut n = 0i64;
            while Instant::now() < end {
                every.tick().await;
                n += 1;
                let request = card_request("4242424242424242", 100 + n);
                if let Ok(Ok(_)) = client
                    .submit(ctx(), agent.clone(), new_key(), request)
                    .await
                {
                    submitted.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let mut peak_rss = 0.0f64;
    while tasks.iter().any(|t| !t.is_finished()) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        peak_rss = peak_rss.max(memory_mib(pid, "VmRSS:"));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let ticks = cpu_ticks(pid) - ticks_before;
    let bytes = console.bytes_written() - bytes_before;
    let rss = memory_mib(pid, "VmRSS:");
    let hwm = memory_mib(pid, "VmHWM:");
    let payments = submitted.load(Ordering::Relaxed);
    let _ = console.signal_and_wait("TERM");
    let frames = std::fs::read_to_string(&stats_file).unwrap_or_default();
    let frames: u64 = frames
        .lines()
        .find_map(|l| l.strip_prefix("frames "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let clock_ticks = 100.0; // USER_HZ on Linux
    println!(
        "console under a busy feed ({} s, feed buffer {} events)",
        options.seconds, options.buffer
    );
    println!(
        "  events committed     {:>10.0} /s  ({} payments)",
        payments as f64 * 2.0 / elapsed,
        payments
    );
    println!(
        "  cip CPU              {:>10.1} % of one core",
        ticks as f64 / clock_ticks / elapsed * 100.0
    );
    println!(
        "  cip RSS              {:>10.1} MiB now, {peak_rss:.1} MiB peak sampled, {hwm:.1} MiB high-water",
        rss
    );
    println!(
        "  frames drawn         {:>10.1} /s  ({frames} in the whole run)",
        frames as f64 / elapsed
    );
    println!("  bytes to terminal    {:>10.0} /s", bytes as f64 / elapsed);
}
