// Fails loudly, before any test runs, when the peers are not installed (or not
// the pinned versions): a missing node_modules must never look like a skip.
// Run directly (`node lib/install-check.mjs`) it is CTest's setup fixture.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const e2eDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function checkInstall() {
  const pinned = JSON.parse(fs.readFileSync(path.join(e2eDir, 'package.json'), 'utf8')).dependencies;
  const problems = [];
  for (const [name, want] of Object.entries(pinned)) {
    const file = path.join(e2eDir, 'node_modules', name, 'package.json');
    if (!fs.existsSync(file)) { problems.push(`${name} is not installed`); continue; }
    const have = JSON.parse(fs.readFileSync(file, 'utf8')).version;
    if (have !== want) problems.push(`${name} is ${have}, package.json pins ${want}`);
  }
  if (problems.length > 0) {
    throw new Error(`e2e peers missing: ${problems.join('; ')}. Run: npm ci --prefix ${path.relative(process.cwd(), e2eDir) || '.'}`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    checkInstall();
    console.log('e2e peers installed at the pinned versions');
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
