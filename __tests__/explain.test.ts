import { join } from 'path';
import { Duration } from 'cdk8s';
import { GateKind, PrometheusBackend, SeriesPath } from '../lib';
import { MeasurementPhase } from '../lib/analysis/condition';
import { formatDerivation } from '../lib/analysis/evidence';
import { BinomialSprt, operatingCharacteristic } from '../lib/analysis/sequential';
import { wiringDiagram } from '../lib/explain/diagram';
import { EXPLAIN_DOC, explainDetailsMarkdown, explainMarkdown, README_BEGIN, README_END, wiringMarkdown, withReadmeSection } from '../lib/explain/markdown';
import { explainModel, RolloutExplanation } from '../lib/explain/sources';
import { BadCanary, rolloutTimeline, simulateGate } from '../lib/explain/timeline';
import { modelOf } from '../lib/model/model';
import { app as example } from '../examples/platform/main';
import { main } from '../cli/explain';
import { CHECKOUT, explained, fixtureDelivery, FixtureOptions, fixtureFolder, HOTROD, modelOfApp } from './helpers';

/** What explain shows of the fixture's HotROD, with or without its traffic generator and ApplicationSet. */
function hotrod(opts: FixtureOptions & { gates?: typeof HOTROD.gates; trafficGenerator?: boolean } = {}): RolloutExplanation {
  return explained(fixtureDelivery({ ...opts, services: [{ ...HOTROD, gates: opts.gates, trafficGenerator: opts.trafficGenerator }] }));
}

const ROOT = join(__dirname, '..');

/** Stop times by kind of bad canary: [bad from the start, worst case]. */
function stops(t: ReturnType<typeof rolloutTimeline>) {
  return Object.fromEntries(t.badCanaries.map((v) => [v.kind, [v.stopSeconds, v.worstCaseStopSeconds]]));
}

describe('the wiring diagram', () => {
  const diagram = wiringDiagram(hotrod());

  test('shows the wiring with ports, names and thresholds from the constructs', () => {
    expect(diagram).toMatch(/^flowchart LR\n/);
    for (const edge of [
      'generator -->|"HTTP :8080<br/>',
      'rollout -->|"OTLP/HTTP :4318<br/>http://collector.otel.svc.cluster.local:4318"| receiver',
      'tracesExporter -->|"OTLP/gRPC :4317"| tracesBackend',
      'receiver -->|"traces pipeline"| spanmetrics',
      'spanmetrics -->|"metrics pipeline"| promExporter',
      'promExporter -->|"scrape :8889/metrics"| prometheus',
      'prometheus -->|"PromQL"| gate_traffic_at_least_58_requests',
      'gate_latency_p95_lt_1s --> analysisStep',
      'appSet_hotrod -->|"git directory"| app_hotrod_traffic_generator',
    ]) expect(diagram).toContain(edge);
    expect(diagram).toContain('gate_error_rate_lt_5_percent["gate error-rate-lt-5-percent<br/>len(result) #gt; 0 #amp;#amp; result[0] #lt;= -4.60517018599"]');
    expect(diagram).toContain('tracesBackend[("traces backend<br/>jaeger-collector.jaeger.svc.cluster.local")]');
    expect(diagram).toContain('analysisStep{{"step 2: analysis hotrod-analysis<br/>at 50% canary"}}');
  });

  test('is valid Mermaid: every line is a node, an edge or a subgraph, and every edge joins declared nodes', () => {
    const lines = diagram.split('\n').slice(1).map((l) => l.trim());
    const label = '"[^"]*"';
    const declared = new Set<string>();
    const used: string[] = [];
    for (const line of lines) {
      const node = new RegExp(`^(\\w+)(\\[${label}\\]|\\[\\(${label}\\)\\]|\\{\\{${label}\\}\\}|\\(\\[${label}\\]\\))$`).exec(line);
      const edge = new RegExp(`^(\\w+) -->(?:\\|${label}\\|)? (\\w+)$`).exec(line);
      const subgraph = new RegExp(`^subgraph (\\w+)\\[${label}\\]$`).exec(line);
      if (node) declared.add(node[1]);
      else if (edge) used.push(edge[1], edge[2]);
      else if (!subgraph && line !== 'end') throw new Error(`not a Mermaid flowchart statement: ${line}`);
    }
    expect(used.filter((id) => !declared.has(id))).toEqual([]);
    expect(lines.filter((l) => l.startsWith('subgraph')).length).toBe(lines.filter((l) => l === 'end').length);
  });

  test('follows the app: a changed port or threshold changes the picture, a missing part is not drawn', () => {
    const d = wiringDiagram(hotrod({ pipeline: { otlpHttpPort: 4319, prometheusPort: 9464, histogramBuckets: [250, 750, 1000].map((ms) => Duration.millis(ms)) },
      gates: { maxP95: Duration.millis(750) }, trafficGenerator: false }));
    expect(d).toContain('rollout -->|"OTLP/HTTP :4319<br/>http://collector.otel.svc.cluster.local:4319"| receiver');
    expect(d).toContain('promExporter -->|"scrape :9464/metrics"| prometheus');
    expect(d).toContain('gate latency-p95-lt-750ms<br/>len(result) #gt; 0 #amp;#amp; result[0] #lt;= -4.60517018599');
    expect(d).not.toContain('generator');
  });
});

