//! Ingest alone, for profiling and A/B runs: normalises one export file into the staged form
//! (written to nowhere) and prints rows, MB, wall and CPU seconds (both threads) and MB/s per core.
//! With `csv` instead of a marketplace it only parses the file with the csv crate (one thread,
//! records read and dropped): the yardstick issue 7 states its targets against, measured on the
//! same machine in the same minute (the machine's speed swings by half from hour to hour).
//!
//! `cargo run --release -p seedline-core --example normalise -- FILE [taobao|jd|csv]`

use std::time::Instant;

use seedline_core::ingest::normalise;
use seedline_core::line::{Marketplace, StagedSource, StagedWriter};
use seedline_core::pii::BuyerHasher;

/// User plus system CPU seconds of this process so far, from /proc (Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis: utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: normalise FILE [taobao|jd|csv]")?;
    let mode = args.next();
    let mkt = match mode.as_deref() {
        None | Some("taobao") | Some("csv") => Marketplace::Taobao,
        Some("jd") => Marketplace::Jd,
        Some(other) => return Err(format!("unknown marketplace {other}").into()),
    };
    let mb = std::fs::metadata(&path)?.len() as f64 / 1e6;
    // Read the file once first, so that the page cache holds it and the run measures CPU work.
    std::io::copy(&mut std::fs::File::open(&path)?, &mut std::io::sink())?;
    if mode.as_deref() == Some("csv") {
        let (cpu0, t0) = (cpu_seconds(), Instant::now());
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(std::fs::File::open(&path)?);
        let mut rec = csv::ByteRecord::new();
        let mut rows = 0u64;
        while rdr.read_byte_record(&mut rec)? {
            rows += 1;
        }
        let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
        println!(
            "csv crate alone: {rows} records, {mb:.0} MB: wall {wall:.2} s, CPU {cpu:.2} s, {:.0} MB/s per core",
            mb / cpu.max(1e-9)
        );
        return Ok(());
    }
    let hasher = BuyerHasher::new(b"benchmark-key-0123456789abcdef01")?;
    let source = StagedSource {
        export_key: path.clone(),
        etag: String::new(),
    };
    let mut staged = StagedWriter::new(std::io::sink(), std::io::sink(), &source)?;
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let summary = normalise(
        std::fs::File::open(&path)?,
        mkt,
        &hasher,
        &mut |l| staged.write(l),
        &mut |_| Ok(()),
    )?;
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
    println!(
        "{} rows ({} kept), {mb:.0} MB: wall {wall:.2} s, CPU {cpu:.2} s, {:.0} MB/s per core",
        summary.counts.rows_in,
        summary.counts.rows_kept,
        mb / cpu.max(1e-9)
    );
    Ok(())
}
