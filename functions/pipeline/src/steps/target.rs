//! What publish is asked for: a brand's statement of a date, or its to-date report.

use chrono::NaiveDate;
use seedline_core::ids::BrandId;
use serde::{Deserialize, Serialize};

/// One brand's statement of one date.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BrandDate {
    pub brand_id: BrandId,
    pub date: NaiveDate,
}

/// One report to publish, as the publish Lambda and the state machine's lists name it:
/// `{"brand_id", "date"}` for a statement, `{"brand_id", "to_date": true}` for the to-date report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawTarget", into = "RawTarget")]
pub enum Target {
    Statement(BrandDate),
    ToDate { brand_id: BrandId },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    brand_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    to_date: bool,
}

impl TryFrom<RawTarget> for Target {
    type Error = String;
    fn try_from(r: RawTarget) -> Result<Target, String> {
        let brand_id = || BrandId::parse(&r.brand_id).map_err(|e| format!("brand_id: {e}"));
        match (r.date, r.to_date) {
            (Some(date), false) => Ok(Target::Statement(BrandDate {
                brand_id: brand_id()?,
                date,
            })),
            (None, true) => Ok(Target::ToDate {
                brand_id: brand_id()?,
            }),
            (Some(_), true) => Err(format!(
                "brand {}: give a `date` (a statement) or `\"to_date\": true` (the to-date report), not both",
                r.brand_id
            )),
            (None, false) => Err(format!(
                "brand {}: give a `date` (a statement) or `\"to_date\": true` (the to-date report)",
                r.brand_id
            )),
        }
    }
}

impl From<Target> for RawTarget {
    fn from(t: Target) -> RawTarget {
        match t {
            Target::Statement(bd) => RawTarget {
                brand_id: bd.brand_id.into(),
                date: Some(bd.date),
                to_date: false,
            },
            Target::ToDate { brand_id } => RawTarget {
                brand_id: brand_id.into(),
                date: None,
                to_date: true,
            },
        }
    }
}
