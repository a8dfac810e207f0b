// Real-browser end-to-end test of Nextcloud Login Flow v2 against the real hearth binary.
//
// Debian's /usr/bin/chromium is driven by playwright-core (no browser download).
// Install: scripts/install-browser-deps.sh
// Run:     node tests/browser/login-flow-v2.mjs
// Env:     HEARTH_BIN (default /root/.cache/hearth-target/debug/hearth),
//          ARTIFACTS  (screenshots and server log; default a fresh temp dir),
//          E2E_STRICT=1 (count "soft" checks, printed as "warn", as failures).
// Prints one line per check and ends with "N passed, M failed"; exits non-zero on any failure.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { sleep } from './lib.mjs';

const BIN = process.env.HEARTH_BIN || '/root/.cache/hearth-target/debug/hearth';
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = process.env.ARTIFACTS || fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-e2e-artifacts-'));
const ADMIN = 'alice';
const ADMIN_PW = 'correct horse battery';
const CLIENT_NAME = 'Hearth E2E (login-flow-v2 test)';
const TOTAL_TIMEOUT_MS = 240_000; // the whole run
const HTTP_TIMEOUT_MS = 30_000; // one HTTP request (debug builds hash passwords slowly)
const UI_TIMEOUT_MS = 30_000; // one browser wait
const START_TIMEOUT_MS = 60_000; // server answering /status.php
const CLI_TIMEOUT_MS = 120_000; // one CLI command (setup)
const STRICT = process.env.E2E_STRICT === '1';
// The server reads every HEARTH_* variable as a setting and refuses unknown ones
// (HEARTH_BIN among them), so children get the environment without this script's own.
const childEnv = { ...process.env, NO_COLOR: '1' };
delete childEnv.HEARTH_BIN;

fs.mkdirSync(ARTIFACTS, { recursive: true });
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-e2e-'));
const dataDir = path.join(work, 'data');
const profileDir = path.join(work, 'chromium-profile');
fs.mkdirSync(profileDir);
const serverLogPath = path.join(ARTIFACTS, 'server.log');

let server = null; // the hearth child process
let context = null; // the browser context
let passed = 0;
let failed = 0;
let finished = false;

// ---------------------------------------------------------------- helpers

function log(line) {
  process.stdout.write(line + '\n');
}

class Fatal extends Error {}

/** Runs one check; prints one line. A failing `critical` check aborts the run; a failing
 * `soft` one (a known cosmetic server defect) prints "warn" and is not counted unless STRICT. */
