import { createHash } from 'crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'fs';
import { join, relative } from 'path';

// cli/run.js: the project's sources and installed packages, as `npm run synth` fingerprints them
// eslint-disable-next-line @typescript-eslint/no-require-imports
const run = require('../cli/run') as {
  ROOT: string;
  CACHE: string;
  sourceFiles(): string[];
  fingerprint(files: string[], withContent: boolean): { content: string };
};

/** Every file under a path (itself, when it is a file), sorted. */
function filesUnder(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).sort().flatMap((name) => filesUnder(join(path, name)));
}

/**
 * Runs a check whose answer follows from files alone, unless it passed before on exactly these
 * bytes: the given files or folders (generated output and the inputs it was generated from), the
 * project's sources (lib/, cli/, imports/*.ts, main.ts, the tsconfigs) and the installed
 * packages (`node_modules/.package-lock.json`). The same input gives the same answer, so a check
 * that regenerates a committed file (1 to 2 s of compiling) runs again whenever anything it reads
 * has changed, and on every clean clone, as `npm test`'s type check does.
 */
export function checkUnlessUnchanged(name: string, paths: readonly string[], check: () => void): void {
  const hash = createHash('sha256').update(name).update('\0').update(run.fingerprint(run.sourceFiles(), true).content);
  for (const file of paths.flatMap(filesUnder)) hash.update(`\0${relative(run.ROOT, file)}\0`).update(readFileSync(file));
  const key = hash.digest('hex');
  const stamp = join(run.CACHE, 'checks', createHash('sha256').update(name).digest('hex').slice(0, 16));
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === key) return;
  check();
  mkdirSync(join(run.CACHE, 'checks'), { recursive: true });
  writeFileSync(stamp, key);
}
