//! ingest-orders: one export object to normalised lines, rejects and an ingest record in staging.

use std::io::{BufWriter, Write};

use seedline_core::ingest::{normalise, Counts, IngestError};
use seedline_core::line::{StagedSource, StagedWriter};
use seedline_core::pii::BuyerHasher;
use serde::{Deserialize, Serialize};

use super::StepError;
use crate::config::Stores;
use crate::layout::ExportKey;

pub use super::record::{FileOutcome, IngestRecord};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestResult {
    pub record: IngestRecord,
    /// True when this exact object (same ETag) was already ingested and nothing was done.
    pub skipped: bool,
}

/// A file written on a thread of its own, in 1 MiB blocks: the normalising thread hands a block
/// over and goes on, instead of waiting on the kernel for every write.
struct OffThread {
    buf: Vec<u8>,
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    recycled: std::sync::mpsc::Receiver<Vec<u8>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl OffThread {
    const BLOCK: usize = 1 << 20;

    fn new(mut file: std::fs::File) -> OffThread {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
        let (back, recycled) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
        let thread = std::thread::spawn(move || -> std::io::Result<()> {
            for mut block in rx {
                file.write_all(&block)?;
                block.clear();
                let _ = back.try_send(block);
            }
            file.flush()
        });
        OffThread {
            buf: Vec::with_capacity(Self::BLOCK),
            tx: Some(tx),
            recycled,
            thread: Some(thread),
        }
    }

    fn hand_over(&mut self) -> std::io::Result<()> {
        let next = self
            .recycled
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(Self::BLOCK));
        let full = std::mem::replace(&mut self.buf, next);
        let sent = self.tx.as_ref().map(|tx| tx.send(full));
        match sent {
            Some(Ok(())) => Ok(()),
            // The writing thread stopped: its error is told by close.
            _ => self
                .join()
                .and(Err(std::io::Error::other("the writing thread stopped"))),
        }
    }

    fn join(&mut self) -> std::io::Result<()> {
        self.tx = None;
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(p)) => std::panic::resume_unwind(p),
            None => Ok(()),
        }
    }

    /// Writes what is left and waits until the file is written.
    fn close(mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            self.hand_over()?;
        }
        self.join()
    }
}

impl Write for OffThread {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= Self::BLOCK {
            self.hand_over()?;
        }
        Ok(data.len())
    }

    /// Blocks are handed over as they fill; [`OffThread::close`] is what waits for the file.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for OffThread {
    fn drop(&mut self) {
        let _ = self.join();
    }
}

