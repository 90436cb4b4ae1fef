import { MeasurementResult } from '../analysis/condition';
import { GateKind } from '../model/gates';
import { RunOutcome } from './argo-replay';
import { requiredShare, ScenarioResult } from './rehearse';

/** `1 trial`, `3 trials`. */
function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** The `--json` document. */
export interface RehearsalReport {
  readonly setups: {
    /** the rollout the results are for, `namespace/name` */
    readonly rollout: string;
    /** the target: where the gates were read from, and the Prometheus setup */
    readonly source: string;
    readonly prometheus: string;
    /** the gates replayed, in template order, with their kind (null when the template does not state it) */
    readonly gates: { readonly name: string; readonly kind: string | null }[];
    readonly scenarios: {
      readonly name: string;
      readonly expectation: string;
      readonly expected: string;
      readonly expectedGate: string | null;
      readonly trials: number;
      /** the share of trials with an expected verdict, and the share required */
      readonly share: number;
      readonly requiredShare: number;
      readonly asExpected: boolean;
      /** trials per verdict */
      readonly verdicts: Record<string, number>;
      /** time to verdict over the trials, seconds after the AnalysisRun started */
      readonly decidedAfterSeconds: { readonly p50: number; readonly p95: number };
      /** the first trial that missed its expectation, in full, or the first trial when none did */
      readonly example: {
        readonly trial: number;
        readonly verdict: string;
        readonly decidingGate: string;
        readonly decidedAfterSeconds: number;
        readonly gates: {
          readonly name: string;
          readonly phase: string;
          readonly decidedAfterSeconds: number;
          /** `value`: the first sample of the result; null for an empty result or a query error; "NaN"/"+Inf"/"-Inf" as Prometheus writes them */
          readonly measurements: { readonly atSeconds: number; readonly value: number | string | null; readonly phase: string }[];
        }[];
      };
    }[];
  }[];
}

function firstValue(result: MeasurementResult | undefined): number | undefined {
  if (result === undefined) return undefined;
  return Array.isArray(result) ? result[0] : result;
}

function jsonValue(v: number | undefined): number | string | null {
  if (v === undefined) return null;
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf';
  return v;
}

/** The trial a report shows in full: the first that missed, else the first. */
function exampleOf(r: ScenarioResult) {
  return r.trials.find((t) => !t.asExpected) ?? r.trials[0];
}

function gatesJson(o: RunOutcome) {
  return o.gates.map((g) => ({
    name: g.name,
    phase: g.phase,
    decidedAfterSeconds: g.decidedAfterSeconds,
    measurements: g.measurements.map((m) => ({ atSeconds: m.atSeconds, value: jsonValue(firstValue(m.result)), phase: m.phase })),
  }));
}

/** The results as the `--json` document. */
export function toReport(results: readonly ScenarioResult[]): RehearsalReport {
  const sources = [...new Set(results.map((r) => r.target))];
  return {
    setups: sources.map((target) => ({
      rollout: target.rollout,
      source: target.source,
      prometheus: target.prometheus.name,
      gates: target.gates.map((g) => ({ name: g.name, kind: g.kind ?? null })),
      scenarios: results.filter((r) => r.target === target).map((r) => {
        const ex = exampleOf(r);
        return {
          name: r.scenario.name,
          expectation: r.scenario.expectation,
          expected: r.scenario.expected,
          expectedGate: r.scenario.expectedGate ?? null,
          trials: r.trials.length,
          share: r.share,
          requiredShare: requiredShare(r.scenario.expectation),
          asExpected: r.asExpected,
          verdicts: { ...r.verdicts } as Record<string, number>,
          decidedAfterSeconds: r.decidedAfter,
          example: {
            trial: ex.trial.index,
            verdict: ex.outcome.verdict,
            decidingGate: ex.outcome.decidingGate,
            decidedAfterSeconds: ex.outcome.decidedAfterSeconds,
            gates: gatesJson(ex.outcome),
          },
        };
      }),
    })),
  };
}

