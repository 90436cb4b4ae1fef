import { Duration } from 'cdk8s';
import { promDuration } from '../util';

/*
 * Service level objectives and the multiwindow, multi-burn-rate alerts of the SRE workbook,
 * chapter 5 "Alerting on SLOs" (sre.google/workbook/alerting-on-slos, "Recommended parameters";
 * the same numbers in slok/sloth internal/alert/windows/google-30d.yaml): an alert fires when the
 * error ratio over a long window AND over a short window (1/12 of it) both burn the error budget at
 * the row's rate. Every number here is plain data; the constructs render it as Prometheus rules.
 */

/** Who is woken: a page now, or a ticket for working hours. */
export enum AlertSeverity {
  PAGE = 'page',
  TICKET = 'ticket',
}

/** What an SLO counts as bad: failed requests, or requests slower than a bound. */
export enum SloKind {
  AVAILABILITY = 'availability',
  LATENCY = 'latency',
}

/** One row of the burn-rate table: the budget share it guards against losing within its long window. */
export interface BurnRateWindow {
  readonly severity: AlertSeverity;
  /** the share of the whole period's error budget that burning at this rate spends within the long window */
  readonly budgetShare: number;
  readonly longWindow: Duration;
  readonly shortWindow: Duration;
}

/**
 * The workbook's rows for a 30-day period: 2 % of the budget in 1h (14.4x) and 5 % in 6h (6x)
 * page; 10 % in 1d (3x) and 10 % in 3d (1x) open a ticket. The short windows are 1/12 of the long.
 */
export const SRE_WORKBOOK_WINDOWS: readonly BurnRateWindow[] = [
  { severity: AlertSeverity.PAGE, budgetShare: 0.02, longWindow: Duration.hours(1), shortWindow: Duration.minutes(5) },
  { severity: AlertSeverity.PAGE, budgetShare: 0.05, longWindow: Duration.hours(6), shortWindow: Duration.minutes(30) },
  { severity: AlertSeverity.TICKET, budgetShare: 0.10, longWindow: Duration.days(1), shortWindow: Duration.hours(2) },
  { severity: AlertSeverity.TICKET, budgetShare: 0.10, longWindow: Duration.days(3), shortWindow: Duration.hours(6) },
];

/** The burn rate of a row for an SLO period: the budget share x period / long window (14.4 for 2 % in 1h of 30 days). */
export function burnRate(row: BurnRateWindow, period: Duration): number {
  return Number(((row.budgetShare * period.toSeconds()) / row.longWindow.toSeconds()).toPrecision(12));
}

/** A service's objectives, as the user states them; any left out is derived from its gates. */
export interface SloObjectives {
  /** the share of user requests that must succeed, in (0, 1) @default - 1 - the error-rate gate's maxErrorRatio */
  readonly availability?: number;
  /** the share of user requests that must be faster than latencyThreshold, in (0, 1) @default - the latency gate's quantile (0.95) */
  readonly latency?: number;
  /** the bound of the latency objective @default - the latency gate's maxP95 */
  readonly latencyThreshold?: Duration;
  /** the period the error budget is spent over @default Duration.days(30) */
  readonly window?: Duration;
}

/** A resolved objective: one SLI, its target and its budget. */
export interface Slo {
  readonly kind: SloKind;
  /** the share of requests that must be good */
  readonly objective: number;
  /** for a latency SLO: the bound, in ms */
  readonly latencyThresholdMs?: number;
  /** the period */
  readonly window: Duration;
}

/** The default SLO period. */
export const DEFAULT_SLO_WINDOW = Duration.days(30);

/** The error budget of an objective: the share of requests that may be bad. */
export function errorBudget(slo: Slo): number {
  return Number((1 - slo.objective).toPrecision(12));
}

/**
 * The objectives of a service: stated ones over the environment's, the rest derived from the gates
 * (the canary is held to the same bar the release is held to afterwards). Throws when an objective
 * leaves so much budget that the fastest page could never fire (its threshold would exceed 100 %).
 */
export function resolveSlos(where: string, stated: SloObjectives, gates: { readonly maxErrorRatio: number; readonly maxP95: Duration; readonly quantile: number }): Slo[] {
  const window = stated.window ?? DEFAULT_SLO_WINDOW;
  if (!(window.toSeconds() >= Duration.days(1).toSeconds())) {
    throw new Error(`${where}: slo.window must be at least a day, got ${window.toHumanString()}; the burn-rate windows reach 3 days (Duration.days(30) is the usual period)`);
  }
  const availability = stated.availability ?? Number((1 - gates.maxErrorRatio).toPrecision(12));
  const latency = stated.latency ?? gates.quantile;
  const threshold = stated.latencyThreshold ?? gates.maxP95;
  const slos: Slo[] = [
    { kind: SloKind.AVAILABILITY, objective: availability, window },
    { kind: SloKind.LATENCY, objective: latency, latencyThresholdMs: threshold.toMilliseconds(), window },
  ];
  for (const slo of slos) {
    const prop = slo.kind === SloKind.AVAILABILITY ? 'availability' : 'latency';
    if (!(slo.objective > 0 && slo.objective < 1)) {
      throw new Error(`${where}: slo.${prop} must be a share above 0 and below 1, got ${slo.objective} (for 99.9% write 0.999)`);
    }
    const fastest = Math.max(...SRE_WORKBOOK_WINDOWS.map((w) => burnRate(w, window)));
    if (fastest * errorBudget(slo) >= 1) {
      throw new Error(`${where}: slo.${prop} ${slo.objective} leaves an error budget of ${errorBudget(slo)}, so the ${fastest}x page would need more than 100% bad requests and could never fire; `
        + `state an objective of at least ${Number((1 - 1 / fastest).toPrecision(3))}`);
    }
  }
  return slos;
}

