//! publish-reports: a brand's statement of a date, or its to-date report, as a new version only
//! when one of its CSV files changed.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use seedline_core::attribution::ReportInput;
use seedline_core::ids::BrandId;
use seedline_core::report::{
    About, Kind, Latest, Manifest, ManifestCampaign, ManifestInputs, Rendered,
};
use seedline_core::statement::{self, Rows};
use seedline_core::to_date::ToDateInput;
use serde::{Deserialize, Serialize};

use super::cache::{self, Marked};
pub use super::target::{BrandDate, Target};
use super::{sha256_hex, StepError};
use crate::config::Stores;
use crate::layout;
use crate::store::Precondition;

/// Publishes one target: a statement or a to-date report.
pub async fn publish(stores: &Stores, target: &Target) -> Result<PublishOutcome, StepError> {
    match target {
        Target::Statement(bd) => publish_report(stores, &bd.brand_id, bd.date).await,
        Target::ToDate { brand_id } => publish_to_date(stores, brand_id).await,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishOutcome {
    pub kind: Kind,
    pub brand_id: String,
    /// The statement's report date, or the to-date report's `as_of`.
    pub date: NaiveDate,
    /// The version latest.json points to after this call.
    pub version: u64,
    /// True when this call wrote that version; false when the content was already published.
    pub written: bool,
    pub prefix: String,
}

/// The current latest.json with its ETag, if any.
async fn read_latest(stores: &Stores, key: &str) -> Result<Option<(Latest, String)>, StepError> {
    let Some((bytes, etag)) = stores.reports.get_bytes_etag(key).await? else {
        return Ok(None);
    };
    let latest = serde_json::from_slice(&bytes)
        .map_err(|e| StepError::BadInput(format!("{key} is not readable: {e}")))?;
    Ok(Some((latest, etag)))
}

/// Which report a publish writes: where its pointer and versions live.
struct Destination<'a> {
    about: About,
    latest_key: String,
    prefix_of: &'a (dyn Fn(u64) -> String + Sync),
}

/// The data files changes.csv compares, read from the version latest.json points to.
async fn previous_files(
    stores: &Stores,
    latest: &Latest,
) -> Result<BTreeMap<String, Vec<u8>>, StepError> {
    let mut out = BTreeMap::new();
    for name in ["campaigns.csv", "orders.csv", "funnel.csv"] {
        if !latest.sha256.contains_key(name) {
            continue;
        }
        if let Some(b) = stores
            .reports
            .get_bytes(&format!("{}{name}", latest.prefix))
            .await?
        {
            out.insert(name.to_string(), b);
        }
    }
    Ok(out)
}

/// The files that follow the data files: built once the version superseded (its number and its
/// data files) is known, or with `None` for a first version.
type Follow<'a> = dyn Fn(Option<(u64, &BTreeMap<String, Vec<u8>>)>) -> Vec<Rendered> + Sync + 'a;

/// Makes `csvs` the content latest.json points to; returns that version, whether this call moved
/// latest.json, and whether there was a latest.json before. Safe to run twice at once, or again
/// after a crash at any point:
/// - a version is claimed by creating its manifest.json create-only. A claim already there with the
///   same files is adopted (a crashed run's, or a concurrent twin's), otherwise the next number is
///   tried; so a version's files never change once written;
/// - the files go next, then latest.json with a compare-and-swap on the ETag read at the start, so
///   it never points to a partial version and never goes back to an older one.
async fn publish_version(
    stores: &Stores,
    target: &Destination<'_>,
    csvs: Vec<Rendered>,
    follow: &Follow<'_>,
) -> Result<(u64, bool, bool), StepError> {
    // Every round of this loop follows a change by another writer; a few are plenty.
    for _ in 0..8 {
        let current = read_latest(stores, &target.latest_key).await?;
        let (mut version, files) = match &current {
            Some((l, _)) if l.same_content(&csvs) => return Ok((l.version, false, true)),
            Some((l, _)) => {
                let old = previous_files(stores, l).await?;
                (l.version + 1, follow(Some((l.version, &old))))
            }
            None => (1, follow(None)),
        };
        let files: Vec<Rendered> = csvs.iter().cloned().chain(files).collect();
        let supersedes = current.as_ref().map(|(l, _)| l.version);
        let manifest_bytes = loop {
            let key = format!("{}manifest.json", (target.prefix_of)(version));
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let mut manifest = Manifest::new(&target.about, &files, version, now);
            manifest.supersedes = supersedes;
            let ours = serde_json::to_vec_pretty(&manifest)
                .map_err(|e| StepError::BadInput(format!("manifest: {e}")))?;
            if stores
                .reports
                .put_if(&key, ours.clone(), Precondition::Absent)
                .await?
            {
                break ours;
            }
            let theirs = stores.reports.get_bytes(&key).await?.unwrap_or_default();
            if same_files(&theirs, &files) {
                break theirs;
            }
            version += 1;
        };
        let prefix = (target.prefix_of)(version);
        stores
            .reports
            .put_all(
                files
                    .iter()
                    .map(|f| (format!("{prefix}{}", f.name), f.bytes.clone()))
                    .collect(),
            )
            .await?;
        let mut sha256: BTreeMap<String, String> = files
            .iter()
            .map(|f| (f.name.to_string(), f.sha256().to_string()))
            .collect();
        sha256.insert("manifest.json".into(), sha256_hex(&manifest_bytes));
        let pointer = Latest {
            version,
            prefix,
            sha256,
        };
        let pointer_bytes =
            serde_json::to_vec_pretty(&pointer).map_err(|e| StepError::BadInput(e.to_string()))?;
        let cond = match &current {
            Some((_, etag)) => Precondition::Etag(etag),
            None => Precondition::Absent,
        };
        if stores
            .reports
            .put_if(&target.latest_key, pointer_bytes, cond)
            .await?
        {
            return Ok((version, true, current.is_some()));
        }
        // latest.json moved under us: read it again and decide afresh.
        tracing::info!(brand_id = %target.about.brand_id, report_date = %target.about.date, version, "latest.json changed during publish; reading it again");
    }
    Err(StepError::BadInput(format!(
        "{} kept changing while publishing: is another publisher looping?",
        target.latest_key
    )))
}

/// Whether a stored manifest lists exactly these content files.
fn same_files(manifest: &[u8], files: &[Rendered]) -> bool {
    let Ok(m) = serde_json::from_slice::<Manifest>(manifest) else {
        return false;
    };
    m.files.len() == files.len()
        && m.files
            .iter()
            .zip(files)
            .all(|(a, b)| a.name == b.name && a.sha256 == b.sha256())
}

fn inputs_of(
    exports: &[seedline_core::attribution::ExportRef],
    campaigns: &[seedline_core::attribution::CampaignInfo],
) -> ManifestInputs {
    ManifestInputs {
        exports: exports.to_vec(),
        campaigns: campaigns
            .iter()
            .map(|c| ManifestCampaign {
                campaign_id: c.campaign_id.clone(),
                version: c.version.clone(),
            })
            .collect(),
    }
}

/// Publishes `brand`'s statement of `date` from its staged input. Writes v{N+1} only when a CSV
/// file differs from v{N}'s, with changes.csv saying what moved; every file of the version goes
/// first and latest.json last, in one PUT. Twin invocations and re-runs after a crash end in the
/// same single version (see [`publish_version`]).
pub async fn publish_report(
    stores: &Stores,
    brand: &BrandId,
    date: NaiveDate,
) -> Result<PublishOutcome, StepError> {
    let brand = brand.as_str();
    let input_key = layout::report_input_key(date, brand);
    let bytes = stores.staging.get_bytes(&input_key).await?.ok_or_else(|| {
        StepError::BadInput(format!(
            "nothing staged for brand {brand} on {date} ({input_key}): run match-orders first"
        ))
    })?;
    let input: ReportInput =
        seedline_core::attribution::codec::decode_input(&bytes).map_err(|e| {
            StepError::BadInput(format!("{input_key} does not read as a report input: {e}"))
        })?;
    if input.brand_id != brand || input.date != date {
        return Err(StepError::BadInput(format!(
            "{input_key} holds brand {} on {}",
            input.brand_id, input.date
        )));
    }
    let rows = Rows::of(&input);
    let csvs = statement::render_csvs(&input, &rows);
    let sources = statement::sources(&input);
    let follow = |prev: Option<(u64, &BTreeMap<String, Vec<u8>>)>| match prev {
        None => vec![seedline_core::html::render_statement(
            &input,
            &rows,
            &[],
            None,
        )],
        Some((v, old)) => {
            let changes = seedline_core::changes::diff(old, &csvs, &sources);
            vec![
                seedline_core::changes::render(&changes),
                seedline_core::html::render_statement(&input, &rows, &changes, Some(v)),
            ]
        }
    };
    let prefix_of = |v: u64| layout::version_prefix(brand, date, v);
    let target = Destination {
        about: About {
            kind: Kind::Statement,
            brand_id: brand.to_string(),
            date,
            inputs: inputs_of(&input.exports, &input.campaigns),
        },
        latest_key: layout::latest_key(brand, date),
        prefix_of: &prefix_of,
    };
    let (version, written, had_latest) =
        publish_version(stores, &target, csvs.clone(), &follow).await?;
    if written {
        tracing::info!(brand_id = brand, report_date = %date, version, "statement published");
    } else {
        tracing::info!(brand_id = brand, report_date = %date, version, "statement unchanged; no new version");
    }
    // Remember what input is published, so match can tell a changed statement without reading it back.
    cache::mark(stores, Marked::Statement(date), brand, &bytes, had_latest).await?;
    Ok(PublishOutcome {
        kind: Kind::Statement,
        brand_id: brand.to_string(),
        date,
        version,
        written,
        prefix: layout::version_prefix(brand, date, version),
    })
}

/// Publishes `brand`'s to-date report from its staged input, as [`publish_report`] does a statement.
pub async fn publish_to_date(
    stores: &Stores,
    brand: &BrandId,
) -> Result<PublishOutcome, StepError> {
    let brand = brand.as_str();
    let input_key = layout::to_date_input_key(brand);
    let bytes = stores.staging.get_bytes(&input_key).await?.ok_or_else(|| {
        StepError::BadInput(format!(
            "no to-date report staged for brand {brand} ({input_key}): run match-orders first"
        ))
    })?;
    let input: ToDateInput = serde_json::from_slice(&bytes).map_err(|e| {
        StepError::BadInput(format!("{input_key} does not read as a to-date input: {e}"))
    })?;
    if input.brand_id != brand {
        return Err(StepError::BadInput(format!(
            "{input_key} holds brand {}",
            input.brand_id
        )));
    }
    let csvs = seedline_core::to_date::render_csvs(&input);
    let follow = |_: Option<(u64, &BTreeMap<String, Vec<u8>>)>| {
        vec![seedline_core::to_date_page::render(&input)]
    };
    let prefix_of = |v: u64| layout::to_date_version_prefix(brand, v);
    let target = Destination {
        about: About {
            kind: Kind::ToDate,
            brand_id: brand.to_string(),
            date: input.as_of,
            inputs: inputs_of(&input.exports, &input.campaigns),
        },
        latest_key: layout::to_date_latest_key(brand),
        prefix_of: &prefix_of,
    };
    let (version, written, had_latest) = publish_version(stores, &target, csvs, &follow).await?;
    tracing::info!(brand_id = brand, as_of = %input.as_of, version, written, "to-date report published");
    cache::mark(stores, Marked::ToDate, brand, &bytes, had_latest).await?;
    Ok(PublishOutcome {
        kind: Kind::ToDate,
        brand_id: brand.to_string(),
        date: input.as_of,
        version,
        written,
        prefix: layout::to_date_version_prefix(brand, version),
    })
}
