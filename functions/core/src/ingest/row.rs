//! One export row into an order line: its cells read through the dialect's header, checked and
//! parsed, and the amounts that need no sibling row settled.

use std::borrow::Cow;

use crate::csvscan::Record;
use crate::decode::TextEncoding;
use crate::dialect::{parse_status, Field, HeaderMap};
use crate::line::{Marketplace, OrderLine, StatusClass};
use crate::money::Fen;
use crate::money::{parse_amount, parse_quantity};
use crate::pii::BuyerHasher;
use crate::text::clean_field;
use crate::time::{parse_timestamp_with, DateCache};

use super::reason;

#[derive(Debug, Clone)]
pub(super) struct RowErr {
    pub(super) reason: &'static str,
    pub(super) detail: String,
}

pub(super) fn row_err(reason: &'static str, detail: impl Into<String>) -> RowErr {
    RowErr {
        reason,
        detail: detail.into(),
    }
}

pub(super) struct Row<'a> {
    pub(super) rec: Record<'a>,
    /// The record's bytes as text, when the export is UTF-8 and the whole record is valid: checked
    /// once, and every field is then a slice of it (fields split at ASCII bytes, so each is valid).
    pub(super) text: Option<&'a str>,
    pub(super) map: &'a HeaderMap,
    pub(super) enc: TextEncoding,
    pub(super) mkt: Marketplace,
    pub(super) dates: &'a DateCache,
}

impl<'a> Row<'a> {
    /// The cleaned cell of a field; empty when the column is absent. Borrowed from the record
    /// where it can be (UTF-8): most cells are only checked, never kept.
    #[inline]
    pub(super) fn get(&self, f: Field) -> Result<Cow<'a, str>, RowErr> {
        let Some(pos) = self.map.get(f) else {
            return Ok(Cow::Borrowed(""));
        };
        if let Some(field) = self
            .text
            .zip(self.rec.range(pos))
            .and_then(|(t, r)| t.get(r))
        {
            return Ok(Cow::Borrowed(clean_field(field)));
        }
        let bytes = self.rec.get(pos).unwrap_or_default();
        let text = self.enc.decode(bytes).ok_or_else(|| {
            row_err(
                reason::ENCODING,
                format!(
                    "column {} is not valid {}",
                    HeaderMap::name(self.mkt, f),
                    self.enc.as_str()
                ),
            )
        })?;
        Ok(match text {
            Cow::Borrowed(t) => Cow::Borrowed(clean_field(t)),
            Cow::Owned(t) => match clean_field(&t) {
                c if c.len() == t.len() => Cow::Owned(t),
                c => Cow::Owned(c.to_string()),
            },
        })
    }

    #[inline]
    pub(super) fn required(&self, f: Field) -> Result<Cow<'a, str>, RowErr> {
        let v = self.get(f)?;
        if v.is_empty() {
            return Err(row_err(
                reason::MISSING_FIELD,
                format!("{} is empty", HeaderMap::name(self.mkt, f)),
            ));
        }
        Ok(v)
    }

    pub(super) fn amount(&self, f: Field) -> Result<Fen, RowErr> {
        let v = self.required(f)?;
        parse_amount(&v).map_err(|e| {
            row_err(
                reason::BAD_AMOUNT,
                format!("{}: {e}", HeaderMap::name(self.mkt, f)),
            )
        })
    }

    pub(super) fn refund(&self) -> Result<Fen, RowErr> {
        let v = self.get(Field::Refund)?;
        if v.is_empty() || v == "无退款申请" {
            return Ok(Fen::ZERO);
        }
        parse_amount(&v).map_err(|e| row_err(reason::BAD_AMOUNT, format!("退款金额: {e}")))
    }

    pub(super) fn timestamp(
        &self,
        f: Field,
        required: bool,
    ) -> Result<Option<chrono::NaiveDateTime>, RowErr> {
        let v = if required {
            self.required(f)?
        } else {
            self.get(f)?
        };
        if v.is_empty() {
            return Ok(None);
        }
        parse_timestamp_with(&v, self.dates).map(Some).map_err(|e| {
            row_err(
                reason::BAD_TIMESTAMP,
                format!("{}: {e}", HeaderMap::name(self.mkt, f)),
            )
        })
    }
}

/// A parsed row before the amounts that depend on its siblings (JD) are settled.
pub(super) struct Parsed {
    pub(super) line: OrderLine,
    pub(super) amounts: Amounts,
}

/// The amounts of a row as read, before they are settled.
#[derive(Clone, Copy)]
pub(super) struct Amounts {
    pub(super) raw_refund: Fen,
    pub(super) unit_price: Fen,
    pub(super) payable: Fen,
}

pub(super) fn set(field: &mut String, value: &str) {
    field.clear();
    field.push_str(value);
}

pub(super) fn parse_row(
    row: &Row<'_>,
    hasher: &BuyerHasher,
    source_line: u64,
) -> Result<Parsed, RowErr> {
    let mut line = OrderLine::blank(row.mkt);
    let amounts = parse_row_into(row, hasher, source_line, &mut line)?;
    Ok(Parsed { line, amounts })
}

