//! Operator commands: backfill, status, rejects, explain (a line or a report), presign, campaigns list/show.

use std::time::Duration;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};
use seedline_core::line::Marketplace;
use seedline_core::pii::BuyerHasher;
use seedline_core::time::format_timestamp;
use seedline_pipeline::config::Stores;
use seedline_pipeline::ops::{self, BackfillDay, BackfillProgress};
use seedline_pipeline::steps::ingest::{FileOutcome, IngestResult};
use seedline_pipeline::steps::run::DayRun;

/// A progress bar over the backfill's export bytes, with files, lines and time left.
struct Bar {
    bar: ProgressBar,
    files: std::sync::atomic::AtomicU64,
    lines: std::sync::atomic::AtomicU64,
}

impl BackfillProgress for Bar {
    fn planned(&self, days: usize, files: u64, bytes: u64) {
        self.bar.set_length(bytes.max(1));
        self.bar.println(format!(
            "backfill: {days} days to run, {files} export files"
        ));
    }

    fn file_done(&self, r: &IngestResult, bytes: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let files = self.files.fetch_add(1, Relaxed) + 1;
        let lines =
            self.lines.fetch_add(r.record.counts.rows_in, Relaxed) + r.record.counts.rows_in;
        self.bar
            .set_message(format!("{files} files, {lines} lines"));
        self.bar.inc(bytes);
    }

    fn day_done(&self, date: NaiveDate, skipped: bool) {
        if skipped {
            self.bar
                .println(format!("{date}: already done on the same exports, skipped"));
        }
    }
}

pub async fn backfill(
    stores: &Stores,
    hasher: &BuyerHasher,
    from: NaiveDate,
    to: NaiveDate,
    lookback: u32,
) -> Result<()> {
    let bar = ProgressBar::new(1);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg} (ETA {eta})",
        )
        .context("progress bar template")?,
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let progress = Bar {
        bar,
        files: 0.into(),
        lines: 0.into(),
    };
    let days = ops::backfill(stores, hasher, from, to, lookback, &progress).await?;
    progress.bar.finish_and_clear();
    let ran = days
        .iter()
        .filter(|d| matches!(d, BackfillDay::Ran(_)))
        .count();
    for d in &days {
        if let BackfillDay::Ran(run) = d {
            crate::print_run(run);
        }
    }
    println!(
        "backfill {from} .. {to}: {ran} days run, {} skipped",
        days.len() - ran
    );
    let runs: Vec<DayRun> = days
        .into_iter()
        .filter_map(|d| match d {
            BackfillDay::Ran(run) => Some(*run),
            _ => None,
        })
        .collect();
    crate::held_back(&runs)
}