describe('the rollout timeline', () => {
  /** The schedule the constructs derived, to hold explain's reading of the YAML against. */
  const schedule = (opts: Parameters<typeof fixtureDelivery>[0] = {}) => fixtureDelivery({ ...opts, services: [HOTROD] }).delivery.services[0].analysis.schedule;

  test('default app: the gates look as the constructs scheduled them, and each bad canary is stopped at its first decisive look', () => {
    const t = rolloutTimeline(hotrod());
    const s = schedule();
    expect(t.steps.map((st) => [st.label, st.canaryPods, st.stablePods])).toEqual([
      ['setWeight 50', 1, 1], ['analysis hotrod-analysis', 1, 1], ['setWeight 100', 2, 0],
    ]);
    expect(t.analysisWeight).toBe(50);
    const looks = (from: number) => Array.from({ length: (s.lastLookSeconds - from) / s.lookSeconds + 1 }, (_, i) => from + i * s.lookSeconds);
    // healthy: every gate passes at its first look (a sequential gate ends on its first success)
    expect(t.gates.map((g) => [g.name, g.measurementSeconds, g.firstPassSeconds, g.earliestFailSeconds])).toEqual([
      ['traffic-at-least-58-requests', [s.trafficFirstLookSeconds], s.trafficFirstLookSeconds, s.trafficFirstLookSeconds],
      ['error-rate-lt-5-percent', [s.firstLookSeconds], s.firstLookSeconds, s.firstLookSeconds],
      ['latency-p95-lt-1s', [s.firstLookSeconds], s.firstLookSeconds, s.firstLookSeconds],
    ]);
    // a healthy gate ends at its first look, so the latest it can fail is then
    expect(t.gates.map((g) => g.latestFailSeconds)).toEqual([s.trafficFirstLookSeconds, s.firstLookSeconds, s.firstLookSeconds]);
    expect(looks(s.firstLookSeconds)).toContain(s.trafficFirstLookSeconds);
    expect(t.earliestPromotionSeconds).toBe(s.trafficFirstLookSeconds);
    expect(t.promotionDecidedBy).toBe('traffic-at-least-58-requests');
    const errors = (from: number) => from + 3 * 10; // four errors in a row, retried every 10 s
    expect(stops(t)).toEqual({
      [BadCanary.IDLE]: [s.trafficFirstLookSeconds, s.trafficFirstLookSeconds],
      // some requests, never enough: undecided until the last look, then paused
      [BadCanary.TRICKLE]: [s.lastLookSeconds, s.lastLookSeconds],
      // a sequential gate's verdict is final: once it passed at its first look, it looks no more
      [BadCanary.ERRORING]: [s.firstLookSeconds, s.firstLookSeconds],
      [BadCanary.SLOW]: [s.firstLookSeconds, s.firstLookSeconds],
      [BadCanary.NO_SPANMETRICS]: [s.lastLookSeconds, s.lastLookSeconds],
      // errors from the start stop the tests first; errors after they passed, the traffic gate at its first look
      [BadCanary.PROMETHEUS_DOWN]: [errors(s.firstLookSeconds), errors(s.trafficFirstLookSeconds)],
    });
  });

  test('when the data can be in Prometheus is derived from the pipeline, with its terms, as the constructs derive it', () => {
    const t = rolloutTimeline(hotrod());
    const s = schedule();
    expect(t.prometheus).toBe('prometheus-community chart 29.1.0');
    expect(t.evidenceRequests).toBe(58);
    const pod = t.derivations.find((d) => d.derivation.path === SeriesPath.POD_SCRAPE)!;
    expect(pod.gates).toEqual(['traffic-at-least-58-requests', 'error-rate-lt-5-percent']);
    expect(formatDerivation(pod.derivation)).toBe(formatDerivation(s.firstRequest));
    expect(pod.horizon!.totalSeconds).toBeCloseTo(s.horizon.totalSeconds, 6);
    const spans = t.derivations.find((d) => d.derivation.path === SeriesPath.SPANMETRICS)!;
    expect(spans.gates).toEqual(['latency-p95-lt-1s']);
    expect(formatDerivation(spans.derivation)).toMatch(/^1\.2 \+ 15 \+ 3\.9\d* \+ 15 \+ 60 = 95\.\d+ s \(export delay \+ first flush phase \+ evidence time \+ last flush age \+ last scrape age\)$/);
    // A faster scrape moves every time the timeline states.
    const fast = rolloutTimeline(hotrod({ prometheus: PrometheusBackend.challengeEnvironment() }));
    expect(fast.earliestPromotionSeconds).toBe(schedule({ prometheus: PrometheusBackend.challengeEnvironment() }).trafficFirstLookSeconds);
    expect(fast.earliestPromotionSeconds).toBeLessThan(t.earliestPromotionSeconds);
  });

  test("which gates stop a bad canary comes from the template's own conditions", () => {
    const t = rolloutTimeline(hotrod());
    const by = Object.fromEntries(t.badCanaries.map((v) => [v.kind, [v.stoppedBy, v.runPhase, v.rollout]]));
    const all = ['traffic-at-least-58-requests', 'error-rate-lt-5-percent', 'latency-p95-lt-1s'];
    expect(by).toEqual({
      [BadCanary.IDLE]: [all, MeasurementPhase.FAILED, 'aborted'],
      [BadCanary.TRICKLE]: [all, MeasurementPhase.INCONCLUSIVE, 'paused'],
      [BadCanary.ERRORING]: [['error-rate-lt-5-percent'], MeasurementPhase.FAILED, 'aborted'],
      [BadCanary.SLOW]: [['latency-p95-lt-1s'], MeasurementPhase.FAILED, 'aborted'],
      [BadCanary.NO_SPANMETRICS]: [['latency-p95-lt-1s'], MeasurementPhase.INCONCLUSIVE, 'paused'],
      [BadCanary.PROMETHEUS_DOWN]: [['error-rate-lt-5-percent', 'latency-p95-lt-1s', 'traffic-at-least-58-requests'], MeasurementPhase.ERROR, 'aborted'],
    });
  });

  test('an unguarded condition turns "no data" into Error instead of Inconclusive', () => {
    const x = hotrod();
    const s = schedule();
    // The seed's latency gate: `result[0] < 1000` without a length check.
    const seed = { ...x, gates: x.gates.map((g) => (g.kind === GateKind.LATENCY ? { ...g, successCondition: 'result[0] < 1000' } : g)) };
    const v = rolloutTimeline(seed).badCanaries.find((b) => b.kind === BadCanary.NO_SPANMETRICS)!;
    expect(v.phases['latency-p95-lt-1s']).toBe(MeasurementPhase.ERROR);
    expect([v.runPhase, v.stopSeconds]).toEqual([MeasurementPhase.ERROR, s.firstLookSeconds + 30]);
  });

  test('a later initialDelay moves the measurements, the promotion and the stops', () => {
    const s = schedule();
    const t = rolloutTimeline(hotrod({ gates: {
      traffic: { initialDelay: Duration.seconds(250) },
      errorRate: { initialDelay: Duration.seconds(200) },
    } }));
    expect(t.gates.map((g) => g.measurementSeconds)).toEqual([[250], [200], [s.firstLookSeconds]]);
    expect(t.earliestPromotionSeconds).toBe(250);
    expect(stops(t)[BadCanary.IDLE][0]).toBe(250);
    expect(stops(t)[BadCanary.ERRORING][0]).toBe(200);
    expect(stops(t)[BadCanary.SLOW][0]).toBe(s.firstLookSeconds);
  });

  test("Argo's limits: failures must exceed failureLimit, errors are retried every 10 s and do not count", () => {
    const traffic = { initialDelaySeconds: 60, intervalSeconds: 60, specCount: 5, failureLimit: 3, inconclusiveLimit: 0, consecutiveErrorLimit: 3, consecutiveSuccessLimit: 0 };
    expect(simulateGate(traffic, MeasurementPhase.FAILED)).toEqual({ phase: MeasurementPhase.FAILED, atSeconds: 240 });
    expect(simulateGate(traffic, MeasurementPhase.ERROR)).toEqual({ phase: MeasurementPhase.ERROR, atSeconds: 90 });
    expect(simulateGate(traffic, MeasurementPhase.SUCCESSFUL)).toEqual({ phase: MeasurementPhase.SUCCESSFUL, atSeconds: 300 });
    // Bad only from the last measurement on: one failure is within the limit, so it passes.
    expect(simulateGate(traffic, MeasurementPhase.FAILED, 300).phase).toBe(MeasurementPhase.SUCCESSFUL);
    // Errors from the last measurement on: retried every 10 s until the limit is exceeded.
    expect(simulateGate(traffic, MeasurementPhase.ERROR, 300)).toEqual({ phase: MeasurementPhase.ERROR, atSeconds: 330 });
  });
});

