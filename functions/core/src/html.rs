//! report.html: one self-contained page a brand manager opens (no external requests: styles, charts
//! and the table-sorting script are inline), every text from exports or campaigns escaped.
//!
//! Charts are inline SVG ([`crate::svg`]). Every number cell carries `data-field` and
//! `data-v` (fen or a count) so that tests and scripts can read the page's numbers exactly.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use crate::attribution::{CampaignInfo, DayTotals, MatchKind, ReportInput};
use crate::campaign::LinkKind;
use crate::changes::{Change, ChangeKind};
use crate::money::Fen;
use crate::money::{grouped, yuan_grouped};
use crate::report::Rendered;
use crate::statement::Rows;

pub use crate::text::{escape, push_escaped};

pub(crate) const STYLE: &str = r#"
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
.cap{font-size:13px;font-weight:600;color:var(--mute);margin:4px 0 6px}
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

pub(crate) const SORT_SCRIPT: &str = r#"
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

pub(crate) fn section_into(out: &mut String, title: &str, body: &str) {
    out.push_str("<section><h2>");
    push_escaped(out, title);
    out.push_str("</h2>");
    out.push_str(body);
    out.push_str("</section>");
}

pub(crate) fn nothing(text: &str) -> String {
    format!("<p class=\"empty\">{}</p>", escape(text))
}

/// Opens a figure's cell: its field name and its value as the page's sort script reads them.
pub(crate) fn td_open(out: &mut String, field: &str, value: &str) {
    out.push_str("<td data-field=\"");
    out.push_str(field);
    out.push_str("\" data-v=\"");
    out.push_str(value);
    out.push_str("\">");
}

pub(crate) fn money_td(out: &mut String, field: &str, fen: Fen) {
    td_open(out, field, itoa::Buffer::new().format(fen.fen()));
    crate::money::push_yuan_grouped(out, fen);
    out.push_str("</td>");
}

pub(crate) fn count_td(out: &mut String, field: &str, n: u64) {
    let mut buf = itoa::Buffer::new();
    td_open(out, field, buf.format(n));
    crate::money::push_grouped(out, n);
    out.push_str("</td>");
}

/// Note titles of a report's campaigns, by (campaign_id, note_id).
pub(crate) type Titles<'a> = HashMap<(&'a str, &'a str), &'a str>;

pub(crate) fn note_titles(campaigns: &[CampaignInfo]) -> Titles<'_> {
    campaigns
        .iter()
        .flat_map(|c| {
            c.note_titles
                .iter()
                .map(|(n, t)| ((c.campaign_id.as_str(), n.as_str()), t.as_str()))
        })
        .collect()
}

/// A note's cell: its title on RED when the campaign record has one, its id under it.
fn note_td(out: &mut String, titles: &Titles<'_>, campaign_id: &str, note_id: &str) {
    out.push_str("<td class=\"t\" data-field=\"note\" data-v=\"");
    push_escaped(out, note_id);
    out.push_str("\">");
    if let Some(title) = titles.get(&(campaign_id, note_id)) {
        out.push_str("<span class=\"title\">");
        push_escaped(out, title);
        out.push_str("</span><br><small class=\"id\">");
        push_escaped(out, note_id);
        out.push_str("</small>");
    } else {
        push_escaped(out, note_id);
    }
    out.push_str("</td>");
}

/// A ratio cell (ctr, cvr, roas; cpc in yuan): the value, or a dash and an empty data-v when
/// its denominator is 0.
pub(crate) fn ratio_td(out: &mut String, field: &str, v: Option<&str>) {
    td_open(out, field, v.unwrap_or(""));
    out.push_str(v.unwrap_or("–"));
    out.push_str("</td>");
}

/// A link kind in the brand's words.
pub fn link_kind_label(k: LinkKind) -> &'static str {
    match k {
        LinkKind::AdLink => "广告挂链 ad link",
        LinkKind::CommentLink => "评论区蓝链 comment link",
    }
}

pub(crate) fn thead(cols: &[(&str, bool)]) -> String {
    let mut s = String::from("<thead><tr>");
    for (c, text) in cols {
        let _ = write!(s, "<th{}>{c}</th>", if *text { " class=\"t\"" } else { "" });
    }
    s.push_str("</tr></thead>");
    s
}

/// The page's head and header, up to the opening of `<main>`.
pub(crate) fn open_page(h: &mut String, title: &str, heading: &str, sub: &str) {
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body><header><h1>{}</h1><p>{}</p></header><main>",
        escape(title),
        escape(heading),
        escape(sub)
    );
}

