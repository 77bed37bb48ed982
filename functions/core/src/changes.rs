//! changes.csv (reports.md): what a statement's new version changed against the one it
//! supersedes, row by row and cell by cell, with the export that caused it.

use std::collections::BTreeMap;

use crate::report::{Rendered, ReportCsv};

pub const CHANGES_HEADER: [&str; 7] = [
    "file", "change", "key", "field", "before", "after", "source",
];

/// The files changes.csv compares, with the columns that make a row's key.
const TABLES: [(&str, &str, [&str; 2]); 3] = [
    ("campaigns", "campaigns.csv", ["campaign_id", "marketplace"]),
    ("funnel", "funnel.csv", ["campaign_id", "note_id"]),
    ("orders", "orders.csv", ["marketplace", "line_id"]),
];

/// Where the figures of the new version's rows come from, by key: an orders row's line's latest
/// state (`{marketplace}/{line_id}`), a funnel row's RED report (`{campaign_id}/{note_id}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    pub orders: BTreeMap<String, String>,
    pub funnel: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Changed => "changed",
        }
    }
}

/// One row of changes.csv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub file: &'static str,
    pub change: ChangeKind,
    pub key: String,
    pub field: String,
    pub before: String,
    pub after: String,
    pub source: String,
}

/// A CSV file of ours read back: its header and its rows by key (cells as written, a record's
/// cells in one buffer).
struct Table {
    header: Vec<String>,
    rows: BTreeMap<String, csv::StringRecord>,
}

/// A cell as the id it was written from: without the formula guard's `'`.
fn unguarded(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => cell,
    }
}

fn read_table(bytes: &[u8], key_cols: [&str; 2]) -> Option<Table> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut r = csv::ReaderBuilder::new().flexible(true).from_reader(body);
    let header: Vec<String> = r.headers().ok()?.iter().map(String::from).collect();
    let at = |name: &str| header.iter().position(|h| h == name);
    let (a, b) = (at(key_cols[0])?, at(key_cols[1])?);
    let mut rows = BTreeMap::new();
    for rec in r.records() {
        let cells = rec.ok()?;
        let key = format!("{}/{}", unguarded(cells.get(a)?), unguarded(cells.get(b)?));
        rows.insert(key, cells);
    }
    Some(Table { header, rows })
}

/// The changes from the files of the version superseded (`old`, by file name; a file it did not
/// have, as in the older layout, counts as empty) to the data files of the new one.
pub fn diff(old: &BTreeMap<String, Vec<u8>>, new: &[Rendered], sources: &Sources) -> Vec<Change> {
    let mut out = Vec::new();
    for (file, name, key_cols) in TABLES {
        let rendered = new.iter().find(|f| f.name == name);
        let previous = old.get(name);
        // A file that did not change has no changes (most files of a restated statement).
        if rendered.zip(previous).is_some_and(|(n, o)| n.bytes == *o) {
            continue;
        }
        let Some(now) = rendered.and_then(|f| read_table(&f.bytes, key_cols)) else {
            continue;
        };
        let before = previous.and_then(|b| read_table(b, key_cols));
        let empty = BTreeMap::new();
        let before_rows = before.as_ref().map_or(&empty, |t| &t.rows);
        let source_of = |key: &str| -> String {
            let map = match file {
                "orders" => &sources.orders,
                "funnel" => &sources.funnel,
                _ => return String::new(),
            };
            map.get(key).cloned().unwrap_or_default()
        };
        let change = |change, key: &str, field: &str, b: &str, a: &str, source: String| Change {
            file,
            change,
            key: key.to_string(),
            field: field.to_string(),
            before: b.to_string(),
            after: a.to_string(),
            source,
        };
        for (key, cells) in &now.rows {
            match before_rows.get(key) {
                None => out.push(change(ChangeKind::Added, key, "", "", "", source_of(key))),
                Some(old_cells) => {
                    let old_header = before.as_ref().map_or(&now.header, |t| &t.header);
                    for (i, field) in now.header.iter().enumerate() {
                        let a = cells.get(i).unwrap_or("");
                        let b = old_header
                            .iter()
                            .position(|h| h == field)
                            .and_then(|j| old_cells.get(j))
                            .unwrap_or("");
                        if a != b {
                            out.push(change(
                                ChangeKind::Changed,
                                key,
                                field,
                                b,
                                a,
                                source_of(key),
                            ));
                        }
                    }
                }
            }
        }
        for key in before_rows.keys() {
            if !now.rows.contains_key(key) {
                out.push(change(ChangeKind::Removed, key, "", "", "", String::new()));
            }
        }
    }
    out.sort_by(|x, y| (x.file, &x.key, &x.field).cmp(&(y.file, &y.key, &y.field)));
    out
}

