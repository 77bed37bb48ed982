//! publish-reports: a brand's report for a date as a new version, only when its content changed.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use seedline_core::attribution::ReportInput;
use seedline_core::report::{render_all, Latest, Manifest};
use serde::{Deserialize, Serialize};

use super::{sha256_hex, StepError};
use crate::config::Stores;
use crate::layout;

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

/// Publishes `brand`'s report for `date` from its staged input. Writes v{N+1} only when the content
/// differs from v{N}; every file of the version goes first and latest.json last, in one PUT.
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
    let input: ReportInput = serde_json::from_slice(&bytes).map_err(|e| {
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
    let latest_key = layout::latest_key(brand, date);
    let latest: Option<Latest> = match stores.reports.get_bytes(&latest_key).await? {
        Some(b) => Some(
            serde_json::from_slice(&b)
                .map_err(|e| StepError::BadInput(format!("{latest_key} is not readable: {e}")))?,
        ),
        None => None,
    };
    let (version, written) = match &latest {
        Some(l) if l.same_content(&files) => (l.version, false),
        Some(l) => (l.version + 1, true),
        None => (1, true),
    };
    let prefix = layout::version_prefix(brand, date, version);
    if written {
        for f in &files {
            stores
                .reports
                .put(&format!("{prefix}{}", f.name), f.bytes.clone())
                .await?;
        }
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let manifest = Manifest::new(&input, &files, version, now);
        let manifest_bytes = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| StepError::BadInput(format!("manifest: {e}")))?;
        let mut sha256: BTreeMap<String, String> = files
            .iter()
            .map(|f| (f.name.to_string(), f.sha256()))
            .collect();
        sha256.insert("manifest.json".into(), sha256_hex(&manifest_bytes));
        stores
            .reports
            .put(&format!("{prefix}manifest.json"), manifest_bytes)
            .await?;
        let pointer = Latest {
            version,
            prefix: prefix.clone(),
            sha256,
        };
        let pointer_bytes =
            serde_json::to_vec_pretty(&pointer).map_err(|e| StepError::BadInput(e.to_string()))?;
        stores.reports.put(&latest_key, pointer_bytes).await?;
        tracing::info!(brand_id = brand, report_date = %date, version, "report published");
    } else {
        tracing::info!(brand_id = brand, report_date = %date, version, "content unchanged; no new version");
    }
    // Remember what input is published, so match can tell a changed report without reading it back.
    let marker_prefix = format!("{}{brand}/", layout::published_prefix(date));
    let marker = layout::published_key(date, brand, &input_sha);
    stores.staging.put(&marker, Vec::new()).await?;
    for old in stores.staging.list(&marker_prefix).await? {
        if old.key != marker {
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
