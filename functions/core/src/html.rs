//! report.html: one self-contained page a brand manager opens (no external requests: styles, charts
//! and the table-sorting script are inline), every text from exports or campaigns escaped.
//!
//! Charts are inline SVG ([`crate::svg`]). Every number cell carries `data-field` and
//! `data-v` (fen or a count) so that tests and scripts can read the page's numbers exactly.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::Datelike;

use crate::attribution::{DayTotals, MatchKind, ReportInput, CHART_DAYS};
use crate::campaign::LinkKind;
use crate::money::{ratio_2dp, yuan_grouped};
use crate::report::{campaign_rows, note_rows, Rendered};

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root{--red:#ff2442;--ink:#1d2129;--mute:#86909c;--line:#eef0f3}
*{box-sizing:border-box}
body{font-family:-apple-system,"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;margin:0;background:#f6f7f9;color:var(--ink)}
header{background:linear-gradient(90deg,#ff2442,#ff5c73);color:#fff;padding:22px 32px}
header h1{margin:0;font-size:24px}header p{margin:6px 0 0;opacity:.92;font-size:14px}
main{padding:24px 32px;max-width:1280px;margin:0 auto}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;margin-bottom:20px}
.card{background:#fff;border-radius:10px;padding:14px 18px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.card .k{font-size:12px;color:var(--mute)}.card .v{font-size:24px;font-weight:650;margin-top:4px;font-variant-numeric:tabular-nums}
.card .d{font-size:12px;margin-top:2px;color:var(--mute)}.up{color:#00a870!important}.down{color:#e34d59!important}
section{background:#fff;border-radius:10px;padding:16px 20px;margin-bottom:20px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:20px}
.grid2 section{margin-bottom:0}
h2{font-size:16px;margin:0 0 12px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:7px 9px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
th{cursor:pointer;background:#fafbfc;user-select:none;color:#4e5969;font-weight:600}
th.t,td.t{text-align:left}th[data-dir=asc]::after{content:" ▲"}th[data-dir=desc]::after{content:" ▼"}
small{color:var(--mute)}
.empty{color:var(--mute);font-style:italic;text-align:left}
section svg{width:100%;height:auto}
footer{color:var(--mute);font-size:12px;text-align:center;padding:8px 0 24px}
"#;

const SORT_SCRIPT: &str = r#"
document.querySelectorAll('table.sortable').forEach(function(t){
  t.querySelectorAll('th').forEach(function(th,i){
    th.addEventListener('click',function(){
      var body=t.tBodies[0];var rows=Array.prototype.slice.call(body.rows).filter(function(r){return r.cells.length>1;});
      var asc=th.dataset.dir!=='asc';
      t.querySelectorAll('th').forEach(function(o){delete o.dataset.dir;});th.dataset.dir=asc?'asc':'desc';
      rows.sort(function(a,b){
        var x=a.cells[i].dataset.v!==undefined?a.cells[i].dataset.v:a.cells[i].textContent;
        var y=b.cells[i].dataset.v!==undefined?b.cells[i].dataset.v:b.cells[i].textContent;
        var nx=parseFloat(x),ny=parseFloat(y);
        var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:(x<y?-1:x>y?1:0);
        return asc?c:-c;});
      rows.forEach(function(r){body.appendChild(r);});});});});
"#;

/// The day-on-day line under a headline number, the difference printed by `show`. Green is good
/// news: more of everything, except refunds.
fn delta(now: i64, before: Option<i64>, show: impl Fn(i64) -> String, up_is_good: bool) -> String {
    match before {
        None => "<div class=\"d\">no previous day</div>".into(),
        Some(b) if b == now => "<div class=\"d\">same as previous day</div>".into(),
        Some(b) => {
            let arrow = if now > b { "▲" } else { "▼" };
            let class = if (now > b) == up_is_good {
                "up"
            } else {
                "down"
            };
            format!(
                "<div class=\"d {class}\">{arrow} {} vs previous day</div>",
                show((now - b).abs())
            )
        }
    }
}

fn change(now: i64, before: Option<i64>) -> String {
    delta(now, before, |d| d.to_string(), true)
}

fn money_change(now: i64, before: Option<i64>) -> String {
    delta(now, before, yuan_grouped, true)
}

fn section(title: &str, body: &str) -> String {
    format!("<section><h2>{}</h2>{body}</section>", escape(title))
}

fn nothing(text: &str) -> String {
    format!("<p class=\"empty\">{}</p>", escape(text))
}

fn money_td(field: &str, fen: i64) -> String {
    format!(
        "<td data-field=\"{field}\" data-v=\"{fen}\">{}</td>",
        yuan_grouped(fen)
    )
}

fn count_td(field: &str, n: u64) -> String {
    format!("<td data-field=\"{field}\" data-v=\"{n}\">{n}</td>")
}

fn thead(cols: &[(&str, bool)]) -> String {
    let mut s = String::from("<thead><tr>");
    for (c, text) in cols {
        let _ = write!(s, "<th{}>{c}</th>", if *text { " class=\"t\"" } else { "" });
    }
    s.push_str("</tr></thead>");
    s
}

pub fn render_html(input: &ReportInput) -> Rendered {
    let today = DayTotals::of(&input.lines);
    let prev = input.previous_day.as_ref();
    let campaigns = campaign_rows(input);
    let notes = note_rows(input);
    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body>",
        escape(&format!("{} · {} · seedline", input.brand_name, input.date))
    );
    let _ = write!(
        h,
        "<header><h1>{}</h1><p>种草归因日报 · attribution report for {} · brand {}</p></header><main>",
        escape(&input.brand_name),
        input.date,
        escape(&input.brand_id)
    );

    // Headline numbers of the day, against the day before.
    h.push_str("<div class=\"cards\" id=\"headline\">");
    let card = |k: &str, field: &str, v: String, raw: i64, d: String| {
        format!(
            "<div class=\"card\"><div class=\"k\">{k}</div><div class=\"v\" data-field=\"{field}\" data-v=\"{raw}\">{v}</div>{d}</div>"
        )
    };
    let orders = today.orders as i64;
    let buyers = today.buyers as i64;
    h.push_str(&card(
        "Orders 订单",
        "orders",
        orders.to_string(),
        orders,
        change(orders, prev.map(|p| p.orders as i64)),
    ));
    h.push_str(&card(
        "Net GMV 净成交",
        "net_gmv",
        yuan_grouped(today.net_gmv_fen),
        today.net_gmv_fen,
        money_change(today.net_gmv_fen, prev.map(|p| p.net_gmv_fen)),
    ));
    h.push_str(&card(
        "Refunds 退款",
        "refund",
        yuan_grouped(today.refund_fen),
        today.refund_fen,
        delta(
            today.refund_fen,
            prev.map(|p| p.refund_fen),
            yuan_grouped,
            false,
        ),
    ));
    h.push_str(&card(
        "Buyers 买家",
        "buyers",
        buyers.to_string(),
        buyers,
        change(buyers, prev.map(|p| p.buyers as i64)),
    ));
    h.push_str(&card(
        "Halo net GMV 连带成交",
        "halo_net_gmv",
        yuan_grouped(today.halo_net_gmv_fen),
        today.halo_net_gmv_fen,
        money_change(today.halo_net_gmv_fen, prev.map(|p| p.halo_net_gmv_fen)),
    ));
    h.push_str("</div>");

    // Campaigns to date.
    let mut ctd = String::from("<div class=\"scroll\"><table class=\"sortable\" id=\"ctd\">");
    ctd.push_str(&thead(&[
        ("Campaign", true),
        ("Flight", true),
        ("CTD net GMV", false),
        ("Spend", false),
        ("CTD ROAS", false),
    ]));
    ctd.push_str("<tbody>");
    for c in &input.campaigns {
        let total: i64 = c.ctd_net_fen.values().sum();
        let roas = ratio_2dp(total, c.spend_fen);
        let _ = write!(
            ctd,
            "<tr data-campaign=\"{}\"><td class=\"t\">{}<br><small>{}</small></td><td class=\"t\">{} – {} <small>+{}d</small></td>{}{}<td data-field=\"ctd_roas\" data-v=\"{}\">{}</td></tr>",
            escape(&c.campaign_id),
            escape(&c.name),
            escape(&c.campaign_id),
            c.start,
            c.end,
            c.window_days,
            money_td("ctd_net_gmv", total),
            money_td("spend", c.spend_fen),
            roas.clone().unwrap_or_default(),
            roas.unwrap_or_else(|| "–".into())
        );
    }
    if input.campaigns.is_empty() {
        ctd.push_str(
            "<tr><td class=\"empty\" colspan=\"5\">No campaign is live on this day.</td></tr>",
        );
    }
    ctd.push_str("</tbody></table></div>");
    h.push_str(&section("Campaigns to date 活动累计", &ctd));

    let mut by_day: BTreeMap<chrono::NaiveDate, i64> = BTreeMap::new();
    if let Some(first) = input.campaigns.iter().map(|c| c.start).min() {
        let mut d = first.max(input.date - chrono::Duration::days(CHART_DAYS - 1));
        while d <= input.date {
            by_day.insert(d, 0);
            d += chrono::Duration::days(1);
        }
    }
    for (d, v) in &input.daily_net_fen {
        if let Some(slot) = by_day.get_mut(d) {
            *slot += v;
        }
    }
    let day_chart = if by_day.values().all(|v| *v == 0) {
        nothing("No net GMV credited to date.")
    } else {
        let points: Vec<(String, i64)> = by_day
            .iter()
            .map(|(d, v)| (format!("{:02}-{:02}", d.month(), d.day()), *v))
            .collect();
        crate::svg::columns("Net GMV by day", &points)
    };
    h.push_str(&section(
        "Net GMV by day, campaign to date 每日净成交",
        &day_chart,
    ));

    // The day's campaigns table, as campaigns.csv.
    let mut t = String::from("<div class=\"scroll\"><table class=\"sortable\" id=\"campaigns\">");
    t.push_str(&thead(&[
        ("Campaign", true),
        ("Marketplace", true),
        ("Orders", false),
        ("Units", false),
        ("GMV", false),
        ("Refund", false),
        ("Net GMV", false),
        ("Buyers", false),
        ("Halo orders", false),
        ("Halo net GMV", false),
        ("CTD net GMV", false),
        ("Spend", false),
        ("CTD ROAS", false),
    ]));
    t.push_str("<tbody>");
    for r in &campaigns {
        let m = r.marketplace.map(|m| m.as_str()).unwrap_or("");
        let _ = write!(
            t,
            "<tr data-campaign=\"{}\" data-marketplace=\"{m}\"><td class=\"t\">{}<br><small>{}</small></td><td class=\"t\">{m}</td>{}{}{}{}{}{}{}{}{}{}<td data-field=\"ctd_roas\" data-v=\"{}\">{}</td></tr>",
            escape(&r.campaign_id),
            escape(&r.campaign_name),
            escape(&r.campaign_id),
            count_td("orders", r.orders),
            count_td("units", r.units),
            money_td("gmv", r.gmv),
            money_td("refund", r.refund),
            money_td("net_gmv", r.net_gmv),
            count_td("buyers", r.buyers),
            count_td("halo_orders", r.halo_orders),
            money_td("halo_net_gmv", r.halo_net_gmv),
            money_td("ctd_net_gmv", r.ctd_net_gmv),
            money_td("spend", r.spend),
            r.ctd_roas.clone().unwrap_or_default(),
            r.ctd_roas.clone().unwrap_or_else(|| "–".into())
        );
    }
    if campaigns.is_empty() {
        t.push_str(
            "<tr><td class=\"empty\" colspan=\"13\">Nothing was credited on this day.</td></tr>",
        );
    }
    t.push_str("</tbody></table></div>");
    h.push_str(&section("Campaigns today 今日活动", &t));

    // Charts of the day.
    let mut per_note: BTreeMap<String, i64> = BTreeMap::new();
    for l in &input.lines {
        *per_note.entry(l.note_id.clone()).or_default() += l.net_fen();
    }
    let mut per_note: Vec<(String, i64)> = per_note.into_iter().collect();
    per_note.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    per_note.truncate(20);
    let note_chart = if per_note.iter().all(|(_, v)| *v == 0) {
        nothing("No note sold anything on this day.")
    } else {
        crate::svg::bars("Net GMV by note (direct + halo)", &per_note)
    };
    h.push_str(&section("Which notes sell 笔记成交 (top 20)", &note_chart));

    let sum = |pred: &dyn Fn(&crate::attribution::AttributedLine) -> bool| -> i64 {
        input
            .lines
            .iter()
            .filter(|l| pred(l))
            .map(|l| l.net_fen())
            .sum()
    };
    let direct = sum(&|l| l.match_kind == MatchKind::Direct);
    let halo = sum(&|l| l.match_kind == MatchKind::Halo);
    let ad = sum(&|l| l.link_kind == LinkKind::AdLink);
    let comment = sum(&|l| l.link_kind == LinkKind::CommentLink);
    let pie = |parts: &[(&str, i64)]| {
        if parts.iter().all(|(_, v)| *v == 0) {
            nothing("Nothing sold on this day.")
        } else {
            let names: Vec<&str> = parts.iter().map(|(n, _)| *n).collect();
            let names = names.join(" against ");
            let legend: Vec<String> = parts
                .iter()
                .map(|(n, v)| format!("{} {}", escape(n), yuan_grouped(*v)))
                .collect();
            format!(
                "{}<p><small>{}</small></p>",
                crate::svg::ring(&names, parts),
                legend.join(" · ")
            )
        }
    };
    h.push_str("<div class=\"grid2\">");
    h.push_str(&section(
        "Direct against halo 直接 vs 连带",
        &pie(&[("direct", direct), ("halo", halo)]),
    ));
    h.push_str(&section(
        "Ad links against comment links 广告挂链 vs 评论区蓝链",
        &pie(&[("ad_link", ad), ("comment_link", comment)]),
    ));
    h.push_str("</div><div style=\"height:20px\"></div>");

    // The day's notes table, as notes.csv.
    let mut n = String::from("<div class=\"scroll\"><table class=\"sortable\" id=\"notes\">");
    n.push_str(&thead(&[
        ("Campaign", true),
        ("Note", true),
        ("Link", true),
        ("Marketplace", true),
        ("Orders", false),
        ("Units", false),
        ("Net GMV", false),
        ("Halo net GMV", false),
    ]));
    n.push_str("<tbody>");
    for r in &notes {
        let kind = r.link_kind.map(|k| k.as_str()).unwrap_or("");
        let m = r.marketplace.map(|m| m.as_str()).unwrap_or("");
        let _ = write!(
            n,
            "<tr data-campaign=\"{}\" data-note=\"{}\" data-link-kind=\"{kind}\" data-marketplace=\"{m}\"><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"t\">{kind}</td><td class=\"t\">{m}</td>{}{}{}{}</tr>",
            escape(&r.campaign_id),
            escape(&r.note_id),
            escape(&r.campaign_id),
            escape(&r.note_id),
            count_td("orders", r.orders),
            count_td("units", r.units),
            money_td("net_gmv", r.net_gmv),
            money_td("halo_net_gmv", r.halo_net_gmv)
        );
    }
    if notes.is_empty() {
        n.push_str(
            "<tr><td class=\"empty\" colspan=\"8\">Nothing was credited on this day.</td></tr>",
        );
    }
    n.push_str("</tbody></table></div>");
    h.push_str(&section("Notes today 今日笔记", &n));
    let _ = writeln!(
        h,
        "</main><footer>seedline · {} credited order lines · amounts in yuan · click a column to sort</footer><script>{SORT_SCRIPT}</script></body></html>",
        input.lines.len()
    );
    Rendered::new(
        "report.html",
        h.into_bytes(),
        (campaigns.len() + notes.len()) as u64,
    )
}

#[cfg(test)]
#[path = "html_tests.rs"]
mod tests;
