// report.html as a brand manager opens it: headless Chromium (Debian's package), network off.
// Fails on a console error, a failed or external request, a script dialog, or a blank page; saves
// screenshots under target/browser/. SEEDLINE_REPORTS_DIR names a reports/ tree (scripts/test.sh
// makes one with `seedline demo`).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const reports = process.env.SEEDLINE_REPORTS_DIR;
const shots = process.env.SEEDLINE_SCREENSHOTS_DIR || 'target/browser';
assert.ok(reports, 'SEEDLINE_REPORTS_DIR is not set');
fs.mkdirSync(shots, { recursive: true });

/** Every brand's latest report.html of `date`. */
function pages(date) {
  return fs.readdirSync(reports).flatMap((brand) => {
    const latest = path.join(reports, brand, date, 'latest.json');
    if (!fs.existsSync(latest)) return [];
    const { prefix } = JSON.parse(fs.readFileSync(latest, 'utf8'));
    return [{ brand, file: path.join(path.dirname(reports), prefix, 'report.html') }];
  });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
after(() => browser.close());

async function open(file) {
  const context = await browser.newContext({ offline: true, viewport: { width: 1300, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  const url = 'file://' + path.resolve(file);
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e}`));
  page.on('requestfailed', (r) => problems.push(`failed request: ${r.url()}`));
  page.on('request', (r) => { if (r.url() !== url) problems.push(`request: ${r.url()}`); });
  page.on('dialog', async (d) => { problems.push(`dialog: ${d.message()}`); await d.dismiss(); });
  await page.goto(url, { waitUntil: 'load' });
  return { page, problems, context };
}

for (const date of ['2025-06-05', '2025-06-07']) {
  const found = pages(date);
  test(`there are reports for ${date}`, () => assert.ok(found.length >= 2, `found ${found.length}`));
  for (const { brand, file } of found) {
    test(`${brand} ${date}: renders offline, no errors, not blank`, async () => {
      const { page, problems, context } = await open(file);
      const headline = page.locator('#headline');
      await headline.waitFor({ state: 'visible' });
      const box = await headline.boundingBox();
      assert.ok(box && box.width > 300 && box.height > 40, `headline box ${JSON.stringify(box)}`);
      const text = await page.innerText('body');
      assert.ok(text.includes('Net GMV') && text.includes(brand), 'headline and brand are shown');
      assert.match(text, /¥[0-9,]+\.[0-9]{2}/, 'amounts formatted for people');
      assert.ok(await page.locator('section svg').count() >= 1, 'a chart is drawn');
      assert.ok((await page.evaluate(() => document.body.scrollHeight)) > 600, 'the page has content');
      await page.screenshot({ path: path.join(shots, `${brand}-${date}.png`), fullPage: true });
      assert.deepEqual(problems, []);
      await context.close();
    });
  }
}

test('the campaigns table sorts without a network', async () => {
  const { file } = pages('2025-06-05').find((p) => p.brand === 'b-shuihua');
  const { page, problems, context } = await open(file);
  const values = () => page.$$eval('#campaigns tbody tr td[data-field="net_gmv"]', (tds) => tds.map((td) => Number(td.dataset.v)));
  assert.ok((await values()).length >= 2, 'several rows to sort');
  const header = page.locator('#campaigns th', { hasText: /^Net GMV$/ });
  await header.click();
  const asc = await values();
  assert.deepEqual(asc, [...asc].sort((a, b) => a - b));
  await header.click();
  const desc = await values();
  assert.deepEqual(desc, [...desc].sort((a, b) => b - a));
  assert.deepEqual(problems, []);
  await context.close();
});

test('notes by their titles, links in the brand\'s words, amounts to the fen', async () => {
  const { file } = pages('2025-06-05').find((p) => p.brand === 'b-shuihua');
  const titles = new Map(fs.readFileSync(path.join(path.dirname(reports), 'campaigns.jsonl'), 'utf8')
    .split('\n').filter((l) => l.includes('"campaign_id"')).map((l) => JSON.parse(l))
    .filter((c) => c.brand_id === 'b-shuihua')
    .flatMap((c) => c.notes.filter((n) => n.title).map((n) => [n.note_id, n.title])));
  assert.ok(titles.size >= 2, 'the demo gives its notes titles');
  const { page, problems, context } = await open(file);
  const notes = await page.$$eval('#notes tbody td[data-field="note"]', (tds) => tds.map((td) => [td.dataset.v, td.innerText]));
  assert.ok(notes.length >= 1, 'notes are listed');
  for (const [id, text] of notes) {
    assert.ok(text.includes(id), `${id} is shown`);
    if (titles.has(id)) assert.ok(text.includes(titles.get(id)), `${id} shows its title: ${text}`);
  }
  assert.ok(notes.some(([id]) => titles.has(id)), 'a titled note is on the page');
  const kinds = await page.$$eval('#notes tbody tr', (trs) => trs.map((tr) => [tr.dataset.linkKind, tr.children[2].innerText]));
  const label = { ad_link: /广告挂链/, comment_link: /评论区蓝链/ };
  for (const [kind, shown] of kinds) assert.match(shown, label[kind], `${kind} reads ${shown}`);
  assert.ok(!(await page.innerText('main')).match(/\b(ad_link|comment_link)\b/), 'no enum names on the page');
  // Every amount cell prints its exact fen: ¥1,234.56 for data-v 123456.
  const money = await page.$$eval('td[data-field$="gmv"], td[data-field="refund"], td[data-field="spend"]',
    (tds) => tds.map((td) => [td.dataset.v, td.innerText]));
  assert.ok(money.length >= 4);
  for (const [v, shown] of money) {
    const fen = Math.round(Number(shown.replace(/[¥,]/g, '')) * 100);
    assert.match(shown, /^-?¥[0-9]{1,3}(,[0-9]{3})*\.[0-9]{2}$/, shown);
    assert.equal(fen, Number(v), `${shown} is ${v} fen`);
  }
  assert.deepEqual(problems, []);
  await context.close();
});

/** Every statement whose latest version restates an earlier one. */
function restated() {
  return fs.readdirSync(reports).flatMap((brand) =>
    fs.readdirSync(path.join(reports, brand)).filter((d) => d !== 'to-date').flatMap((date) => {
      const { prefix, version } = JSON.parse(fs.readFileSync(path.join(reports, brand, date, 'latest.json'), 'utf8'));
      return version >= 2 ? [{ brand, date, version, dir: path.join(path.dirname(reports), prefix) }] : [];
    }));
}

test('a restated statement says what moved, by how much and because of which export', async () => {
  const all = restated();
  assert.ok(all.length >= 1, 'the demo restates at least one statement');
  const { brand, date, version, dir } = all[0];
  const changes = fs.readFileSync(path.join(dir, 'changes.csv'), 'utf8').trim().split('\r\n').slice(1);
  const { page, problems, context } = await open(path.join(dir, 'report.html'));
  const summary = await page.innerText('#restated-summary');
  assert.match(summary, new RegExp(`restates version ${version - 1}`));
  const rows = page.locator('#restated tbody tr');
  assert.equal(await rows.count(), changes.length, 'one panel row per changes.csv row');
  // Each changed order line names the export that changed it, as changes.csv does.
  for (const line of changes.filter((l) => l.startsWith('orders,changed,'))) {
    const source = line.split(',').at(-1);
    assert.ok(source.startsWith('exports/'), line);
    assert.ok((await page.innerText('#restated')).includes(source), `${source} on the page`);
  }
  assert.match(await page.innerText('#restated'), /[+-]¥[0-9,]+\.[0-9]{2}/, 'by how much, in yuan');
  for (const id of ['#campaigns', '#funnel', '#notes']) {
    assert.ok(await page.locator(id).isVisible(), `${id} is shown`);
  }
  const html = await page.content();
  assert.ok(!html.includes('ctd_'), 'a statement shows no figure of another date');
  assert.ok((await page.innerText('header')).includes(date));
  await page.screenshot({ path: path.join(shots, `${brand}-${date}-v${version}.png`), fullPage: true });
  assert.deepEqual(problems, []);
  await context.close();
});

for (const brand of fs.readdirSync(reports)) {
  const latest = path.join(reports, brand, 'to-date', 'latest.json');
  if (!fs.existsSync(latest)) continue;
  test(`${brand} to-date: totals, the campaigns' funnel, charts by day and per campaign`, async () => {
    const { prefix } = JSON.parse(fs.readFileSync(latest, 'utf8'));
    const dir = path.join(path.dirname(reports), prefix);
    const csvRows = (name) => fs.readFileSync(path.join(dir, name), 'utf8').trim().split('\r\n').slice(1);
    const { page, problems, context } = await open(path.join(dir, 'report.html'));
    const headline = await page.innerText('#headline');
    for (const k of ['Net GMV', 'Spend', 'ROAS']) assert.ok(headline.includes(k), `${k} in the headline`);
    // The funnel table holds one row per funnel.csv row, with its net GMV.
    const funnel = csvRows('funnel.csv');
    assert.equal(await page.locator('#funnel tbody tr[data-campaign]').count(), funnel.length);
    const net = funnel.reduce((s, l) => s + Math.round(Number(l.split(',')[12]) * 100), 0);
    assert.equal(Number(await page.locator('#headline [data-field="net_gmv"]').getAttribute('data-v')), net);
    // Net GMV and spend by day, drawn and tabled; a funnel chart per campaign.
    if (csvRows('daily.csv').length > 0) {
      assert.ok(await page.locator('#by-day').count() === 1, 'the series by day');
      assert.ok(await page.locator('svg[aria-label="Net GMV by day"]').count() === 1);
      assert.ok(await page.locator('svg[aria-label="RED spend by day"]').count() === 1);
    }
    assert.equal(await page.locator('#campaign-funnels svg').count(), funnel.length);
    await page.screenshot({ path: path.join(shots, `${brand}-to-date.png`), fullPage: true });
    assert.deepEqual(problems, []);
    await context.close();
  });
}

// The demo's showcased brand spends on RED: its pages carry the whole funnel, from impression to order.
test('a statement\'s note funnel shows RED\'s figures and the ratios of funnel.csv', async () => {
  const { file } = pages('2025-06-05').find((p) => p.brand === 'b-shuihua');
  const rows = fs.readFileSync(path.join(path.dirname(file), 'funnel.csv'), 'utf8').trim().split('\r\n').slice(1);
  assert.ok(rows.length >= 2, 'notes with RED figures');
  const { page, problems, context } = await open(file);
  assert.equal(await page.locator('#funnel tbody tr[data-note]').count(), rows.length);
  for (const line of rows) {
    const c = line.split(',');
    const row = page.locator(`#funnel tbody tr[data-campaign="${c[2]}"][data-note="${c[3]}"]`);
    const cell = (f) => row.locator(`[data-field="${f}"]`);
    assert.equal(await cell('impressions').getAttribute('data-v'), c[4], `${c[3]} impressions`);
    assert.ok(Number(c[4]) > 0, 'RED figures, not zeros');
    assert.equal(Number(await cell('spend').getAttribute('data-v')), Math.round(Number(c[8]) * 100));
    assert.equal((await cell('cpc').innerText()).replace(/[¥,]/g, ''), c[14], `${c[3]} cpc`);
    assert.equal(await cell('ctr').innerText(), c[12], `${c[3]} ctr`);
  }
  assert.deepEqual(problems, []);
  await context.close();
});

test('the to-date page draws each campaign\'s funnel with its figures printed, and ROAS on actual spend', async () => {
  const { prefix } = JSON.parse(fs.readFileSync(path.join(reports, 'b-shuihua', 'to-date', 'latest.json'), 'utf8'));
  const dir = path.join(path.dirname(reports), prefix);
  const funnel = fs.readFileSync(path.join(dir, 'funnel.csv'), 'utf8').trim().split('\r\n').slice(1).map((l) => l.split(','));
  const { page, problems, context } = await open(path.join(dir, 'report.html'));
  const fen = (y) => Math.round(Number(y) * 100);
  const net = funnel.reduce((s, c) => s + fen(c[12]), 0);
  const spend = funnel.reduce((s, c) => s + fen(c[10]), 0);
  assert.ok(funnel.every((c) => fen(c[8]) > 0), 'media spend from RED on every campaign');
  const roas = (Math.round((net * 100) / spend) / 100).toFixed(2);
  assert.equal(await page.locator('#headline [data-field="roas"]').innerText(), roas);
  for (const c of funnel) {
    const chart = page.locator(`#campaign-funnels [data-campaign="${c[2]}"] svg`);
    const text = await chart.innerHTML();
    const grouped = (n) => Number(n).toLocaleString('en-US');
    for (const [label, n] of [['Impressions', c[4]], ['Clicks', c[5]], ['Link clicks', c[7]], ['Orders', c[11]]]) {
      assert.ok(text.includes(label), `${c[2]}: ${label}`);
      assert.ok(text.includes(`>${grouped(n)}</text>`), `${c[2]}: ${label} ${grouped(n)} printed on the chart`);
    }
  }
  // Spend against net GMV by day, each day's figures printed in the table beside the charts.
  const daily = fs.readFileSync(path.join(dir, 'daily.csv'), 'utf8').trim().split('\r\n').slice(1);
  assert.ok(daily.some((l) => fen(l.split(',')[8]) > 0), 'RED spend by day');
  assert.ok(await page.locator('svg[aria-label="RED spend by day"]').isVisible());
  assert.deepEqual(problems, []);
  await context.close();
});
