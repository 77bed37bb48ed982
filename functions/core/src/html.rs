//! report.html: one self-contained page (no external requests), every text escaped.

use std::fmt::Write;

use crate::attribution::{DayTotals, ReportInput};
use crate::money::yuan_grouped;
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
body{font-family:-apple-system,"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif;margin:0;background:#f6f7f9;color:#1d2129}
header{background:#ff2442;color:#fff;padding:20px 32px}header h1{margin:0;font-size:22px}header p{margin:4px 0 0;opacity:.9}
main{padding:24px 32px;max-width:1200px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:24px}
.card{background:#fff;border-radius:8px;padding:14px 18px;min-width:150px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.card .k{font-size:12px;color:#86909c}.card .v{font-size:22px;font-weight:600;margin-top:4px}
.card .d{font-size:12px;margin-top:2px;color:#86909c}.up{color:#00a870!important}.down{color:#e34d59!important}
section{background:#fff;border-radius:8px;padding:16px 20px;margin-bottom:20px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
h2{font-size:16px;margin:0 0 12px}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{padding:6px 8px;border-bottom:1px solid #eef0f3;text-align:right;white-space:nowrap}
th{cursor:pointer;background:#fafbfc;user-select:none}th:first-child,td:first-child,td.t,th.t{text-align:left}
.empty{color:#86909c;font-style:italic}svg text{font-size:11px;fill:#4e5969}
"#;

const SORT_SCRIPT: &str = r#"
document.querySelectorAll('table.sortable').forEach(function(t){
  t.querySelectorAll('th').forEach(function(th,i){
    th.addEventListener('click',function(){
      var body=t.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
      var asc=th.dataset.dir!=='asc';th.dataset.dir=asc?'asc':'desc';
      rows.sort(function(a,b){
        var x=a.cells[i].dataset.v!==undefined?a.cells[i].dataset.v:a.cells[i].textContent;
        var y=b.cells[i].dataset.v!==undefined?b.cells[i].dataset.v:b.cells[i].textContent;
        var nx=parseFloat(x),ny=parseFloat(y);
        var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:(x<y?-1:x>y?1:0);
        return asc?c:-c;});
      rows.forEach(function(r){body.appendChild(r);});});});});
"#;

/// The day-on-day line under a headline number, the difference printed by `show`.
fn delta(now: i64, before: Option<i64>, show: impl Fn(i64) -> String) -> String {
    match before {
        None => "<div class=\"d\">no previous day</div>".into(),
        Some(b) if b == now => "<div class=\"d\">same as previous day</div>".into(),
        Some(b) => {
            let (class, arrow) = if now > b {
                ("up", "▲")
            } else {
                ("down", "▼")
            };
            format!(
                "<div class=\"d {class}\">{arrow} {} vs previous day</div>",
                show((now - b).abs())
            )
        }
    }
}

fn change(now: i64, before: Option<i64>) -> String {
    delta(now, before, |d| d.to_string())
}

fn money_change(now: i64, before: Option<i64>) -> String {
    delta(now, before, yuan_grouped)
}

/// A horizontal bar chart as inline SVG.
fn bar_chart(title: &str, bars: &[(String, i64)]) -> String {
    let mut s = format!("<section><h2>{}</h2>", escape(title));
    if bars.is_empty() || bars.iter().all(|(_, v)| *v == 0) {
        s.push_str("<p class=\"empty\">Nothing sold yet.</p></section>");
        return s;
    }
    let max = bars.iter().map(|(_, v)| *v).max().unwrap_or(1).max(1);
    let h = 22 * bars.len() + 10;
    let _ = write!(
        s,
        "<svg role=\"img\" width=\"100%\" height=\"{h}\" viewBox=\"0 0 800 {h}\">"
    );
    for (i, (label, v)) in bars.iter().enumerate() {
        let y = 5 + i * 22;
        let w = (*v).max(0) * 480 / max;
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\">{}</text><rect x=\"200\" y=\"{y}\" width=\"{w}\" height=\"16\" fill=\"#ff2442\" rx=\"2\"/><text x=\"{}\" y=\"{}\">{}</text>",
            y + 12,
            escape(label),
            205 + w,
            y + 12,
            escape(&yuan_grouped(*v))
        );
    }
    s.push_str("</svg></section>");
    s
}

pub fn render_html(input: &ReportInput) -> Rendered {
    let today = DayTotals::of(&input.lines);
    let prev = input.previous_day.as_ref();
    let campaigns = campaign_rows(input);
    let notes = note_rows(input);
    let mut h = String::new();
    let title = format!("{} · {}", input.brand_name, input.date);
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body>",
        escape(&format!("seedline report: {title}"))
    );
    let _ = write!(
        h,
        "<header><h1>{}</h1><p>seedline attribution report · brand {} · {}</p></header><main>",
        escape(&input.brand_name),
        escape(&input.brand_id),
        input.date
    );
    h.push_str("<div class=\"cards\">");
    let card = |k: &str, v: String, d: String| {
        format!("<div class=\"card\"><div class=\"k\">{k}</div><div class=\"v\">{v}</div>{d}</div>")
    };
    h.push_str(&card(
        "Orders",
        today.orders.to_string(),
        change(today.orders as i64, prev.map(|p| p.orders as i64)),
    ));
    h.push_str(&card(
        "Net GMV",
        yuan_grouped(today.net_gmv_fen),
        money_change(today.net_gmv_fen, prev.map(|p| p.net_gmv_fen)),
    ));
    h.push_str(&card(
        "Refunds",
        yuan_grouped(today.refund_fen),
        money_change(today.refund_fen, prev.map(|p| p.refund_fen)),
    ));
    h.push_str(&card(
        "Buyers",
        today.buyers.to_string(),
        change(today.buyers as i64, prev.map(|p| p.buyers as i64)),
    ));
    h.push_str(&card(
        "Halo net GMV",
        yuan_grouped(today.halo_net_gmv_fen),
        money_change(today.halo_net_gmv_fen, prev.map(|p| p.halo_net_gmv_fen)),
    ));
    h.push_str("</div>");

    // Campaign to date.
    h.push_str("<section><h2>Campaigns to date</h2><table class=\"sortable\"><thead><tr><th class=\"t\">Campaign</th><th>Flight</th><th>CTD net GMV</th><th>Spend</th><th>CTD ROAS</th></tr></thead><tbody>");
    for c in &input.campaigns {
        let ctd: i64 = c.ctd_net_fen.values().sum();
        let roas = crate::money::ratio_2dp(ctd, c.spend_fen).unwrap_or_else(|| "–".into());
        let _ = write!(
            h,
            "<tr><td class=\"t\">{}<br><small>{}</small></td><td>{} – {}</td><td data-v=\"{ctd}\">{}</td><td data-v=\"{}\">{}</td><td>{}</td></tr>",
            escape(&c.name),
            escape(&c.campaign_id),
            c.start,
            c.end,
            yuan_grouped(ctd),
            c.spend_fen,
            yuan_grouped(c.spend_fen),
            roas
        );
    }
    if input.campaigns.is_empty() {
        h.push_str("<tr><td class=\"empty\" colspan=\"5\">No live campaign.</td></tr>");
    }
    h.push_str("</tbody></table></section>");

    let mut by_day: std::collections::BTreeMap<chrono::NaiveDate, i64> = Default::default();
    for c in &input.campaigns {
        for (d, v) in &c.daily_net_fen {
            *by_day.entry(*d).or_default() += v;
        }
    }
    let day_bars: Vec<(String, i64)> = by_day.iter().map(|(d, v)| (d.to_string(), *v)).collect();
    h.push_str(&bar_chart("Net GMV by day, campaign to date", &day_bars));

    // The day's tables.
    h.push_str("<section><h2>Campaigns today</h2><table class=\"sortable\"><thead><tr>");
    for th in [
        "Campaign",
        "Marketplace",
        "Orders",
        "Units",
        "GMV",
        "Refund",
        "Net GMV",
        "Buyers",
        "Halo orders",
        "Halo net GMV",
        "CTD net GMV",
        "Spend",
        "CTD ROAS",
    ] {
        let _ = write!(h, "<th>{th}</th>");
    }
    h.push_str("</tr></thead><tbody>");
    for r in &campaigns {
        let _ = write!(
            h,
            "<tr><td class=\"t\">{}<br><small>{}</small></td><td class=\"t\">{}</td><td>{}</td><td>{}</td><td data-v=\"{}\">{}</td><td data-v=\"{}\">{}</td><td data-v=\"{}\">{}</td><td>{}</td><td>{}</td><td data-v=\"{}\">{}</td><td data-v=\"{}\">{}</td><td data-v=\"{}\">{}</td><td>{}</td></tr>",
            escape(&r.campaign_name),
            escape(&r.campaign_id),
            r.marketplace.map(|m| m.as_str()).unwrap_or(""),
            r.orders,
            r.units,
            r.gmv,
            yuan_grouped(r.gmv),
            r.refund,
            yuan_grouped(r.refund),
            r.net_gmv,
            yuan_grouped(r.net_gmv),
            r.buyers,
            r.halo_orders,
            r.halo_net_gmv,
            yuan_grouped(r.halo_net_gmv),
            r.ctd_net_gmv,
            yuan_grouped(r.ctd_net_gmv),
            r.spend,
            yuan_grouped(r.spend),
            r.ctd_roas.clone().unwrap_or_default()
        );
    }
    if campaigns.is_empty() {
        h.push_str(
            "<tr><td class=\"empty\" colspan=\"13\">Nothing was credited on this day.</td></tr>",
        );
    }
    h.push_str("</tbody></table></section>");

    let note_bars: Vec<(String, i64)> = notes
        .iter()
        .map(|n| {
            (
                format!(
                    "{} · {}",
                    n.note_id,
                    n.link_kind.map(|k| k.as_str()).unwrap_or("")
                ),
                n.net_gmv + n.halo_net_gmv,
            )
        })
        .collect();
    h.push_str(&bar_chart("Net GMV by note (direct + halo)", &note_bars));
    h.push_str(&bar_chart(
        "Direct against halo",
        &[
            ("direct".to_string(), today.net_gmv_fen),
            ("halo".to_string(), today.halo_net_gmv_fen),
        ],
    ));
    let by_kind = |k: crate::campaign::LinkKind| -> i64 {
        input
            .lines
            .iter()
            .filter(|l| l.link_kind == k)
            .map(|l| l.net_fen())
            .sum()
    };
    h.push_str(&bar_chart(
        "Ad links against comment links",
        &[
            (
                "ad_link".to_string(),
                by_kind(crate::campaign::LinkKind::AdLink),
            ),
            (
                "comment_link".to_string(),
                by_kind(crate::campaign::LinkKind::CommentLink),
            ),
        ],
    ));

    h.push_str("<section><h2>Notes today</h2><table class=\"sortable\"><thead><tr>");
    for th in [
        "Campaign",
        "Note",
        "Link",
        "Marketplace",
        "Orders",
        "Units",
        "Net GMV",
        "Halo net GMV",
    ] {
        let _ = write!(h, "<th>{th}</th>");
    }
    h.push_str("</tr></thead><tbody>");
    for n in &notes {
        let _ = write!(
            h,
            "<tr><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td>{}</td><td>{}</td><td data-v=\"{}\">{}</td><td data-v=\"{}\">{}</td></tr>",
            escape(&n.campaign_id),
            escape(&n.note_id),
            n.link_kind.map(|k| k.as_str()).unwrap_or(""),
            n.marketplace.map(|m| m.as_str()).unwrap_or(""),
            n.orders,
            n.units,
            n.net_gmv,
            yuan_grouped(n.net_gmv),
            n.halo_net_gmv,
            yuan_grouped(n.halo_net_gmv)
        );
    }
    if notes.is_empty() {
        h.push_str(
            "<tr><td class=\"empty\" colspan=\"8\">Nothing was credited on this day.</td></tr>",
        );
    }
    h.push_str("</tbody></table></section></main>");
    let _ = writeln!(h, "<script>{SORT_SCRIPT}</script></body></html>");
    Rendered {
        name: "report.html",
        bytes: h.into_bytes(),
        rows: (campaigns.len() + notes.len()) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>alert('x')</script>"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
        );
        assert_eq!(escape("a & \"b\""), "a &amp; &quot;b&quot;");
    }
}
