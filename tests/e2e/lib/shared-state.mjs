// What the tests of several wardens share: a real redis-server, HAProxy
// (round robin) in front of the wardens, and each warden's view of its link
// to Redis.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from './peers.mjs';
import { portOpen, run, waitFor } from './proc.mjs';

/* Throws, naming the Debian packages, when one of bins is not installed. */
export function needBinaries(...bins) {
  for (const bin of bins) {
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    } catch {
      throw new Error(`${bin} is not installed: apt-get install redis-server haproxy (tests/run installs them)`);
    }
  }
}

/* redis-server on 127.0.0.1:port, its files in dir; appendonly: data kept across restarts. */
export function startRedis(port, dir, { appendonly = false } = {}) {
  const keep = appendonly ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  const child = run('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...keep,
    '--dir', dir]);
  return waitFor(child, 'redis-server', () => portOpen(port)).then(() => child);
}

/* HAProxy round robin over the wardens; backendLines go into its backend
 * section. Returns { child, port }. */
export async function startBalancer(dir, wardens, backendLines = []) {
  const port = await freePort();
  const cfg = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(cfg, [
    'global', '  maxconn 1000', 'defaults', '  mode http', '  timeout connect 5s', '  timeout client 60s',
    '  timeout server 60s', 'frontend mcp', `  bind 127.0.0.1:${port}`, '  default_backend wardens',
    'backend wardens', '  balance roundrobin', ...backendLines,
    ...wardens.map((w, i) => `  server w${i} 127.0.0.1:${w.port}`), '',
  ].join('\n'));
  const child = run('haproxy', ['-db', '-f', cfg]);
  await waitFor(child, 'haproxy', () => portOpen(port));
  return { child, port };
}

/* True when warden w says its Redis link is up `polls` times in a row (each
 * poll may land on another worker, each with its own link). */
export async function stateUp(w, polls = 6) {
  try {
    for (let i = 0; i < polls; i++) {
      const h = await (await fetch(`${w.base}/healthz`, { signal: AbortSignal.timeout(2000) })).json();
      if (h.state !== 'up') return false;
    }
    return true;
  } catch {
    return false;
  }
}
