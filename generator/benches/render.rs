//! Time to convert and render each fixture manifest (issue target: under 1 ms for opstack).
//! Run with `cargo bench -p bp-generator --bench render`; reads ../shared/fixtures.

use std::path::PathBuf;

use bp_generator::manifest::{self, ConvertOptions};
use bp_generator::{RenderOptions, render};
use criterion::{Criterion, criterion_group, criterion_main};

const FIXTURES: [(&str, &str); 4] = [
    ("l1-head", "DERIVED-manifest-l1-head-c473a6a.json"),
    ("opstack-head", "DERIVED-manifest-opstack-head-c473a6a.json"),
    ("l1-2025-05", "manifest-l1-2025-05.nm-sam-01-raw.json"),
    ("opstack-2025-07", "manifest-opstack-extbuilder-2025-07.cbarbieru.json"),
];

fn fixtures_dir() -> PathBuf {
    std::env::var_os("BP_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
        .join("fixtures")
}

fn convert_and_render(c: &mut Criterion) {
    let mut group = c.benchmark_group("convert+render");
    for (label, file) in FIXTURES {
        let path = fixtures_dir().join(file);
        let json = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        group.bench_function(label, |b| {
            b.iter(|| {
                let m = manifest::parse(std::hint::black_box(&json)).expect("parses");
                let converted = manifest::convert(&m, &ConvertOptions::default()).expect("converts");
                let rendered = render(&converted.playground, &RenderOptions::default()).expect("renders");
                std::hint::black_box(rendered)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, convert_and_render);
criterion_main!(benches);