/// Ingests one export object. Ingesting the same object twice changes nothing.
pub async fn ingest_object(
    stores: &Stores,
    hasher: &BuyerHasher,
    key: &str,
) -> Result<IngestResult, StepError> {
    let ek = ExportKey::parse(key).map_err(StepError::BadInput)?;
    let head = stores.exports.head(key).await?.ok_or_else(|| {
        StepError::BadInput(format!(
            "export {key} does not exist in {}",
            stores.exports.describe()
        ))
    })?;
    if let Some(bytes) = stores.staging.get_bytes(&ek.record_key()).await? {
        if let Ok(rec) = serde_json::from_slice::<IngestRecord>(&bytes) {
            let current = rec.outcome == FileOutcome::Rejected || rec.keys_key.is_some();
            if rec.etag == head.etag && current {
                tracing::info!(export_key = key, etag = %rec.etag, "already ingested; skipping");
                return Ok(IngestResult {
                    record: rec,
                    skipped: true,
                });
            }
        }
    }
    let obj =
        stores.exports.get(key).await?.ok_or_else(|| {
            StepError::BadInput(format!("export {key} disappeared while being read"))
        })?;
    let Some(mkt) = ek.dialect.marketplace() else {
        return ingest_red(stores, &ek, obj).await;
    };
    let etag = obj.etag.clone();
    let scratch =
        tempfile::tempdir().map_err(|e| StepError::io("creating scratch directory", true, e))?;
    let lines_path = scratch.path().join("lines.csv");
    let keys_path = scratch.path().join("keys.bin");
    let rejects_path = scratch.path().join("rejects.csv");
    let source = StagedSource {
        export_key: key.to_string(),
        etag: etag.clone(),
    };
    let reader = crate::store::blocking_reader(obj.body, tokio::runtime::Handle::current());
    let hasher = hasher.clone();
    let (lp, kp, rp) = (lines_path.clone(), keys_path.clone(), rejects_path.clone());
    let result = tokio::task::spawn_blocking(move || -> Result<_, IngestError> {
        let create = |p: &std::path::Path| {
            std::fs::File::create(p)
                .map(BufWriter::new)
                .map_err(IngestError::Output)
        };
        let off_thread = |p: &std::path::Path| {
            std::fs::File::create(p)
                .map(OffThread::new)
                .map_err(IngestError::Output)
        };
        let mut lines = StagedWriter::new(off_thread(&lp)?, off_thread(&kp)?, &source)
            .map_err(IngestError::Output)?;
        let mut rejects = csv::Writer::from_writer(create(&rp)?);
        rejects
            .write_record(["line", "order_id", "reason", "detail"])
            .map_err(|e| IngestError::Output(e.into()))?;
        let summary = normalise(reader, mkt, &hasher, &mut |l| lines.write(l), &mut |r| {
            rejects
                .write_record([
                    r.line.to_string().as_str(),
                    &r.order_id,
                    &r.reason,
                    &r.detail,
                ])
                .map_err(std::io::Error::from)
        })?;
        lines
            .finish()
            .and_then(|(w, k)| w.close().and_then(|_| k.close()))
            .map_err(IngestError::Output)?;
        rejects.flush().map_err(IngestError::Output)?;
        Ok(summary)
    })
    .await?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let record = match result {
        Ok(summary) => {
            stores
                .staging
                .put_file(&ek.lines_key(), &lines_path)
                .await?;
            stores
                .staging
                .put_file(&ek.rejects_key(), &rejects_path)
                .await?;
            // The key file after the line file: match starts from key files.
            stores.staging.put_file(&ek.keys_key(), &keys_path).await?;
            let c = &summary.counts;
            tracing::info!(
                export_key = key,
                rows_in = c.rows_in,
                rows_kept = c.rows_kept,
                rows_rejected = c.rows_rejected,
                refunds_capped = c.refunds_capped,
                encoding = summary.encoding.as_str(),
                "export ingested"
            );
            IngestRecord {
                export_key: key.to_string(),
                etag,
                dialect: ek.dialect,
                export_date: ek.date,
                outcome: FileOutcome::Ingested,
                reason: None,
                encoding: Some(summary.encoding.as_str().to_string()),
                gzip: summary.gzip,
                counts: summary.counts,
                lines_key: Some(ek.lines_key()),
                keys_key: Some(ek.keys_key()),
                rejects_key: Some(ek.rejects_key()),
                ingested_at: now,
            }
        }
        Err(IngestError::FileRejected(reason)) => {
            // A replaced object that no longer reads: its earlier lines must not stand.
            stores.staging.delete(&ek.keys_key()).await?;
            stores.staging.delete(&ek.lines_key()).await?;
            stores.staging.delete(&ek.rejects_key()).await?;
            tracing::info!(export_key = key, reason = %reason, "export rejected whole");
            IngestRecord {
                export_key: key.to_string(),
                etag,
                dialect: ek.dialect,
                export_date: ek.date,
                outcome: FileOutcome::Rejected,
                reason: Some(reason),
                encoding: None,
                gzip: false,
                counts: Counts::default(),
                lines_key: None,
                keys_key: None,
                rejects_key: None,
                ingested_at: now,
            }
        }
        Err(IngestError::Source(e)) => {
            return Err(StepError::io(format!("reading {key}"), true, e))
        }
        Err(IngestError::Output(e)) => return Err(StepError::io("writing scratch files", true, e)),
    };
    let bytes = serde_json::to_vec_pretty(&record)
        .map_err(|e| StepError::io("encoding record", false, e.into()))?;
    // The record goes last: it says the staged lines are complete.
    stores.staging.put(&ek.record_key(), bytes).await?;
    Ok(IngestResult {
        record,
        skipped: false,
    })
}

/// Ingests one RED note report: its kept rows and rejects staged, then its record.
async fn ingest_red(
    stores: &Stores,
    ek: &ExportKey,
    obj: crate::store::Object,
) -> Result<IngestResult, StepError> {
    let key = ek.key();
    let etag = obj.etag.clone();
    let read = super::red::read_export(obj).await?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut record = IngestRecord {
        export_key: key.clone(),
        etag,
        dialect: ek.dialect,
        export_date: ek.date,
        outcome: FileOutcome::Rejected,
        reason: None,
        encoding: None,
        gzip: false,
        counts: Counts::default(),
        lines_key: None,
        keys_key: None,
        rejects_key: None,
        ingested_at: now,
    };
    match read {
        Ok(r) => {
            stores.staging.put(&ek.rejects_key(), r.rejects).await?;
            stores.staging.put(&ek.red_key(), r.rows).await?;
            let c = &r.summary.counts;
            tracing::info!(
                export_key = %key,
                rows_in = c.rows_in,
                rows_kept = c.rows_kept,
                rows_rejected = c.rows_rejected,
                encoding = r.summary.encoding.as_str(),
                "RED note report ingested"
            );
            record.outcome = FileOutcome::Ingested;
            record.encoding = Some(r.summary.encoding.as_str().to_string());
            record.gzip = r.summary.gzip;
            record.counts = r.summary.counts;
            record.lines_key = Some(ek.red_key());
            record.keys_key = Some(ek.red_key());
            record.rejects_key = Some(ek.rejects_key());
        }
        Err(reason) => {
            // A replaced object that no longer reads: its earlier figures must not stand.
            stores.staging.delete(&ek.red_key()).await?;
            stores.staging.delete(&ek.rejects_key()).await?;
            tracing::info!(export_key = %key, reason = %reason, "RED note report rejected whole");
            record.reason = Some(reason);
        }
    }
    let bytes = serde_json::to_vec_pretty(&record)
        .map_err(|e| StepError::io("encoding record", false, e.into()))?;
    stores.staging.put(&ek.record_key(), bytes).await?;
    Ok(IngestResult {
        record,
        skipped: false,
    })
}
