// Warden under test: build/warden (or $WARDEN_BIN) on a free loopback port,
// ready once GET /healthz answers 200.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, run, stop, waitFor } from './proc.mjs';

const repoDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const wardenBin = process.env.WARDEN_BIN || path.join(repoDir, 'build', 'warden');

/* Starts warden with `args` plus `--listen 127.0.0.1:PORT` (PORT free, or the
 * given `port` when the config must name it). The result has
 * base (http://127.0.0.1:PORT), url (base + /mcp), child, stderr(), logged()
 * and stop(). */
export async function startWarden(args, { env = {}, readyMs = 10000, port: fixedPort } = {}) {
  if (!fs.existsSync(wardenBin)) {
    throw new Error(`no warden binary at ${wardenBin}: build it (cmake --build build --target warden) or set WARDEN_BIN`);
  }
  const port = fixedPort ?? await freePort();
  // Options go before `-- COMMAND...`, which takes the rest of the line.
  const cut = args.indexOf('--');
  const listen = ['--listen', `127.0.0.1:${port}`];
  const argv = cut < 0 ? [...args, ...listen] : [...args.slice(0, cut), ...listen, ...args.slice(cut)];
  const child = run(wardenBin, argv, { env });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(child, 'warden', async () => (await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1000) })).status === 200, readyMs);
  return {
    child, port, base, url: `${base}/mcp`,
    stderr: () => child.stderrText(),
    /* Resolves once stderr matches re. Node reads the child's stderr pipe
     * apart from the HTTP socket, so a line warden wrote before answering can
     * reach the test after the answer: never assert on stderr at once. */
    logged: async (re, ms = 5000) => {
      const deadline = Date.now() + ms;
      while (!re.test(child.stderrText())) {
        if (Date.now() > deadline) assert.fail(`warden's stderr never matched ${re}:\n${child.stderrText()}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    /* SIGTERM, SIGKILL after the bound; resolves to the exit code. */
    stop: (ms) => stop(child, ms),
  };
}
