import { execFileSync } from 'child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { delimiter, join } from 'path';
import Ajv from 'ajv';
import { ApiObject, App } from 'cdk8s';
import { parse, stringify } from 'yaml';
import { app as exampleApp } from '../examples/platform/main';
import { Delivery, GateKind } from '../lib';
import { dashboardQuery, PANELS } from '../lib/constructs/canary-dashboard';
import { readPromql, SelectorUse } from '../lib/analysis/promql';
import { AlertmanagerConfigObject, operatorRouteTree, routeReceivers, RouteNode } from '../lib/platform/alertmanager';
import { NOTIFICATION_CONFIGMAP, Verdict, VERDICT_TRIGGERS } from '../lib/platform/argo-notifications';
import { grafanaQueryAsPromql } from '../lib/rules/observability';
import { estimateSpanmetricsSeries } from '../lib/analysis/cardinality';
import { fixtureDelivery, targetOf } from './helpers';
import { synthesizeInMemory } from '../lib/app/in-memory';
import { MeasurementPhase } from '../lib/analysis/condition';
import { RunOutcome } from '../lib/rehearsal/argo-replay';
import { notificationMessage, traceLinksOf } from '../lib/rehearsal/notification';

/** The example's deliveries, by environment. */
function example(): Record<string, Delivery> {
  return Object.fromEntries(exampleApp.apps.map((a) => {
    const app = new App({ outdir: '/nonexistent' });
    a.define(app);
    return [a.folder, Delivery.of(app)[0]];
  }));
}
const envs = example();

/** A selector as `metric{label op value, ...}`, matchers sorted. */
function norm(s: SelectorUse, drop: readonly string[] = []): string {
  return `${s.metric}{${s.matchers.filter((m) => !drop.includes(m.label)).map((m) => `${m.label}${m.op}${m.value}`).sort().join(', ')}}`;
}

function selectorsOf(expr: string, drop: readonly string[] = []): string[] {
  const q = readPromql(grafanaQueryAsPromql(expr));
  expect(q.error).toBeUndefined();
  return [...new Set(q.selectors.filter((s) => s.metric).map((s) => norm(s, drop)))].sort();
}

type Panel = { title: string; type: string; targets?: { expr: string; legendFormat?: string; refId: string }[] };

