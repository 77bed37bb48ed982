//! The cache boundary: the only state seedline keeps between runs to save time.
//!
//! Contract: a cache may cost time, never change a byte of a report. The one cache is the
//! published markers, `staging/published/{date}/{brand}@{sha256}` and
//! `staging/published/to-date/{brand}@{sha256}`: the SHA-256 of the input a report was last
//! published from. With a marker match skips staging a report whose input is unchanged; without
//! one, publish renders it and the version rule finds that nothing changed. Two markers for one
//! report (a publish interrupted) count as none. When match stages a changed input it deletes the
//! report's markers, so publish only adds one (a missing marker costs a render, never a byte).
//! [`Cache::Off`] reads no marker (which statements exist it reads from the reports) and still
//! writes them, pruning the earlier ones itself, so a later run with the cache on finds them true.
//! The test `a_run_with_every_cache_removed_publishes_the_same_reports` holds runs with and
//! without.

use std::collections::HashMap;

use chrono::{Duration, NaiveDate};

use super::target::BrandDate;
use super::{sha256_hex, StepError};
pub use crate::config::Cache;
use crate::config::Stores;
use crate::layout;
use seedline_core::ids::BrandId;

const PREFIX: &str = "staging/published/";
const TO_DATE_PREFIX: &str = "staging/published/to-date/";

fn date_prefix(date: NaiveDate) -> String {
    format!("{PREFIX}{date}/")
}

/// One directory per date (`@` is in no brand id): a date's markers come in one listing.
fn statement_key(date: NaiveDate, brand: &str, input_sha: &str) -> String {
    format!("{PREFIX}{date}/{brand}@{input_sha}")
}

fn to_date_key(brand: &str, input_sha: &str) -> String {
    format!("{TO_DATE_PREFIX}{brand}@{input_sha}")
}

/// A marker's brand and input hash from the part of its key after the prefix, in either layout
/// (`{brand}@{sha}`, or an earlier seedline's `{brand}/{sha}`, read and replaced on next publish).
fn parse_marker(rest: &str) -> Option<(&str, &str)> {
    let (brand, sha) = match rest.split_once('@') {
        Some(parts) => parts,
        None => rest.split_once('/')?,
    };
    (!brand.is_empty() && !brand.contains('/') && !sha.is_empty() && !sha.contains('/'))
        .then_some((brand, sha))
}

/// What the markers say was published, read once by match.
#[derive(Debug, Default)]
pub(super) struct Published {
    statements: HashMap<BrandDate, Vec<Marker>>,
    to_date: HashMap<String, Vec<Marker>>,
}

/// One marker as listed: the input hash it names, and its key (to delete it by).
#[derive(Debug)]
struct Marker {
    sha: String,
    key: String,
}

impl Marker {
    fn new(sha: &str, key: &str) -> Marker {
        Marker {
            sha: sha.to_string(),
            key: key.to_string(),
        }
    }
}

impl Published {
    /// The markers of the statements of `from ..= to` and of every to-date report. With the cache
    /// off, no marker: which of `brands`' statements exist is read from the reports themselves
    /// (their latest.json), and none counts as published from any input.
    pub(super) async fn load(
        stores: &Stores,
        from: NaiveDate,
        to: NaiveDate,
        brands: &[&BrandId],
    ) -> Result<Published, StepError> {
        let mut p = Published::default();
        let mut d = from;
        while d <= to {
            if stores.cache == Cache::Off {
                for &brand_id in brands {
                    if stores
                        .reports
                        .head(&layout::latest_key(brand_id, d))
                        .await?
                        .is_some()
                    {
                        let bd = BrandDate {
                            brand_id: brand_id.clone(),
                            date: d,
                        };
                        p.statements.insert(bd, Vec::new());
                    }
                }
            } else {
                let prefix = date_prefix(d);
                for o in stores.staging.list(&prefix).await? {
                    // A marker whose brand the id rule refuses marks nothing publish could write.
                    let Some((Ok(brand_id), sha)) = parse_marker(&o.key[prefix.len()..])
                        .map(|(brand, sha)| (BrandId::parse(brand), sha))
                    else {
                        continue;
                    };
                    let bd = BrandDate { brand_id, date: d };
                    p.statements
                        .entry(bd)
                        .or_default()
                        .push(Marker::new(sha, &o.key));
                }
            }
            d += Duration::days(1);
        }
        if stores.cache == Cache::On {
            for o in stores.staging.list(TO_DATE_PREFIX).await? {
                if let Some((brand, sha)) = parse_marker(&o.key[TO_DATE_PREFIX.len()..]) {
                    p.to_date
                        .entry(brand.to_string())
                        .or_default()
                        .push(Marker::new(sha, &o.key));
                }
            }
        }
        Ok(p)
    }

    /// Whether this input is the one `target`'s statement was published from.
    pub(super) fn has_statement(&self, target: &BrandDate, input: &[u8]) -> bool {
        only(self.statements.get(target), input)
    }

