import { MeasurementPhase, MeasurementResult } from '../analysis/condition';
import { GateKind } from '../model/gates';
import { RunOutcome } from './argo-replay';
import { requiredShare, ScenarioResult } from './rehearse';
import { Expectation, healthyAssumption, OcPoint } from './scenarios';
import { RehearsalTarget } from './target';

/** `1 trial`, `3 trials`. */
function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** The verdicts at one point of a gate's operating characteristic, as shares of its trials. */
export interface OcMeasurement {
  readonly multiple: number;
  /** the true share of bad requests */
  readonly share: number;
  readonly trials: number;
  readonly promoted: number;
  /** Failed (or Error): the rollout is aborted */
  readonly stopped: number;
  /** Inconclusive: the rollout pauses for a person */
  readonly paused: number;
  /** the bound the design puts on this point, and whether the measurement keeps it */
  readonly bound?: { readonly verdict: 'not-promoted' | 'promoted'; readonly atMost: number; readonly measured: number; readonly upper95: number; readonly kept: boolean };
}

/** A gate's operating characteristic as measured. */
export interface OcRow {
  readonly gate: string;
  readonly kind: GateKind;
  /** the threshold, as a share of bad requests */
  readonly threshold: number;
  /** whether the gate states its design (a sequential gate); else it is held to the default one */
  readonly designed: boolean;
  readonly points: readonly OcMeasurement[];
}

/**
 * The upper end of the 95 % Wilson score interval of a share measured as k of n: what the
 * measurement allows the true share to be.
 */
export function upper95(k: number, n: number): number {
  if (n === 0) return 1;
  const z = 1.959964;
  const p = k / n;
  const centre = p + (z * z) / (2 * n);
  const spread = z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  return Math.min(1, (centre + spread) / (1 + (z * z) / n));
}

/** The measured operating characteristic of a target's share gates, from its results. */
export function ocRows(results: readonly ScenarioResult[]): OcRow[] {
  const points = results.filter((r) => r.scenario.point);
  const gates = [...new Set(points.map((r) => r.scenario.point!.gate))];
  return gates.map((gate) => {
    const rs = points.filter((r) => r.scenario.point!.gate === gate);
    const first = rs[0].scenario.point!;
    return {
      gate,
      kind: first.kind,
      threshold: first.threshold,
      designed: first.designed,
      points: rs.map((r) => measure(r, r.scenario.point!)),
    };
  });
}