describe('the canary dashboard', () => {
  const d = envs.production;
  const json = JSON.parse(ApiObject.of(d.dashboard.configMap).toJson().data[d.dashboard.fileName]);
  const panels: Panel[] = json.panels;

  test('is a ConfigMap Grafana\'s dashboard sidecar loads, holding what the SDK built', () => {
    const cm = ApiObject.of(d.dashboard.configMap).toJson();
    expect(cm.metadata.labels).toEqual({ grafana_dashboard: '1' });
    expect(json).toEqual(JSON.parse(JSON.stringify(d.dashboard.dashboard)));
  });

  test('validates against the schema of a Grafana dashboard model (the fields Grafana reads)', () => {
    const schema = {
      type: 'object',
      required: ['title', 'uid', 'schemaVersion', 'panels', 'templating'],
      properties: {
        schemaVersion: { const: 42 },
        uid: { type: 'string', maxLength: 40, pattern: '^[-a-zA-Z0-9_]+$' },
        templating: { type: 'object', required: ['list'], properties: { list: { type: 'array', items: { type: 'object', required: ['name', 'type'], properties: { type: { enum: ['datasource', 'custom', 'query'] } } } } } },
        panels: {
          type: 'array',
          items: {
            type: 'object',
            required: ['type', 'title', 'gridPos'],
            properties: {
              type: { enum: ['row', 'timeseries'] },
              gridPos: { type: 'object', required: ['x', 'y', 'w', 'h'], properties: { x: { type: 'integer', minimum: 0 }, w: { type: 'integer', maximum: 24 } } },
              targets: { type: 'array', items: { type: 'object', required: ['refId', 'expr', 'datasource'] } },
            },
          },
        },
      },
    };
    const validate = new Ajv({ strict: false }).compile(schema);
    expect(validate(json) ? [] : validate.errors).toEqual([]);
    // refIds are unique within a panel, and every query parses
    for (const p of panels.filter((x) => x.targets)) {
      expect(new Set(p.targets!.map((t) => t.refId)).size).toBe(p.targets!.length);
      for (const t of p.targets!) expect(readPromql(grafanaQueryAsPromql(t.expr)).error).toBeUndefined();
    }
  });

  test('has every panel the issue names, a service variable, and the canary and stable hashes', () => {
    expect(panels.filter((p) => p.type === 'timeseries').map((p) => p.title).sort()).toEqual(Object.values(PANELS).sort());
    expect(json.templating.list.map((v: { name: string }) => v.name)).toEqual(['datasource', 'service', 'canary', 'stable']);
    expect(json.templating.list[1].query).toBe('hotrod,checkout,catalog');
  });

  test('each gate\'s statistic is its own query, with the analysis arguments as the dashboard\'s variables, and its bounds drawn', () => {
    const stats = panels.find((p) => p.title === PANELS.statistics)!.targets!;
    for (const s of d.services) {
      for (const g of s.analysis.gates.filter((x) => x.kind !== GateKind.TRAFFIC)) {
        const t = stats.find((x) => x.legendFormat === g.name && x.expr === dashboardQuery(g.query));
        expect(t).toBeDefined();
        // the same series as the gate selects
        expect(selectorsOf(t!.expr)).toEqual(selectorsOf(g.query).map((x) => x.replace('{{args.namespace}}', '$service').replace('{{args.canary-hash}}', '$canary').replace('{{args.stable-hash}}', '$stable')).sort());
        if (g.design) expect(stats.some((x) => x.legendFormat === `upper bound ${g.name} (stop)` && x.expr.startsWith(`${Number(g.design!.test.upperBound.toPrecision(12))} and on()`))).toBe(true);
      }
    }
    const errorPanel = panels.find((p) => p.title === PANELS.errorRatio)!.targets!;
    expect(errorPanel.filter((t) => t.legendFormat?.startsWith('threshold error-rate')).map((t) => t.expr.split(' ')[0])).toEqual(['0.05', '0.01', '0.05']);
  });

  test('the canary-against-stable panels and the SLO rules select the series the traffic and error gates count, the canary hash aside', () => {
    const rate = panels.find((p) => p.title === PANELS.requestRate)!.targets!;
    for (const [i, s] of d.services.entries()) {
      const traffic = s.analysis.gate(GateKind.TRAFFIC);
      const hashLabel = Object.entries(s.rollout.requests.matchers).find(([, v]) => v === '{{args.canary-hash}}')![0];
      const gateSelectors = selectorsOf(traffic.query, [hashLabel]);
      // the dashboard: the namespace argument is the service variable
      expect(selectorsOf(rate[i].expr)).toEqual(gateSelectors.map((x) => x.replace('{{args.namespace}}', '$service')));
      // the SLO rules: the namespace argument is the service's namespace
      const availability = s.alerts.groups[0].rules.find((r) => r.record === 'slo:sli_error:ratio_rate5m')!;
      const failed = selectorsOf(availability.expr);
      expect(failed).toContain(gateSelectors[0].replace('{{args.namespace}}', s.rollout.namespace));
      const errorGate = s.analysis.gate(GateKind.ERROR_RATE);
      expect(selectorsOf(errorGate.query, [hashLabel]).map((x) => x.replace('{{args.namespace}}', s.rollout.namespace))).toEqual(failed);
    }
  });
});

/** amtool, from PATH or AMTOOL; without it the amtool cases are skipped, visibly. */
const amtool = process.env.AMTOOL ?? (process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'amtool')).find((f) => { try { execFileSync(f, ['--version'], { stdio: 'ignore' }); return true; } catch { return false; } });
// on CI the amtool cases must run, as the rehearsal's must (.ci/run installs it)
if (!amtool && process.env.CI === 'true') throw new Error('amtool is missing: on CI the alert routing tests must run (Debian: apt-get install prometheus-alertmanager; or set AMTOOL)');
if (!amtool) console.warn('SKIPPED: the amtool route tests need amtool (Debian: apt-get install prometheus-alertmanager); the same cases run against the documented matching semantics');

/** The routing tree the operator makes of an environment's AlertmanagerConfigs, and its receivers. */
function operatorConfig(d: Delivery): { route: RouteNode; receivers: { name: string }[] } {
  const objects = d.node.scope!.node.findAll().map((c) => c as unknown as { toJson?: () => Record<string, any> })
    .filter((c) => typeof c.toJson === 'function').map((c) => c.toJson!())
    .filter((o) => o && o.kind === 'AlertmanagerConfig') as unknown as AlertmanagerConfigObject[];
  expect(objects.length).toBe(4);
  const route = operatorRouteTree(objects);
  const receivers = [{ name: 'null' }, ...objects.flatMap((o) => o.spec.receivers.map((r) => ({ name: `${o.metadata.namespace}/${o.metadata.name}/${r.name}` })))];
  return { route, receivers };
}

