//! `seedline`: the command line. Runs the same steps as the Lambda functions, on a local directory
//! (the embedded default) or on AWS.

mod benchdata;
mod demo;
mod load;
mod operate;
mod rng;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use seedline_core::ids::{BrandId, CampaignId};
use seedline_pipeline::config::{self, AwsClients, AwsSettings, Cache, Stores};
use seedline_pipeline::steps::run::{run_day, DayRun};

#[derive(Parser)]
#[command(
    name = "seedline",
    version,
    about = "Attribution of Xiaohongshu seeding notes to marketplace orders",
    long_about = "Attribution of Xiaohongshu (RED) seeding notes to Taobao/Tmall and JD orders, with RED's \
note reports beside them: a statement per brand and day and a to-date report, on a local directory \
(--data DIR) or on S3 and DynamoDB (--aws).\n\nStart with `seedline demo`; then `seedline run --data DIR --date YYYY-MM-DD`."
)]
struct Cli {
    /// Log format on stderr: `text` (colours only on a terminal) or `json` (one object per event,
    /// as the Lambda functions write).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Write a sample data set (a week of order exports and RED note reports, refunds, bad rows)
    /// and run every day through the pipeline; prints the page to open.
    Demo {
        /// Where to write it.
        #[arg(long, default_value = "seedline-demo")]
        data: PathBuf,
    },
    /// One daily run: ingest that day's exports (orders and RED note reports), match, publish.
    ///
    /// Needs SEEDLINE_BUYER_KEY (a secret of at least 16 bytes; keep it: the same buyer must hash
    /// the same every day). On a local directory, DIR must hold brands.jsonl and campaigns.jsonl
    /// (see `seedline campaigns load`) and exports/{taobao|jd|xhs}/DATE/. Exits non-zero, writing
    /// nothing, when any of them is missing.
    #[command(
        after_help = "Example: SEEDLINE_BUYER_KEY=$(cat key) seedline run --data DIR --date 2025-05-28"
    )]
    Run {
        #[command(flatten)]
        target: Target,
        /// The export date to run, YYYY-MM-DD.
        #[arg(long, value_parser = parse_date)]
        date: NaiveDate,
        /// How many report dates before DATE to re-attribute.
        #[arg(long, env = "SEEDLINE_LOOKBACK_DAYS", default_value_t = config::DEFAULT_LOOKBACK_DAYS)]
        lookback_days: u32,
    },
    /// Create the buckets and the DynamoDB table named by the environment, where missing (local servers,
    /// first set-up without the stack).
    Setup {
        /// Required: setup only ever talks to AWS (or AWS_ENDPOINT_URL).
        #[arg(long, required = true)]
        aws: bool,
    },
    /// Run every day from FROM to TO (both included) in order, with a progress bar; a stopped
    /// backfill resumes at the first day not yet finished. Needs SEEDLINE_BUYER_KEY, as `run` does.
    #[command(
        after_help = "Example: seedline backfill --data DIR --from 2025-05-01 --to 2025-05-31"
    )]
    Backfill {
        #[command(flatten)]
        target: Target,
        /// The first export date to run, YYYY-MM-DD.
        #[arg(long, value_parser = parse_date)]
        from: NaiveDate,
        /// The last export date to run, YYYY-MM-DD (included).
        #[arg(long, value_parser = parse_date)]
        to: NaiveDate,
        /// How many report dates before each day to re-attribute.
        #[arg(long, env = "SEEDLINE_LOOKBACK_DAYS", default_value_t = config::DEFAULT_LOOKBACK_DAYS)]
        lookback_days: u32,
    },
    /// Stage again the exports an earlier seedline staged (match asks for this once after an upgrade).
    Restage {
        #[command(flatten)]
        target: Target,
    },
    /// What the pipeline recorded of a day: files and rows, exclusions, published reports.
    Status {
        #[command(flatten)]
        target: Target,
        /// The export date, YYYY-MM-DD.
        #[arg(long, value_parser = parse_date)]
        date: NaiveDate,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The rejected rows of a day's exports (CSV: export, line, order id or RED note id, reason, detail).
    Rejects {
        #[command(flatten)]
        target: Target,
        /// The export date, YYYY-MM-DD.
        #[arg(long, value_parser = parse_date)]
        date: NaiveDate,
    },
    /// Why an order line was or was not credited (--marketplace and --line), or a report's
    /// versions and what each changed and why (--brand with --date or --to-date).
    Explain {
        #[command(flatten)]
        target: Target,
        #[arg(long, requires = "line", conflicts_with = "brand")]
        marketplace: Option<seedline_core::line::Marketplace>,
        /// The line id (Taobao 子订单编号, or ORDER/ITEM).
        #[arg(long, requires = "marketplace", conflicts_with = "brand")]
        line: Option<String>,
        /// The brand whose report to explain.
        #[arg(long, required_unless_present = "line")]
        brand: Option<BrandId>,
        /// The statement of this report date (YYYY-MM-DD).
        #[arg(long, value_parser = parse_date, requires = "brand", conflicts_with = "to_date")]
        date: Option<NaiveDate>,
        /// The brand's to-date report.
        #[arg(long, requires = "brand")]
        to_date: bool,
    },
    /// Time-limited download links for a brand's latest statement of a date (--date), or its
    /// to-date report (--to-date); local: their paths.
    Presign {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        brand: BrandId,
        /// The statement of this report date (YYYY-MM-DD).
        #[arg(long, value_parser = parse_date, required_unless_present = "to_date", conflicts_with = "to_date")]
        date: Option<NaiveDate>,
        /// The to-date report instead of a statement.
        #[arg(long)]
        to_date: bool,
        /// How long the links stay valid, in seconds (S3 allows up to 7 days).
        #[arg(long, default_value_t = 3600)]
        expires_in: u64,
    },
    /// Generate exports and campaigns at production scale for the benchmark (scripts/bench.sh).
    #[command(hide = true)]
    BenchData {
        /// Where to write brands.jsonl, campaigns.jsonl and exports/.
        #[arg(long)]
        data: PathBuf,
        #[command(flatten)]
        spec: benchdata::Spec,
    },
    /// Brands and campaigns.
    Campaigns {
        #[command(subcommand)]
        command: CampaignsCommand,
    },
}

