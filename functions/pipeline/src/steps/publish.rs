//! publish-reports: a brand's report for a date as a new version, only when its content changed.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use seedline_core::attribution::ReportInput;
use seedline_core::report::{render_all, Latest, Manifest};
use serde::{Deserialize, Serialize};

use super::{sha256_hex, StepError};
use crate::config::Stores;
use crate::layout;
use crate::store::Precondition;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishOutcome {
    pub brand_id: String,
    pub date: NaiveDate,
    /// The version latest.json points to after this call.
    pub version: u64,
    /// True when this call wrote that version; false when the content was already published.
    pub written: bool,
    pub prefix: String,
}

fn check_brand_id(brand: &str) -> Result<(), StepError> {
    let ok = !brand.is_empty()
        && brand != "."
        && brand != ".."
        && brand
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StepError::BadInput(format!("{brand:?} is not a brand id")))
    }
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

/// Makes `files` the content latest.json points to; returns that version, whether this call
/// moved latest.json, and whether there was a latest.json before. Safe to run twice at once, or again after a crash at any point:
/// - a version is claimed by creating its manifest.json create-only. A claim already there with the
///   same content files is adopted (a crashed run's, or a concurrent twin's), otherwise the next
///   number is tried; so a version's files never change once written;
/// - the content files go next, then latest.json with a compare-and-swap on the ETag read at the
///   start, so it never points to a partial version and never goes back to an older one.
async fn publish_version(
    stores: &Stores,
    input: &ReportInput,
    files: &[seedline_core::report::Rendered],
) -> Result<(u64, bool, bool), StepError> {
    let latest_key = layout::latest_key(&input.brand_id, input.date);
    // Every round of this loop follows a change by another writer; a few are plenty.
    for _ in 0..8 {
        let current = read_latest(stores, &latest_key).await?;
        let mut version = match &current {
            Some((l, _)) if l.same_content(files) => return Ok((l.version, false, true)),
            Some((l, _)) => l.version + 1,
            None => 1,
        };
        let manifest_bytes = loop {
            let prefix = layout::version_prefix(&input.brand_id, input.date, version);
            let key = format!("{prefix}manifest.json");
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let ours = serde_json::to_vec_pretty(&Manifest::new(input, files, version, now))
                .map_err(|e| StepError::BadInput(format!("manifest: {e}")))?;
            if stores
                .reports
                .put_if(&key, ours.clone(), Precondition::Absent)
                .await?
            {
                break ours;
            }
            let theirs = stores.reports.get_bytes(&key).await?.unwrap_or_default();
            if same_files(&theirs, files) {
                break theirs;
            }
            version += 1;
        };
        let prefix = layout::version_prefix(&input.brand_id, input.date, version);
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
            .put_if(&latest_key, pointer_bytes, cond)
            .await?
        {
            return Ok((version, true, current.is_some()));
        }
        // latest.json moved under us: read it again and decide afresh.
        tracing::info!(brand_id = %input.brand_id, report_date = %input.date, version, "latest.json changed during publish; reading it again");
    }
    Err(StepError::BadInput(format!(
        "{latest_key} kept changing while publishing: is another publisher looping?"
    )))
}

/// Whether a stored manifest lists exactly these content files.
fn same_files(manifest: &[u8], files: &[seedline_core::report::Rendered]) -> bool {
    let Ok(m) = serde_json::from_slice::<Manifest>(manifest) else {
        return false;
    };
    m.files.len() == files.len()
        && m.files
            .iter()
            .zip(files)
            .all(|(a, b)| a.name == b.name && a.sha256 == b.sha256())
}

/// Publishes `brand`'s report for `date` from its staged input. Writes v{N+1} only when the content
/// differs from v{N}; every file of the version goes first and latest.json last, in one PUT.
/// Twin invocations and re-runs after a crash end in the same single version (see [`publish_version`]).
pub async fn publish_report(
    stores: &Stores,
    brand: &str,
    date: NaiveDate,
) -> Result<PublishOutcome, StepError> {
    check_brand_id(brand)?;
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
    let input_sha = sha256_hex(&bytes);
    let files = render_all(&input);
    let (version, written, had_latest) = publish_version(stores, &input, &files).await?;
    let prefix = layout::version_prefix(brand, date, version);
    if written {
        tracing::info!(brand_id = brand, report_date = %date, version, "report published");
    } else {
        tracing::info!(brand_id = brand, report_date = %date, version, "content unchanged; no new version");
    }
    // Remember what input is published, so match can tell a changed report without reading it back.
    // One listing finds this report's earlier markers of both layouts (and those of brands whose id
    // starts with this one's, which are left alone). A marker is written only after latest.json, so
    // a report that had none (a first publish, every report of a first day) has no earlier marker.
    let date_prefix = layout::published_prefix(date);
    let marker = layout::published_key(date, brand, &input_sha);
    stores.staging.put(&marker, Vec::new()).await?;
    let earlier = if had_latest {
        stores
            .staging
            .list(&format!("{date_prefix}{brand}"))
            .await?
    } else {
        Vec::new()
    };
    for old in earlier {
        let mine =
            layout::parse_published(&old.key[date_prefix.len()..]).is_some_and(|(b, _)| b == brand);
        if mine && old.key != marker {
            stores.staging.delete(&old.key).await?;
        }
    }
    Ok(PublishOutcome {
        brand_id: brand.to_string(),
        date,
        version,
        written,
        prefix,
    })
}
