import { fixtureFolder } from './helpers';
import { LoadedManifest, PRESET_IMAGES, runRules } from '../lib';

/** The rules' options as validate gives them. */
const OPTIONS = { images: PRESET_IMAGES };
import { loadManifests } from '../lib/manifests';
import { ALL_RULES } from '../lib/rules/all-rules';

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

/** Runs `f` once per round for each input, alternating (a b a b ...); the best time of each in ms (the least disturbed by a loaded machine), and its last result. */
function bestOfAlternating<I, T>(rounds: number, inputs: readonly I[], f: (input: I) => T): { ms: number; result: T }[] {
  const best = inputs.map(() => ({ ms: Infinity, result: undefined as T }));
  for (let r = 0; r < rounds; r++) {
    inputs.forEach((input, i) => {
      const start = process.hrtime.bigint();
      best[i].result = f(input);
      best[i].ms = Math.min(best[i].ms, Number(process.hrtime.bigint() - start) / 1e6);
    });
  }
  return best;
}

test('the rules take time linear in the number of objects, and find the same per copy', () => {
  const base = loadManifests(fixtureFolder());
  const rules = ALL_RULES.filter((r) => !r.id.startsWith('schema/')); // schemas are per object by construction
  const perCopy = runRules(copies(base, 1), rules, OPTIONS).length;
  const small = copies(base, 30);
  const large = copies(base, 120);
  runRules([...small], rules, OPTIONS); // warm-up: the first run also pays for compiling the rules
  // A fresh array per run, so no cached model is reused.
  const [tSmall, tLarge] = bestOfAlternating(3, [small, large], (objects) => runRules([...objects], rules, OPTIONS));
  expect(tSmall.result).toHaveLength(30 * perCopy);
  expect(tLarge.result).toHaveLength(120 * perCopy);
  // 4x the objects: linear is about 4x the time, quadratic 16x; allow for noise on a loaded machine.
  const ratio = tLarge.ms / Math.max(tSmall.ms, 1);
  if (ratio >= 9) throw new Error(`120 copies took ${tLarge.ms.toFixed(0)} ms, 30 copies ${tSmall.ms.toFixed(0)} ms: ${ratio.toFixed(1)}x for 4x the objects`);
});