/// A headline card: its label, the field and raw value tests read, and the value shown.
pub(crate) fn card(h: &mut String, label: &str, field: &str, raw: &str, shown: &str) {
    let _ = write!(
        h,
        "<div class=\"card\"><div class=\"k\">{label}</div><div class=\"v\" data-field=\"{field}\" data-v=\"{raw}\">{}</div></div>",
        escape(shown)
    );
}

fn empty_row(t: &mut String, cols: usize, text: &str) {
    let _ = write!(
        t,
        "<tr><td class=\"empty\" colspan=\"{cols}\">{}</td></tr>",
        escape(text)
    );
}

/// A cell of changes.csv (yuan as written, `-12.30`) back in fen, when it is an amount.
fn fen_of(cell: &str) -> Option<i64> {
    let (neg, abs) = match cell.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, cell),
    };
    let (int, frac) = abs.split_once('.')?;
    if frac.len() != 2 {
        return None;
    }
    let v = int.parse::<i64>().ok()? * 100 + frac.parse::<i64>().ok()?;
    Some(if neg { -v } else { v })
}

fn field_label(f: &str) -> String {
    match f {
        "net_gmv" => "net GMV".into(),
        "halo_net_gmv" => "halo net GMV".into(),
        "gmv" => "GMV".into(),
        "net" => "net".into(),
        other => other.replace('_', " "),
    }
}

fn thing(file: &str, key: &str) -> String {
    match file {
        "orders" => format!("Order line {key}"),
        "campaigns" => format!("Campaign {key}"),
        _ => format!("Note {key}"),
    }
}

/// The "restated" panel: what this version changed against the one before, in words.
fn restated_panel(h: &mut String, changes: &[Change], supersedes: Option<u64>) {
    let Some(before) = supersedes else { return };
    let mut p = String::new();
    let net_moved: i64 = changes
        .iter()
        .filter(|c| c.file == "campaigns" && c.field == "net_gmv")
        .filter_map(|c| Some(fen_of(&c.after)? - fen_of(&c.before)?))
        .sum();
    let count = |k: ChangeKind| {
        let mut keys: Vec<(&str, &str)> = changes
            .iter()
            .filter(|c| c.change == k)
            .map(|c| (c.file, c.key.as_str()))
            .collect();
        keys.dedup();
        keys.len()
    };
    let _ = write!(
        p,
        "<p id=\"restated-summary\">This statement restates version {before}: {} row(s) changed, {} added, {} removed. Net GMV of the day's campaigns moved by <b data-field=\"net_gmv_moved\" data-v=\"{net_moved}\">{}</b>.</p>",
        count(ChangeKind::Changed),
        count(ChangeKind::Added),
        count(ChangeKind::Removed),
        yuan_grouped(Fen(net_moved))
    );
    p.push_str("<div class=\"scroll\"><table id=\"restated\"><thead><tr><th class=\"t\">What moved</th><th class=\"t\">Before → after</th><th>By</th><th class=\"t\">Because of</th></tr></thead><tbody>");
    for c in changes {
        let _ = write!(
            p,
            "<tr data-file=\"{}\" data-change=\"{}\" data-key=\"{}\" data-field-name=\"{}\"><td class=\"t\">",
            c.file,
            c.change.as_str(),
            escape(&c.key),
            escape(&c.field)
        );
        let what = match c.change {
            ChangeKind::Added => format!("{} is new", thing(c.file, &c.key)),
            ChangeKind::Removed => format!("{} is no longer credited", thing(c.file, &c.key)),
            ChangeKind::Changed => format!("{}: {}", thing(c.file, &c.key), field_label(&c.field)),
        };
        push_escaped(&mut p, &what);
        p.push_str("</td><td class=\"t\">");
        if c.change == ChangeKind::Changed {
            push_escaped(&mut p, &format!("{} → {}", c.before, c.after));
        }
        p.push_str("</td><td>");
        if let (Some(a), Some(b)) = (fen_of(&c.after), fen_of(&c.before)) {
            let d = a - b;
            let _ = write!(
                p,
                "<span class=\"{}\">{}{}</span>",
                if d >= 0 { "up" } else { "down" },
                if d >= 0 { "+" } else { "" },
                yuan_grouped(Fen(d))
            );
        }
        p.push_str("</td><td class=\"t\">");
        if c.source.is_empty() {
            // A campaigns or funnel row sums order lines: the lines' own rows name their exports.
            p.push_str(match c.file {
                "orders" => "<small>the campaign's record (items, window or notes)</small>",
                _ => "<small>the order lines listed here, or the campaign's record</small>",
            });
        } else {
            p.push_str("export <code>");
            push_escaped(&mut p, &c.source);
            p.push_str("</code>");
        }
        p.push_str("</td></tr>");
    }
    if changes.is_empty() {
        empty_row(&mut p, 4, "Only the page changed.");
    }
    p.push_str("</tbody></table></div>");
    section_into(h, "Restated 更正", &p);
}