    /// Whether this input is the one `brand`'s to-date report was published from.
    pub(super) fn has_to_date(&self, brand: &str, input: &[u8]) -> bool {
        only(self.to_date.get(brand), input)
    }

    /// The keys of `target`'s markers: match deletes them when it stages a changed input.
    pub(super) fn statement_markers(&self, target: &BrandDate) -> impl Iterator<Item = &str> {
        keys(self.statements.get(target))
    }

    /// The keys of `brand`'s to-date markers, as [`Published::statement_markers`].
    pub(super) fn to_date_markers(&self, brand: &str) -> impl Iterator<Item = &str> {
        keys(self.to_date.get(brand))
    }

    /// The statements of `date` known to be published.
    pub(super) fn statements_of(&self, date: NaiveDate) -> impl Iterator<Item = &BrandDate> {
        self.statements.keys().filter(move |bd| bd.date == date)
    }

    pub(super) fn len(&self) -> usize {
        self.statements.len()
    }
}

fn keys(markers: Option<&Vec<Marker>>) -> impl Iterator<Item = &str> {
    markers.into_iter().flatten().map(|m| m.key.as_str())
}

/// Exactly one marker, with this input's hash: two mean a publish was interrupted (and none, a
/// statement known from the reports alone).
fn only(markers: Option<&Vec<Marker>>, input: &[u8]) -> bool {
    markers.is_some_and(|m| m.len() == 1 && m[0].sha == sha256_hex(input))
}

/// Which report a marker is for.
pub(super) enum Marked {
    Statement(NaiveDate),
    ToDate,
}

/// Marks `input` as the one `brand`'s report is published from. With the cache on, match deleted
/// the report's earlier markers when it staged the input; with it off, match read none, and the
/// brand's earlier markers of that report are found by one listing and deleted here (those of
/// brands whose id starts with this one's are left alone). A first publish (`had_latest` false)
/// has no earlier marker: markers are written only after latest.json.
pub(super) async fn mark(
    stores: &Stores,
    report: Marked,
    brand: &str,
    input: &[u8],
    had_latest: bool,
) -> Result<(), StepError> {
    let staging = stores.staging.as_ref();
    let sha = sha256_hex(input);
    let (prefix, marker) = match report {
        Marked::Statement(d) => (date_prefix(d), statement_key(d, brand, &sha)),
        Marked::ToDate => (TO_DATE_PREFIX.to_string(), to_date_key(brand, &sha)),
    };
    staging.put(&marker, Vec::new()).await?;
    if !had_latest || stores.cache == Cache::On {
        return Ok(());
    }
    for old in staging.list(&format!("{prefix}{brand}")).await? {
        let mine = parse_marker(&old.key[prefix.len()..]).is_some_and(|(b, _)| b == brand);
        if mine && old.key != marker {
            staging.delete(&old.key).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_read_in_both_layouts() {
        let d = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
        let key = statement_key(d, "b-01", "ab12");
        let rest = key.strip_prefix(&date_prefix(d)).unwrap();
        assert_eq!(rest, "b-01@ab12");
        assert_eq!(parse_marker(rest), Some(("b-01", "ab12")));
        assert_eq!(parse_marker("b.x_1/ab12"), Some(("b.x_1", "ab12")));
        for bad in ["b-01", "@ab", "b-01@", "b-01/", "b/c/ab", "b-01@a/b"] {
            assert_eq!(parse_marker(bad), None, "{bad}");
        }
    }

    #[test]
    fn one_marker_with_the_input_hash_is_published_two_are_not() {
        let bd = BrandDate {
            brand_id: BrandId::parse("b-01").unwrap(),
            date: NaiveDate::from_ymd_opt(2025, 6, 1).unwrap(),
        };
        let mut p = Published::default();
        assert!(!p.has_statement(&bd, b"input"));
        let marker = |input: &[u8]| Marker::new(&sha256_hex(input), "k");
        p.statements.insert(bd.clone(), vec![marker(b"input")]);
        assert!(p.has_statement(&bd, b"input"));
        assert!(!p.has_statement(&bd, b"other"));
        p.statements.get_mut(&bd).unwrap().push(marker(b"other"));
        assert!(!p.has_statement(&bd, b"input"));
        assert_eq!(p.statement_markers(&bd).count(), 2);
        assert!(!p.has_to_date("b-01", b"input"));
    }

    #[test]
    fn the_cache_switch_reads_on_or_off_only() {
        // One test owns the variable: tests run in parallel threads.
        std::env::set_var("SEEDLINE_CACHE", "off");
        assert_eq!(Cache::from_env().unwrap(), Cache::Off);
        std::env::set_var("SEEDLINE_CACHE", "no");
        assert!(Cache::from_env()
            .unwrap_err()
            .to_string()
            .contains("expected"));
        std::env::remove_var("SEEDLINE_CACHE");
        assert_eq!(Cache::from_env().unwrap(), Cache::On);
    }
}