/// changes.csv. `before` and `after` are the cells exactly as the two versions wrote them (a text
/// cell that needed the formula guard already carries it); key and source are guarded as text.
pub fn render(changes: &[Change]) -> Rendered {
    let mut out = ReportCsv::new(&CHANGES_HEADER);
    for c in changes {
        out.row(&[
            (c.file, false),
            (c.change.as_str(), false),
            (&c.key, true),
            (&c.field, false),
            (&c.before, false),
            (&c.after, false),
            (&c.source, true),
        ]);
    }
    out.finish("changes.csv")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(name: &'static str, text: &str) -> Rendered {
        let body = format!("\u{feff}{}", text.replace('\n', "\r\n"));
        Rendered::new(name, body.into_bytes(), 0)
    }

    fn old(files: &[Rendered]) -> BTreeMap<String, Vec<u8>> {
        files
            .iter()
            .map(|f| (f.name.to_string(), f.bytes.clone()))
            .collect()
    }

    const ORDERS: &str = "marketplace,line_id,net,title\n";

    #[test]
    fn every_kind_of_change_with_its_source_sorted_by_file_key_and_field() {
        let v1 = [
            csv(
                "orders.csv",
                &format!("{ORDERS}jd,o1/1,10.00,a\njd,o2/1,5.00,b\ntaobao,L9,1.00,x\n"),
            ),
            csv(
                "campaigns.csv",
                "campaign_id,marketplace,net_gmv\nc1,jd,15.00\n",
            ),
        ];
        let v2 = [
            csv(
                "orders.csv",
                &format!("{ORDERS}jd,o1/1,0.00,a2\njd,o3/1,7.00,c\ntaobao,L9,1.00,x\n"),
            ),
            csv(
                "campaigns.csv",
                "campaign_id,marketplace,net_gmv\nc1,jd,7.00\n",
            ),
        ];
        let mut sources = Sources::default();
        sources
            .orders
            .insert("jd/o1/1".into(), "exports/jd/2025-05-29/refunds.csv".into());
        sources
            .orders
            .insert("jd/o3/1".into(), "exports/jd/2025-05-29/a.csv".into());
        let got: Vec<String> = diff(&old(&v1), &v2, &sources)
            .iter()
            .map(|c| {
                [
                    c.file,
                    c.change.as_str(),
                    &c.key,
                    &c.field,
                    &c.before,
                    &c.after,
                    &c.source,
                ]
                .join("|")
            })
            .collect();
        assert_eq!(
            got,
            [
                "campaigns|changed|c1/jd|net_gmv|15.00|7.00|",
                "orders|changed|jd/o1/1|net|10.00|0.00|exports/jd/2025-05-29/refunds.csv",
                "orders|changed|jd/o1/1|title|a|a2|exports/jd/2025-05-29/refunds.csv",
                "orders|removed|jd/o2/1||||",
                "orders|added|jd/o3/1||||exports/jd/2025-05-29/a.csv",
            ]
        );
    }

    #[test]
    fn a_funnel_file_the_older_layout_lacked_is_all_added_and_old_only_columns_are_ignored() {
        let v1 = [csv(
            "campaigns.csv",
            "campaign_id,marketplace,net_gmv,ctd_roas\nc1,jd,1.00,2.00\n",
        )];
        let v2 = [
            csv(
                "campaigns.csv",
                "campaign_id,marketplace,net_gmv\nc1,jd,1.00\n",
            ),
            csv("funnel.csv", "campaign_id,note_id,orders\nc1,n1,1\n"),
        ];
        let mut sources = Sources::default();
        sources
            .funnel
            .insert("c1/n1".into(), "exports/xhs/2025-05-29/r.csv".into());
        let got = diff(&old(&v1), &v2, &sources);
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].file, got[0].change, got[0].key.as_str()),
            ("funnel", ChangeKind::Added, "c1/n1")
        );
        assert_eq!(got[0].source, "exports/xhs/2025-05-29/r.csv");
    }

    #[test]
    fn keys_are_the_ids_without_the_formula_guard_and_the_file_is_guarded() {
        let v1 = [csv(
            "campaigns.csv",
            "campaign_id,marketplace,net_gmv\n'-c,jd,1.00\n",
        )];
        let v2 = [csv(
            "campaigns.csv",
            "campaign_id,marketplace,net_gmv\n'-c,jd,-2.00\n",
        )];
        let got = diff(&old(&v1), &v2, &Sources::default());
        assert_eq!(got[0].key, "-c/jd");
        assert_eq!(got[0].after, "-2.00");
        let text = String::from_utf8(render(&got).bytes).unwrap();
        assert_eq!(
            text,
            "\u{feff}file,change,key,field,before,after,source\r\ncampaigns,changed,'-c/jd,net_gmv,1.00,-2.00,\r\n"
        );
    }

    #[test]
    fn identical_versions_have_no_changes() {
        let v = [csv("orders.csv", &format!("{ORDERS}jd,o1/1,10.00,a\n"))];
        assert!(diff(&old(&v), &v, &Sources::default()).is_empty());
    }
}