const ROUTES: readonly { readonly env: string; readonly labels: Record<string, string>; readonly receivers: string }[] = [
  { env: 'production', labels: { team: 'rides', environment: 'production', severity: 'page', namespace: 'hotrod', service: 'hotrod' }, receivers: 'hotrod/alert-routing/rides-oncall' },
  { env: 'production', labels: { team: 'rides', environment: 'production', severity: 'ticket', namespace: 'hotrod', service: 'hotrod' }, receivers: 'hotrod/alert-routing/rides-tickets' },
  { env: 'production', labels: { team: 'shop', environment: 'production', severity: 'page', namespace: 'checkout', service: 'checkout' }, receivers: 'checkout/alert-routing/shop-oncall' },
  { env: 'production', labels: { team: 'platform', environment: 'production', severity: 'ticket', namespace: 'otel', service: 'collector' }, receivers: 'otel/alert-routing/platform-tickets' },
  // another namespace's AlertmanagerConfig never takes an alert (the operator's namespace matcher)
  { env: 'production', labels: { team: 'shop', environment: 'production', severity: 'page', namespace: 'hotrod' }, receivers: 'null' },
  // another environment's alerts pass this one's routes
  { env: 'production', labels: { team: 'rides', environment: 'staging', severity: 'page', namespace: 'hotrod' }, receivers: 'null' },
  { env: 'staging', labels: { team: 'shop', environment: 'staging', severity: 'page', namespace: 'catalog' }, receivers: 'shop/shop-oncall' },
  { env: 'staging', labels: { team: 'rides', environment: 'staging', severity: 'ticket', namespace: 'hotrod' }, receivers: 'rides/rides-tickets' },
  { env: 'staging', labels: { team: 'rides', environment: 'production', severity: 'ticket', namespace: 'hotrod' }, receivers: 'null' },
];

function configOf(env: string): { route: RouteNode; receivers: unknown[] } {
  const d = envs[env];
  if (d.chartValues) return d.chartValues.alertmanagerConfig();
  return operatorConfig(d);
}

