//! Renders staged report inputs as publish does, and prints the CPU the CSVs (shared evenly) and the page took per statement:
//! publish's own work, apart from the store. Usage:
//!
//!     cargo run --release -p seedline-core --example render -- DATA_DIR [MAX_REPORTS]
//!
//! DATA_DIR is a `seedline run --data` directory (its `staging/attributed/` holds the inputs match
//! staged); `scripts/bench.sh` leaves one at `target/bench/run-history`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use seedline_core::attribution::codec::decode_input;
use seedline_core::html::render_statement;
use seedline_core::statement::{render_csvs, Rows};

fn inputs(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            inputs(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let data = PathBuf::from(args.next().ok_or("usage: render DATA_DIR [MAX_REPORTS]")?);
    let max: usize = args.next().map_or(Ok(usize::MAX), |s| s.parse())?;
    let mut files = Vec::new();
    inputs(&data.join("staging/attributed"), &mut files)?;
    files.sort();
    files.truncate(max);
    let decoded: Vec<_> = files
        .iter()
        .map(|f| Ok(decode_input(&std::fs::read(f)?)?))
        .collect::<Result<_, Box<dyn std::error::Error>>>()?;
    let mut took = [Duration::ZERO; 5];
    let mut bytes = [0u64; 5];
    // One digest over every file rendered, so that a change meant to make rendering faster can be
    // shown to change no byte of any report.
    let mut all_bytes = sha2::Sha256::default();
    for input in &decoded {
        let t = Instant::now();
        let rows = Rows::of(input);
        let csvs = render_csvs(input, &rows);
        let csv_time = t.elapsed();
        let t = Instant::now();
        let page = render_statement(input, &rows, &[], None);
        took[4] += t.elapsed();
        for (i, r) in csvs.iter().chain(std::iter::once(&page)).enumerate() {
            if i < 4 {
                took[i] += csv_time / 4;
            }
            bytes[i] += r.bytes.len() as u64;
            sha2::Digest::update(&mut all_bytes, &r.bytes);
        }
    }
    let n = decoded.len().max(1) as f64;
    println!("{} report inputs", decoded.len());
    for (i, name) in [
        "campaigns.csv",
        "notes.csv",
        "orders.csv",
        "funnel.csv",
        "report.html",
    ]
    .iter()
    .enumerate()
    {
        println!(
            "  {name:<14} {:>8.1} µs per report, {:>7.1} KB per report",
            took[i].as_secs_f64() * 1e6 / n,
            bytes[i] as f64 / 1024.0 / n
        );
    }
    let all: Duration = took.iter().sum();
    println!(
        "  all            {:>8.1} µs per report",
        all.as_secs_f64() * 1e6 / n
    );
    let digest = sha2::Digest::finalize(all_bytes);
    println!("  SHA-256 of every file rendered: {}", hex::encode(digest));
    Ok(())
}
