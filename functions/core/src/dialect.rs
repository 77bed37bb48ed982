//! The export dialects: which one a key holds, and the order dialects of exports.md (header
//! aliases and status tables); RED's note reports are read by [`crate::red`].

use crate::line::{Marketplace, StatusClass};
use crate::text::clean_header;
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// Which export an object under `exports/{dialect}/` holds: a marketplace's orders, or RED's
/// daily note report (`xhs`, funnel.md).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    Jd,
    Taobao,
    Xhs,
}

impl Dialect {
    pub const ALL: [Dialect; 3] = [Dialect::Jd, Dialect::Taobao, Dialect::Xhs];

    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Jd => "jd",
            Dialect::Taobao => "taobao",
            Dialect::Xhs => "xhs",
        }
    }

    /// The marketplace of an order export; `None` for RED's note reports.
    pub fn marketplace(self) -> Option<Marketplace> {
        match self {
            Dialect::Jd => Some(Marketplace::Jd),
            Dialect::Taobao => Some(Marketplace::Taobao),
            Dialect::Xhs => None,
        }
    }
}

impl From<Marketplace> for Dialect {
    fn from(m: Marketplace) -> Dialect {
        match m {
            Marketplace::Jd => Dialect::Jd,
            Marketplace::Taobao => Dialect::Taobao,
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Dialect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Dialect::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| format!("unknown export kind {s:?} (expected taobao, jd or xhs)"))
    }
}

/// A canonical column, whatever the export calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    LineId,
    OrderId,
    ShopId,
    ItemId,
    SkuCode,
    Title,
    Quantity,
    Paid,
    UnitPrice,
    OrderPayable,
    Refund,
    Status,
    CreatedAt,
    PaidAt,
    Buyer,
    Token,
    ClickedAt,
}

pub const FIELD_COUNT: usize = 17;

impl Field {
    fn index(self) -> usize {
        self as usize
    }
}

/// A column of a dialect: its names, the first listed winning, and whether the header must hold it.
pub struct Column {
    pub field: Field,
    pub names: &'static [&'static str],
    pub required: bool,
}

const fn col(field: Field, names: &'static [&'static str], required: bool) -> Column {
    Column {
        field,
        names,
        required,
    }
}

pub const TAOBAO: &[Column] = &[
    col(Field::LineId, &["子订单编号", "子订单号"], false),
    col(Field::OrderId, &["主订单编号", "订单编号"], true),
    col(Field::ShopId, &["店铺Id", "店铺ID"], true),
    col(Field::ItemId, &["商品ID", "宝贝ID"], true),
    col(Field::SkuCode, &["商家编码"], false),
    col(Field::Title, &["商品标题", "标题", "宝贝标题"], false),
    col(Field::Quantity, &["购买数量", "宝贝总数量"], true),
    col(Field::Paid, &["买家实付金额", "买家实际支付金额"], true),
    col(Field::Refund, &["退款金额"], false),
    col(Field::Status, &["订单状态"], true),
    col(Field::CreatedAt, &["订单创建时间", "买家下单时间"], true),
    col(Field::PaidAt, &["订单付款时间", "买家付款时间"], true),
    col(Field::Buyer, &["买家会员名", "买家会员名称"], true),
    col(Field::Token, &["广告挂链追踪码", "追踪码"], true),
    col(Field::ClickedAt, &["挂链点击时间"], false),
];

pub const JD: &[Column] = &[
    col(Field::OrderId, &["订单号"], true),
    col(Field::ShopId, &["店铺ID", "店铺Id"], true),
    col(Field::ItemId, &["商品ID"], true),
    col(Field::SkuCode, &["货号", "商家SKUID"], false),
    col(Field::Title, &["商品名称"], false),
    col(Field::Quantity, &["订购数量"], true),
    col(Field::UnitPrice, &["京东价"], true),
    col(Field::OrderPayable, &["应付金额"], true),
    col(Field::Refund, &["退款金额"], false),
    col(Field::Status, &["订单状态"], true),
    col(Field::CreatedAt, &["下单时间"], true),
    col(Field::PaidAt, &["付款确认时间"], true),
    col(Field::Buyer, &["下单帐号"], true),
    col(Field::Token, &["广告挂链追踪码", "追踪码"], true),
    col(Field::ClickedAt, &["挂链点击时间"], false),
];

pub fn columns(m: Marketplace) -> &'static [Column] {
    match m {
        Marketplace::Taobao => TAOBAO,
        Marketplace::Jd => JD,
    }
}

/// Where each canonical field sits in a file's rows, once its header row is found.
#[derive(Debug, Clone)]
pub struct HeaderMap {
    positions: [Option<usize>; FIELD_COUNT],
    pub width: usize,
}

impl HeaderMap {
    pub fn get(&self, f: Field) -> Option<usize> {
        self.positions[f.index()]
    }

    /// The header's cell for a field, for messages.
    pub fn name(m: Marketplace, f: Field) -> &'static str {
        columns(m)
            .iter()
            .find(|c| c.field == f)
            .map(|c| c.names[0])
            .unwrap_or("?")
    }
}

