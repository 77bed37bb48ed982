//! Brands, campaigns and tokens in one DynamoDB table.
//!
//! | item     | pk                | sk         | gsi1pk     | gsi1sk                            |
//! |----------|-------------------|------------|------------|-----------------------------------|
//! | brand    | `BRAND#{id}`      | `BRAND`    | `BRAND`    | `{brand_id}`                      |
//! | campaign | `CAMPAIGN#{id}`   | `CAMPAIGN` | `CAMPAIGN` | `{end + window_days}#{campaign_id}` |
//! | token    | `TOKEN#{token}`   | `TOKEN`    | –          | –                                 |
//! | note     | `NOTE#{note_id}`  | `NOTE`     | –          | –                                 |
//!
//! Campaigns touching `from ..= to` are one paginated Query on `gsi1` (`gsi1sk >= from`, filtered on
//! `start <= to`): requests grow with campaigns, never with orders. A campaign and its token items are
//! written in one transaction whose token puts carry `attribute_not_exists(pk) OR campaign_id = :c`, so
//! the table itself refuses a token held by another campaign.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put,
    ScalarAttributeType, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use seedline_core::campaign::{Brand, Campaign};
use seedline_core::catalog::Catalog;

use super::s3::sdk_error;
use super::{CampaignStore, SaveSummary, StoreError};

pub const GSI: &str = "gsi1";
/// DynamoDB's limit of actions in one TransactWriteItems.
pub const MAX_TRANSACTION_ITEMS: usize = 100;
const BATCH_GET_MAX: usize = 100;

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, Clone)]
pub struct DynamoCampaigns {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn build_err(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::backend("build request", "", false, e)
}

/// The record (its JSON in the `record` attribute) of a brand or campaign item.
fn record_of<T: serde::de::DeserializeOwned>(item: &Item, what: &str) -> Result<T, StoreError> {
    match item.get("record") {
        Some(AttributeValue::S(r)) => {
            serde_json::from_str(r).map_err(|e| StoreError::Invalid(format!("stored {what}: {e}")))
        }
        _ => Err(StoreError::Invalid(format!(
            "a stored {what} item has no `record` attribute"
        ))),
    }
}

impl DynamoCampaigns {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoCampaigns {
            client,
            table: table.into(),
        }
    }

