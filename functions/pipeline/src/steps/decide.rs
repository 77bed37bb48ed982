//! Pass two of match: the rows that are a latest state, decided by a worker per core, their
//! credited lines spilled to disk by brand.

use std::sync::Arc;

use chrono::NaiveDate;
use seedline_core::attribution::{report_date, Attribution};
use seedline_core::catalog::Catalog;
use seedline_core::line::{decode_staged_into, read_staged_rows, StagedReadError};
use seedline_core::wire::{put_record, take_record};
use tokio::runtime::Handle;

use super::latest::Latest;
use super::spill::Spill;
use super::{vanished, StepError};
use crate::store::{ObjectStore, StoreError};

/// What one evaluation of report dates decides: the latest states its dates see, and those dates.
pub(super) struct View<'a> {
    pub latest: &'a Latest,
    pub dates: &'a [NaiveDate],
}

/// What a view decided: its workers' attributions merged, and their spills.
pub(super) type Decided<'c> = (Attribution<'c>, Vec<Spill>);

/// Pass two's deciding, for every view in one read of the line files: the rows that are a latest
/// state of some view are read on this thread and handed in batches to a worker per core, each
/// deciding with an attribution of its own per view and writing the credited lines of the view's
/// dates to its spill. With `count_all`, the last view (it sees every file) decides all its rows, so
/// that its counts are the run's; the others decide only the rows of their dates.
pub(super) fn decide<'c>(
    handle: &Handle,
    staging: &Arc<dyn ObjectStore>,
    views: &[View<'_>],
    catalog: &'c Catalog,
    count_all: bool,
) -> Result<Vec<Decided<'c>>, StepError> {
    /// Length-prefixed line records of one file, and their rows in it.
    struct Batch {
        file: usize,
        rows: Vec<u32>,
        records: Vec<u8>,
    }
    let Some(all) = views.last() else {
        return Ok(Vec::new());
    };
    let counted = if count_all {
        views.len() - 1
    } else {
        usize::MAX
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut spills = (0..workers)
        .map(|_| {
            views
                .iter()
                .map(|_| Spill::new())
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(workers * 2);
    // Shared by the workers and dropped with the last of them, so that the reader is never left
    // waiting on workers that stopped.
    let rx = Arc::new(std::sync::Mutex::new(rx));
    let merged = std::thread::scope(|scope| {
        let handles: Vec<_> = spills
            .iter_mut()
            .map(|spills| {
                let rx = Arc::clone(&rx);
                scope.spawn(move || -> Result<Vec<Attribution<'c>>, StepError> {
                    let mut attrs: Vec<Attribution<'c>> = views
                        .iter()
                        .map(|v| Attribution::new(catalog, v.dates.iter().copied()))
                        .collect();
                    let mut line = seedline_core::line::OrderLine::blank(
                        seedline_core::line::Marketplace::Taobao,
                    );
                    loop {
                        let next = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => break,
                        };
                        let Ok(batch) = next else { break };
                        let s = &all.latest.staged[batch.file];
                        let mut rest = &batch.records[..];
                        for row in &batch.rows {
                            let Some(body) = take_record(&mut rest) else {
                                break;
                            };
                            decode_staged_into(body, &mut line).map_err(|e| {
                                StoreError::Invalid(format!("{}: {e}", s.export.lines_key()))
                            })?;
                            let date = report_date(&line);
                            let views = views.iter().zip(attrs.iter_mut().zip(spills.iter_mut()));
                            for (i, (v, (a, spill))) in views.enumerate() {
                                if !v.latest.is_wanted(batch.file, *row as usize)
                                    || (i != counted && !date.is_some_and(|d| a.keeps(d)))
                                {
                                    continue;
                                }
                                if let Some(k) = a.decide(&line, &s.source) {
                                    spill.write(&k).map_err(|e| {
                                        StepError::io("writing spill files", true, e)
                                    })?;
                                }
                            }
                        }
                    }
                    for spill in spills.iter_mut() {
                        spill.finish()?;
                    }
                    Ok(attrs)
                })
            })
            .collect();
        drop(rx);
        let read = read_wanted_rows(handle, staging, views, |file, rows, records| {
            tx.send(Batch {
                file,
                rows,
                records,
            })
            .is_ok()
        });
        drop(tx);
        let mut merged: Option<Vec<Attribution<'c>>> = None;
        let mut failed = None;
        for h in handles {
            match h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)) {
                Ok(attrs) => match &mut merged {
                    Some(m) => m.iter_mut().zip(attrs).for_each(|(m, a)| m.merge(a)),
                    None => merged = Some(attrs),
                },
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        // A worker's error explains a reader that stopped sending.
        if let Some(e) = failed {
            return Err(e);
        }
        read?;
        Ok(merged.unwrap_or_else(|| {
            views
                .iter()
                .map(|v| Attribution::new(catalog, v.dates.iter().copied()))
                .collect()
        }))
    })?;
    // Each view's spills, one per worker.
    let mut by_view: Vec<Vec<Spill>> = views.iter().map(|_| Vec::new()).collect();
    for worker in spills {
        for (mine, s) in by_view.iter_mut().zip(worker) {
            mine.push(s);
        }
    }
    Ok(merged.into_iter().zip(by_view).collect())
}

/// Reads every staged line file with a latest state of some view in it and hands those rows to
/// `send` in batches of length-prefixed records, with their rows; stops when `send` says no one
/// listens.
fn read_wanted_rows(
    handle: &Handle,
    staging: &Arc<dyn ObjectStore>,
    views: &[View<'_>],
    send: impl Fn(usize, Vec<u32>, Vec<u8>) -> bool,
) -> Result<(), StepError> {
    const BATCH_BYTES: usize = 256 << 10;
    let Some(all) = views.last() else {
        return Ok(());
    };
    for (f, s) in all.latest.staged.iter().enumerate() {
        let wants_any = views.iter().any(|v| {
            v.latest
                .wanted
                .get(f)
                .is_some_and(|w| w.iter().any(|w| *w != 0))
        });
        if !wants_any {
            continue;
        }
        let key = s.export.lines_key();
        let obj = handle
            .block_on(staging.get(&key))?
            .ok_or_else(|| vanished(&key))?;
        let reader = crate::store::blocking_reader(obj.body, handle.clone());
        let mut rows = 0u64;
        let mut records = Vec::with_capacity(BATCH_BYTES + 4096);
        let mut indices = Vec::new();
        let source = read_staged_rows(reader, |row| {
            rows += 1;
            let index = row.index() as usize;
            if views.iter().any(|v| v.latest.is_wanted(f, index)) {
                put_record(&mut records, row.body());
                indices.push(row.index() as u32);
                if records.len() >= BATCH_BYTES {
                    let full =
                        std::mem::replace(&mut records, Vec::with_capacity(BATCH_BYTES + 4096));
                    if !send(f, std::mem::take(&mut indices), full) {
                        return Err(StagedReadError::Invalid {
                            record: rows,
                            why: "the deciding threads stopped".into(),
                        });
                    }
                }
            }
            Ok(())
        })
        .map_err(|e| StoreError::Invalid(format!("{key}: {e}")))?;
        if !records.is_empty() {
            // A send fails only when every worker stopped; their error is the one told.
            send(f, indices, records);
        }
        if source.etag != s.source.etag || rows != u64::from(s.token_rows) {
            return Err(StoreError::Invalid(format!(
                "{key} does not belong with {} (ingest of {} interrupted?): ingest it again",
                s.export.keys_key(),
                s.source.key
            ))
            .into());
        }
    }
    Ok(())
}
