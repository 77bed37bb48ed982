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
