//! Object keys: the bucket layout of exports.md and reports.md, and seedline's own staging area.

use chrono::NaiveDate;
use seedline_core::dialect::Dialect;

/// An export object's key, checked: `exports/{taobao|jd|xhs}/{YYYY-MM-DD}/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExportKey {
    pub dialect: Dialect,
    pub date: NaiveDate,
    pub name: String,
}

impl ExportKey {
    pub fn parse(key: &str) -> Result<ExportKey, String> {
        let bad = |why: &str| {
            format!(
                "{key:?} is not an export key (exports/{{taobao|jd|xhs}}/YYYY-MM-DD/NAME): {why}"
            )
        };
        let rest = key
            .strip_prefix("exports/")
            .ok_or_else(|| bad("no exports/ prefix"))?;
        let mut parts = rest.splitn(3, '/');
        let m = parts.next().unwrap_or_default();
        let d = parts.next().unwrap_or_default();
        let name = parts.next().unwrap_or_default();
        let dialect: Dialect = m.parse().map_err(|e: String| bad(&e))?;
        let date = seedline_core::time::parse_date(d).map_err(|e| bad(&e))?;
        if name.is_empty() || name.ends_with('/') {
            return Err(bad("no file name"));
        }
        Ok(ExportKey {
            dialect,
            date,
            name: name.to_string(),
        })
    }

    pub fn key(&self) -> String {
        format!("exports/{}/{}/{}", self.dialect, self.date, self.name)
    }

    fn staged(&self, area: &str, suffix: &str) -> String {
        format!(
            "staging/{area}/{}/{}/{}{suffix}",
            self.dialect, self.date, self.name
        )
    }

    /// A RED note report's kept rows, as CSV.
    pub fn red_key(&self) -> String {
        self.staged("red", RED_SUFFIX)
    }

    /// The export key a staged RED file was made from.
    pub fn from_red_key(key: &str) -> Option<ExportKey> {
        let inner = key.strip_prefix(RED_PREFIX)?.strip_suffix(RED_SUFFIX)?;
        ExportKey::parse(&format!("exports/{inner}")).ok()
    }

    pub fn lines_key(&self) -> String {
        self.staged("lines", LINES_SUFFIX)
    }

    pub fn keys_key(&self) -> String {
        self.staged("keys", KEYS_SUFFIX)
    }

    /// The export key a staged key-file key was made from.
    pub fn from_keys_key(key: &str) -> Option<ExportKey> {
        let inner = key.strip_prefix(KEYS_PREFIX)?.strip_suffix(KEYS_SUFFIX)?;
        ExportKey::parse(&format!("exports/{inner}")).ok()
    }

    /// Where seedline before staging version 2 kept every row of the export.
    pub fn v1_lines_key(&self) -> String {
        self.staged("lines", V1_LINES_SUFFIX)
    }

    /// The export key a version-1 line file was made from.
    pub fn from_v1_lines_key(key: &str) -> Option<ExportKey> {
        let inner = key
            .strip_prefix(LINES_PREFIX)?
            .strip_suffix(V1_LINES_SUFFIX)?;
        ExportKey::parse(&format!("exports/{inner}")).ok()
    }

    pub fn rejects_key(&self) -> String {
        self.staged("rejects", ".rejects.csv")
    }

    pub fn record_key(&self) -> String {
        self.staged("ingest", ".json")
    }

    /// The export key a staged lines key was made from.
    pub fn from_lines_key(key: &str) -> Option<ExportKey> {
        let inner = key.strip_prefix(LINES_PREFIX)?.strip_suffix(LINES_SUFFIX)?;
        ExportKey::parse(&format!("exports/{inner}")).ok()
    }
}

pub const LINES_PREFIX: &str = "staging/lines/";
/// Version 2 of the line file: only rows with a token, in binary (version 1, `.lines.csv`, held
/// every row as CSV).
const LINES_SUFFIX: &str = ".tokens.bin";
const V1_LINES_SUFFIX: &str = ".lines.csv";
/// Every row's key, in row order: written after the line file, so its presence says both are whole.
pub const KEYS_PREFIX: &str = "staging/keys/";
const KEYS_SUFFIX: &str = ".keys.bin";
pub const RUNS_PREFIX: &str = "staging/runs/";
pub const RED_PREFIX: &str = "staging/red/";
const RED_SUFFIX: &str = ".red.csv";