pub async fn status(stores: &Stores, date: NaiveDate, json: bool) -> Result<()> {
    let s = ops::day_status(stores, date).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    println!("status of {date}");
    println!("ingested files:");
    if s.files.is_empty() {
        println!("  none");
    }
    for f in &s.files {
        let c = &f.counts;
        match f.outcome {
            FileOutcome::Ingested => println!(
                "  {}  etag {}  {} rows: {} kept, {} rejected{}",
                f.export_key,
                f.etag,
                c.rows_in,
                c.rows_kept,
                c.rows_rejected,
                if c.rejected_by_reason.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({})",
                        c.rejected_by_reason
                            .iter()
                            .map(|(r, n)| format!("{r}: {n}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ),
            FileOutcome::Rejected => println!(
                "  {}  etag {}  REJECTED WHOLE: {}",
                f.export_key,
                f.etag,
                f.reason.as_deref().unwrap_or_default()
            ),
        }
    }
    for k in &s.not_ingested {
        println!("  {k}  not ingested (or changed since)");
    }
    for m in &s.missing_exports {
        println!(
            "warning: no {m} export for {date}: not a day without sales until the partner says so"
        );
    }
    match &s.matched {
        Some(m) => {
            println!(
                "attributed (report dates {} .. {}): {} lines, {} credited, {} not paid, {} without a token",
                m.from, m.to, m.stats.lines, m.stats.credited, m.stats.not_paid, m.stats.no_token
            );
            for (reason, n) in &m.stats.excluded {
                println!("  excluded {reason}: {n}");
            }
            if m.stats.unknown_note > 0 {
                println!(
                    "  RED report rows of notes no campaign lists (unknown_note): {}",
                    m.stats.unknown_note
                );
            }
            println!(
                "  statements changed by this run: {}, to-date reports: {}",
                m.changed.len(),
                m.to_date_changed.len()
            );
            for why in &m.set_aside {
                println!("  stored record set aside: {why}");
            }
            for (brand, why) in &m.held {
                println!("  {brand}: reports held back ({why})");
            }
        }
        None => println!("attributed: this day has not run"),
    }
    println!("reports with report date {date}:");
    if s.reports.is_empty() {
        println!("  none");
    }
    for r in &s.reports {
        println!("  {}  v{}  {}", r.brand_id, r.version, r.prefix);
    }
    println!("to-date reports now:");
    if s.to_date.is_empty() {
        println!("  none");
    }
    for r in &s.to_date {
        println!("  {}  v{}  {}", r.brand_id, r.version, r.prefix);
    }
    Ok(())
}

pub async fn rejects(stores: &Stores, date: NaiveDate) -> Result<()> {
    let rows = ops::day_rejects(stores, date).await?;
    let mut w = csv::Writer::from_writer(std::io::stdout());
    w.write_record(["export_key", "line", "order_id", "reason", "detail"])?;
    for r in &rows {
        w.write_record([
            r.export_key.as_str(),
            &r.reject.line.to_string(),
            &r.reject.order_id,
            &r.reject.reason,
            &r.reject.detail,
        ])?;
    }
    w.flush()?;
    eprintln!("{} rejected rows", rows.len());
    Ok(())
}

pub async fn restage(stores: &Stores, hasher: &BuyerHasher) -> Result<()> {
    let done = ops::restage(stores, hasher, &|r| {
        eprintln!("  staged again: {}", r.record.export_key);
    })
    .await?;
    println!(
        "{} export(s) staged again; the next run brings their reports up to date",
        done.len()
    );
    Ok(())
}

pub async fn explain(stores: &Stores, m: Marketplace, line_id: &str) -> Result<()> {
    let Some(e) = ops::explain_line(stores, m, line_id).await? else {
        anyhow::bail!("no {m} line {line_id} in any ingested export");
    };
    println!("{m} line {line_id}");
    println!("appearances (the last one is the latest state):");
    for a in &e.appearances {
        match &a.line {
            Some(l) => println!(
                "  {} line {}: {} paid {} refund {}",
                a.export_key,
                a.export_line,
                l.status,
                l.paid_fen.yuan(),
                l.refund_fen.yuan()
            ),
            None => println!(
                "  {} line {}: no token ({})",
                a.export_key,
                a.export_line,
                if a.paid { "paid" } else { "not paid" }
            ),
        }
    }
    if let Some(l) = e.latest().and_then(|a| a.line.as_ref()) {
        println!(
            "latest state: order {} shop {} item {} quantity {} paid {} refund {} token {} clicked {}",
            l.order_id,
            l.shop_id,
            l.item_id,
            l.quantity,
            l.paid_fen.yuan(),
            l.refund_fen.yuan(),
            l.token,
            l.clicked_at
                .map(|t| format_timestamp(&t))
                .unwrap_or_else(|| "-".into())
        );
    }
    for r in &e.reasoning {
        println!("  {r}");
    }
    Ok(())
}

/// A report's versions, oldest first, and what each changed and why (its changes.csv).
pub async fn explain_report(stores: &Stores, brand: &str, date: Option<NaiveDate>) -> Result<()> {
    let what = match date {
        Some(d) => format!("statement of {d}"),
        None => "to-date report".into(),
    };
    let versions = ops::report_history(stores, brand, date).await?;
    if versions.is_empty() {
        anyhow::bail!("brand {brand} has no {what} yet");
    }
    println!("brand {brand}, {what}: {} version(s)", versions.len());
    for v in &versions {
        println!("v{}  {}  {}", v.version, v.generated_at, v.prefix);
        if let Some(as_of) = &v.as_of {
            println!("  as of {as_of}: every campaign in scope from its start to that date");
        } else if v.version == 1 {
            println!("  first version");
        }
        for c in &v.changes {
            let [file, change, key, field, before, after, source] = c.as_slice() else {
                continue;
            };
            let because = if source.is_empty() {
                String::new()
            } else {
                format!("  because of {source}")
            };
            match change.as_str() {
                "changed" => println!("  {file} {key}: {field} {before} -> {after}{because}"),
                other => println!("  {file} {key}: {other}{because}"),
            }
        }
    }
    Ok(())
}

pub async fn list_campaigns(stores: &Stores) -> Result<()> {
    let (_, campaigns) = stores.campaigns.load_all().await?;
    println!(
        "{:<20} {:<12} {:<23} {:>6} {:>14} {:>5}",
        "campaign", "brand", "flight", "window", "spend", "links"
    );
    for c in &campaigns {
        println!(
            "{:<20} {:<12} {:<23} {:>6} {:>14} {:>5}",
            c.campaign_id,
            c.brand_id,
            format!("{} .. {}", c.start, c.end),
            c.window_days,
            c.spend_fen.yuan().to_string(),
            c.tokens().count()
        );
    }
    Ok(())
}

pub async fn show_campaign(stores: &Stores, id: &str) -> Result<()> {
    let (_, campaigns) = stores.campaigns.load_all().await?;
    let c = campaigns
        .iter()
        .find(|c| c.campaign_id == id)
        .with_context(|| format!("no campaign {id}"))?;
    println!("{}", serde_json::to_string_pretty(c)?);
    Ok(())
}

/// Prints a download link for latest.json and every file of the version it points to: of the
/// statement of `date`, or of the to-date report when `date` is `None`.
pub async fn presign(
    target: &crate::Target,
    brand: &str,
    date: Option<NaiveDate>,
    expires_in: u64,
) -> Result<()> {
    use seedline_pipeline::layout;
    let stores = target.stores().await?;
    let (latest_key, what) = match date {
        Some(d) => (layout::latest_key(brand, d), format!("statement of {d}")),
        None => (layout::to_date_latest_key(brand), "to-date report".into()),
    };
    let bytes = stores
        .reports
        .get_bytes(&latest_key)
        .await?
        .with_context(|| format!("brand {brand} has no {what} yet ({latest_key})"))?;
    let latest: seedline_core::report::Latest = serde_json::from_slice(&bytes)?;
    let mut keys = vec![latest_key];
    keys.extend(
        latest
            .sha256
            .keys()
            .map(|name| format!("{}{name}", latest.prefix)),
    );
    for k in keys {
        println!(
            "{}",
            stores
                .reports
                .download_link(&k, Duration::from_secs(expires_in))
                .await?
        );
    }
    Ok(())
}
