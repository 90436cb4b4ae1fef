import { readdirSync, readFileSync } from 'fs';
import { join, posix } from 'path';
import { buildSync, Metafile } from 'esbuild';

/*
 * The layers of lib/, checked on the code: the tools (model, rules, rehearsal, explain) and the
 * constructs sit below the presets and the example apps, and never import them; nothing imports
 * in a circle; each name another system defines is written once.
 */

const ROOT = join(__dirname, '..');

/** Every .ts file under a folder, relative to the root, posix separators. */
function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = posix.join(dir, e.name);
    return e.isDirectory() ? sources(rel) : e.name.endsWith('.ts') ? [rel] : [];
  });
}

/** The project files a source imports (import, export ... from, require of a relative path), as root-relative .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'([^']+)'|require\('([^']+)'\)/g)].map((m) => m[1] ?? m[2]);
  return specs.filter((s) => s.startsWith('.')).flatMap((s) => {
    const base = posix.normalize(posix.join(posix.dirname(file), s));
    const candidates = [`${base}.ts`, `${base}/index.ts`];
    const found = candidates.find((c) => { try { readFileSync(join(ROOT, c)); return true; } catch { return false; } });
    return found ? [found] : [];
  });
}

const FILES = [...sources('lib'), ...sources('cli'), ...sources('examples'), 'main.ts'];
const GRAPH = new Map(FILES.map((f) => [f, importsOf(f)]));

/** The folders below the presets: none of their modules may reach lib/presets/ or examples/, directly or through others. */
const BELOW_PRESETS = ['lib/model/', 'lib/rules/', 'lib/rehearsal/', 'lib/explain/', 'lib/constructs/', 'lib/platform/', 'lib/analysis/'];

/** The path by which `from` reaches a file for which `target` holds, if it does. */
function pathTo(from: string, target: (f: string) => boolean): string[] | undefined {
  const seen = new Set<string>([from]);
  const queue: string[][] = [[from]];
  while (queue.length > 0) {
    const path = queue.shift()!;
    for (const next of GRAPH.get(path[path.length - 1]) ?? []) {
      if (target(next)) return [...path, next];
      if (!seen.has(next)) {
        seen.add(next);
        queue.push([...path, next]);
      }
    }
  }
  return undefined;
}

describe('the layers of lib/', () => {
  test('no module of the tools or the constructs reaches lib/presets/ or examples/', () => {
    const broken = FILES.filter((f) => BELOW_PRESETS.some((d) => f.startsWith(d)))
      .map((f) => pathTo(f, (g) => g.startsWith('lib/presets/') || g.startsWith('examples/')))
      .filter((p): p is string[] => p !== undefined);
    expect(broken.map((p) => `${p[0]} reaches ${p[p.length - 1]} through ${p.join(' -> ')}`)).toEqual([]);
  });

  test('no import cycle', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (f: string, stack: string[]) => {
      state.set(f, 'open');
      for (const next of GRAPH.get(f) ?? []) {
        if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), f, next].join(' -> '));
        else if (!state.has(next)) visit(next, [...stack, f]);
      }
      state.set(f, 'done');
    };
    for (const f of FILES) if (!state.has(f)) visit(f, []);
    expect(cycles).toEqual([]);
  });

  test('the validate command carries no construct library: its bundle has no cdk8s-plus module', () => {
    const result = buildSync({
      entryPoints: [join(ROOT, 'cli/validate.ts')], bundle: true, platform: 'node', format: 'cjs', write: false, metafile: true, logLevel: 'silent',
      outfile: join(ROOT, 'node_modules/.cache/architecture-test/validate.js'),
    });
    const inputs = Object.keys((result.metafile as Metafile).inputs);
    expect(inputs.filter((i) => i.includes('node_modules/cdk8s-plus'))).toEqual([]);
    expect(inputs.filter((i) => i.startsWith('lib/constructs/') || i.startsWith('lib/presets/hotrod-workload'))).toEqual([]);
  });

  test('each OpenTelemetry variable, Argo label and spanmetrics name is written once, where its source is cited', () => {
    const once: [RegExp, string][] = [
      [/'OTEL_[A-Z_]+'/g, 'lib/platform/otel.ts'],
      [/'rollouts-pod-template-hash'/g, 'lib/platform/argo.ts'],
      [/'traces\.span\.metrics'|'STATUS_CODE_ERROR'|'SPAN_KIND_SERVER'/g, 'lib/platform/collector-config.ts'],
      [/'hotrod-progressive-delivery\/[a-z-]+'/g, 'lib/model/gates.ts'],
    ];
    for (const [pattern, home] of once) {
      const code = (f: string) => readFileSync(join(ROOT, f), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|\s)\/\/.*$/gm, '$1');
      const elsewhere = sources('lib').filter((f) => f !== home && new RegExp(pattern.source).test(code(f)));
      expect([pattern.source, elsewhere]).toEqual([pattern.source, []]);
    }
  });
});