pub fn exports_prefix(m: impl Into<Dialect>, date: NaiveDate) -> String {
    let m = m.into();
    format!("exports/{m}/{date}/")
}

pub fn run_key(date: NaiveDate) -> String {
    format!("{RUNS_PREFIX}{date}.json")
}

/// Written when a whole day (ingest, match, publish) finished: the exports it saw, with their ETags.
pub fn day_done_key(date: NaiveDate) -> String {
    format!("staging/days/{date}.json")
}

pub fn rejects_prefix(m: impl Into<Dialect>, date: NaiveDate) -> String {
    let m = m.into();
    format!("staging/rejects/{m}/{date}/")
}

pub fn ingest_prefix(m: impl Into<Dialect>, date: NaiveDate) -> String {
    let m = m.into();
    format!("staging/ingest/{m}/{date}/")
}

pub fn match_record_key(date: NaiveDate) -> String {
    format!("staging/match/{date}.json")
}

/// The changed reports of a match, as a bare JSON array: what the state machine's publish map reads.
pub fn changed_list_key(date: NaiveDate) -> String {
    format!("staging/match/{date}.changed.json")
}

/// The brands whose to-date report changed, as a bare JSON array.
pub fn to_date_changed_list_key(date: NaiveDate) -> String {
    format!("staging/match/{date}.to-date.json")
}

/// What a brand's to-date report is rendered from, staged by match.
pub fn to_date_input_key(brand: &str) -> String {
    format!("staging/to-date/{brand}.json")
}

pub fn to_date_prefix(brand: &str) -> String {
    format!("reports/{brand}/to-date/")
}

pub fn to_date_version_prefix(brand: &str, version: u64) -> String {
    format!("reports/{brand}/to-date/v{version}/")
}

pub fn to_date_latest_key(brand: &str) -> String {
    format!("reports/{brand}/to-date/latest.json")
}

pub fn report_input_key(date: NaiveDate, brand: &str) -> String {
    format!("staging/attributed/{date}/{brand}.json")
}

pub fn report_prefix(brand: &str, date: NaiveDate) -> String {
    format!("reports/{brand}/{date}/")
}

pub fn version_prefix(brand: &str, date: NaiveDate, version: u64) -> String {
    format!("reports/{brand}/{date}/v{version}/")
}

pub fn latest_key(brand: &str, date: NaiveDate) -> String {
    format!("reports/{brand}/{date}/latest.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_keys_round_trip_through_staging() {
        let k = ExportKey::parse("exports/jd/2025-05-28/pop_orders_20250528_2.csv.gz").unwrap();
        assert_eq!(k.dialect, Dialect::Jd);
        assert_eq!(k.name, "pop_orders_20250528_2.csv.gz");
        assert_eq!(ExportKey::from_lines_key(&k.lines_key()), Some(k.clone()));
        assert_eq!(ExportKey::from_keys_key(&k.keys_key()), Some(k.clone()));
        assert_eq!(
            ExportKey::from_v1_lines_key(&k.v1_lines_key()),
            Some(k.clone())
        );
        assert_eq!(ExportKey::from_v1_lines_key(&k.lines_key()), None);
        assert!(ExportKey::parse("exports/amazon/2025-05-28/a.csv").is_err());
        let red = ExportKey::parse("exports/xhs/2025-05-28/聚光_笔记报表 (1).csv").unwrap();
        assert_eq!(red.dialect, Dialect::Xhs);
        assert_eq!(
            red.red_key(),
            "staging/red/xhs/2025-05-28/聚光_笔记报表 (1).csv.red.csv"
        );
        assert_eq!(ExportKey::from_red_key(&red.red_key()), Some(red.clone()));
        assert_eq!(
            red.record_key(),
            "staging/ingest/xhs/2025-05-28/聚光_笔记报表 (1).csv.json"
        );
        assert!(ExportKey::parse("exports/jd/2025-5-28/a.csv").is_err());
        assert!(ExportKey::parse("exports/jd/2025-05-28/").is_err());
        assert!(ExportKey::parse("other/jd/2025-05-28/a.csv").is_err());
    }
}
