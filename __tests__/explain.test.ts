import { readFileSync } from 'fs';
import { join } from 'path';
import { Duration } from 'cdk8s';
import { BadCanary, explainMarkdown, GateKind, MeasurementPhase, readmeSection, rolloutTimeline, simulateGate, wiringDiagram } from '../lib';
import { defaultStack, wiredStack } from './helpers';

const ROOT = join(__dirname, '..');

/** Stop times by kind of bad canary: [bad from the start, worst case]. */
function stops(t: ReturnType<typeof rolloutTimeline>) {
  return Object.fromEntries(t.badCanaries.map((v) => [v.kind, [v.stopSeconds, v.worstCaseStopSeconds]]));
}

describe('the wiring diagram', () => {
  const diagram = wiringDiagram(defaultStack());

  test('shows the wiring with ports, names and thresholds from the constructs', () => {
    expect(diagram).toMatch(/^flowchart LR\n/);
    for (const edge of [
      'generator -->|"HTTP :8080<br/>',
      'rollout -->|"OTLP/HTTP :4318<br/>http://collector.otel.svc.cluster.local:4318"| otlpReceiver',
      'jaegerExporter -->|"OTLP/gRPC :4317"| jaeger',
      'otlpReceiver -->|"traces pipeline"| spanmetrics',
      'spanmetrics -->|"metrics pipeline"| promExporter',
      'promExporter -->|"scrape :8889/metrics"| prometheus',
      'prometheus -->|"PromQL"| gate_traffic_detection',
      'gate_latency_p95_lt_1s --> analysisStep',
      'appSet -->|"git directory"| app_traffic_generator',
    ]) expect(diagram).toContain(edge);
    expect(diagram).toContain('gate_error_rate_lt_5_percent["gate error-rate-lt-5-percent<br/>len(result) #gt; 0 #amp;#amp; result[0] #lt; 0.05"]');
    expect(diagram).toContain('jaeger[("Jaeger<br/>jaeger-collector.jaeger.svc.cluster.local")]');
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

  test('follows the constructs: a changed port or threshold changes the picture', () => {
    const stack = wiredStack({ pipeline: { otlpHttpPort: 4319, prometheusPort: 9464 }, gates: { maxP95Ms: 750 } });
    const d = wiringDiagram(stack);
    expect(d).toContain('rollout -->|"OTLP/HTTP :4319<br/>http://collector.otel.svc.cluster.local:4319"| otlpReceiver');
    expect(d).toContain('promExporter -->|"scrape :9464/metrics"| prometheus');
    expect(d).toContain('gate latency-p95-lt-750ms<br/>len(result) #gt; 0 #amp;#amp; result[0] #lt; 750');
    expect(d).not.toContain('generator');
    expect(d).not.toContain('appSet');
  });
});

describe('the rollout timeline', () => {
  test('default app: gates, earliest promotion and when each bad canary is stopped', () => {
    const t = rolloutTimeline(defaultStack());
    expect(t.steps.map((s) => [s.label, s.canaryPods, s.stablePods])).toEqual([
      ['setWeight 50', 1, 1], ['analysis hotrod-analysis', 1, 1], ['setWeight 100', 2, 0],
    ]);
    expect(t.analysisWeight).toBe(50);
    expect(t.gates.map((g) => [g.name, g.measurementSeconds, g.firstPassSeconds, g.earliestFailSeconds, g.latestFailSeconds, g.allErrorsSeconds])).toEqual([
      ['traffic-detection', [90, 100, 110, 120, 130], 130, 120, 130, 120],
      ['error-rate-lt-5-percent', [60, 70, 80], 80, 80, 80, 80],
      ['latency-p95-lt-1s', [90, 100, 110], 110, 110, 110, 110],
    ]);
    expect(t.earliestPromotionSeconds).toBe(130);
    expect(t.promotionDecidedBy).toBe('traffic-detection');
    expect(stops(t)).toEqual({
      [BadCanary.IDLE]: [80, 130],
      [BadCanary.ERRORING]: [80, 80],
      [BadCanary.SLOW]: [110, 110],
      [BadCanary.NO_SPANMETRICS]: [110, 110],
      [BadCanary.PROMETHEUS_DOWN]: [80, 160],
    });
  });

  test("which gates stop a bad canary comes from the template's own conditions", () => {
    const t = rolloutTimeline(defaultStack());
    const by = Object.fromEntries(t.badCanaries.map((v) => [v.kind, [v.stoppedBy, v.runPhase, v.rollout]]));
    expect(by).toEqual({
      [BadCanary.IDLE]: [['error-rate-lt-5-percent', 'latency-p95-lt-1s', 'traffic-detection'], MeasurementPhase.FAILED, 'aborted'],
      [BadCanary.ERRORING]: [['error-rate-lt-5-percent'], MeasurementPhase.FAILED, 'aborted'],
      [BadCanary.SLOW]: [['latency-p95-lt-1s'], MeasurementPhase.FAILED, 'aborted'],
      [BadCanary.NO_SPANMETRICS]: [['latency-p95-lt-1s'], MeasurementPhase.FAILED, 'aborted'],
      [BadCanary.PROMETHEUS_DOWN]: [['error-rate-lt-5-percent', 'latency-p95-lt-1s', 'traffic-detection'], MeasurementPhase.ERROR, 'aborted'],
    });
  });

  test('an unguarded condition turns "no data" into Error instead of Failed', () => {
    const stack = wiredStack();
    const latency = stack.gates.gate(GateKind.LATENCY) as { successCondition: string };
    // The seed's latency gate: `result[0] < 1000` without a length check.
    Object.assign(latency, { successCondition: 'result[0] < 1000' });
    const v = rolloutTimeline(stack).badCanaries.find((b) => b.kind === BadCanary.NO_SPANMETRICS)!;
    expect(v.phases['latency-p95-lt-1s']).toBe(MeasurementPhase.ERROR);
    expect([v.runPhase, v.stopSeconds]).toEqual([MeasurementPhase.ERROR, 110]);
  });

  test('a later initialDelay moves the measurements, the promotion and the stops', () => {
    const t = rolloutTimeline(wiredStack({ gates: {
      traffic: { initialDelay: Duration.seconds(150) },
      errorRate: { initialDelay: Duration.seconds(30) },
    } }));
    expect(t.gates[0].measurementSeconds).toEqual([150, 160, 170, 180, 190]);
    expect(t.gates[1].measurementSeconds).toEqual([30, 40, 50]);
    expect(t.earliestPromotionSeconds).toBe(190);
    expect(stops(t)).toEqual({
      [BadCanary.IDLE]: [50, 190],
      [BadCanary.ERRORING]: [50, 50],
      [BadCanary.SLOW]: [110, 110],
      [BadCanary.NO_SPANMETRICS]: [110, 110],
      [BadCanary.PROMETHEUS_DOWN]: [50, 220],
    });
  });

  test("Argo's limits: failures must exceed failureLimit, errors are retried every 10 s and do not count", () => {
    const { gates } = wiredStack({ gates: { traffic: { initialDelay: Duration.seconds(0), interval: Duration.seconds(60), count: 5, failureLimit: 3, consecutiveErrorLimit: 3 } } });
    const traffic = gates.gate(GateKind.TRAFFIC);
    expect(simulateGate(traffic, MeasurementPhase.FAILED)).toEqual({ phase: MeasurementPhase.FAILED, atSeconds: 180 });
    expect(simulateGate(traffic, MeasurementPhase.ERROR)).toEqual({ phase: MeasurementPhase.ERROR, atSeconds: 30 });
    expect(simulateGate(traffic, MeasurementPhase.SUCCESSFUL)).toEqual({ phase: MeasurementPhase.SUCCESSFUL, atSeconds: 240 });
    // Bad only from the last measurement on: one failure is within the limit, so it passes.
    expect(simulateGate(traffic, MeasurementPhase.FAILED, 240).phase).toBe(MeasurementPhase.SUCCESSFUL);
    // Errors from the last measurement on: retried every 10 s until the limit is exceeded.
    expect(simulateGate(traffic, MeasurementPhase.ERROR, 240)).toEqual({ phase: MeasurementPhase.ERROR, atSeconds: 270 });
  });
});

describe('npm run explain', () => {
  test('prints the diagram and the timeline of the default app', () => {
    const md = explainMarkdown(defaultStack());
    expect(md).toContain('### Wiring\n\n```mermaid\nflowchart LR\n');
    expect(md).toContain('### Rollout timeline');
    expect(md).toContain('A healthy canary is promoted at the earliest **130 s** after the analysis step starts');
    expect(md).toMatch(/\| prometheus-down: .* \| Error, rollout aborted \| 80 s \| 160 s \|/);
  });

  test("the README's copy is what explain generates", () => {
    const section = readmeSection(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    if (section === undefined) throw new Error('README.md lost its explain markers; see lib/explain/markdown.ts README_BEGIN/README_END');
    if (section !== explainMarkdown(defaultStack())) {
      throw new Error('README.md shows a stale diagram or timeline: run `npm run explain -- --update-readme` and commit README.md');
    }
  });
});