describe('npm run explain', () => {
  test('prints the diagram and the timeline of the default app', () => {
    const md = explainMarkdown(hotrod());
    expect(md).toContain('### Wiring\n\n```mermaid\nflowchart LR\n');
    expect(md).toContain('### Rollout timeline');
    const s = fixtureDelivery({ services: [HOTROD] }).delivery.services[0].analysis.schedule;
    expect(md).toContain(`A healthy canary is promoted at the earliest **${s.trafficFirstLookSeconds} s** after the analysis step starts`);
    expect(md).toMatch(/\| scraped from the canary pod \| `traffic-at-least-58-requests`, `error-rate-lt-5-percent` \| discovery delay 10 s \+ first scrape phase 60 s \| evidence time 3\.9\d* s \| last scrape age 60 s \| 133\.9\d* s \| 475\.\d+ s \|/);
    expect(md).toMatch(/\| prometheus-down: .* \| Error, rollout aborted \| 45 s \| \d+ s \|/);
    // each sequential gate's design: its hypotheses, its error rates, and the requests and seconds to a verdict
    expect(md).toContain('### Gate design');
    const test5 = BinomialSprt.of(operatingCharacteristic(0.05, {}, 'test'));
    const secs = (n: number) => Math.round(n / s.canaryRequestsPerSecond);
    expect(md).toContain(`| \`error-rate-lt-5-percent\` | 5% failed | 2.5% failed | 10% failed | 1% / 1% | ${Math.round(test5.expectedRequests(0.025))} / ${Math.round(test5.expectedRequests(0.1))} `
      + `| ${secs(test5.expectedRequests(0.025))} s / ${secs(test5.expectedRequests(0.1))} s | ${test5.horizonRequests()} requests (${secs(test5.horizonRequests())} s) |`);
    expect(md).toContain('| `latency-p95-lt-1s` | 5% slower than 1000ms | 2.5% slower than 1000ms | 10% slower than 1000ms | 1% / 1% |');
  });

  test('lists who may connect to the collector and the rollout: OTLP only from the delivered namespaces, metrics only from Prometheus\'s', () => {
    // GIVEN two services delivered beside each other, WHEN explained
    const fixture = fixtureDelivery({ services: [HOTROD, CHECKOUT] });
    const x = explained(fixture, 'checkout');
    const row = (pods: string, port: string) => x.admissions.find((a) => a.pods === pods && a.port === port);
    // THEN the collector's receivers admit exactly the two services' namespaces, its exporter Prometheus's, its health port nothing but the node
    expect(row('DaemonSet collector (namespace otel)', '4318 (otlp-http)')).toEqual({ pods: 'DaemonSet collector (namespace otel)', port: '4318 (otlp-http)', from: ['namespaces checkout, hotrod'], policies: ['NetworkPolicy otel/collector'] });
    expect(row('DaemonSet collector (namespace otel)', '8889 (prometheus)')?.from).toEqual(['namespace prometheus']);
    expect(row('DaemonSet collector (namespace otel)', '13133 (health)')?.from).toEqual([]);
    expect(row('Rollout checkout (namespace checkout)', '9000 (http)')?.from).toEqual(['anywhere']);
    const md = explainMarkdown(x);
    expect(md).toContain('| DaemonSet collector (namespace otel) | 4317 (otlp-grpc) | namespaces checkout, hotrod | NetworkPolicy otel/collector |');
    expect(md).toContain('| DaemonSet collector (namespace otel) | 13133 (health) | nothing but the node | - |');
    // AND without its NetworkPolicies, anyone may
    const open = explainModel(modelOf(modelOfApp(fixture.app).manifests.filter((m) => m.object.kind !== 'NetworkPolicy')))[0];
    expect(open.admissions.every((a) => a.from[0] === 'anyone (no NetworkPolicy selects these pods)')).toBe(true);
  });
  test("the README's wiring diagram and docs/explain.md's details are together all of the explanation", () => {
    const x = explained(fixtureDelivery());
    expect(`${wiringMarkdown(x)}\n${explainDetailsMarkdown(x)}`).toBe(explainMarkdown(x));
  });

  test('a page without the markers is refused, naming the page and the markers', () => {
    expect(() => withReadmeSection('# Explaining a delivery\n', 'x', EXPLAIN_DOC)).toThrow(`${EXPLAIN_DOC} has no '${README_BEGIN}' ... '${README_END}' markers`);
    expect(withReadmeSection(`a\n${README_BEGIN}\nold\n${README_END}\nb\n`, 'new\n', EXPLAIN_DOC)).toBe(`a\n${README_BEGIN}\nnew\n${README_END}\nb\n`);
  });
});