function measure(r: ScenarioResult, point: OcPoint): OcMeasurement {
  const n = r.trials.length;
  const count = (p: MeasurementPhase) => r.verdicts[p] ?? 0;
  const promoted = count(MeasurementPhase.SUCCESSFUL);
  const stopped = count(MeasurementPhase.FAILED) + count(MeasurementPhase.ERROR);
  const paused = count(MeasurementPhase.INCONCLUSIVE);
  const b = point.bound;
  const k = b ? (b.verdict === 'promoted' ? promoted : n - promoted) : 0;
  return {
    multiple: point.multiple,
    share: point.share,
    trials: n,
    promoted: promoted / n,
    stopped: stopped / n,
    paused: paused / n,
    bound: b && { verdict: b.verdict, atMost: b.atMost, measured: k / n, upper95: upper95(k, n), kept: k / n <= b.atMost + 1e-12 },
  };
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
    /** the canary user request rate the trials drew from, per canary pod */
    readonly canaryRequestsPerSecond: number;
    /** what the trials take a healthy canary to be: the service's statement, or the assumption made without one */
    readonly healthy: string;
    readonly scenarios: {
      readonly name: string;
      readonly description: string;
      readonly expectation: string;
      /** the phases a stopped run may end with */
      readonly expected: string[];
      readonly expectedGate: string | null;
      /** the gates replayed: every gate, or the one whose operating characteristic the scenario measures */
      readonly gates: string[];
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
        /** the seed its requests were drawn from */
        readonly seed: number;
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
    /** each share gate's operating characteristic, measured */
    readonly operatingCharacteristic: OcRow[];
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

/** The targets of some results, in order. */
function targetsOf(results: readonly ScenarioResult[]): RehearsalTarget[] {
  return [...new Set(results.map((r) => r.target))];
}

/** The results as the `--json` document. */
export function toReport(results: readonly ScenarioResult[]): RehearsalReport {
  return {
    setups: targetsOf(results).map((target) => {
      const rs = results.filter((r) => r.target === target);
      return {
        rollout: target.rollout,
        source: target.source,
        prometheus: target.prometheus.name,
        gates: target.gates.map((g) => ({ name: g.name, kind: g.kind ?? null })),
        canaryRequestsPerSecond: target.canaryUserRequestsPerSecond,
        healthy: healthyAssumption(target),
        scenarios: rs.map((r) => {
          const ex = exampleOf(r);
          return {
            name: r.scenario.name,
            description: r.scenario.description,
            expectation: r.scenario.expectation,
            expected: [...r.scenario.expected],
            expectedGate: r.scenario.expectedGate ?? null,
            gates: [...(r.scenario.gates ?? target.gates.map((g) => g.name))],
            trials: r.trials.length,
            share: r.share,
            requiredShare: requiredShare(r.scenario),
            asExpected: r.asExpected,
            verdicts: { ...r.verdicts } as Record<string, number>,
            decidedAfterSeconds: r.decidedAfter,
            example: {
              trial: ex.trial.index,
              seed: ex.trial.seed,
              verdict: ex.outcome.verdict,
              decidingGate: ex.outcome.decidingGate,
              decidedAfterSeconds: ex.outcome.decidedAfterSeconds,
              gates: gatesJson(ex.outcome),
            },
          };
        }),
        operatingCharacteristic: ocRows(rs),
      };
    }),
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
  return `${Number((share * 100).toFixed(share > 0 && share < 0.001 ? 2 : 1))}%`;
}

/** What a scenario expects, in a few words. */
function expectedText(r: ScenarioResult): string {
  switch (r.scenario.expectation) {
    case Expectation.STOPPED: return `${r.scenario.expected.join(' or ')} by ${r.scenario.expectedGate ?? 'any'} gate`;
    case Expectation.PROMOTED: return 'Successful (promoted)';
    case Expectation.NOT_ABORTED: return 'promoted, not aborted by it';
    case Expectation.MEASURED: return 'measured';
  }
}

/** What a point's true share is, as the table heads it: `2.5%` of requests, or `3x` the stable pods' error ratio. */
function pointLabel(row: OcRow, p: OcMeasurement): string {
  return row.kind === GateKind.ERROR_RATE_VS_STABLE ? `${Number(p.share.toPrecision(3))}x stable` : pct(p.share);
}

/** The operating characteristic of a target's gates: per gate, its verdicts at each true share. */
export function formatOc(rows: readonly OcRow[], indent = '  '): string[] {
  const out: string[] = [];
  const cell = 14;
  const line = (label: string, cells: string[]) => `${indent}  ${label.padEnd(12)}${cells.map((c) => c.padStart(cell)).join('')}`;
  for (const row of rows) {
    const what = row.kind === GateKind.ERROR_RATE ? 'failed' : row.kind === GateKind.LATENCY ? 'slower than its bound' : "error ratio against the stable pods'";
    const threshold = row.kind === GateKind.ERROR_RATE_VS_STABLE ? `${row.threshold}x` : pct(row.threshold);
    out.push(`${indent}${row.gate} (true share ${what}; threshold ${threshold}${row.designed ? '' : '; held to the default design'})`);
    out.push(line('true share', row.points.map((p) => pointLabel(row, p))));
    out.push(line('promoted', row.points.map((p) => pct(p.promoted))));
    out.push(line('stopped', row.points.map((p) => pct(p.stopped))));
    out.push(line('paused', row.points.map((p) => pct(p.paused))));
    const bounds = row.points.filter((p) => p.bound).map((p) => {
      const b = p.bound!;
      const what = b.verdict === 'promoted' ? 'promoted' : 'not promoted';
      return `at ${pointLabel(row, p)} ${what} ${pct(b.measured)} (95% bound ${pct(b.upper95)}), at most ${pct(b.atMost)}${b.kept ? '' : ' MISSED'}`;
    });
    if (bounds.length > 0) out.push(`${indent}  ${bounds.join('; ')}`);
  }
  return out;
}

/** The table printed per rollout and Prometheus setup: its gates, one line per scenario, the operating characteristic, and the measurements of a trial that missed. */
export function formatResults(results: readonly ScenarioResult[]): string {
  const out: string[] = [];
  const targets = targetsOf(results);
  for (const target of targets) {
    const rs = results.filter((r) => r.target === target);
    const runs = rs.filter((r) => !r.scenario.point);
    const width = Math.max(...runs.map((r) => r.scenario.name.length), 8);
    out.push(`${target.rollout} on ${target.prometheus.name} (scrape ${target.prometheus.scrapeSeconds}s, spanmetrics flush ${target.spanmetrics.flushSeconds}s, `
      + `canary ${Number(target.canaryUserRequestsPerSecond.toPrecision(3))} req/s): ${plural(rs[0]?.trials.length ?? 0, 'trial')} per scenario`);
    out.push(`  gates: ${target.gates.map((g) => `${g.name} (${g.kind ?? 'kind not stated'})`).join(', ')}`);
    out.push(`  a healthy canary: ${healthyAssumption(target)}`);
    out.push(`  ${'scenario'.padEnd(width)}  ${'expected'.padEnd(36)}  ${'as expected'.padStart(11)}  ${'verdicts'.padEnd(42)}  time to verdict p50 / p95`);
    for (const r of runs) {
      const verdicts = Object.entries(r.verdicts).map(([v, n]) => `${v} ${n}`).join(', ');
      const mark = r.asExpected ? '' : `  UNEXPECTED (needs ${pct(requiredShare(r.scenario))}${r.scenario.expectation === Expectation.NOT_ABORTED ? ', none aborted after it' : ''})`;
      out.push(`  ${r.scenario.name.padEnd(width)}  ${expectedText(r).padEnd(36)}  ${pct(r.share).padStart(11)}  ${verdicts.padEnd(42)}  ${r.decidedAfter.p50}s / ${r.decidedAfter.p95}s${mark}`);
    }
    const oc = ocRows(rs);
    if (oc.length > 0) {
      out.push('  operating characteristic: each gate alone, at true shares of bad requests from none to four times its threshold, over the trials');
      out.push(...formatOc(oc, '    '));
    }
    for (const r of rs.filter((x) => !x.asExpected && !x.scenario.point)) {
      const ex = exampleOf(r);
      out.push(`  ${r.scenario.name}, trial ${ex.trial.index} (seed ${ex.trial.seed}): ${ex.outcome.verdict} after ${ex.outcome.decidedAfterSeconds}s, decided by ${ex.outcome.decidingGate}`);
      for (const g of ex.outcome.gates) {
        out.push(`    ${g.name}: ${g.phase}${g.terminated ? ' (run ended)' : ''}; ${g.measurements.map((m) => `${m.atSeconds}s: ${shortValue(m.result)} ${m.phase[0]}`).join(', ') || '-'}`);
      }
    }
    out.push('');
  }
  const missed = results.filter((r) => !r.asExpected);
  out.push('times are seconds after the AnalysisRun started; good canaries must be promoted in 99% of trials (a disturbed one never aborted after the disturbance), bad ones stopped in every trial, '
    + 'and each gate must keep its design: at half its threshold at most falseStop not promoted, at twice it at most falsePromote promoted');
  out.push('a sequential test may stop a canary whose shares are healthy (a trickle, or a good canary before its collector restarts): its false stop, as often as its design allows');
  if (targets.some((t) => t.gates.some((g) => g.kind === undefined || g.kind === GateKind.CUSTOM))) {
    out.push('a custom gate, or one whose kind the template does not state, may stop a bad canary in place of the expected gate (Failed or Inconclusive)');
  }
  out.push(missed.length === 0
    ? `all ${results.length} scenario runs reached their expected verdicts`
    : `${missed.length} of ${results.length} scenario runs missed: ${missed.map((r) => `${r.scenario.name} (${r.target.rollout}, ${r.target.prometheus.name})`).join(', ')}`);
  return out.join('\n');
}
