//! `seedline demo`: a week of sample exports and RED note reports (see [`data`]), run day by day
//! on the local default, with a summary of every brand's reports and the pages to open.

mod data;
mod red;

use std::path::Path;

use anyhow::{Context, Result};
use seedline_core::money::{yuan_grouped, Fen};
use seedline_pipeline::config::{self, Stores};
use seedline_pipeline::layout;
use seedline_pipeline::steps::run::run_day;

use crate::print_run;

/// The key the demo hashes buyers with: the environment's, else one made once and kept in the data directory.
fn demo_key(dir: &Path) -> Result<seedline_core::pii::BuyerHasher> {
    if let Ok(h) = config::buyer_hasher_from_env() {
        return Ok(h);
    }
    let path = dir.join(".buyer-key");
    let key = match std::fs::read_to_string(&path) {
        Ok(k) => k.trim().to_string(),
        Err(_) => {
            let mut seed = [0u8; 32];
            let random = std::fs::File::open("/dev/urandom")
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut seed))
                .is_ok();
            if !random {
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)?
                    .as_nanos();
                seed[..16].copy_from_slice(&t.to_le_bytes());
            }
            let k = hex::encode(seed);
            std::fs::write(&path, &k).with_context(|| format!("writing {}", path.display()))?;
            k
        }
    };
    Ok(seedline_core::pii::BuyerHasher::new(key.as_bytes())?)
}

pub(crate) async fn run_demo(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let days = data::generate(dir)?;
    red::red_reports(dir, &days)?;
    let hasher = demo_key(dir)?;
    let stores = Stores::local(dir);
    println!(
        "seedline demo: a week of Taobao and JD exports and RED note reports in {}",
        dir.display()
    );
    let mut runs = Vec::new();
    for d in &days {
        let run = run_day(&stores, &hasher, *d, config::DEFAULT_LOOKBACK_DAYS).await?;
        print_run(&run);
        runs.push(run);
    }
    // Summary: every brand's latest report for every day.
    println!();
    println!(
        "{:<12} {:<10} {:>7} {:>7} {:>14} {:>12}",
        "brand", "date", "version", "orders", "net GMV", "refunds"
    );
    let mut latest_html = None;
    let (brands, _) = stores.campaigns.load_all().await?;
    for b in &brands {
        let showcased = b.brand_id == data::SHOWCASE_BRAND;
        for d in &days {
            let key = layout::latest_key(&b.brand_id, *d);
            let Some(bytes) = stores.reports.get_bytes(&key).await? else {
                continue;
            };
            let latest: seedline_core::report::Latest = serde_json::from_slice(&bytes)?;
            let csv_path = dir.join(format!("{}campaigns.csv", latest.prefix));
            let (orders, net, refund) = campaign_totals(&csv_path)?;
            println!(
                "{:<12} {:<10} {:>7} {:>7} {:>14} {:>12}",
                b.brand_id,
                d,
                format!("v{}", latest.version),
                orders,
                yuan_grouped(net),
                yuan_grouped(refund)
            );
            // A restated statement shows its "restated" panel too.
            if showcased && (latest.version > 1 || latest_html.is_none()) {
                latest_html = Some(dir.join(format!("{}report.html", latest.prefix)));
            }
        }
    }
    println!();
    println!("Reports: {}", dir.join("reports").display());
    // The brand whose funnel is full: RED figures from impression to order, and ROAS on what it spent.
    let showcase = layout::to_date_latest_key(data::SHOWCASE_BRAND);
    if let Some(bytes) = stores.reports.get_bytes(&showcase).await? {
        let latest: seedline_core::report::Latest = serde_json::from_slice(&bytes)?;
        println!(
            "Open {}'s to-date report (every campaign from impression to order, spend and ROAS):\n  {}",
            data::SHOWCASE_BRAND,
            dir.join(format!("{}report.html", latest.prefix)).display()
        );
    }
    if let Some(h) = latest_html {
        println!("and a statement of one day: {}", h.display());
    }
    // `cargo run` leaves the binary in target/: say where, so that the README's next commands work.
    if let Ok(exe) = std::env::current_exe() {
        let on_path = |dir: &Path| {
            std::env::var_os("PATH")
                .is_some_and(|p| std::env::split_paths(&p).any(|d| d.as_path() == dir))
        };
        if let Some(bin) = exe.parent().filter(|d| !on_path(d)) {
            println!(
                "\nThe seedline command is {}; to type `seedline`:\n  export PATH=\"{}:$PATH\"",
                exe.display(),
                bin.display()
            );
        }
    }
    Ok(())
}

/// Orders, net GMV and refunds (fen) summed over a campaigns.csv.
fn campaign_totals(path: &Path) -> Result<(u64, Fen, Fen)> {
    let mut rdr =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let (mut orders, mut net, mut refund) = (0u64, Fen::ZERO, Fen::ZERO);
    for rec in rdr.records() {
        let rec = rec?;
        orders += rec.get(5).unwrap_or("0").parse::<u64>().unwrap_or(0);
        refund += seedline_core::money::parse_amount(rec.get(8).unwrap_or("0")).unwrap_or_default();
        net += seedline_core::money::parse_amount(rec.get(9).unwrap_or("0")).unwrap_or_default();
    }
    Ok((orders, net, refund))
}