    /// Creates the table with its index (on-demand). For tests and first set-up; production uses the stack.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let attr = |n: &str| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_err)
        };
        let key = |n: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(t)
                .build()
                .map_err(build_err)
        };
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .attribute_definitions(attr("gsi1pk")?)
            .attribute_definitions(attr("gsi1sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(GSI)
                    .key_schema(key("gsi1pk", KeyType::Hash)?)
                    .key_schema(key("gsi1sk", KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(build_err)?,
            )
            .send()
            .await
            .map_err(|e| sdk_error("create table", &self.table, e))?;
        Ok(())
    }

    async fn query_gsi(&self, partition: &str) -> Result<Vec<Item>, StoreError> {
        let q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI)
            .expression_attribute_values(":p", s(partition))
            .key_condition_expression("gsi1pk = :p");
        let mut pages = q.into_paginator().send();
        let mut items = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("query", &self.table, e))?;
            items.extend(page.items().iter().cloned());
        }
        Ok(items)
    }

    async fn brands(&self) -> Result<Vec<Brand>, StoreError> {
        self.query_gsi("BRAND")
            .await?
            .iter()
            .map(|i| record_of(i, "brand"))
            .collect()
    }

    async fn campaigns(&self) -> Result<Vec<Campaign>, StoreError> {
        self.query_gsi("CAMPAIGN")
            .await?
            .iter()
            .map(|i| record_of(i, "campaign"))
            .collect()
    }

    /// Which campaign holds each of `ids` (`kind` is `TOKEN` or `NOTE`), in batches of 100 keys.
    async fn owners(
        &self,
        kind: &str,
        ids: &[String],
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let mut owners = BTreeMap::new();
        let prefix = format!("{kind}#");
        for chunk in ids.chunks(BATCH_GET_MAX) {
            let mut keys: Vec<Item> = chunk
                .iter()
                .map(|t| {
                    HashMap::from([
                        ("pk".to_string(), s(format!("{prefix}{t}"))),
                        ("sk".to_string(), s(kind)),
                    ])
                })
                .collect();
            while !keys.is_empty() {
                let req = KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .build()
                    .map_err(build_err)?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, req)
                    .send()
                    .await
                    .map_err(|e| sdk_error("batch get", &self.table, e))?;
                for item in out
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    if let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(c))) =
                        (item.get("pk"), item.get("campaign_id"))
                    {
                        owners.insert(
                            pk.trim_start_matches(prefix.as_str()).to_string(),
                            c.clone(),
                        );
                    }
                }
                keys = out
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
            }
        }
        Ok(owners)
    }

    async fn stored_campaign(&self, id: &str) -> Result<Option<Campaign>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("CAMPAIGN#{id}")))
            .key("sk", s("CAMPAIGN"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get", &self.table, e))?;
        out.item().map(|i| record_of(i, "campaign")).transpose()
    }

    fn put(
        &self,
        item: Item,
        condition: Option<(&str, &str)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut p = Put::builder().table_name(&self.table).set_item(Some(item));
        if let Some((expr, campaign)) = condition {
            p = p
                .condition_expression(expr)
                .expression_attribute_values(":c", s(campaign));
        }
        Ok(TransactWriteItem::builder()
            .put(p.build().map_err(build_err)?)
            .build())
    }

    /// One campaign and its token and note items in one transaction; the table refuses a token or
    /// note held by another campaign.
    pub async fn write_campaign(&self, c: &Campaign) -> Result<(), StoreError> {
        let record = serde_json::to_string(c).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let stored = self.stored_campaign(&c.campaign_id).await?;
        let old_tokens: Vec<String> = stored
            .as_ref()
            .map(|o| o.tokens().map(String::from).collect())
            .unwrap_or_default();
        let old_notes: Vec<String> = stored
            .as_ref()
            .map(|o| o.notes.iter().map(|n| n.note_id.clone()).collect())
            .unwrap_or_default();
        let mut actions = vec![self.put(
            HashMap::from([
                ("pk".to_string(), s(format!("CAMPAIGN#{}", c.campaign_id))),
                ("sk".to_string(), s("CAMPAIGN")),
                ("gsi1pk".to_string(), s("CAMPAIGN")),
                (
                    "gsi1sk".to_string(),
                    s(format!("{}#{}", c.active_until(), c.campaign_id)),
                ),
                ("start".to_string(), s(c.start.to_string())),
                ("version".to_string(), s(c.version())),
                ("record".to_string(), s(record)),
            ]),
            None,
        )?];
        for t in c.tokens() {
            actions.push(self.put(
                HashMap::from([
                    ("pk".to_string(), s(format!("TOKEN#{t}"))),
                    ("sk".to_string(), s("TOKEN")),
                    ("campaign_id".to_string(), s(c.campaign_id.clone())),
                ]),
                Some((
                    "attribute_not_exists(pk) OR campaign_id = :c",
                    &c.campaign_id,
                )),
            )?);
        }
        let notes: std::collections::BTreeSet<&str> =
            c.notes.iter().map(|n| n.note_id.as_str()).collect();
        for n in &notes {
            actions.push(self.put(
                HashMap::from([
                    ("pk".to_string(), s(format!("NOTE#{n}"))),
                    ("sk".to_string(), s("NOTE")),
                    ("campaign_id".to_string(), s(c.campaign_id.clone())),
                ]),
                Some((
                    "attribute_not_exists(pk) OR campaign_id = :c",
                    &c.campaign_id,
                )),
            )?);
        }
        let stale_tokens = old_tokens
            .iter()
            .filter(|t| !c.tokens().any(|n| n == t.as_str()))
            .map(|t| ("TOKEN", t));
        let stale_notes = old_notes
            .iter()
            .filter(|n| !notes.contains(n.as_str()))
            .map(|n| ("NOTE", n));
        for (kind, t) in stale_tokens.chain(stale_notes) {
            let d = Delete::builder()
                .table_name(&self.table)
                .key("pk", s(format!("{kind}#{t}")))
                .key("sk", s(kind))
                .condition_expression("campaign_id = :c")
                .expression_attribute_values(":c", s(c.campaign_id.clone()))
                .build()
                .map_err(build_err)?;
            actions.push(TransactWriteItem::builder().delete(d).build());
        }
        if actions.len() > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::Invalid(format!(
                "campaign {} needs {} writes, more than one DynamoDB transaction holds ({MAX_TRANSACTION_ITEMS})",
                c.campaign_id,
                actions.len()
            )));
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let cancelled = e
                    .as_service_error()
                    .is_some_and(|s| s.is_transaction_canceled_exception());
                if cancelled {
                    Err(StoreError::Conflict(format!(
                        "campaign {}: the table refused the write (a token or note is held by another campaign); nothing was written",
                        c.campaign_id
                    )))
                } else {
                    Err(sdk_error("transact write", &self.table, e))
                }
            }
        }
    }
}

