import { execFileSync } from 'child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { App, Duration } from 'cdk8s';
import { stringify } from 'yaml';
import { app as mainApp } from '../main';
import { app as exampleApp } from '../examples/platform/main';
import { Delivery, PrometheusBackend } from '../lib';
import { Matchers } from '../lib/constructs/interfaces';
import { SloAlerts } from '../lib/constructs/slo-alerts';
import { EngineNotFoundError, locateEngine } from '../lib/rehearsal/prometheus-engine';
import { burnRate, errorBudget, PrometheusRuleGroup, SloKind, SRE_WORKBOOK_WINDOWS } from '../lib/platform/slo';
import { bucketBoundText } from '../lib/platform/prometheus-naming';
import { fixtureDelivery, CHECKOUT, HOTROD } from './helpers';

// promtool checks and unit-tests every generated rule group. Without it these tests are skipped, visibly; on CI it must run.
let promtool: string | undefined;
try {
  promtool = locateEngine().promtool;
} catch (e) {
  if (!(e instanceof EngineNotFoundError)) throw e;
  if (process.env.CI === 'true') test('promtool is installed (CI=true)', () => { throw e; });
  else console.warn(`SKIPPED: the rule tests need promtool.\n${e.message}`);
}
const withPromtool = promtool ? describe : describe.skip;

/** Every rule group of every delivery an app defines. */
function groupsOf(define: (app: App) => unknown): PrometheusRuleGroup[] {
  const app = new App({ outdir: '/nonexistent' });
  define(app);
  return Delivery.of(app).flatMap((d) => [...d.services.flatMap((s) => s.alerts.groups), ...d.collectorAlerts.groups]);
}

/** The label set of a series that every matcher selects: equality values as they are, the first alternative of a regex. */
function labelsFor(matchers: Matchers): Record<string, string> {
  return Object.fromEntries(Object.entries(matchers).map(([k, v]) => [k, typeof v === 'string' ? v : v[0]]));
}

function seriesText(metric: string, labels: Record<string, string>): string {
  return `${metric}{${Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}}`;
}

/** A counter in promtool's expanding notation: `rates` per minute for so many minutes each, one sample a minute. */
function counter(segments: readonly { readonly perMinute: number; readonly minutes: number }[]): string {
  let value = 0;
  const parts: string[] = [];
  for (const s of segments) {
    parts.push(`${Number(value.toFixed(6))}+${Number(s.perMinute.toFixed(6))}x${s.minutes}`);
    value += s.perMinute * (s.minutes + 1);
  }
  return parts.join(' ');
}

const REQUESTS_PER_MINUTE = 600;

/**
 * A promtool unit test of one SLO's alerts, with only the recording rules and the alerts of the
 * workbook rows `rows` (each row alone needs only its own windows' history): a service at a steady
 * 10 req/s whose bad share runs at `burns` (multiples of the error budget) in segments, one sample
 * every `step` minutes, and the rows expected to fire at `at` minutes.
 */
