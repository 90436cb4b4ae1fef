import { MeasurementResult } from '../analysis/condition';
import { GateOutcome } from './argo-replay';
import { ScenarioResult } from './rehearse';

/** The `--json` document. */
export interface RehearsalReport {
  readonly scenarios: {
    readonly name: string;
    readonly expected: string;
    readonly verdict: string;
    readonly decidedAfterSeconds: number;
    readonly gates: {
      readonly name: string;
      readonly phase: string;
      readonly decidedAfterSeconds: number;
      /** `value`: the first sample of the result; null for an empty result or a query error; "NaN"/"+Inf"/"-Inf" as Prometheus writes them */
      readonly measurements: { readonly atSeconds: number; readonly value: number | string | null; readonly phase: string }[];
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

/** The results as the `--json` document. */
export function toReport(results: readonly ScenarioResult[]): RehearsalReport {
  return {
    scenarios: results.map((r) => ({
      name: r.scenario.name,
      expected: r.scenario.expected,
      verdict: r.outcome.verdict,
      decidedAfterSeconds: r.outcome.decidedAfterSeconds,
      gates: r.outcome.gates.map((g) => ({
        name: g.name,
        phase: g.phase,
        decidedAfterSeconds: g.decidedAfterSeconds,
        measurements: g.measurements.map((m) => ({ atSeconds: m.atSeconds, value: jsonValue(firstValue(m.result)), phase: m.phase })),
      })),
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

function gatePhase(g: GateOutcome): string {
  if (g.phase === 'Pending') return 'Pending (never measured)';
  return g.terminated ? `${g.phase} (run ended)` : g.phase;
}

/** The table printed per scenario. */
export function formatResults(results: readonly ScenarioResult[]): string {
  const out: string[] = [];
  const nameWidth = Math.max(...results.flatMap((r) => r.outcome.gates.map((g) => g.name.length)), 4);
  for (const r of results) {
    const o = r.outcome;
    const mark = r.asExpected ? 'ok' : `UNEXPECTED (expected ${r.scenario.expected})`;
    const why = o.verdict === 'Successful' ? 'all gates passed' : `decided by ${o.decidingGate}`;
    out.push(`${r.scenario.name}: ${o.verdict} after ${o.decidedAfterSeconds}s, ${why}  [${mark}]`);
    out.push(`  ${r.scenario.description}`);
    out.push(`  ${'gate'.padEnd(nameWidth)}  ${'phase'.padEnd(26)}  ${'after'.padStart(5)}  measurements (time: value phase)`);
    for (const g of o.gates) {
      const ms = g.measurements.map((m) => `${m.atSeconds}s: ${shortValue(m.result)} ${m.phase[0]}`).join(', ');
      out.push(`  ${g.name.padEnd(nameWidth)}  ${gatePhase(g).padEnd(26)}  ${`${g.decidedAfterSeconds}s`.padStart(5)}  ${ms || '-'}`);
      const error = g.measurements.find((m) => m.error)?.error;
      if (error) out.push(`  ${''.padEnd(nameWidth)}  error: ${error.split('\n')[0]}`);
    }
    out.push('');
  }
  const unexpected = results.filter((r) => !r.asExpected).map((r) => r.scenario.name);
  out.push('phases: S Successful, F Failed, E Error, I Inconclusive; times are seconds after the AnalysisRun started');
  out.push(unexpected.length === 0
    ? `all ${results.length} scenarios reached their expected verdicts`
    : `${unexpected.length} of ${results.length} scenarios reached an unexpected verdict: ${unexpected.join(', ')}`);
  return out.join('\n');
}
