//! The latest figures of a (note, report date), funnel.md: re-exports replace, never add.
//!
//! Each export's kept rows are summed per (note, date) within that export; the figures of a
//! (note, date) are the sums of the latest export (export date, then key in byte order) holding a
//! kept row for it, as of a cut-off export date (a statement of date X sees the exports a run in
//! date order would have, those dated up to X + lookback).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;

use crate::funnel::NoteFigures;

/// One RED export's kept rows, summed per (note, report date).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedFile {
    pub export_date: NaiveDate,
    pub key: String,
    pub sums: HashMap<(String, NaiveDate), NoteFigures>,
}

impl RedFile {
    pub fn new(
        export_date: NaiveDate,
        key: impl Into<String>,
        rows: impl IntoIterator<Item = (NaiveDate, String, NoteFigures)>,
    ) -> RedFile {
        let mut sums: HashMap<(String, NaiveDate), NoteFigures> = HashMap::new();
        for (date, note, f) in rows {
            sums.entry((note, date)).or_default().add(&f);
        }
        RedFile {
            export_date,
            key: key.into(),
            sums,
        }
    }
}

/// Every export's figures of each (note, date), oldest export first.
#[derive(Debug, Default)]
pub struct RedLatest {
    keys: Vec<String>,
    dates: Vec<NaiveDate>,
    /// (file index, sums), in file order.
    by_note_date: BTreeMap<(String, NaiveDate), Vec<(usize, NoteFigures)>>,
    by_date: BTreeMap<NaiveDate, BTreeSet<String>>,
}

impl RedLatest {
    pub fn new(mut files: Vec<RedFile>) -> RedLatest {
        files.sort_by(|a, b| (a.export_date, &a.key).cmp(&(b.export_date, &b.key)));
        let mut out = RedLatest::default();
        for (i, f) in files.into_iter().enumerate() {
            out.keys.push(f.key);
            out.dates.push(f.export_date);
            for ((note, date), figs) in f.sums {
                out.by_date.entry(date).or_default().insert(note.clone());
                out.by_note_date
                    .entry((note, date))
                    .or_default()
                    .push((i, figs));
            }
        }
        for v in out.by_note_date.values_mut() {
            v.sort_by_key(|(i, _)| *i);
        }
        out
    }

    /// The figures of (note, date) from exports dated up to `cutoff`, and the key of the export
    /// they come from.
    pub fn get(
        &self,
        note: &str,
        date: NaiveDate,
        cutoff: NaiveDate,
    ) -> Option<(&str, &NoteFigures)> {
        let entries = self.by_note_date.get(&(note.to_string(), date))?;
        entries
            .iter()
            .rev()
            .find(|(i, _)| self.dates[*i] <= cutoff)
            .map(|(i, f)| (self.keys[*i].as_str(), f))
    }

    /// The notes with figures on `date` in some export (whatever its date).
    pub fn notes_on(&self, date: NaiveDate) -> impl Iterator<Item = &str> {
        self.by_date
            .get(&date)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// The report dates `note` has figures on in some export.
    pub fn dates_of<'a>(&'a self, note: &str) -> impl Iterator<Item = NaiveDate> + 'a {
        let from = (note.to_string(), NaiveDate::MIN);
        let note = note.to_string();
        self.by_note_date
            .range(from..)
            .take_while(move |((n, _), _)| *n == note)
            .map(|((_, d), _)| *d)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn figs(impressions: u64, spend_fen: i64) -> NoteFigures {
        NoteFigures {
            impressions,
            spend_fen: crate::money::Fen(spend_fen),
            ..NoteFigures::default()
        }
    }

    fn file(export: &str, key: &str, rows: &[(&str, &str, NoteFigures)]) -> RedFile {
        RedFile::new(
            d(export),
            key,
            rows.iter().map(|(date, n, f)| (d(date), n.to_string(), *f)),
        )
    }

    #[test]
    fn rows_of_one_export_add_up_and_a_later_export_replaces_them() {
        let latest = RedLatest::new(vec![
            file(
                "2025-05-27",
                "exports/xhs/2025-05-27/a.csv",
                &[
                    ("2025-05-25", "n1", figs(100, 1000)),
                    ("2025-05-25", "n1", figs(50, 500)),
                    ("2025-05-26", "n1", figs(7, 70)),
                ],
            ),
            file(
                "2025-05-28",
                "exports/xhs/2025-05-28/b.csv",
                &[("2025-05-25", "n1", figs(120, 1200))],
            ),
        ]);
        let day = d("2025-05-25");
        // Before the re-export: one plan's rows summed.
        let (src, f) = latest.get("n1", day, d("2025-05-27")).unwrap();
        assert_eq!((src, *f), ("exports/xhs/2025-05-27/a.csv", figs(150, 1500)));
        // After: replaced, not added.
        let (src, f) = latest.get("n1", day, d("2025-06-30")).unwrap();
        assert_eq!((src, *f), ("exports/xhs/2025-05-28/b.csv", figs(120, 1200)));
        // A date the re-export does not hold keeps the older figures.
        let (src, _) = latest.get("n1", d("2025-05-26"), d("2025-06-30")).unwrap();
        assert_eq!(src, "exports/xhs/2025-05-27/a.csv");
        assert!(latest.get("n1", day, d("2025-05-26")).is_none());
        assert!(latest.get("n2", day, d("2025-06-30")).is_none());
    }

    #[test]
    fn within_one_export_date_the_key_that_sorts_last_wins_whatever_the_order_given() {
        let a = file(
            "2025-05-27",
            "exports/xhs/2025-05-27/x (1).csv",
            &[("2025-05-26", "n", figs(1, 1))],
        );
        let b = file(
            "2025-05-27",
            "exports/xhs/2025-05-27/x.csv",
            &[("2025-05-26", "n", figs(2, 2))],
        );
        for files in [vec![a.clone(), b.clone()], vec![b, a]] {
            let latest = RedLatest::new(files);
            let (src, f) = latest.get("n", d("2025-05-26"), d("2025-05-27")).unwrap();
            // "x.csv" > "x (1).csv" in byte order ('.' 0x2e > ' ' 0x20).
            assert_eq!((src, f.impressions), ("exports/xhs/2025-05-27/x.csv", 2));
        }
    }

    #[test]
    fn notes_and_dates_are_listed_once() {
        let latest = RedLatest::new(vec![
            file(
                "2025-05-27",
                "k1",
                &[
                    ("2025-05-25", "n1", figs(1, 0)),
                    ("2025-05-26", "n1", figs(1, 0)),
                ],
            ),
            file(
                "2025-05-28",
                "k2",
                &[
                    ("2025-05-25", "n1", figs(1, 0)),
                    ("2025-05-25", "n2", figs(1, 0)),
                ],
            ),
        ]);
        assert_eq!(
            latest.notes_on(d("2025-05-25")).collect::<Vec<_>>(),
            ["n1", "n2"]
        );
        assert_eq!(
            latest.dates_of("n1").collect::<Vec<_>>(),
            [d("2025-05-25"), d("2025-05-26")]
        );
        assert_eq!(latest.dates_of("n").count(), 0);
    }
}