/** A measured value, short: 3 significant digits, `empty` for an empty result, `error` for a failed query. */
function shortValue(result: MeasurementResult | undefined): string {
  const v = firstValue(result);
  if (result === undefined) return 'error';
  if (v === undefined) return 'empty';
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 1000 ? v.toFixed(0) : Number(v.toPrecision(3)).toString();
}

function pct(share: number): string {
  return `${Number((share * 100).toFixed(1))}%`;
}

/** The table printed per rollout and Prometheus setup: its gates, one line per scenario, and the measurements of a trial that missed. */
export function formatResults(results: readonly ScenarioResult[]): string {
  const out: string[] = [];
  const sources = [...new Set(results.map((r) => r.target))];
  const width = Math.max(...results.map((r) => r.scenario.name.length), 8);
  for (const target of sources) {
    const rs = results.filter((r) => r.target === target);
    out.push(`${target.rollout} on ${target.prometheus.name} (scrape ${target.prometheus.scrapeSeconds}s, spanmetrics flush ${target.spanmetrics.flushSeconds}s): ${plural(rs[0]?.trials.length ?? 0, 'trial')} per scenario`);
    out.push(`  gates: ${target.gates.map((g) => `${g.name} (${g.kind ?? 'kind not stated'})`).join(', ')}`);
    out.push(`  ${'scenario'.padEnd(width)}  ${'expected'.padEnd(34)}  ${'as expected'.padStart(11)}  ${'verdicts'.padEnd(40)}  time to verdict p50 / p95`);
    for (const r of rs) {
      const expected = r.scenario.expectation === 'stopped'
        ? `${r.scenario.expected} by ${r.scenario.expectedGate ?? 'any'} gate`
        : r.scenario.expectation === 'promoted' ? 'Successful (promoted)' : 'not aborted';
      const verdicts = Object.entries(r.verdicts).map(([v, n]) => `${v} ${n}`).join(', ');
      const mark = r.asExpected ? '' : `  UNEXPECTED (needs ${pct(requiredShare(r.scenario.expectation))})`;
      out.push(`  ${r.scenario.name.padEnd(width)}  ${expected.padEnd(34)}  ${pct(r.share).padStart(11)}  ${verdicts.padEnd(40)}  ${r.decidedAfter.p50}s / ${r.decidedAfter.p95}s${mark}`);
    }
    for (const r of rs.filter((x) => !x.asExpected)) {
      const ex = exampleOf(r);
      out.push(`  ${r.scenario.name}, trial ${ex.trial.index}: ${ex.outcome.verdict} after ${ex.outcome.decidedAfterSeconds}s, decided by ${ex.outcome.decidingGate}`);
      for (const g of ex.outcome.gates) {
        out.push(`    ${g.name}: ${g.phase}${g.terminated ? ' (run ended)' : ''}; ${g.measurements.map((m) => `${m.atSeconds}s: ${shortValue(m.result)} ${m.phase[0]}`).join(', ') || '-'}`);
      }
    }
    out.push('');
  }
  const missed = results.filter((r) => !r.asExpected);
  out.push('times are seconds after the AnalysisRun started; good canaries must be promoted in 99% of trials, bad ones stopped in every trial');
  if (sources.some((t) => t.gates.some((g) => g.kind === undefined || g.kind === GateKind.CUSTOM))) {
    out.push('a custom gate, or one whose kind the template does not state, may stop a bad canary in place of the expected gate (Failed or Inconclusive)');
  }
  out.push(missed.length === 0
    ? `all ${results.length} scenario runs reached their expected verdicts`
    : `${missed.length} of ${results.length} scenario runs missed: ${missed.map((r) => `${r.scenario.name} (${r.target.rollout}, ${r.target.prometheus.name})`).join(', ')}`);
  return out.join('\n');
}
