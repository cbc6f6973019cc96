//! SSE parsing benchmarks (criterion), feeding [`az_os::llm::sse::Parser`] in 16 KiB
//! chunks as a socket would:
//! - `sse_20mb_event_unterminated`: one 20 MB `data:` line with no end, as a broken or
//!   hostile provider sends it; the time until the parser refuses it at the 8 MiB event
//!   cap (the quadratic parser this replaced took about a minute for it);
//! - `sse_8mb_event`: one event just under the cap, ended, decoded;
//! - `sse_100k_small_events`: 100,000 events of about 100 bytes (an LF stream and a CRLF
//!   stream), a keep-alive comment every tenth, the data of each decoded.
//!
//! Run with `cargo bench --bench sse` (see scripts/bench.sh).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use az_os::llm::sse::{MAX_EVENT_BYTES, Parser};

const CHUNK: usize = 16 << 10;

/// Feeds `input` in chunks; returns the events and the bytes of data seen, or the
/// bytes fed when the parser refused the stream.
fn run(input: &[u8]) -> (usize, usize) {
    let mut p = Parser::new();
    let (mut events, mut bytes) = (0, 0);
    for (i, chunk) in input.chunks(CHUNK).enumerate() {
        p.push(chunk);
        loop {
            match p.next_event() {
                Ok(Some(data)) => {
                    events += 1;
                    bytes += data.len();
                }
                Ok(None) => break,
                Err(_) => return (events, (i + 1) * CHUNK),
            }
        }
    }
    (events, bytes)
}

fn small_events(sep: &str) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..100_000 {
        if i % 10 == 0 {
            s.push_str(": keep-alive");
            s.push_str(sep);
            s.push_str(sep);
        }
        s.push_str(&format!(
            "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"token {i:06} é\"}}}}]}}{sep}{sep}"
        ));
    }
    s.into_bytes()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sse");
    g.sample_size(20);

    let mut huge = b"data: ".to_vec();
    huge.resize(20_000_000, b'x');
    let (_, fed) = run(&huge);
    assert!(
        fed > MAX_EVENT_BYTES && fed < MAX_EVENT_BYTES + 2 * CHUNK,
        "{fed}"
    );
    g.throughput(Throughput::Bytes(fed as u64));
    g.bench_function("sse_20mb_event_unterminated", |b| {
        b.iter(|| black_box(run(black_box(&huge))));
    });

    let mut big = b"data: ".to_vec();
    big.resize(MAX_EVENT_BYTES - 16, b'y');
    big.extend_from_slice(b"\n\n");
    assert_eq!(run(&big).0, 1);
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("sse_8mb_event", |b| {
        b.iter(|| black_box(run(black_box(&big))));
    });

    for (name, sep) in [("lf", "\n"), ("crlf", "\r\n")] {
        let input = small_events(sep);
        assert_eq!(run(&input).0, 100_000);
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(format!("sse_100k_small_events_{name}"), |b| {
            b.iter(|| black_box(run(black_box(&input))));
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