/// Parses a row into `line`, reusing its strings' memory: a Taobao export's rows all go through
/// one line, so a row costs no allocation once the strings have grown.
pub(super) fn parse_row_into(
    row: &Row<'_>,
    hasher: &BuyerHasher,
    source_line: u64,
    line: &mut OrderLine,
) -> Result<Amounts, RowErr> {
    let mkt = row.mkt;
    let order_id = row.required(Field::OrderId)?;
    let shop_id = row.required(Field::ShopId)?;
    let item_id = row.required(Field::ItemId)?;
    let quantity_raw = row.required(Field::Quantity)?;
    let quantity = parse_quantity(&quantity_raw).map_err(|e| row_err(reason::BAD_QUANTITY, e))?;
    let (paid, unit_price, payable) = match mkt {
        Marketplace::Taobao => (row.amount(Field::Paid)?, Fen::ZERO, Fen::ZERO),
        Marketplace::Jd => (
            Fen::ZERO,
            row.amount(Field::UnitPrice)?,
            row.amount(Field::OrderPayable)?,
        ),
    };
    let raw_refund = row.refund()?;
    let status_raw = row.required(Field::Status)?;
    let (status, status_class) = parse_status(mkt, &status_raw).ok_or_else(|| {
        row_err(
            reason::UNKNOWN_STATUS,
            format!("unknown 订单状态 {status_raw:?}"),
        )
    })?;
    let created_at = row.timestamp(Field::CreatedAt, true)?.unwrap_or_default();
    let paid_at = row.timestamp(Field::PaidAt, false)?;
    if status_class == StatusClass::Paid && paid_at.is_none() {
        return Err(row_err(
            reason::PAID_WITHOUT_PAYMENT_TIME,
            format!("status {status:?} is a paid state but the payment time is empty"),
        ));
    }
    let buyer = row.required(Field::Buyer)?;
    let token = row.get(Field::Token)?;
    let clicked_at = row.timestamp(Field::ClickedAt, false)?;
    let sku_code = row.get(Field::SkuCode)?;
    let title = row.get(Field::Title)?;
    let id = match mkt {
        Marketplace::Taobao => row.get(Field::LineId)?,
        Marketplace::Jd => Cow::Borrowed(""),
    };
    // Every check passed: fill the line.
    line.marketplace = mkt;
    line.line_id.clear();
    if id.is_empty() {
        line.line_id.push_str(&order_id);
        line.line_id.push('/');
        line.line_id.push_str(&item_id);
    } else {
        line.line_id.push_str(&id);
    }
    set(&mut line.order_id, &order_id);
    set(&mut line.shop_id, &shop_id);
    set(&mut line.item_id, &item_id);
    set(&mut line.sku_code, &sku_code);
    set(&mut line.title, &title);
    line.quantity = quantity;
    line.paid_fen = paid;
    line.refund_fen = Fen::ZERO;
    set(&mut line.status, &status);
    line.status_class = status_class;
    line.created_at = created_at;
    line.paid_at = paid_at;
    // Only a line with a token can be credited, and only a credited line shows its buyer: the
    // others need no hash (and keep none).
    line.buyer_hash.clear();
    if !token.is_empty() {
        hasher.hash_into(&buyer, &mut line.buyer_hash);
    }
    set(&mut line.token, &token);
    line.clicked_at = clicked_at;
    line.source_line = source_line;
    Ok(Amounts {
        raw_refund,
        unit_price,
        payable,
    })
}

/// Settles the refund once `paid_fen` is known. Returns true when the refund was capped at the paid amount.
pub(super) fn settle_refund(line: &mut OrderLine, raw_refund: Fen) -> bool {
    if line.status_class == StatusClass::Closed && line.paid_at.is_some() {
        line.refund_fen = line.paid_fen;
        return false;
    }
    if raw_refund > line.paid_fen {
        line.refund_fen = line.paid_fen;
        return true;
    }
    line.refund_fen = raw_refund;
    false
}

/// Shares `total` out over `weights` in whole units by largest remainder, ties to the earlier entry.
/// All-zero weights share equally. The shares always add up to `total`.
pub fn largest_remainder(total: i64, weights: &[i128]) -> Vec<i64> {
    if weights.is_empty() {
        return Vec::new();
    }
    let equal;
    let weights = if weights.iter().all(|w| *w == 0) {
        equal = vec![1i128; weights.len()];
        &equal[..]
    } else {
        weights
    };
    let sum: i128 = weights.iter().sum();
    let total_w = i128::from(total);
    let mut shares: Vec<i64> = Vec::with_capacity(weights.len());
    let mut rems: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let exact = total_w * w;
        // Shares are at most `total`, so they fit in i64.
        shares.push(i64::try_from(exact / sum).unwrap_or(i64::MAX));
        rems.push((exact % sum, i));
    }
    let mut left = total - shares.iter().sum::<i64>();
    // Largest remainder first; on equal remainders the earlier row first.
    rems.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in rems {
        if left <= 0 {
            break;
        }
        shares[i] += 1;
        left -= 1;
    }
    shares
}
