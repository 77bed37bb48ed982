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
use crate::report::{campaign_rows, note_rows, CampaignRow, NoteRow, Rendered};

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_escaped(&mut out, s);
    out
}

/// [`escape`] onto the end of `out`, without a string of its own: most text needs no escaping
/// and is copied in one go.
pub fn push_escaped(out: &mut String, s: &str) {
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let with = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        // `i` is the index of an ASCII byte, so a char boundary.
        out.push_str(&s[plain..i]);
        out.push_str(with);
        plain = i + 1;
    }
    out.push_str(&s[plain..]);
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

fn section_into(out: &mut String, title: &str, body: &str) {
    out.push_str("<section><h2>");
    push_escaped(out, title);
    out.push_str("</h2>");
    out.push_str(body);
    out.push_str("</section>");
}

fn nothing(text: &str) -> String {
    format!("<p class=\"empty\">{}</p>", escape(text))
}

/// Opens a figure's cell: its field name and its value as the page's sort script reads them.
fn td_open(out: &mut String, field: &str, value: &str) {
    out.push_str("<td data-field=\"");
    out.push_str(field);
    out.push_str("\" data-v=\"");
    out.push_str(value);
    out.push_str("\">");
}

fn money_td(out: &mut String, field: &str, fen: i64) {
    td_open(out, field, itoa::Buffer::new().format(fen));
    crate::money::push_yuan_grouped(out, fen);
    out.push_str("</td>");
}

fn count_td(out: &mut String, field: &str, n: u64) {
    let mut buf = itoa::Buffer::new();
    let n = buf.format(n);
    td_open(out, field, n);
    out.push_str(n);
    out.push_str("</td>");
}

/// The CTD ROAS cell: the ratio, or a dash (and an empty data-v) when there is no spend.
fn roas_td(out: &mut String, roas: Option<&str>) {
    td_open(out, "ctd_roas", roas.unwrap_or(""));
    out.push_str(roas.unwrap_or("–"));
    out.push_str("</td>");
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
    render_html_of(input, &campaign_rows(input), &note_rows(input))
}

/// report.html with the rows of campaigns.csv and notes.csv already grouped.
pub(crate) fn render_html_of(
    input: &ReportInput,
    campaigns: &[CampaignRow],
    notes: &[NoteRow],
) -> Rendered {
    let today = DayTotals::of(&input.lines);
    let prev = input.previous_day.as_ref();
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
        ctd.push_str("<tr data-campaign=\"");
        push_escaped(&mut ctd, &c.campaign_id);
        ctd.push_str("\"><td class=\"t\">");
        push_escaped(&mut ctd, &c.name);
        ctd.push_str("<br><small>");
        push_escaped(&mut ctd, &c.campaign_id);
        let _ = write!(
            ctd,
            "</small></td><td class=\"t\">{} – {} <small>+{}d</small></td>",
            c.start, c.end, c.window_days
        );
        money_td(&mut ctd, "ctd_net_gmv", total);
        money_td(&mut ctd, "spend", c.spend_fen);
        roas_td(&mut ctd, roas.as_deref());
        ctd.push_str("</tr>");
    }
    if input.campaigns.is_empty() {
        ctd.push_str(
            "<tr><td class=\"empty\" colspan=\"5\">No campaign is live on this day.</td></tr>",
        );
    }
    ctd.push_str("</tbody></table></div>");
    section_into(&mut h, "Campaigns to date 活动累计", &ctd);

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
    section_into(
        &mut h,
        "Net GMV by day, campaign to date 每日净成交",
        &day_chart,
    );

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
    for r in campaigns {
        let m = r.marketplace.map(|m| m.as_str()).unwrap_or("");
        t.push_str("<tr data-campaign=\"");
        push_escaped(&mut t, &r.campaign_id);
        t.push_str("\" data-marketplace=\"");
        t.push_str(m);
        t.push_str("\"><td class=\"t\">");
        push_escaped(&mut t, &r.campaign_name);
        t.push_str("<br><small>");
        push_escaped(&mut t, &r.campaign_id);
        t.push_str("</small></td><td class=\"t\">");
        t.push_str(m);
        t.push_str("</td>");
        count_td(&mut t, "orders", r.orders);
        count_td(&mut t, "units", r.units);
        money_td(&mut t, "gmv", r.gmv);
        money_td(&mut t, "refund", r.refund);
        money_td(&mut t, "net_gmv", r.net_gmv);
        count_td(&mut t, "buyers", r.buyers);
        count_td(&mut t, "halo_orders", r.halo_orders);
        money_td(&mut t, "halo_net_gmv", r.halo_net_gmv);
        money_td(&mut t, "ctd_net_gmv", r.ctd_net_gmv);
        money_td(&mut t, "spend", r.spend);
        roas_td(&mut t, r.ctd_roas.as_deref());
        t.push_str("</tr>");
    }
    if campaigns.is_empty() {
        t.push_str(
            "<tr><td class=\"empty\" colspan=\"13\">Nothing was credited on this day.</td></tr>",
        );
    }
    t.push_str("</tbody></table></div>");
    section_into(&mut h, "Campaigns today 今日活动", &t);

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
    section_into(&mut h, "Which notes sell 笔记成交 (top 20)", &note_chart);

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
    section_into(
        &mut h,
        "Direct against halo 直接 vs 连带",
        &pie(&[("direct", direct), ("halo", halo)]),
    );
    section_into(
        &mut h,
        "Ad links against comment links 广告挂链 vs 评论区蓝链",
        &pie(&[("ad_link", ad), ("comment_link", comment)]),
    );
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
    for r in notes {
        let kind = r.link_kind.map(|k| k.as_str()).unwrap_or("");
        let m = r.marketplace.map(|m| m.as_str()).unwrap_or("");
        n.push_str("<tr data-campaign=\"");
        push_escaped(&mut n, &r.campaign_id);
        n.push_str("\" data-note=\"");
        push_escaped(&mut n, &r.note_id);
        n.push_str("\" data-link-kind=\"");
        n.push_str(kind);
        n.push_str("\" data-marketplace=\"");
        n.push_str(m);
        n.push_str("\"><td class=\"t\">");
        push_escaped(&mut n, &r.campaign_id);
        n.push_str("</td><td class=\"t\">");
        push_escaped(&mut n, &r.note_id);
        n.push_str("</td><td class=\"t\">");
        n.push_str(kind);
        n.push_str("</td><td class=\"t\">");
        n.push_str(m);
        n.push_str("</td>");
        count_td(&mut n, "orders", r.orders);
        count_td(&mut n, "units", r.units);
        money_td(&mut n, "net_gmv", r.net_gmv);
        money_td(&mut n, "halo_net_gmv", r.halo_net_gmv);
        n.push_str("</tr>");
    }
    if notes.is_empty() {
        n.push_str(
            "<tr><td class=\"empty\" colspan=\"8\">Nothing was credited on this day.</td></tr>",
        );
    }
    n.push_str("</tbody></table></div>");
    section_into(&mut h, "Notes today 今日笔记", &n);
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
