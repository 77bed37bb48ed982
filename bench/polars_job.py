"""The same job as duckdb_job.py, written as a Polars lazy query run on its streaming engine.
Usage: polars_job.py DATA_DIR DATE OUT_CSV [--latest last|none]

Writes, per campaign and report date, the direct orders, units, gmv, refund and halo net GMV in
fen, with the rules of duckdb_job.py (rejected rows are not appearances, the later row of a line
wins, paid, closed, refund cap, then unknown token, marketplace, shop and window, in that order).
`--latest none` skips the latest-state rule (the same rows only where no line repeats).
"""
import argparse

import polars as pl

ap = argparse.ArgumentParser()
ap.add_argument("data")
ap.add_argument("date")
ap.add_argument("out")
ap.add_argument("--latest", choices=["last", "none"], default="last")
args = ap.parse_args()
data, date, out = args.data, args.date, args.out

campaigns = pl.read_ndjson(
    f"{data}/campaigns.jsonl",
    schema={
        "campaign_id": pl.String, "brand_id": pl.String, "start": pl.String, "end": pl.String,
        "window_days": pl.Int64, "items": pl.Struct({"taobao": pl.List(pl.String)}),
        "notes": pl.List(pl.Struct({"note_id": pl.String, "links": pl.List(pl.Struct(
            {"token": pl.String, "kind": pl.String, "marketplace": pl.String}))})),
    },
)
links = (
    campaigns.with_columns(
        pl.col("start").str.to_date(), pl.col("end").str.to_date(),
        pl.col("items").struct.field("taobao").alias("items"))
    .explode("notes").with_columns(pl.col("notes").struct.field("links").alias("link"))
    .explode("link")
    .select("campaign_id", "brand_id", "start", "end", "window_days", "items",
            pl.col("link").struct.field("token"), pl.col("link").struct.field("marketplace").alias("link_mkt"))
)
shops = (
    pl.read_ndjson(f"{data}/brands.jsonl",
                   schema={"brand_id": pl.String, "shops": pl.Struct({"taobao": pl.List(pl.String)})})
    .select("brand_id", pl.col("shops").struct.field("taobao").alias("shop")).explode("shop")
)


def fen(col):
    """An amount like 129.90 as integer fen, through a decimal (never a float); null when not one."""
    return (pl.col(col).cast(pl.Decimal(18, 2), strict=False) * 100).cast(pl.Int64, strict=False)


paid_states = ["交易成功", "卖家已发货，等待买家确认", "买家已付款，等待卖家发货", "交易关闭"]
raw = pl.scan_csv(f"{data}/exports/taobao/{date}/*.csv", infer_schema=False, quote_char='"').with_row_index("rn")
good = (
    raw.select(
        "rn",
        pl.col("子订单编号").alias("line_id"), pl.col("主订单编号").alias("order_id"),
        pl.col("店铺Id").alias("shop"), pl.col("商品ID").alias("item"),
        pl.col("购买数量").cast(pl.Int64, strict=False).alias("qty"),
        fen("买家实付金额").alias("paid"),
        fen("退款金额").fill_null(0).alias("refund0"),
        pl.col("订单状态").alias("status"),
        pl.col("订单付款时间").str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False).alias("paid_at"),
        pl.col("广告挂链追踪码").alias("token"),
        pl.col("挂链点击时间").str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False).alias("click_at"),
    )
    .filter((pl.col("qty") >= 1) & pl.col("paid").is_not_null())
)
latest = good.unique(subset=["line_id"], keep="last", maintain_order=False) if args.latest == "last" else good
paid = (
    latest.filter(pl.col("paid_at").is_not_null() & (pl.col("token").fill_null("") != "")
                  & pl.col("status").is_in(paid_states))
    .with_columns(pl.when(pl.col("status") == "交易关闭").then(pl.col("paid"))
                  .otherwise(pl.min_horizontal("refund0", "paid")).alias("refund"))
)
credited = (
    paid.join(links.lazy(), on="token", how="inner")
    .filter(pl.col("link_mkt") == "taobao")
    .join(shops.lazy(), left_on=["brand_id", "shop"], right_on=["brand_id", "shop"], how="semi")
    .filter(
        pl.when(pl.col("click_at").is_not_null())
        .then(pl.col("click_at").dt.date().is_between(pl.col("start"), pl.col("end"))
              & (pl.col("paid_at") >= pl.col("click_at"))
              & (pl.col("paid_at") <= pl.col("click_at") + pl.duration(hours=pl.col("window_days") * 24)))
        .otherwise(pl.col("paid_at").dt.date().is_between(
            pl.col("start"), pl.col("end") + pl.duration(days=pl.col("window_days")))))
    .with_columns(pl.col("items").list.contains(pl.col("item")).alias("direct"),
                  pl.col("paid_at").dt.date().alias("date"))
)
d = pl.col("direct")
result = (
    credited.group_by("campaign_id", "date").agg(
        pl.col("order_id").filter(d).n_unique().alias("orders"),
        pl.col("qty").filter(d).sum().alias("units"),
        pl.col("paid").filter(d).sum().alias("gmv"),
        pl.col("refund").filter(d).sum().alias("refund"),
        (pl.col("paid") - pl.col("refund")).filter(~d).sum().alias("halo_net"),
    )
    .sort("campaign_id", "date")
    .collect(engine="streaming")
)
result.write_csv(out)