/** One Prometheus rule, as a rule file (and a PrometheusRule's spec) holds it. */
export interface PrometheusRuleDefinition {
  readonly record?: string;
  readonly alert?: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A rule group. Only fields promtool 2.42 (Debian's) and Prometheus 3 both accept: no group labels, no query_offset. */
export interface PrometheusRuleGroup {
  readonly name: string;
  readonly interval?: string;
  readonly rules: readonly PrometheusRuleDefinition[];
}

/** The name of the recording rule of an SLI's error ratio over a window: `slo:sli_error:ratio_rate5m`. */
export function errorRatioRecord(window: Duration): string {
  return `slo:sli_error:ratio_rate${promDuration(window)}`;
}

/** Every window the rows read, each once, shortest first. */
export function windowsOf(rows: readonly BurnRateWindow[]): Duration[] {
  const all = rows.flatMap((r) => [r.longWindow, r.shortWindow]);
  const seconds = [...new Set(all.map((d) => d.toSeconds()))].sort((a, b) => a - b);
  return seconds.map((s) => Duration.seconds(s));
}

/** What the SLO rules of one service select and label. */
export interface SloRuleInput {
  /** the service (its name: the namespace, folder and `service` label) */
  readonly service: string;
  /** the namespace its alerts carry (Alertmanager's namespace matcher routes by it) */
  readonly namespace: string;
  readonly slos: readonly Slo[];
  /** PromQL of the bad requests' and all requests' rate over a window (a PromQL duration), per SLO kind */
  readonly ratio: (kind: SloKind, window: string) => string;
  /** the labels every alert carries: environment, team (or tenant) */
  readonly labels: Readonly<Record<string, string>>;
  /** the burn-rate rows @default SRE_WORKBOOK_WINDOWS */
  readonly rows?: readonly BurnRateWindow[];
}

/** The label names the SLO rules set; alerts are routed by them. */
export const SLO_LABELS = { service: 'service', slo: 'slo', severity: 'severity', namespace: 'namespace', environment: 'environment' } as const;

/**
 * The rule groups of a service's SLOs: recording rules of each SLI's error ratio over every window
 * the rows read, and one alert per row and SLO that fires when both its windows burn faster than
 * the row's rate.
 */
export function sloRuleGroups(input: SloRuleInput): PrometheusRuleGroup[] {
  const rows = input.rows ?? SRE_WORKBOOK_WINDOWS;
  const windows = windowsOf(rows);
  const L = SLO_LABELS;
  return input.slos.map((slo): PrometheusRuleGroup => {
    const own = { [L.service]: input.service, [L.slo]: slo.kind, [L.namespace]: input.namespace };
    const selector = `{${Object.entries(own).map(([k, v]) => `${k}="${v}"`).join(', ')}}`;
    const recording = windows.map((w): PrometheusRuleDefinition => ({ record: errorRatioRecord(w), expr: input.ratio(slo.kind, promDuration(w)), labels: own }));
    const budget = errorBudget(slo);
    const alerts = rows.map((row): PrometheusRuleDefinition => {
      const rate = burnRate(row, slo.window);
      const threshold = Number((rate * budget).toPrecision(12));
      const [long, short] = [promDuration(row.longWindow), promDuration(row.shortWindow)];
      return {
        alert: 'SLOErrorBudgetBurn',
        expr: `${errorRatioRecord(row.longWindow)}${selector} > ${threshold}\nand\n${errorRatioRecord(row.shortWindow)}${selector} > ${threshold}`,
        labels: { ...input.labels, ...own, [L.severity]: row.severity, burn_rate: String(rate), long_window: long, short_window: short },
        annotations: {
          summary: `${input.service}: ${slo.kind} SLO (${pct(slo.objective)}${slo.latencyThresholdMs !== undefined ? ` under ${slo.latencyThresholdMs} ms` : ''}) burning its ${promDuration(slo.window)} error budget at ${rate}x`,
          description: `The share of bad requests over ${long} and over ${short} is above ${threshold} (${rate} x the budget ${budget}); `
            + `at this rate ${pct(row.budgetShare)} of the budget is gone within ${long}.`,
        },
      };
    });
    return { name: `slo-${input.service}-${slo.kind}`, rules: [...recording, ...alerts] };
  });
}

function pct(share: number): string {
  return `${Number((share * 100).toPrecision(6))}%`;
}
