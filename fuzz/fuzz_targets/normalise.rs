//! Any bytes, in each dialect (Taobao, JD, RED note reports), plain or gzipped: no panic, and
//! every row kept or rejected.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seedline_core::ingest::normalise;
use seedline_core::line::Marketplace;
use seedline_core::pii::BuyerHasher;
use seedline_core::red::read_note_report;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let (mut kept, mut rejected) = (0u64, 0u64);
    let summary = match first % 3 {
        2 => read_note_report(
            std::io::Cursor::new(rest.to_vec()),
            &mut |_| {
                kept += 1;
                Ok(())
            },
            &mut |r| {
                assert!(!r.reason.is_empty());
                rejected += 1;
                Ok(())
            },
        ),
        m => {
            let mkt = if m == 0 {
                Marketplace::Taobao
            } else {
                Marketplace::Jd
            };
            let hasher = BuyerHasher::new(b"fuzz-key-0123456789abcdef").unwrap();
            normalise(
                std::io::Cursor::new(rest.to_vec()),
                mkt,
                &hasher,
                &mut |_| {
                    kept += 1;
                    Ok(())
                },
                &mut |r| {
                    assert!(!r.reason.is_empty());
                    rejected += 1;
                    Ok(())
                },
            )
        }
    };
    if let Ok(s) = summary {
        assert_eq!(s.counts.rows_in, s.counts.rows_kept + s.counts.rows_rejected);
        assert_eq!((s.counts.rows_kept, s.counts.rows_rejected), (kept, rejected));
    }
});
