//! Keycode generation throughput. `scripts/bench_keycode.sh` runs this next
//! to the Python references and writes the ratios to `docs/benchmarks.md`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use keycode::nexus::full::{self, FullMessage};
use keycode::nexus::small::{self, SmallMessage};
use keycode::openpaygo::{encode_token, TokenConfig, TokenType};
use keycode::{siphash24, SecretKey};

fn key() -> SecretKey {
    SecretKey::from_hex("bc41ec9530f6dac86b1a29ab82edc5fb").unwrap()
}

/// How many hashes `siphash24_8_bytes_chained` runs per iteration.
const CHAIN: u64 = 100;

fn siphash(c: &mut Criterion) {
    let key = *key().as_bytes();
    // Independent hashes: the CPU overlaps one with the next, so this is
    // SipHash's throughput.
    c.bench_function("siphash24_8_bytes", |b| {
        b.iter(|| siphash24(black_box(&key), black_box(&[1, 2, 3, 4, 5, 6, 7, 8])))
    });
    // Each hash over the last one's output, as OpenPAYGO's chain does: no
    // overlap is possible, so this over CHAIN is one hash's latency, the
    // floor for a chain link.
    let mut group = c.benchmark_group("siphash24_8_bytes_chained");
    group.throughput(Throughput::Elements(CHAIN));
    group.bench_function(BenchmarkId::from_parameter(CHAIN), |b| {
        b.iter(|| {
            let mut value = black_box(1u64);
            for _ in 0..CHAIN {
                value = siphash24(&key, &value.to_le_bytes());
            }
            value
        })
    });
    group.finish();
}

fn openpaygo(c: &mut Criterion) {
    let config = TokenConfig {
        starting_code: Some(516_959_010),
        ..TokenConfig::new(key())
    };
    let mut group = c.benchmark_group("openpaygo_add_time");
    group.throughput(Throughput::Elements(1));
    for count in [1u32, 100, 10_000] {
        group.bench_with_input(BenchmarkId::from_parameter(count), &count, |b, &count| {
            b.iter(|| encode_token(&config, black_box(count), TokenType::AddTime, black_box(30)))
        });
    }
    group.finish();
}

fn nexus(c: &mut Criterion) {
    let key = key();
    let mut group = c.benchmark_group("nexus");
    group.throughput(Throughput::Elements(1));
    group.bench_function("full_add_credit", |b| {
        b.iter(|| full::encode(black_box(42), FullMessage::AddCredit { hours: 168 }, &key))
    });
    group.bench_function("small_add_credit", |b| {
        b.iter(|| small::encode(black_box(42), SmallMessage::AddCredit { days: 7 }, &key))
    });
    group.finish();
}

criterion_group!(benches, siphash, openpaygo, nexus);
criterion_main!(benches);