/// Maps a candidate header row; `None` when it lacks a required column of the dialect.
pub fn map_header(m: Marketplace, cells: &[String]) -> Option<HeaderMap> {
    let cleaned: Vec<&str> = cells.iter().map(|c| clean_header(c)).collect();
    let mut positions = [None; FIELD_COUNT];
    for column in columns(m) {
        let found = column
            .names
            .iter()
            .find_map(|name| cleaned.iter().position(|c| c == name));
        match found {
            Some(p) => positions[column.field.index()] = Some(p),
            None if column.required => return None,
            None => {}
        }
    }
    Some(HeaderMap {
        positions,
        width: cells.len(),
    })
}

/// Reads a status cell into its class; the returned text is the status as stored (JD's 删除 mark removed).
pub fn parse_status(m: Marketplace, raw: &str) -> Option<(Cow<'_, str>, StatusClass)> {
    match m {
        Marketplace::Taobao => {
            let s = if raw.as_bytes().contains(&b',') {
                Cow::Owned(raw.replace(',', "，"))
            } else {
                Cow::Borrowed(raw)
            };
            let class = match s.as_ref() {
                "买家已付款，等待卖家发货" | "卖家已发货，等待买家确认" | "交易成功" => {
                    StatusClass::Paid
                }
                "等待买家付款" | "买家未付款" => StatusClass::Unpaid,
                "交易关闭" => StatusClass::Closed,
                _ => return None,
            };
            Some((s, class))
        }
        Marketplace::Jd => {
            let s = raw
                .strip_prefix("(删除)")
                .or_else(|| raw.strip_prefix("（删除）"))
                .unwrap_or(raw)
                .trim();
            let class = match s {
                "等待出库" | "等待确认收货" | "完成" => StatusClass::Paid,
                "等待付款" => StatusClass::Unpaid,
                "已取消" => StatusClass::Closed,
                _ => return None,
            };
            Some((Cow::Borrowed(s), class))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(s: &str) -> Vec<String> {
        s.split(',').map(String::from).collect()
    }

    #[test]
    fn taobao_header_with_aliases_in_any_order() {
        let h = map_header(
            Marketplace::Taobao,
            &cells("订单编号,商品ID,标题,店铺ID,宝贝总数量,买家实际支付金额,订单状态,买家下单时间,买家付款时间,买家会员名称,联系手机,追踪码,退款金额"),
        )
        .expect("old format header maps");
        assert_eq!(h.get(Field::OrderId), Some(0));
        assert_eq!(h.get(Field::ShopId), Some(3));
        assert_eq!(h.get(Field::Token), Some(11));
        assert_eq!(h.get(Field::LineId), None);
        assert_eq!(h.get(Field::ClickedAt), None);
    }

    #[test]
    fn first_listed_name_wins_over_its_alias() {
        let h = map_header(
            Marketplace::Taobao,
            &cells("追踪码,主订单编号,订单编号,店铺Id,商品ID,购买数量,买家实付金额,订单状态,订单创建时间,订单付款时间,买家会员名,广告挂链追踪码"),
        )
        .unwrap();
        assert_eq!(h.get(Field::OrderId), Some(1));
        assert_eq!(h.get(Field::Token), Some(11));
    }

    #[test]
    fn header_names_are_trimmed_and_missing_required_refuses() {
        let jd = " 订单号 ,店铺Id,商品ID,订购数量,京东价, 应付金额 ,订单状态,下单时间,付款确认时间,下单帐号, 追踪码 ";
        let h = map_header(Marketplace::Jd, &cells(jd)).unwrap();
        assert_eq!(h.get(Field::OrderPayable), Some(5));
        assert_eq!(h.get(Field::Token), Some(10));
        // JD's header is not a Taobao header.
        assert!(map_header(Marketplace::Taobao, &cells(jd)).is_none());
        assert!(map_header(Marketplace::Jd, &cells("导出时间：2025-05-28 02:00")).is_none());
    }

    #[test]
    fn status_tables() {
        use StatusClass::*;
        let t = |s| parse_status(Marketplace::Taobao, s).map(|x| x.1);
        assert_eq!(t("买家已付款，等待卖家发货"), Some(Paid));
        assert_eq!(t("卖家已发货，等待买家确认"), Some(Paid));
        assert_eq!(t("交易成功"), Some(Paid));
        assert_eq!(t("等待买家付款"), Some(Unpaid));
        assert_eq!(t("买家未付款"), Some(Unpaid));
        assert_eq!(t("交易关闭"), Some(Closed));
        assert_eq!(t("完成"), None);
        let j = |s| parse_status(Marketplace::Jd, s).map(|x| x.1);
        assert_eq!(j("等待出库"), Some(Paid));
        assert_eq!(j("等待确认收货"), Some(Paid));
        assert_eq!(j("完成"), Some(Paid));
        assert_eq!(j("(删除)完成"), Some(Paid));
        assert_eq!(j("（删除）已取消"), Some(Closed));
        assert_eq!(j("等待付款"), Some(Unpaid));
        assert_eq!(j("已取消"), Some(Closed));
        assert_eq!(j("交易成功"), None);
        assert_eq!(
            parse_status(Marketplace::Jd, "(删除)等待出库").unwrap().0,
            "等待出库"
        );
    }
}
