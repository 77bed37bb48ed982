"""The job a user would otherwise write: attribution.md's rules over one day's Taobao exports,
as one DuckDB query. Usage: duckdb_job.py DATA_DIR DATE OUT_CSV [--latest window|arg_max|none]

Writes, per campaign and report date, the direct orders, units, gmv, refund and halo net GMV in
fen. Same rules as seedline for what the benchmark's generator writes: rejected rows (quantity
below 1, an amount that is not one) are not appearances; the later row of a line wins; paid
means a payment time and a paid or closed status; closed means fully refunded; refunds are
capped at the paid amount; then unknown token, marketplace, shop and window, in that order.

The latest-state rule (the later row of a line wins) in one of three forms:
- window (the default, the fastest measured): `QUALIFY row_number() OVER (PARTITION BY line_id
  ORDER BY rn DESC) = 1`;
- arg_max: a hash aggregation per line, `arg_max(col, rn)` for every column (slower on DuckDB 1.4.1:
  1M lines 2.15 s against the window's 1.57 s, docs/performance.md);
- none: the rule skipped, the query most users write first; the same rows only where no line repeats.
"""
import argparse

import duckdb

ap = argparse.ArgumentParser()
ap.add_argument("data")
ap.add_argument("date")
ap.add_argument("out")
ap.add_argument("--latest", choices=["window", "arg_max", "none"], default="window")
args = ap.parse_args()
data, date, out = args.data, args.date, args.out
LATEST = {
    "arg_max": "SELECT line_id, arg_max(COLUMNS(* EXCLUDE (line_id)), rn) FROM good GROUP BY line_id",
    "window": "SELECT * FROM good QUALIFY row_number() OVER (PARTITION BY line_id ORDER BY rn DESC) = 1",
    "none": "SELECT * FROM good",
}[args.latest]
con = duckdb.connect()
con.execute(f"""
CREATE TABLE campaigns AS SELECT * FROM read_json('{data}/campaigns.jsonl',
  format = 'newline_delimited',
  columns = {{campaign_id: 'VARCHAR', brand_id: 'VARCHAR', start: 'DATE', "end": 'DATE',
             window_days: 'INTEGER', items: 'STRUCT(taobao VARCHAR[])',
             notes: 'STRUCT(note_id VARCHAR, links STRUCT(token VARCHAR, kind VARCHAR, marketplace VARCHAR)[])[]'}});
CREATE TABLE notes AS
  SELECT campaign_id, brand_id, start, "end", window_days, items.taobao AS items, unnest(notes) AS note
  FROM campaigns;
CREATE TABLE links AS
  SELECT campaign_id, brand_id, start, "end", window_days, items, unnest(note.links) AS link FROM notes;
CREATE TABLE shops AS
  SELECT brand_id, unnest(shops.taobao) AS shop FROM read_json('{data}/brands.jsonl',
    format = 'newline_delimited',
    columns = {{brand_id: 'VARCHAR', shops: 'STRUCT(taobao VARCHAR[])'}});
""")
con.execute(f"""
COPY (
WITH raw AS (
  SELECT row_number() OVER () AS rn, * FROM read_csv('{data}/exports/taobao/{date}/*.csv',
    header = true, all_varchar = true, delim = ',', quote = '"', escape = '"')
), good AS (
  SELECT rn, "子订单编号" AS line_id, "主订单编号" AS order_id, "店铺Id" AS shop, "商品ID" AS item,
         TRY_CAST("购买数量" AS INTEGER) AS qty,
         CAST(round(TRY_CAST("买家实付金额" AS DECIMAL(18, 2)) * 100) AS BIGINT) AS paid,
         coalesce(CAST(round(TRY_CAST(nullif("退款金额", '') AS DECIMAL(18, 2)) * 100) AS BIGINT), 0) AS refund0,
         "订单状态" AS status,
         TRY_CAST(nullif("订单付款时间", '') AS TIMESTAMP) AS paid_at,
         "广告挂链追踪码" AS token,
         TRY_CAST(nullif("挂链点击时间", '') AS TIMESTAMP) AS click_at
  FROM raw
  WHERE TRY_CAST("购买数量" AS INTEGER) >= 1 AND TRY_CAST("买家实付金额" AS DECIMAL(18, 2)) IS NOT NULL
), latest AS (
  {LATEST}
), paid AS (
  SELECT *, CASE WHEN status = '交易关闭' THEN paid ELSE least(refund0, paid) END AS refund
  FROM latest
  WHERE paid_at IS NOT NULL AND coalesce(token, '') <> ''
    AND status IN ('交易成功', '卖家已发货，等待买家确认', '买家已付款，等待卖家发货', '交易关闭')
), credited AS (
  SELECT p.*, l.campaign_id, list_contains(l.items, p.item) AS direct
  FROM paid p JOIN links l ON l.link.token = p.token
  WHERE l.link.marketplace = 'taobao'
    AND EXISTS (SELECT 1 FROM shops s WHERE s.brand_id = l.brand_id AND s.shop = p.shop)
    AND CASE WHEN p.click_at IS NOT NULL THEN
          CAST(p.click_at AS DATE) BETWEEN l.start AND l."end"
          AND p.paid_at >= p.click_at
          AND p.paid_at <= p.click_at + to_hours(CAST(l.window_days AS BIGINT) * 24)
        ELSE CAST(p.paid_at AS DATE) BETWEEN l.start AND l."end" + CAST(l.window_days AS INTEGER)
        END
)
SELECT campaign_id, CAST(paid_at AS DATE) AS date,
       count(DISTINCT order_id) FILTER (WHERE direct) AS orders,
       coalesce(sum(qty) FILTER (WHERE direct), 0) AS units,
       coalesce(sum(paid) FILTER (WHERE direct), 0) AS gmv,
       coalesce(sum(refund) FILTER (WHERE direct), 0) AS refund,
       coalesce(sum(paid - refund) FILTER (WHERE NOT direct), 0) AS halo_net
FROM credited GROUP BY ALL ORDER BY ALL
) TO '{out}' (HEADER, DELIMITER ',');
""")