describe('alert routing', () => {
  test.each(ROUTES)('$env: $labels -> $receivers (Alertmanager\'s matching, as documented)', ({ env, labels, receivers }) => {
    expect(routeReceivers(configOf(env).route, labels).join(',')).toBe(receivers);
  });

  (amtool ? test.each(ROUTES) : test.skip.each(ROUTES))('$env: $labels -> $receivers (amtool config routes test)', ({ env, labels, receivers }) => {
    const dir = mkdtempSync(join(tmpdir(), 'amtool-'));
    try {
      const file = join(dir, 'alertmanager.yml');
      writeFileSync(file, stringify(configOf(env)));
      execFileSync(amtool!, ['check-config', file], { stdio: 'pipe' });
      const out = execFileSync(amtool!, ['config', 'routes', 'test', `--config.file=${file}`, `--verify.receivers=${receivers}`, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      expect(out.trim()).toBe(receivers);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the chart values carry the routes and the rules; the operator setup has an AlertmanagerConfig per namespace, labelled nothing (its selector takes all)', () => {
    const values = parse(envs.staging.chartValues!.render());
    expect(Object.keys(values)).toEqual(['serverFiles', 'alertmanager']);
    expect(values.serverFiles['alerting_rules.yml'].groups.length).toBe(3 * 3 + 1);
    expect(envs.production.service('hotrod').routing.resource!.toJson()).toMatchObject({ apiVersion: 'monitoring.coreos.com/v1alpha1', kind: 'AlertmanagerConfig' });
  });
});

describe('verdict notifications', () => {
  const d = envs.production;
  const s = d.service('hotrod');
  const cm = ApiObject.of(s.notifications.configMap).toJson();

  test('a trigger and a template per verdict, on the names the controller derives from its events, and the Rollout subscribed to each', () => {
    expect(cm.metadata.name).toBe(NOTIFICATION_CONFIGMAP);
    for (const v of Object.values(Verdict)) {
      expect(parse(cm.data[`trigger.${VERDICT_TRIGGERS[v]}`])).toEqual([{ send: [`canary-${v}`] }]);
      expect(s.rollout.rollout.toJson().metadata.annotations[`notifications.argoproj.io/subscribe.${VERDICT_TRIGGERS[v]}.deploys`]).toBe('rides');
    }
    expect(cm.data['service.webhook.deploys']).toContain('https://chatops.example.com/hooks/deploys');
  });

  test('the aborted message names the deciding gate, its value and threshold, the requests counted and a Tempo link by service and canary hash', () => {
    const t = parse(cm.data['template.canary-aborted']);
    expect(t.webhook.deploys.body).toBe(t.message);
    for (const g of s.analysis.gates) expect(t.message).toContain(`"${g.name}"`);
    expect(t.message).toContain('"5% of requests failed"');
    expect(t.message).toContain('"p95 below 800 ms"');
    expect(t.message).toMatch(/Deciding gate: \{\{ \$gate \}\}, \{\{ \$phase \}\}, measured \{\{ \$value \}\}/);
    expect(t.message).toContain('Evidence: {{ $requests }} user requests counted by the traffic gate.');
    expect(t.message).toContain('https://grafana.example.com/explore?');
    const link = decodeURIComponent(/explore\?schemaVersion=1&panes=(\S+)/.exec(t.message)![1]);
    expect(link).toContain('resource.service.name=\\"frontend\\" && resource.\\"k8s.pod.label.rollouts-pod-template-hash\\"=\\"{{.rollout.status.currentPodHash}}\\"');
  });
});

describe('tail sampling', () => {
  test('spanmetrics stays on the unsampled pipeline; the sampled one exports to the trace backend only, keeping traces slower than the slowest gate', () => {
    const d = envs.production;
    const cfg = parse(d.pipeline.toYaml());
    expect(cfg.service.pipelines.traces).toEqual({ receivers: ['otlp'], processors: ['memory_limiter', 'batch'], exporters: ['spanmetrics'] });
    expect(cfg.service.pipelines['traces/sampled']).toEqual({ receivers: ['otlp'], processors: ['memory_limiter', 'tail_sampling', 'batch'], exporters: ['otlp'] });
    const slowest = Math.max(...d.services.flatMap((s) => s.analysis.gates.filter((g) => g.kind === GateKind.LATENCY).map((g) => g.threshold)));
    expect(cfg.processors.tail_sampling.policies.map((p: { type: string }) => p.type)).toEqual(['status_code', 'latency', 'probabilistic']);
    expect(cfg.processors.tail_sampling.policies[1].latency.threshold_ms).toBe(slowest);
  });

  test('off by default', () => {
    expect(fixtureDelivery().delivery.pipeline.tailSampling).toBeUndefined();
  });
});

describe('cardinality', () => {
  test('span names x status codes x pods x (calls, buckets, +Inf, sum, count)', () => {
    expect(estimateSpanmetricsSeries(5, 4, 16)).toMatchObject({ perCombination: 20, total: 5 * 2 * 4 * 20 });
  });
});

describe('the rehearsal\'s notification', () => {
  test('an aborted run: the deciding gate, its value and threshold, the requests counted, the trace link of the folder\'s template', () => {
    const { app } = fixtureDelivery();
    const target = targetOf({ app });
    const links = traceLinksOf(synthesizeInMemory(app));
    const gates = target.gates.map((g) => g.name);
    const outcome: RunOutcome = {
      verdict: MeasurementPhase.FAILED,
      decidingGate: gates[1],
      decidedAfterSeconds: 150,
      message: '',
      gates: [
        { name: gates[0], phase: MeasurementPhase.SUCCESSFUL, dryRun: false, terminated: false, decidedAfterSeconds: 135, message: '', measurements: [{ atSeconds: 135, result: [116], phase: MeasurementPhase.SUCCESSFUL }] },
        { name: gates[1], phase: MeasurementPhase.FAILED, dryRun: false, terminated: false, decidedAfterSeconds: 150, message: '', measurements: [{ atSeconds: 150, result: [9.21034037198], phase: MeasurementPhase.FAILED }] },
      ],
    };
    expect(notificationMessage(outcome, target, links.get(target.namespace))).toBe([
      'Canary of hotrod/hotrod aborted: back to the stable pods.',
      'Deciding gate: error-rate-lt-5-percent, Failed, measured 9.21034037198 (log-likelihood ratio of the sequential test: stops at >= 4.60517, promotes at <= -4.60517); threshold: 5% of requests failed.',
      'Evidence: 116 user requests counted by the traffic gate.',
      'Traces of the canary: http://jaeger-query.jaeger.svc.cluster.local:16686/search?service=frontend&tags=%7B%22k8s.pod.label.rollouts-pod-template-hash%22%3A%22rehearsal-canary%22%7D&lookback=2h&limit=20',
    ].join('\n'));
  });
});