describe('explain --manifests', () => {
  test('draws every rollout of a hand-written or synthesized folder as it draws the app that wrote it', async () => {
    for (const described of example.describe()) {
      const fromApp = explainModel(modelOf(described.manifests, described.options));
      expect(fromApp.map((x) => x.id)).toEqual(['catalog/catalog', 'checkout/checkout', 'hotrod/hotrod']);
      const printed: string[] = [];
      const folder = join(ROOT, example.outdir, described.folder);
      expect(await main(['--manifests', folder], { log: (l) => printed.push(l), error: (l) => printed.push(l) })).toBe(0);
      const text = printed.join('\n');
      // the folder says nothing of its services' endpoints: the diagram and timeline of each rollout are still the app's
      // (nor their span names: the spanmetrics series of a folder's services are not estimated)
      for (const x of fromApp) expect(text).toContain(`## ${x.id}\n\n${explainMarkdown({ ...x, spanmetricsSeries: undefined }).trimEnd()}`);
      // and it says which setup the timings are for, and why
      expect(text).toContain(described.folder === 'production'
        ? 'for kube-prometheus-stack (since it scrapes through prometheus-operator (PodMonitor hotrod/hotrod); another: --prometheus NAME).'
        : 'for prometheus-community chart 29.1.0 (since it has no PodMonitor or ServiceMonitor: pods are scraped by their annotations; another: --prometheus NAME).');
    }
  });

  test('says which Prometheus setup it explains for: in the Markdown for several rollouts, on stderr for one', async () => {
    const run = async (...argv: string[]) => {
      const printed: string[] = [];
      const errors: string[] = [];
      expect(await main(argv, { log: (l) => printed.push(l), error: (l) => errors.push(l) })).toBe(0);
      return { markdown: printed.join('\n'), errors };
    };
    // an app of two environments: each named with its setup
    const app = await run('examples/platform/main.ts');
    expect(app.markdown.split('\n')[0]).toBe('Explained from the app in examples/platform/main.ts: staging on prometheus-community chart 29.1.0, production on kube-prometheus-stack, '
      + 'the Prometheus each environment names (another: --prometheus NAME).');
    expect(app.markdown).toContain('## production: catalog/catalog\n');
    expect(app.errors).toEqual([]);
    // one rollout: the Markdown is its explanation alone
    const folder = fixtureFolder();
    const one = await run('--manifests', folder);
    expect(one.markdown).toMatch(/^### Wiring\n/);
    expect(one.errors).toEqual([`Explained from the manifests in ${folder}, for prometheus-community chart 29.1.0 (since it has no PodMonitor or ServiceMonitor: pods are scraped by their annotations; another: --prometheus NAME).`]);
  }, 30_000);
});
