//! Pass two of match: the rows that are a latest state, decided by a worker per core, their
//! credited lines spilled to disk by brand.

use std::sync::Arc;

use chrono::NaiveDate;
use seedline_core::attribution::Attribution;
use seedline_core::catalog::Catalog;
use seedline_core::line::{decode_staged_into, read_staged_rows, StagedReadError};
use seedline_core::wire::{put_record, take_record};
use tokio::runtime::Handle;

use super::latest::Latest;
use super::spill::Spill;
use super::{vanished, StepError};
use crate::store::{ObjectStore, StoreError};

/// Pass two's deciding: the rows that are a latest state are read on this thread and handed in
/// batches to a worker per core, each deciding with an attribution of its own and writing the
/// credited lines of `dates` to its spill. Returns the workers' attributions merged, and the spills.
pub(super) fn decide<'c>(
    handle: &Handle,
    staging: &Arc<dyn ObjectStore>,
    dates: &[NaiveDate],
    latest: &Latest,
    catalog: &'c Catalog,
) -> Result<(Attribution<'c>, Vec<Spill>), StepError> {
    /// Length-prefixed line records of one file.
    struct Batch {
        file: usize,
        records: Vec<u8>,
    }
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut spills = (0..workers)
        .map(|_| Spill::new())
        .collect::<Result<Vec<_>, _>>()?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(workers * 2);
    // Shared by the workers and dropped with the last of them, so that the reader is never left
    // waiting on workers that stopped.
    let rx = Arc::new(std::sync::Mutex::new(rx));
    let merged = std::thread::scope(|scope| {
        let handles: Vec<_> = spills
            .iter_mut()
            .map(|spill| {
                let rx = Arc::clone(&rx);
                scope.spawn(move || -> Result<Attribution<'c>, StepError> {
                    let mut a = Attribution::new(catalog, dates.iter().copied());
                    let mut line = seedline_core::line::OrderLine::blank(
                        seedline_core::line::Marketplace::Taobao,
                    );
                    loop {
                        let next = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => break,
                        };
                        let Ok(batch) = next else { break };
                        let s = &latest.staged[batch.file];
                        let mut rest = &batch.records[..];
                        while let Some(body) = take_record(&mut rest) {
                            decode_staged_into(body, &mut line).map_err(|e| {
                                StoreError::Invalid(format!("{}: {e}", s.export.lines_key()))
                            })?;
                            if let Some(k) = a.decide(&line, &s.source) {
                                spill
                                    .write(&k)
                                    .map_err(|e| StepError::io("writing spill files", true, e))?;
                            }
                        }
                    }
                    spill.finish()?;
                    Ok(a)
                })
            })
            .collect();
        drop(rx);
        let read = read_wanted_rows(handle, staging, latest, |file, records| {
            tx.send(Batch { file, records }).is_ok()
        });
        drop(tx);
        let mut merged: Option<Attribution<'c>> = None;
        let mut failed = None;
        for h in handles {
            match h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)) {
                Ok(a) => match &mut merged {
                    Some(m) => m.merge(a),
                    None => merged = Some(a),
                },
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        // A worker's error explains a reader that stopped sending.
        if let Some(e) = failed {
            return Err(e);
        }
        read?;
        Ok(merged.unwrap_or_else(|| Attribution::new(catalog, dates.iter().copied())))
    })?;
    Ok((merged, spills))
}

/// Reads every staged line file with a latest state in it and hands its wanted rows to `send` in
/// batches of length-prefixed records; stops when `send` says no one listens.
fn read_wanted_rows(
    handle: &Handle,
    staging: &Arc<dyn ObjectStore>,
    latest: &Latest,
    send: impl Fn(usize, Vec<u8>) -> bool,
) -> Result<(), StepError> {
    const BATCH_BYTES: usize = 256 << 10;
    for (f, s) in latest.staged.iter().enumerate() {
        if latest.wanted[f].iter().all(|w| *w == 0) {
            continue;
        }
        let key = s.export.lines_key();
        let obj = handle
            .block_on(staging.get(&key))?
            .ok_or_else(|| vanished(&key))?;
        let reader = crate::store::blocking_reader(obj.body, handle.clone());
        let mut rows = 0u64;
        let mut records = Vec::with_capacity(BATCH_BYTES + 4096);
        let source = read_staged_rows(reader, |row| {
            rows += 1;
            if latest.is_wanted(f, row.index() as usize) {
                put_record(&mut records, row.body());
                if records.len() >= BATCH_BYTES {
                    let full =
                        std::mem::replace(&mut records, Vec::with_capacity(BATCH_BYTES + 4096));
                    if !send(f, full) {
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
            send(f, records);
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