function unitTest(alerts: SloAlerts, kind: SloKind, rows: readonly number[], step: number, burns: readonly { readonly burn: number; readonly minutes: number }[], expect: readonly { readonly at: number; readonly rows: readonly number[] }[]) {
  const slo = alerts.slos.find((s) => s.kind === kind)!;
  const budget = errorBudget(slo);
  const perStep = REQUESTS_PER_MINUTE * step;
  const steps = (minutes: number) => minutes / step;
  const total = burns.reduce((n, b) => n + steps(b.minutes), 0);
  const bad = burns.map((b) => ({ perMinute: perStep * budget * b.burn, minutes: steps(b.minutes) }));
  const good = burns.map((b) => ({ perMinute: perStep * (1 - budget * b.burn), minutes: steps(b.minutes) }));
  const all = [{ perMinute: perStep, minutes: total }];
  const m = alerts.series.matchers;
  const group = alerts.groups.find((g) => g.name.endsWith(kind))!;
  const alertRules = group.rules.filter((r) => r.alert);
  const chosen = rows.map((i) => alertRules[i]);
  const windows = new Set(chosen.flatMap((r) => [r.labels!.long_window, r.labels!.short_window]));
  const recording = group.rules.filter((r) => r.record && windows.has(r.record.replace('slo:sli_error:ratio_rate', '')));
  let inputs: { series: string; values: string }[];
  if (kind === SloKind.AVAILABILITY) {
    const failed = { ...labelsFor(m.requests), ...m.failed };
    const ok = { ...labelsFor(m.requests), ...Object.fromEntries(Object.keys(m.failed).map((k) => [k, `not-${m.failed[k]}`])) };
    const metric = /^[^{]+/.exec(alerts.series.requests)![0];
    inputs = [{ series: seriesText(metric, failed), values: counter(bad) }, { series: seriesText(metric, ok), values: counter(good) }];
  } else {
    const labels = labelsFor(m.spans);
    const bucket = /^[^{]+/.exec(alerts.series.fastSpans(1))![0];
    const count = /^[^{]+/.exec(alerts.series.spanCount)![0];
    inputs = [
      { series: seriesText(bucket, { ...labels, le: bucketBoundText(slo.latencyThresholdMs!) }), values: counter(good) },
      { series: seriesText(count, labels), values: counter(all) },
    ];
  }
  return {
    groups: [{ name: group.name, rules: [...recording, ...chosen] }],
    test: {
      rule_files: ['rules.yaml'],
      evaluation_interval: `${step}m`,
      tests: [{
        interval: `${step}m`,
        input_series: inputs,
        alert_rule_test: expect.map((e) => ({
          eval_time: `${e.at}m`,
          alertname: 'SLOErrorBudgetBurn',
          exp_alerts: e.rows.map((i) => ({ exp_labels: { ...alertRules[i].labels }, exp_annotations: { ...alertRules[i].annotations } })),
        })),
      }],
    },
  };
}

/** Runs promtool on rule groups (and a unit test of them); returns its output. */
function promtoolRun(groups: readonly PrometheusRuleGroup[], test?: object): string {
  const dir = mkdtempSync(join(tmpdir(), 'slo-rules-'));
  try {
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups }, { lineWidth: 0, aliasDuplicateObjects: false }));
    if (!test) return execFileSync(promtool!, ['check', 'rules', join(dir, 'rules.yaml')], { encoding: 'utf8' });
    writeFileSync(join(dir, 'test.yaml'), stringify(test, { lineWidth: 0, aliasDuplicateObjects: false }));
    return execFileSync(promtool!, ['test', 'rules', join(dir, 'test.yaml')], { encoding: 'utf8', cwd: dir });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    throw new Error(`promtool failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('SLO rules', () => {
  test('the workbook rows burn 2 % of a 30-day budget in 1h (14.4x) and 5 % in 6h (6x), 10 % in 1d (3x) and in 3d (1x)', () => {
    expect(SRE_WORKBOOK_WINDOWS.map((w) => [w.severity, burnRate(w, Duration.days(30)), w.longWindow.toMinutes(), w.shortWindow.toMinutes()])).toEqual([
      ['page', 14.4, 60, 5], ['page', 6, 360, 30], ['ticket', 3, 1440, 120], ['ticket', 1, 4320, 360],
    ]);
  });

  test('the objectives default to the gates: 1 - maxErrorRatio succeed, the latency quantile under maxP95', () => {
    const d = fixtureDelivery().delivery;
    expect(d.service('hotrod').alerts.slos).toEqual([
      { kind: 'availability', objective: 0.95, window: Duration.days(30) },
      { kind: 'latency', objective: 0.95, latencyThresholdMs: 1000, window: Duration.days(30) },
    ]);
  });

  test('an objective whose page could never fire is refused', () => {
    expect(() => fixtureDelivery({ services: [{ ...HOTROD, slo: { availability: 0.9 } }] })).toThrow(/leaves an error budget of 0.1, so the 14.4x page would need more than 100% bad requests/);
  });

  test('the rules select the gates\' series with the canary hash dropped and the namespace filled in', () => {
    const d = fixtureDelivery({ services: [HOTROD, CHECKOUT] }).delivery;
    const hotrod = d.service('hotrod').alerts.series;
    expect(hotrod.requests).toBe('hotrod_requests_total{namespace="hotrod", endpoint=~"/|/dispatch"}');
    expect(hotrod.failedRequests).toBe('hotrod_requests_total{namespace="hotrod", endpoint=~"/|/dispatch", error="true"}');
    expect(d.service('checkout').alerts.series.failedRequests)
      .toBe('traces_span_metrics_calls_total{service_name="checkout", span_kind="SPAN_KIND_SERVER", span_name=~"GET /cart|POST /checkout", k8s_namespace_name="checkout", status_code="STATUS_CODE_ERROR"}');
  });

  test('every alert carries service, environment, severity and the team label', () => {
    for (const g of [...groupsOf(mainApp.apps[0].define), ...exampleApp.apps.flatMap((a) => groupsOf(a.define))]) {
      for (const r of g.rules.filter((x) => x.alert)) {
        expect(Object.keys(r.labels ?? {})).toEqual(expect.arrayContaining(['service', 'environment', 'severity', 'team', 'namespace']));
      }
    }
  });

  test('a Prometheus run by the operator gets a PrometheusRule labelled for its rule selector; the community chart gets the groups in its values file', () => {
    const kps = fixtureDelivery({ prometheus: PrometheusBackend.kubePrometheusStack() }).delivery;
    expect(kps.service('hotrod').alerts.resource?.toJson()).toMatchObject({ kind: 'PrometheusRule', metadata: { name: 'hotrod-slo', labels: { release: 'kube-prometheus-stack' } } });
    expect(kps.chartValues).toBeUndefined();
    const chart = fixtureDelivery().delivery;
    expect(chart.service('hotrod').alerts.resource).toBeUndefined();
    expect(chart.chartValues!.ruleGroups().map((g) => g.name)).toEqual(['slo-hotrod-availability', 'slo-hotrod-latency', 'telemetry-hotrod', 'telemetry-collector']);
  });
});

withPromtool('SLO rules under promtool', () => {
  test('promtool check rules passes on every generated rule group (main.ts and each environment of the example)', () => {
    const apps = [['main.ts', mainApp.apps[0].define] as const, ...exampleApp.apps.map((a) => [`examples/platform ${a.folder}`, a.define] as const)];
    for (const [, define] of apps) {
      const groups = groupsOf(define);
      expect(groups.length).toBeGreaterThan(0);
      expect(promtoolRun(groups)).toMatch(/SUCCESS: \d+ rules found/);
    }
  });

  // every row for one SLI; the rows are the same rules over another SLI's ratio, which the burst tests below check
  describe.each([
    ['hotrod (its own counter)', SloKind.AVAILABILITY, 'hotrod'],
  ] as const)('%s, %s', (_label, kind, service) => {
    const alerts = fixtureDelivery({ services: [HOTROD, CHECKOUT] }).delivery.service(service).alerts;
    const run = (t: ReturnType<typeof unitTest>) => promtoolRun(t.groups, t.test);
    const [H1, H6, D1, D3] = [60, 360, 1440, 3 * 1440];

    test('a healthy service (0.9x its budget for four days) never pages and opens no ticket', () => {
      // the pages' short windows need a sample a minute; the tickets' windows are read every 15 minutes to keep the test short
      expect(run(unitTest(alerts, kind, [0, 1], 1, [{ burn: 0.9, minutes: H6 + H1 }], [H1, H1 + 5, H6, H6 + H1].map((at) => ({ at, rows: [] }))))).toMatch(/SUCCESS/);
      expect(run(unitTest(alerts, kind, [2, 3], 15, [{ burn: 0.9, minutes: D3 + D1 }], [D1, D3, D3 + D1].map((at) => ({ at, rows: [] }))))).toMatch(/SUCCESS/);
    });

    test('a burst at 15x pages once the 1h window has burnt 14.4x, and stops within the 5m window of its end', () => {
      expect(run(unitTest(alerts, kind, [0], 1, [{ burn: 0, minutes: H1 }, { burn: 15, minutes: 65 }, { burn: 0, minutes: 15 }], [
        { at: H1 + 50, rows: [] }, // the 1h window at 12.5x: not yet
        { at: H1 + 62, rows: [0] }, // both windows above 14.4x
        { at: H1 + 65 + 6, rows: [] }, // 6m after the burst: the 5m window has reset it
      ]))).toMatch(/SUCCESS/);
    });

    test('a 7x burn pages on the 6h window; a 3.5x burn opens the 1d ticket; a 1.2x burn the 3-day one', () => {
      expect(run(unitTest(alerts, kind, [1], 1, [{ burn: 0, minutes: H6 }, { burn: 7, minutes: 330 }], [{ at: H6 + 300, rows: [] }, { at: H6 + 330, rows: [1] }]))).toMatch(/SUCCESS/);
      expect(run(unitTest(alerts, kind, [2], 15, [{ burn: 0, minutes: D1 }, { burn: 3.5, minutes: 23 * H1 }], [{ at: D1 + 19 * H1, rows: [] }, { at: D1 + 23 * H1, rows: [2] }]))).toMatch(/SUCCESS/);
      expect(run(unitTest(alerts, kind, [3], 15, [{ burn: 0, minutes: D3 }, { burn: 1.2, minutes: D3 }], [{ at: D3 + 2 * D1, rows: [] }, { at: D3 + D3, rows: [3] }]))).toMatch(/SUCCESS/);
    });
  });
  describe.each([
    ['hotrod (spanmetrics latency)', SloKind.LATENCY, 'hotrod'],
    ['checkout (spanmetrics only)', SloKind.AVAILABILITY, 'checkout'],
  ] as const)('%s, %s', (_label, kind, service) => {
    const alerts = fixtureDelivery({ services: [HOTROD, CHECKOUT] }).delivery.service(service).alerts;
    test('a burst at 15x pages once the 1h window has burnt 14.4x, and stops within the 5m window of its end; 0.9x never pages', () => {
      const t = unitTest(alerts, kind, [0], 1, [{ burn: 0.9, minutes: 60 }, { burn: 15, minutes: 65 }, { burn: 0, minutes: 15 }], [
        { at: 60, rows: [] }, { at: 60 + 50, rows: [] }, { at: 60 + 62, rows: [0] }, { at: 60 + 65 + 6, rows: [] },
      ]);
      expect(promtoolRun(t.groups, t.test)).toMatch(/SUCCESS/);
    });
  });
});