/// report.html of a statement: the day's headline numbers, its campaigns, notes and funnel, charts
/// of the day and, from v2 on, what was restated (`changes`, against version `supersedes`).
/// Nothing on it is of another date.
pub fn render_statement(
    input: &ReportInput,
    rows: &Rows,
    changes: &[Change],
    supersedes: Option<u64>,
) -> Rendered {
    let today = DayTotals::of(&input.lines);
    let titles = note_titles(&input.campaigns);
    let mut h = String::with_capacity(64 * 1024);
    open_page(
        &mut h,
        &format!("{} · {} · seedline", input.brand_name, input.date),
        &input.brand_name,
        &format!(
            "种草日结单 · statement of {} · brand {}",
            input.date, input.brand_id
        ),
    );
    restated_panel(&mut h, changes, supersedes);

    let spend: Fen = input.red.iter().map(|r| r.figures.spend_fen).sum();
    h.push_str("<div class=\"cards\" id=\"headline\">");
    card(
        &mut h,
        "Orders 订单",
        "orders",
        &today.orders.to_string(),
        &grouped(today.orders),
    );
    card(
        &mut h,
        "Net GMV 净成交",
        "net_gmv",
        &today.net_gmv_fen.fen().to_string(),
        &yuan_grouped(today.net_gmv_fen),
    );
    card(
        &mut h,
        "Refunds 退款",
        "refund",
        &today.refund_fen.fen().to_string(),
        &yuan_grouped(today.refund_fen),
    );
    card(
        &mut h,
        "Buyers 买家",
        "buyers",
        &today.buyers.to_string(),
        &grouped(today.buyers),
    );
    card(
        &mut h,
        "Halo net GMV 连带成交",
        "halo_net_gmv",
        &today.halo_net_gmv_fen.fen().to_string(),
        &yuan_grouped(today.halo_net_gmv_fen),
    );
    card(
        &mut h,
        "RED spend 聚光消费",
        "spend",
        &spend.fen().to_string(),
        &yuan_grouped(spend),
    );
    h.push_str("</div>");

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
    ]));
    t.push_str("<tbody>");
    for r in &rows.campaigns {
        let m = r.marketplace.map(|m| m.as_str()).unwrap_or("");
        t.push_str("<tr data-campaign=\"");
        push_escaped(&mut t, &r.campaign_id);
        let _ = write!(t, "\" data-marketplace=\"{m}\"><td class=\"t\">");
        push_escaped(&mut t, &r.campaign_name);
        t.push_str("<br><small>");
        push_escaped(&mut t, &r.campaign_id);
        let _ = write!(t, "</small></td><td class=\"t\">{m}</td>");
        count_td(&mut t, "orders", r.orders);
        count_td(&mut t, "units", r.units);
        money_td(&mut t, "gmv", r.gmv);
        money_td(&mut t, "refund", r.refund);
        money_td(&mut t, "net_gmv", r.net_gmv);
        count_td(&mut t, "buyers", r.buyers);
        count_td(&mut t, "halo_orders", r.halo_orders);
        money_td(&mut t, "halo_net_gmv", r.halo_net_gmv);
        t.push_str("</tr>");
    }
    if rows.campaigns.is_empty() {
        empty_row(&mut t, 10, "Nothing was credited on this day.");
    }
    t.push_str("</tbody></table></div>");
    section_into(&mut h, "Campaigns today 今日活动", &t);

    // The note funnel, as funnel.csv.
    let mut f = String::from("<div class=\"scroll\"><table class=\"sortable\" id=\"funnel\">");
    f.push_str(&thead(&[
        ("Campaign", true),
        ("Note", true),
        ("Impressions 展现", false),
        ("Clicks 点击", false),
        ("Engagements 互动", false),
        ("Link clicks 组件点击", false),
        ("Spend 消费", false),
        ("Orders", false),
        ("Net GMV", false),
        ("Halo net GMV", false),
        ("CTR", false),
        ("CVR", false),
        ("CPC", false),
        ("ROAS", false),
    ]));
    f.push_str("<tbody>");
    for r in &rows.funnel {
        f.push_str("<tr data-campaign=\"");
        push_escaped(&mut f, &r.campaign_id);
        f.push_str("\" data-note=\"");
        push_escaped(&mut f, &r.note_id);
        f.push_str("\"><td class=\"t\">");
        push_escaped(&mut f, &r.campaign_id);
        f.push_str("</td>");
        note_td(&mut f, &titles, &r.campaign_id, &r.note_id);
        count_td(&mut f, "impressions", r.red.impressions);
        count_td(&mut f, "clicks", r.red.clicks);
        count_td(&mut f, "engagements", r.red.engagements);
        count_td(&mut f, "link_clicks", r.red.link_clicks);
        money_td(&mut f, "spend", r.red.spend_fen);
        count_td(&mut f, "orders", r.orders);
        money_td(&mut f, "net_gmv", r.net_gmv);
        money_td(&mut f, "halo_net_gmv", r.halo_net_gmv);
        ratio_td(&mut f, "ctr", r.ctr().as_deref());
        ratio_td(&mut f, "cvr", r.cvr().as_deref());
        ratio_td(&mut f, "cpc", r.cpc().as_deref());
        ratio_td(&mut f, "roas", r.roas().as_deref());
        f.push_str("</tr>");
    }
    if rows.funnel.is_empty() {
        empty_row(
            &mut f,
            14,
            "No note was shown or sold anything on this day.",
        );
    }
    f.push_str("</tbody></table></div>");
    section_into(&mut h, "Note funnel 笔记漏斗", &f);

    // Charts of the day.
    let mut per_note: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for l in &input.lines {
        *per_note.entry((&l.campaign_id, &l.note_id)).or_default() += l.net_fen().fen();
    }
    let mut per_note: Vec<(String, i64)> = per_note
        .into_iter()
        .map(|((c, n), v)| match titles.get(&(c, n)) {
            Some(title) => (title.to_string(), v),
            None => (n.to_string(), v),
        })
        .collect();
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
            .map(|l| l.net_fen().fen())
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
            let legend: Vec<String> = parts
                .iter()
                .map(|(n, v)| format!("{} {}", escape(n), yuan_grouped(Fen(*v))))
                .collect();
            format!(
                "{}<p><small>{}</small></p>",
                crate::svg::ring(&names.join(" against "), parts),
                legend.join(" · ")
            )
        }
    };
    h.push_str("<div class=\"grid2\">");
    section_into(
        &mut h,
        "Direct against halo 直接 vs 连带",
        &pie(&[("direct 直接", direct), ("halo 连带", halo)]),
    );
    section_into(
        &mut h,
        "Ad links against comment links 广告挂链 vs 评论区蓝链",
        &pie(&[
            (link_kind_label(LinkKind::AdLink), ad),
            (link_kind_label(LinkKind::CommentLink), comment),
        ]),
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
    for r in &rows.notes {
        let kind = r.link_kind.map(|k| k.as_str()).unwrap_or("");
        let m = r.marketplace.map(|m| m.as_str()).unwrap_or("");
        n.push_str("<tr data-campaign=\"");
        push_escaped(&mut n, &r.campaign_id);
        n.push_str("\" data-note=\"");
        push_escaped(&mut n, &r.note_id);
        let _ = write!(
            n,
            "\" data-link-kind=\"{kind}\" data-marketplace=\"{m}\"><td class=\"t\">"
        );
        push_escaped(&mut n, &r.campaign_id);
        n.push_str("</td>");
        note_td(&mut n, &titles, &r.campaign_id, &r.note_id);
        n.push_str("<td class=\"t\">");
        n.push_str(r.link_kind.map(link_kind_label).unwrap_or(""));
        let _ = write!(n, "</td><td class=\"t\">{m}</td>");
        count_td(&mut n, "orders", r.orders);
        count_td(&mut n, "units", r.units);
        money_td(&mut n, "net_gmv", r.net_gmv);
        money_td(&mut n, "halo_net_gmv", r.halo_net_gmv);
        n.push_str("</tr>");
    }
    if rows.notes.is_empty() {
        empty_row(&mut n, 8, "Nothing was credited on this day.");
    }
    n.push_str("</tbody></table></div>");
    section_into(&mut h, "Notes today 今日笔记", &n);
    close_page(
        &mut h,
        &format!("{} credited order lines", input.lines.len()),
    );
    Rendered::new(
        "report.html",
        h.into_bytes(),
        (rows.campaigns.len() + rows.notes.len() + rows.funnel.len()) as u64,
    )
}

pub(crate) fn close_page(h: &mut String, what: &str) {
    let _ = writeln!(
        h,
        "</main><footer>seedline · {} · amounts in yuan · click a column to sort</footer><script>{SORT_SCRIPT}</script></body></html>",
        escape(what)
    );
}

#[cfg(test)]
#[path = "html_tests.rs"]
mod tests;