#[derive(Subcommand)]
enum CampaignsCommand {
    /// Validate brands and campaigns (JSON lines) and write them; a refused record leaves the store unchanged.
    Load {
        /// JSON-lines files of brands and campaigns, in the shapes of campaigns.md.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        target: Target,
        /// Check and report, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// One line per campaign: id, brand, flight, window, spend, links.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// A campaign's record, as JSON.
    Show {
        campaign_id: CampaignId,
        #[command(flatten)]
        target: Target,
    },
}

/// Where the data lives: a local directory, or AWS named by the environment.
#[derive(Args)]
pub(crate) struct Target {
    /// A local data directory (exports/, brands.jsonl, campaigns.jsonl; seedline writes staging/ and reports/).
    #[arg(long, conflicts_with = "aws", env = "SEEDLINE_DATA")]
    pub(crate) data: Option<PathBuf>,
    /// Use S3 and DynamoDB: SEEDLINE_EXPORTS_BUCKET, SEEDLINE_STAGING_BUCKET, SEEDLINE_REPORTS_BUCKET,
    /// SEEDLINE_TABLE and the usual AWS variables (AWS_ENDPOINT_URL for a local server).
    #[arg(long)]
    pub(crate) aws: bool,
    /// Trust no cache (the published markers): slower, and the same reports byte for byte
    /// (SEEDLINE_CACHE=off does the same).
    #[arg(long)]
    pub(crate) no_cache: bool,
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    seedline_core::time::parse_date(s)
}

impl Target {
    pub(crate) async fn stores(&self) -> Result<Stores> {
        let mut stores = if self.aws {
            let settings = AwsSettings::from_env()?;
            let clients = AwsClients::from_env().await;
            Stores::aws(&clients, &settings)
        } else {
            let Some(dir) = &self.data else {
                bail!("say where the data is: --data DIR for a local directory, or --aws");
            };
            Stores::local(&config::data_dir(dir)?)
        };
        stores.cache = if self.no_cache {
            Cache::Off
        } else {
            Cache::from_env()?
        };
        Ok(stores)
    }
}

/// Logs on stderr: readable text (coloured only on a terminal), or JSON lines.
fn init_tracing(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => fmt.json().with_ansi(false).init(),
        LogFormat::Text => fmt.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

/// A local run needs the campaigns to match against and the exports to read: refused, before
/// anything is written, when they are not there (a mistyped or empty directory).
fn check_local_run(target: &Target) -> Result<()> {
    let Some(dir) = target.data.as_ref().filter(|_| !target.aws) else {
        return Ok(());
    };
    if !dir.is_dir() {
        bail!("data directory {} does not exist", dir.display());
    }
    for f in ["brands.jsonl", "campaigns.jsonl"] {
        if !dir.join(f).is_file() {
            bail!(
                "{} has no {f}: load brands and campaigns first (`seedline campaigns load brands.jsonl campaigns.jsonl --data {}`)",
                dir.display(),
                dir.display()
            );
        }
    }
    if !dir.join("exports").is_dir() {
        bail!(
            "{} has no exports/ directory: put each day's exports under {}/exports/{{taobao|jd|xhs}}/YYYY-MM-DD/",
            dir.display(),
            dir.display()
        );
    }
    Ok(())
}

/// An error and its causes, each cause said once: storage errors already carry the SDK's own
/// account of their cause in their message, which `{:#}` would print again.
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

fn main() -> ExitCode {
    match tokio::runtime::Runtime::new() {
        Ok(rt) => rt.block_on(run()),
        Err(e) => {
            eprintln!("seedline: error: starting the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    match dispatch(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seedline: error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo { data } => demo::run_demo(&data).await,
        Command::BenchData { data, spec } => benchdata::generate(&data, &spec),
        Command::Run {
            target,
            date,
            lookback_days,
        } => {
            let hasher = config::buyer_hasher_from_env()?;
            check_local_run(&target)?;
            let stores = target.stores().await?;
            let run = run_day(&stores, &hasher, date, lookback_days).await?;
            print_run(&run);
            held_back(std::slice::from_ref(&run))
        }
        Command::Campaigns {
            command:
                CampaignsCommand::Load {
                    files,
                    target,
                    dry_run,
                },
        } => load::load_campaigns(&files, &target, dry_run).await,
        Command::Setup { aws: _ } => setup_aws().await,
        Command::Presign {
            target,
            brand,
            date,
            to_date: _,
            expires_in,
        } => operate::presign(&target, &brand, date, expires_in).await,
        Command::Backfill {
            target,
            from,
            to,
            lookback_days,
        } => {
            let hasher = config::buyer_hasher_from_env()?;
            check_local_run(&target)?;
            operate::backfill(&target.stores().await?, &hasher, from, to, lookback_days).await
        }
        Command::Restage { target } => {
            let hasher = config::buyer_hasher_from_env()?;
            operate::restage(&target.stores().await?, &hasher).await
        }
        Command::Status { target, date, json } => {
            operate::status(&target.stores().await?, date, json).await
        }
        Command::Rejects { target, date } => operate::rejects(&target.stores().await?, date).await,
        Command::Explain {
            target,
            marketplace,
            line,
            brand,
            date,
            to_date,
        } => {
            let stores = target.stores().await?;
            match (marketplace, line, brand) {
                (Some(m), Some(line), _) => operate::explain(&stores, m, &line).await,
                (_, _, Some(brand)) if date.is_some() || to_date => {
                    operate::explain_report(&stores, &brand, date).await
                }
                _ => anyhow::bail!(
                    "explain: give --marketplace and --line, or --brand with --date or --to-date"
                ),
            }
        }
        Command::Campaigns {
            command: CampaignsCommand::List { target },
        } => operate::list_campaigns(&target.stores().await?).await,
        Command::Campaigns {
            command:
                CampaignsCommand::Show {
                    campaign_id,
                    target,
                },
        } => operate::show_campaign(&target.stores().await?, &campaign_id).await,
    }
}

async fn setup_aws() -> Result<()> {
    let settings = AwsSettings::from_env()?;
    let clients = AwsClients::from_env().await;
    let mut buckets = vec![
        &settings.exports_bucket,
        &settings.staging_bucket,
        &settings.reports_bucket,
    ];
    buckets.dedup();
    for b in buckets {
        let bucket = seedline_pipeline::store::s3::S3Objects::new(clients.s3.clone(), b);
        if bucket.create_bucket().await? {
            println!("created bucket {b}");
        } else {
            println!("bucket {b} exists");
        }
    }
    let table = seedline_pipeline::store::dynamo::DynamoCampaigns::new(
        clients.dynamodb.clone(),
        &settings.table,
    );
    match table.create_table().await {
        Ok(()) => println!("created table {}", settings.table),
        Err(e) if e.to_string().contains("ResourceInUse") => {
            println!("table {} exists", settings.table)
        }
        Err(e) => return Err(e).context(format!("creating table {}", settings.table)),
    }
    Ok(())
}

/// A run that held a brand's reports back did the rest of its work, and still fails: an operator
/// (or cron) must see that a brand got no reports.
pub(crate) fn held_back(runs: &[DayRun]) -> Result<()> {
    let held: BTreeMap<&str, &str> = runs
        .iter()
        .flat_map(|r| r.matched.held.iter())
        .map(|(b, why)| (b.as_str(), why.as_str()))
        .collect();
    match held.iter().next() {
        None => Ok(()),
        Some((brand, why)) => bail!(
            "the reports of {} brand(s) were held back, {brand}'s because {why}; every other brand's \
             were published. Correct or remove the stored record, then run the day again",
            held.len()
        ),
    }
}

pub(crate) fn print_run(run: &DayRun) {
    let rejected_files = run
        .ingested
        .iter()
        .filter(|r| r.record.reason.is_some())
        .count();
    let rows_in: u64 = run.ingested.iter().map(|r| r.record.counts.rows_in).sum();
    let rows_rejected: u64 = run
        .ingested
        .iter()
        .map(|r| r.record.counts.rows_rejected)
        .sum();
    println!(
        "{}: {} export files ({} rejected whole), {} rows in, {} rejected; {} lines credited; {} reports published",
        run.date,
        run.ingested.len(),
        rejected_files,
        rows_in,
        rows_rejected,
        run.matched.stats.credited,
        run.published.iter().filter(|p| p.written).count()
    );
    let t = run.timings;
    println!(
        "  ingest {:.2} s ({} MB), match {:.2} s, publish {:.2} s; CPU ingest {:.2} s, match {:.2} s, publish {:.2} s",
        t.ingest.as_secs_f64(),
        t.export_bytes / 1_000_000,
        t.matching.as_secs_f64(),
        t.publish.as_secs_f64(),
        t.ingest_cpu.as_secs_f64(),
        t.matching_cpu.as_secs_f64(),
        t.publish_cpu.as_secs_f64()
    );
    for r in run.ingested.iter().filter(|r| r.record.reason.is_some()) {
        println!(
            "  rejected {}: {}",
            r.record.export_key,
            r.record.reason.as_deref().unwrap_or_default()
        );
    }
    for m in &run.missing_exports {
        println!("  warning: no {m} export for {}", run.date);
    }
    for (brand, why) in &run.matched.held {
        println!("  {brand}: reports held back: {why}");
    }
}
