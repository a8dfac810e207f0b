// Helpers shared by the browser tests.
import fs from 'node:fs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits, bounded, until the server log at `file` matches `pattern` (a string or a RegExp) and
 * returns the log's text. The server writes its log from a background thread, so a line is in
 * the file a moment after the event that logged it: a test reads the log through this, never
 * once. Throws, with the log's last lines, when `ms` pass without a match.
 */
export async function waitForLog(file, pattern, ms = 5_000) {
  const matches = (text) => (typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text));
  const deadline = Date.now() + ms;
  let text = '';
  for (;;) {
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      text = '';
    }
    if (matches(text)) return text;
    if (Date.now() >= deadline) break;
    await sleep(25);
  }
  const tail = text.trimEnd().split('\n').slice(-5).join('\n');
  throw new Error(`no ${pattern} in the server log within ${ms} ms; its last lines:\n${tail}`);
}
