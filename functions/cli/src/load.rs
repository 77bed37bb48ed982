//! `seedline campaigns load`: brand and campaign records checked together, then stored.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use seedline_core::campaign::{parse_jsonl_located, Record};

use crate::Target;

pub(crate) async fn load_campaigns(
    files: &[PathBuf],
    target: &Target,
    dry_run: bool,
) -> Result<()> {
    let mut brands = Vec::new();
    let mut campaigns = Vec::new();
    // Where each record came from: a refusal of the records together names its line.
    let mut origin: HashMap<String, String> = HashMap::new();
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        for (at, r) in parse_jsonl_located(&f.display().to_string(), &text)? {
            match r {
                Record::Brand(b) => {
                    origin.insert(format!("brand {}", b.brand_id), at);
                    brands.push(b)
                }
                Record::Campaign(c) => {
                    origin.insert(format!("campaign {}", c.campaign_id), at);
                    campaigns.push(c)
                }
            }
        }
    }
    let stores = target.stores().await?;
    // The records as a whole, with what is stored: the store checks again as it writes.
    let (mut known, existing) = stores.campaigns.load_all().await?;
    known.retain(|b| !brands.iter().any(|n| n.brand_id == b.brand_id));
    known.extend(brands.iter().cloned());
    let mut all = existing.clone();
    all.retain(|c| !campaigns.iter().any(|n| n.campaign_id == c.campaign_id));
    all.extend(campaigns.iter().cloned());
    if let Err(mut e) = seedline_core::catalog::Catalog::new(known, all) {
        if let Some(at) = origin.get(&e.record) {
            e.record = format!("{at} ({})", e.record);
        }
        return Err(e.into());
    }
    if dry_run {
        for c in &campaigns {
            let verb = match existing.iter().find(|e| e.campaign_id == c.campaign_id) {
                None => "add",
                Some(e) if e == c => "unchanged",
                Some(_) => "update",
            };
            println!("{verb:9} campaign {}", c.campaign_id);
        }
        println!(
            "dry run: {} brands and {} campaigns are valid; nothing written",
            brands.len(),
            campaigns.len()
        );
        return Ok(());
    }
    let saved = stores.campaigns.save(&brands, &campaigns).await?;
    println!(
        "loaded {} brands and {} campaigns into {}",
        saved.brands,
        saved.campaigns,
        stores.campaigns.describe()
    );
    Ok(())
}