async function check(name, fn, { critical = false, soft = false } = {}) {
  try {
    const note = await fn();
    passed++;
    log(`ok   ${name}${note ? ` (${note})` : ''}`);
    return true;
  } catch (e) {
    const msg = (e && e.message ? e.message : String(e)).split('\n')[0];
    if (soft && !STRICT) {
      log(`warn ${name}: ${msg} (not counted; E2E_STRICT=1 counts it)`);
      return false;
    }
    failed++;
    log(`FAIL ${name}: ${msg}`);
    if (critical) throw new Fatal(name);
    return false;
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

function eq(actual, expected, what) {
  if (actual !== expected) {
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** fetch with a bounded time; returns { status, headers, text, json }. */
async function http(url, { method = 'GET', headers = {}, body, redirect = 'manual' } = {}) {
  const res = await fetch(url, { method, headers, body, redirect, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

const basic = (user, pw) => 'Basic ' + Buffer.from(`${user}:${pw}`).toString('base64');

function poll(endpoint, token) {
  return http(endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'User-Agent': CLIENT_NAME },
    body: new URLSearchParams({ token }).toString(),
  });
}

function ocsUser(base, user, pw) {
  return http(`${base}/ocs/v2.php/cloud/user?format=json`, {
    headers: { Authorization: basic(user, pw), 'OCS-APIRequest': 'true', Accept: 'application/json' },
  });
}

function serverLogTail(lines = 15) {
  try {
    return fs.readFileSync(serverLogPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no server log)';
  }
}

async function stopServer() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((r) => server.once('exit', r));
  server.kill('SIGTERM');
  const ok = await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)]);
  if (!ok) {
    server.kill('SIGKILL');
    await Promise.race([exited, sleep(5_000)]);
  }
}

async function cleanup() {
  if (context) {
    await Promise.race([context.close().catch(() => {}), sleep(10_000)]);
    context = null;
  }
  await stopServer();
  fs.rmSync(work, { recursive: true, force: true, maxRetries: 3 });
}

// Last resort: never leave the server behind, whatever happens to this process.
process.on('exit', () => {
  if (server && server.exitCode === null && server.signalCode === null) {
    try {
      process.kill(server.pid, 'SIGKILL');
    } catch {}
  }
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, async () => {
    log(`FAIL interrupted by ${sig}`);
    failed++;
    await cleanup().catch(() => {});
    finish();
  });
}
const watchdog = setTimeout(async () => {
  log(`FAIL whole run exceeded ${TOTAL_TIMEOUT_MS / 1000}s`);
  failed++;
  await Promise.race([cleanup().catch(() => {}), sleep(20_000)]);
  finish();
}, TOTAL_TIMEOUT_MS);

function finish() {
  if (finished) return;
  finished = true;
  clearTimeout(watchdog);
  log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

// ---------------------------------------------------------------- the test

async function main() {
  let base;

  await check('hearth binary exists', () => {
    assert(fs.existsSync(BIN), `${BIN} not found (set HEARTH_BIN)`);
    return BIN;
  }, { critical: true });

  await check('server starts and answers /status.php', async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const logFd = fs.openSync(serverLogPath, 'w');
    server = spawn(BIN, ['serve', '--data', dataDir, '--http', `127.0.0.1:${port}`], {
      stdio: ['ignore', logFd, logFd],
      env: { ...childEnv, RUST_BACKTRACE: '1' },
    });
    fs.closeSync(logFd);
    server.on('error', () => {});
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (server.exitCode !== null || server.signalCode !== null) {
        throw new Error(`server exited (${server.exitCode ?? server.signalCode}); log:\n${serverLogTail()}`);
      }
      try {
        const r = await http(`${base}/status.php`);
        if (r.status === 200) return `pid ${server.pid}, ${base}`;
      } catch {}
      if (Date.now() > deadline) throw new Error(`no answer from ${base}/status.php within ${START_TIMEOUT_MS / 1000}s`);
      await sleep(200);
    }
  }, { critical: true });

  await check('hearth setup (admin alice)', () => {
    const r = spawnSync(BIN, ['setup', '--data', dataDir, '--name', 'family', '--admin', ADMIN, '--password-stdin'], {
      input: ADMIN_PW + '\n',
      env: childEnv,
      encoding: 'utf8',
      timeout: CLI_TIMEOUT_MS,
    });
    if (r.error) throw r.error;
    assert(r.status === 0, `exit ${r.status ?? r.signal}: ${(r.stderr || r.stdout || '').trim().split('\n').pop()}`);
  }, { critical: true });

  await check('status.php says installed', async () => {
    const r = await http(`${base}/status.php`);
    eq(r.status, 200, 'status');
    eq(r.json && r.json.installed, true, 'installed');
  });

  // --- the app starts a flow
  let flow;
  await check('POST /index.php/login/v2 starts a flow', async () => {
    const r = await http(`${base}/index.php/login/v2`, { method: 'POST', headers: { 'User-Agent': CLIENT_NAME } });
    eq(r.status, 200, 'status');
    assert(r.json, `body is not JSON: ${r.text.slice(0, 200)}`);
    const { poll: p, login } = r.json;
    assert(p && typeof p.token === 'string' && p.token.length >= 32, `poll.token missing or short: ${JSON.stringify(p)}`);
    eq(p.endpoint, `${base}/index.php/login/v2/poll`, 'poll.endpoint');
    assert(typeof login === 'string' && login.startsWith(`${base}/index.php/login/v2/flow/`), `login URL: ${login}`);
    assert(login.length > `${base}/index.php/login/v2/flow/`.length, 'login URL has no token');
    flow = { token: p.token, endpoint: p.endpoint, login };
  }, { critical: true });

  await check('poll before grant: 404 []', async () => {
    const r = await poll(flow.endpoint, flow.token);
    eq(r.status, 404, 'status');
    assert(Array.isArray(r.json) && r.json.length === 0, `body: ${r.text.slice(0, 200)}`);
  });

  await check('poll with an unknown token: 404 []', async () => {
    const r = await poll(flow.endpoint, 'x'.repeat(128));
    eq(r.status, 404, 'status');
    assert(Array.isArray(r.json) && r.json.length === 0, `body: ${r.text.slice(0, 200)}`);
  });

  // --- the browser
  await check('chromium launches', async () => {
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 800, height: 600 },
      timeout: UI_TIMEOUT_MS,
    });
    context.setDefaultTimeout(UI_TIMEOUT_MS);
    context.setDefaultNavigationTimeout(UI_TIMEOUT_MS);
    return context.browser()?.version() ?? 'persistent context';
  }, { critical: true });

  const page = context.pages()[0] || (await context.newPage());
  const cspErrors = [];
  context.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspErrors.push(m.text().split('. ')[0]);
  });

  await check('invalid login token URL shows a 403 page', async () => {
    const resp = await page.goto(`${base}/index.php/login/v2/flow/${'0'.repeat(128)}`);
    eq(resp.status(), 403, 'status');
    const text = await page.locator('body').innerText();
    assert(/invalid|expired/i.test(text), `page text: ${text.slice(0, 200)}`);
    assert((await page.locator('#user').count()) === 0, 'a login form is shown');
  });

  await check('login URL redirects (303) to the flow page with a login form', async () => {
    const resp = await page.goto(flow.login);
    eq(new URL(page.url()).pathname, '/index.php/login/v2/flow', 'final path');
    eq(resp.status(), 200, 'flow page status');
    const first = resp.request().redirectedFrom();
    assert(first, 'no redirect happened');
    eq(first.url(), flow.login, 'redirected from');
    eq((await first.response()).status(), 303, 'redirect status');
    await page.locator('#user').waitFor({ state: 'visible' });
    await page.locator('#password').waitFor({ state: 'visible' });
    const button = page.locator('#submit');
    await button.waitFor({ state: 'visible' });
    assert(/log in/i.test(await button.innerText()), `submit button text: ${await button.innerText()}`);
  }, { critical: true });

  await check('wrong password shows 401 "Wrong login name or password"', async () => {
    await page.fill('#user', ADMIN);
    await page.fill('#password', 'not the right password');
    const [resp] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/index.php/login' && r.request().method() === 'POST'),
      page.click('#submit'),
    ]);
    eq(resp.status(), 401, 'status');
    await page.waitForLoadState('domcontentloaded');
    const text = await page.locator('body').innerText();
    assert(text.includes('Wrong login name or password'), `page text: ${text.slice(0, 300)}`);
    assert((await page.locator('#grant').count()) === 0, 'grant button shown after a wrong password');
    assert((await page.locator('#user').count()) === 1, 'no login form to try again');
  });

  await check('poll after wrong password: still 404 []', async () => {
    const r = await poll(flow.endpoint, flow.token);
    eq(r.status, 404, 'status');
    assert(Array.isArray(r.json) && r.json.length === 0, `body: ${r.text.slice(0, 200)}`);
  });

  const grantShot = path.join(ARTIFACTS, 'login-flow-v2-grant.png');
  await check('correct password leads to the grant page', async () => {
    // Start from the flow page again, as a person would after a failed try.
    await page.goto(`${base}/index.php/login/v2/flow`);
    await page.fill('#user', ADMIN);
    await page.fill('#password', ADMIN_PW);
    const [resp] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/index.php/login' && r.request().method() === 'POST'),
      page.click('#submit'),
    ]);
    eq(resp.status(), 303, 'login POST status');
    const grant = page.locator('#grant');
    await grant.waitFor({ state: 'visible' });
    eq(new URL(page.url()).pathname, '/index.php/login/v2/flow', 'grant page path');
    assert(/grant access/i.test(await grant.innerText()), `grant button text: ${await grant.innerText()}`);
    const text = await page.locator('body').innerText();
    assert(text.includes(CLIENT_NAME), `grant page does not name the client "${CLIENT_NAME}"`);
    assert(text.includes(ADMIN), 'grant page does not name the account');
    await page.screenshot({ path: grantShot, fullPage: true });
    return `screenshot ${grantShot}`;
  }, { critical: true });

  await check("pages' own stylesheet applies (not blocked by their CSP)", async () => {
    const color = await page.evaluate(() => getComputedStyle(document.querySelector('h1')).color);
    assert(cspErrors.length === 0, `${cspErrors.length} CSP violation(s), e.g. "${cspErrors[0]}"; h1 color ${color}`);
    assert(color !== 'rgb(0, 0, 0)', `h1 is unstyled (${color})`);
  }, { soft: true });

  await check('poll before clicking grant: still 404 []', async () => {
    const r = await poll(flow.endpoint, flow.token);
    eq(r.status, 404, 'status');
  });

  const doneShot = path.join(ARTIFACTS, 'login-flow-v2-done.png');
  await check('clicking "Grant access" shows "Your app is now connected"', async () => {
    const [resp] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/index.php/login/v2/grant' && r.request().method() === 'POST'),
      page.click('#grant'),
    ]);
    eq(resp.status(), 200, 'grant status');
    const done = page.locator('#done');
    await done.waitFor({ state: 'visible' });
    const text = await done.innerText();
    assert(text.includes('Your app is now connected'), `#done text: ${text}`);
    await page.screenshot({ path: doneShot, fullPage: true });
    return `screenshot ${doneShot}`;
  }, { critical: true });

  // --- the app polls and gets its credentials
  let appPassword;
  await check('poll after grant: 200 with server, loginName, appPassword', async () => {
    const r = await poll(flow.endpoint, flow.token);
    eq(r.status, 200, 'status');
    assert(r.json && typeof r.json === 'object', `body: ${r.text.slice(0, 200)}`);
    eq(r.json.server, base, 'server');
    eq(r.json.loginName, ADMIN, 'loginName');
    assert(typeof r.json.appPassword === 'string', 'appPassword missing');
    eq(r.json.appPassword.length, 72, 'appPassword length');
    assert(r.json.appPassword !== ADMIN_PW, 'appPassword is the login password');
    appPassword = r.json.appPassword;
  }, { critical: true });

  await check('second poll: 404 [] (credentials are handed out once)', async () => {
    const r = await poll(flow.endpoint, flow.token);
    eq(r.status, 404, 'status');
    assert(Array.isArray(r.json) && r.json.length === 0, `body: ${r.text.slice(0, 200)}`);
  });

  await check('used login token URL now shows a 403 page', async () => {
    const p2 = await context.newPage();
    try {
      const resp = await p2.goto(flow.login);
      eq(resp.status(), 403, 'status');
      assert((await p2.locator('#grant').count()) === 0, 'grant button shown for a used token');
    } finally {
      await p2.close();
    }
  });

  await check('app password authenticates OCS cloud/user', async () => {
    const r = await ocsUser(base, ADMIN, appPassword);
    eq(r.status, 200, 'status');
    eq(r.json?.ocs?.data?.id, ADMIN, 'ocs.data.id');
  });

  await check('wrong app password is refused (401)', async () => {
    const wrong = appPassword.slice(0, -1) + (appPassword.endsWith('a') ? 'b' : 'a');
    const r = await ocsUser(base, ADMIN, wrong);
    eq(r.status, 401, 'status');
  });

  await check('DELETE /ocs/v2.php/core/apppassword revokes it (200)', async () => {
    const r = await http(`${base}/ocs/v2.php/core/apppassword?format=json`, {
      method: 'DELETE',
      headers: { Authorization: basic(ADMIN, appPassword), 'OCS-APIRequest': 'true', Accept: 'application/json' },
    });
    eq(r.status, 200, 'status');
  });

  await check('revoked app password is refused (401)', async () => {
    const r = await ocsUser(base, ADMIN, appPassword);
    eq(r.status, 401, 'status');
  });

  await check('server still running', () => {
    assert(server.exitCode === null && server.signalCode === null, `server exited (${server.exitCode ?? server.signalCode})`);
  });
}

try {
  await main();
} catch (e) {
  if (!(e instanceof Fatal)) {
    failed++;
    log(`FAIL unexpected error: ${(e && e.stack) || e}`);
  } else {
    log('     (stopping: later checks depend on this one)');
  }
}
if (failed > 0) {
  log(`server log (${serverLogPath}), last lines:`);
  log(serverLogTail().replace(/^/gm, '  | '));
}
await cleanup().catch((e) => log(`cleanup: ${e.message}`));
log(`artifacts: ${ARTIFACTS}`);
finish();
