import { fixtureFolder } from './helpers';
import { ALL_RULES, LoadedManifest, loadManifests, runRules } from '../lib';

/** The fixture stack repeated `n` times, each copy in namespaces of its own (`otel-3`, `hotrod-3`, ...), with its URLs following. */
function copies(base: readonly LoadedManifest[], n: number): LoadedManifest[] {
  const namespaces = [...new Set(base.map((m) => m.object.metadata.namespace).filter((x): x is string => !!x))];
  const out: LoadedManifest[] = [];
  for (let i = 0; i < n; i++) {
    for (const m of base) {
      let text = JSON.stringify(m.object);
      for (const ns of namespaces) {
        text = text.split(`"namespace":"${ns}"`).join(`"namespace":"${ns}-${i}"`).split(`.${ns}.svc`).join(`.${ns}-${i}.svc`);
      }
      out.push({ object: JSON.parse(text), file: `${i}/${m.file}` });
    }
  }
  return out;
}

/** The best of a few runs, in ms: the least disturbed by a loaded machine. */
function bestOf(runs: number, f: () => void): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    f();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e6);
  }
  return best;
}

test('the rules take time linear in the number of objects, and find the same per copy', () => {
  const base = loadManifests(fixtureFolder());
  const rules = ALL_RULES.filter((r) => !r.id.startsWith('schema/')); // schemas are per object by construction
  const perCopy = runRules(copies(base, 1), rules).length;
  const small = copies(base, 75);
  const large = copies(base, 300);
  // A fresh array per run, so no cached model is reused.
  const tSmall = bestOf(3, () => runRules([...small], rules));
  const tLarge = bestOf(3, () => runRules([...large], rules));
  expect(runRules([...large], rules)).toHaveLength(300 * perCopy);
  // 4x the objects: linear is about 4x the time, quadratic 16x; allow for noise on a loaded machine.
  const ratio = tLarge / Math.max(tSmall, 1);
  if (ratio >= 9) throw new Error(`300 copies took ${tLarge.toFixed(0)} ms, 75 copies ${tSmall.toFixed(0)} ms: ${ratio.toFixed(1)}x for 4x the objects`);
});