#[async_trait]
impl CampaignStore for DynamoCampaigns {
    async fn load_all(&self) -> Result<(Vec<Brand>, Vec<Campaign>), StoreError> {
        Ok((self.brands().await?, self.campaigns().await?))
    }

    async fn save(
        &self,
        brands: &[Brand],
        campaigns: &[Campaign],
    ) -> Result<SaveSummary, StoreError> {
        // Check everything before the first write: ids, brands known, tokens free, transactions in bounds.
        super::check_new_ids(brands, campaigns)?;
        let stored_brands = self.brands().await?;
        let mut known: Vec<Brand> = stored_brands
            .into_iter()
            .filter(|b| !brands.iter().any(|n| n.brand_id == b.brand_id))
            .collect();
        known.extend(brands.iter().cloned());
        Catalog::new(known, campaigns.to_vec()).map_err(|e| StoreError::Conflict(e.to_string()))?;
        let tokens: Vec<String> = campaigns
            .iter()
            .flat_map(|c| c.tokens().map(String::from))
            .collect();
        let owners = self.owners("TOKEN", &tokens).await?;
        let note_ids: Vec<String> = campaigns
            .iter()
            .flat_map(|c| c.notes.iter().map(|n| n.note_id.clone()))
            .collect();
        let note_owners = self.owners("NOTE", &note_ids).await?;
        for c in campaigns {
            for t in c.tokens() {
                if let Some(owner) = owners.get(t).filter(|o| **o != c.campaign_id) {
                    return Err(StoreError::Conflict(format!(
                        "campaign {}: field `notes.links.token`: token {t} is already used by campaign {owner}; nothing was written",
                        c.campaign_id
                    )));
                }
            }
            for n in &c.notes {
                if let Some(owner) = note_owners.get(&n.note_id).filter(|o| **o != c.campaign_id) {
                    return Err(StoreError::Conflict(format!(
                        "campaign {}: field `notes.note_id`: note {} is already listed by campaign {owner}; nothing was written",
                        c.campaign_id, n.note_id
                    )));
                }
            }
            if 1 + c.tokens().count() + c.notes.len() > MAX_TRANSACTION_ITEMS {
                return Err(StoreError::Invalid(format!(
                    "campaign {} has more links and notes than one DynamoDB transaction holds",
                    c.campaign_id
                )));
            }
        }
        for b in brands {
            let record =
                serde_json::to_string(b).map_err(|e| StoreError::Invalid(e.to_string()))?;
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(format!("BRAND#{}", b.brand_id)))
                .item("sk", s("BRAND"))
                .item("gsi1pk", s("BRAND"))
                .item("gsi1sk", s(b.brand_id.clone()))
                .item("record", s(record))
                .send()
                .await
                .map_err(|e| sdk_error("put", &self.table, e))?;
        }
        for c in campaigns {
            self.write_campaign(c).await?;
        }
        Ok(SaveSummary {
            brands: brands.len(),
            campaigns: campaigns.len(),
        })
    }

    fn describe(&self) -> String {
        format!("dynamodb://{}", self.table)
    }
}
