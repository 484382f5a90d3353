//! The pure work on every payment's path: validating a request against its form, the keyed
//! request fingerprint, and issuing a confirmation code. `cargo bench -p cip-daemon`.

use cip_common::validate::Form;
use cip_daemon::bench::demo_request;
use cip_daemon::codes::{CodeKey, NUMBERS};
use cip_daemon::engine::fingerprint;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn hot_path(c: &mut Criterion) {
    let spec = cip_common::form::demo_applications()
        .expect("demo applications parse")
        .into_iter()
        .find(|s| s.id == "DMV-RENEWAL")
        .expect("DMV-RENEWAL");
    let form = Form::new(spec).expect("the demo form compiles");
    let request = demo_request();
    let today = jiff::civil::date(2026, 11, 29);
    c.bench_function("validate a card payment", |b| {
        b.iter(|| form.validate(black_box(&request), today))
    });
    let key = [7u8; 32];
    c.bench_function("fingerprint a request", |b| {
        b.iter(|| fingerprint(&key, "DMV-RENEWAL", black_box(&request)))
    });
    let codes = CodeKey::from_fingerprint_key(&key);
    let mut n = 0u64;
    c.bench_function("issue a confirmation code", |b| {
        b.iter(|| {
            n = (n + 1) % NUMBERS;
            codes.code(black_box(n))
        })
    });
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
