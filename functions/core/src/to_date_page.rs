//! report.html of the to-date report: headline totals, the campaigns with their funnel, net GMV
//! and spend by day, and each campaign's funnel, every figure printed (nothing needs a hover).

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::Datelike;

use crate::html::{
    card, close_page, count_td, money_td, nothing, open_page, push_escaped, ratio_td, section_into,
    thead,
};
use crate::money::yuan_grouped;
use crate::money::Fen;
use crate::report::Rendered;
use crate::to_date::ToDateInput;

pub fn render(t: &ToDateInput) -> Rendered {
    let mut h = String::with_capacity(64 * 1024);
    open_page(
        &mut h,
        &format!("{} · to {} · seedline", t.brand_name, t.as_of),
        &t.brand_name,
        &format!(
            "种草累计报告 · every campaign from its start to {} · brand {}",
            t.as_of, t.brand_id
        ),
    );
    let (net, spend) = (t.net_gmv(), t.spend());
    let roas = crate::funnel::roas(net, spend);
    h.push_str("<div class=\"cards\" id=\"headline\">");
    card(
        &mut h,
        "Net GMV 净成交",
        "net_gmv",
        &net.fen().to_string(),
        &yuan_grouped(net),
    );
    card(
        &mut h,
        "Spend 花费 (RED + fixed)",
        "spend",
        &spend.fen().to_string(),
        &yuan_grouped(spend),
    );
    card(
        &mut h,
        "ROAS",
        "roas",
        roas.as_deref().unwrap_or(""),
        roas.as_deref().unwrap_or("–"),
    );
    card(
        &mut h,
        "Orders 订单",
        "orders",
        &t.orders().to_string(),
        &crate::money::grouped(t.orders()),
    );
    h.push_str("</div>");

    // The campaigns with their funnel, as the to-date funnel.csv.
    let mut f = String::from("<div class=\"scroll\"><table class=\"sortable\" id=\"funnel\">");
    f.push_str(&thead(&[
        ("Campaign", true),
        ("Flight", true),
        ("Impressions 展现", false),
        ("Clicks 点击", false),
        ("Link clicks 组件点击", false),
        ("Orders", false),
        ("Net GMV", false),
        ("Halo net GMV", false),
        ("Media spend", false),
        ("Fixed spend", false),
        ("Spend", false),
        ("CTR", false),
        ("CVR", false),
        ("CPC", false),
        ("ROAS", false),
    ]));
    f.push_str("<tbody>");
    for r in &t.funnel {
        let c = t.campaign(&r.campaign_id);
        f.push_str("<tr data-campaign=\"");
        push_escaped(&mut f, &r.campaign_id);
        f.push_str("\"><td class=\"t\">");
        push_escaped(&mut f, c.map_or("", |c| c.name.as_str()));
        f.push_str("<br><small>");
        push_escaped(&mut f, &r.campaign_id);
        f.push_str("</small></td><td class=\"t\">");
        if let Some(c) = c {
            let _ = write!(
                f,
                "{} – {} <small>+{}d</small>",
                c.start, c.end, c.window_days
            );
        }
        f.push_str("</td>");
        count_td(&mut f, "impressions", r.red.impressions);
        count_td(&mut f, "clicks", r.red.clicks);
        count_td(&mut f, "link_clicks", r.red.link_clicks);
        count_td(&mut f, "orders", r.orders);
        money_td(&mut f, "net_gmv", r.net_gmv);
        money_td(&mut f, "halo_net_gmv", r.halo_net_gmv);
        money_td(&mut f, "media_spend", r.media_spend());
        money_td(&mut f, "fixed_spend", r.fixed_spend);
        money_td(&mut f, "spend", r.spend());
        ratio_td(&mut f, "ctr", r.ctr().as_deref());
        ratio_td(&mut f, "cvr", r.cvr().as_deref());
        ratio_td(&mut f, "cpc", r.cpc().as_deref());
        ratio_td(&mut f, "roas", r.roas().as_deref());
        f.push_str("</tr>");
    }
    f.push_str("</tbody></table></div>");
    section_into(&mut h, "Campaigns, from impression to order 活动漏斗", &f);

    // Net GMV and spend by day, over every campaign.
    let mut by_day: BTreeMap<chrono::NaiveDate, (i64, i64)> = BTreeMap::new();
    for d in &t.daily {
        let e = by_day.entry(d.date).or_default();
        e.0 += d.net_gmv.fen();
        e.1 += d.spend.fen();
    }
    let label = |d: &chrono::NaiveDate| format!("{:02}-{:02}", d.month(), d.day());
    let series = |pick: fn(&(i64, i64)) -> i64| -> Vec<(String, i64)> {
        by_day.iter().map(|(d, v)| (label(d), pick(v))).collect()
    };
    let mut charts = String::new();
    if by_day.is_empty() {
        charts.push_str(&nothing("Nothing sold and nothing was spent on RED yet."));
    } else {
        // Side by side, each named on the page: spend read against what it sold, day by day.
        charts.push_str("<div class=\"grid2\">");
        for (title, caption, pick) in [
            (
                "Net GMV by day",
                "Net GMV by day 每日净成交",
                (|v| v.0) as fn(&(i64, i64)) -> i64,
            ),
            ("RED spend by day", "RED spend by day 每日聚光花费", |v| v.1),
        ] {
            let _ = write!(charts, "<div><div class=\"cap\">{caption}</div>");
            charts.push_str(&crate::svg::columns(title, &series(pick)));
            charts.push_str("</div>");
        }
        charts.push_str("</div>");
        let mut tbl = String::from("<div class=\"scroll\"><table id=\"by-day\">");
        tbl.push_str(&thead(&[
            ("Date", true),
            ("Net GMV", false),
            ("RED spend", false),
        ]));
        tbl.push_str("<tbody>");
        for (d, (n, s)) in &by_day {
            let _ = write!(tbl, "<tr data-date=\"{d}\"><td class=\"t\">{d}</td>");
            money_td(&mut tbl, "net_gmv", Fen(*n));
            money_td(&mut tbl, "spend", Fen(*s));
            tbl.push_str("</tr>");
        }
        tbl.push_str("</tbody></table></div>");
        charts.push_str(&tbl);
    }
    section_into(&mut h, "Net GMV and spend by day 每日净成交与花费", &charts);

    // Each campaign's funnel.
    let mut per = String::from("<div class=\"grid2\" id=\"campaign-funnels\">");
    for r in &t.funnel {
        let name = t
            .campaign(&r.campaign_id)
            .map_or(r.campaign_id.as_str(), |c| c.name.as_str());
        let points = [
            ("Impressions 展现".to_string(), r.red.impressions as i64),
            ("Clicks 点击".to_string(), r.red.clicks as i64),
            ("Link clicks 组件点击".to_string(), r.red.link_clicks as i64),
            ("Orders 订单".to_string(), r.orders as i64),
        ];
        let mut one = String::from("<div data-campaign=\"");
        push_escaped(&mut one, &r.campaign_id);
        one.push_str("\">");
        one.push_str(&crate::svg::count_bars(
            &format!("Funnel of {name}"),
            &points,
        ));
        one.push_str("</div>");
        section_into(&mut per, name, &one);
    }
    per.push_str("</div>");
    h.push_str(&per);

    // Per marketplace, as the to-date campaigns.csv.
    let mut c = String::from("<div class=\"scroll\"><table class=\"sortable\" id=\"campaigns\">");
    c.push_str(&thead(&[
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
    ]));
    c.push_str("<tbody>");
    for r in &t.totals {
        let m = r.marketplace.map_or("", |m| m.as_str());
        c.push_str("<tr data-campaign=\"");
        push_escaped(&mut c, &r.campaign_id);
        let _ = write!(c, "\" data-marketplace=\"{m}\"><td class=\"t\">");
        push_escaped(&mut c, &r.campaign_id);
        let _ = write!(c, "</td><td class=\"t\">{m}</td>");
        count_td(&mut c, "orders", r.orders);
        count_td(&mut c, "units", r.units);
        money_td(&mut c, "gmv", r.gmv);
        money_td(&mut c, "refund", r.refund);
        money_td(&mut c, "net_gmv", r.net_gmv);
        count_td(&mut c, "buyers", r.buyers);
        count_td(&mut c, "halo_orders", r.halo_orders);
        money_td(&mut c, "halo_net_gmv", r.halo_net_gmv);
        c.push_str("</tr>");
    }
    c.push_str("</tbody></table></div>");
    section_into(&mut h, "By marketplace 分平台", &c);
    close_page(&mut h, &format!("{} campaigns in scope", t.campaigns.len()));
    Rendered::new("report.html", h.into_bytes(), t.funnel.len() as u64)
}
