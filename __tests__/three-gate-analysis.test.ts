import { Duration, Testing } from 'cdk8s';
import { GateKind, GateSpec, HistogramUnit, PodScrape, PrometheusBackend, SeriesPath } from '../lib';
import { parse } from 'yaml';
import { deriveTiming, formatDerivation, poissonMeanFor } from '../lib/analysis/evidence';
import { BinomialSprt, operatingCharacteristic } from '../lib/analysis/sequential';
import { CHECKOUT_WORKLOAD, find, gateQuery, rolloutStack, synth } from './helpers';

const PROPS = {
  name: 'custom', address: 'http://prom', scrapeInterval: Duration.seconds(15), discoveryDelay: Duration.seconds(10), podScrape: PodScrape.ANNOTATIONS,
  namespaceLabel: 'namespace', podLabel: 'pod', copiesPodLabels: true, honorLabels: true,
};

function template(opts: Parameters<typeof rolloutStack>[0] = {}) {
  return find(synth(rolloutStack(opts).chart), 'AnalysisTemplate');
}

const byName = (t: any) => Object.fromEntries(t.spec.metrics.map((m: any) => [m.name, m]));

/** The sequential test a design of the gate under test makes, built from the design alone. */
const sprt = (threshold: number, options = {}) => BinomialSprt.of(operatingCharacteristic(threshold, options, 'test'));

describe('ThreeGateAnalysis', () => {
  test('emits a traffic gate and two sequential tests on the canary\'s user requests, looking at every scrape of the chart\'s 1m', () => {
    const { analysis } = rolloutStack();
    const t = template();
    expect(t).toMatchSnapshot();
    expect(t.metadata.name).toBe('hotrod-analysis');
    expect(t.spec.args).toEqual([{ name: 'namespace' }, { name: 'canary-hash' }]);
    const m = byName(t);
    const test5 = sprt(0.05);
    expect(Object.keys(m)).toEqual([`traffic-at-least-${test5.fewestToPromote}-requests`, 'error-rate-lt-5-percent', 'latency-p95-lt-1s']);
    expect(test5.fewestToPromote).toBe(58); // ln(0.01) / ln(0.9 / 0.975)
    const schedule = analysis.schedule;
    // the first look of the traffic gate: a canary's first request is in Prometheus, worst case
    // (discovery 10 + first scrape 60 + one request at the expected rate + last scrape 60, rounded up to 5 s)
    const first = deriveTiming(SeriesPath.POD_SCRAPE, { backend: PrometheusBackend.communityChart(), flushSeconds: 15, exportDelaySeconds: 1.2 }, poissonMeanFor(1, 0.999) / schedule.canaryRequestsPerSecond);
    expect(schedule.firstRequest.totalSeconds).toBeCloseTo(first.totalSeconds, 9);
    expect(schedule.trafficFirstLookSeconds).toBe(Math.ceil(first.totalSeconds / 5) * 5);
    expect(m['traffic-at-least-58-requests']).toMatchObject({
      initialDelay: `${schedule.trafficFirstLookSeconds}s`, interval: '60s', consecutiveSuccessLimit: 1, failureLimit: 0,
      successCondition: 'len(result) > 0 && result[0] >= 58', failureCondition: 'len(result) == 0 || result[0] < 1' });
    // the tests look with it, from one look interval or less after the start, until the horizon
    expect(schedule.firstLookSeconds).toBeGreaterThan(0);
    expect(schedule.firstLookSeconds).toBeLessThanOrEqual(60);
    expect((schedule.trafficFirstLookSeconds - schedule.firstLookSeconds) % 60).toBe(0);
    const horizon = deriveTiming(SeriesPath.POD_SCRAPE, { backend: PrometheusBackend.communityChart(), flushSeconds: 15, exportDelaySeconds: 1.2 },
      poissonMeanFor(test5.horizonRequests(), 0.999) / schedule.canaryRequestsPerSecond);
    expect(schedule.lastLookSeconds).toBeGreaterThanOrEqual(horizon.totalSeconds);
    expect(schedule.lastLookSeconds - 60).toBeLessThan(horizon.totalSeconds);
    for (const name of ['error-rate-lt-5-percent', 'latency-p95-lt-1s']) {
      const count = (schedule.lastLookSeconds - schedule.firstLookSeconds) / 60 + 1;
      expect(m[name]).toMatchObject({
        initialDelay: `${schedule.firstLookSeconds}s`, interval: '60s', count, consecutiveSuccessLimit: 1, failureLimit: 0, inconclusiveLimit: count - 1, consecutiveErrorLimit: 3,
        // promote at ln(falsePromote), stop at ln(1 / falseStop)
        successCondition: `len(result) > 0 && result[0] <= ${Number(Math.log(0.01).toPrecision(12))}`,
        failureCondition: `len(result) > 0 && result[0] >= ${Number(Math.log(100).toPrecision(12))}` });
    }
    for (const metric of t.spec.metrics) expect(metric.provider.prometheus.address).toBe('http://prometheus-server.prometheus.svc.cluster.local');

    // Only the frontend's user endpoints count, from the raw counters (every canary series is new with the canary).
    const requests = 'hotrod_requests_total{namespace="{{args.namespace}}", rollouts_pod_template_hash="{{args.canary-hash}}", endpoint=~"/|/dispatch"';
    expect(gateQuery(t, 'traffic-at-least-58-requests').trim()).toBe(`sum(${requests}})`);
    // failed requests x ln(bad / good) + the others x ln((1 - bad) / (1 - good))
    const failed = `sum(${requests}, error="true"}) or vector(0)`;
    expect(gateQuery(t, 'error-rate-lt-5-percent').trim()).toBe(
      `(${failed}) * ${Number(Math.log(4).toPrecision(12))}\n+ (sum(${requests}}) - (${failed})) * ${Number(Math.log(0.9 / 0.975).toPrecision(12))}`);
    // slow ones: all less those at or below the bound, as the exporter writes it and as Prometheus 3 stores it
    const spans = 'service_name="frontend", span_kind="SPAN_KIND_SERVER", span_name=~"/|/dispatch", k8s_namespace_name="{{args.namespace}}", k8s_pod_label_rollouts_pod_template_hash="{{args.canary-hash}}"';
    const fast = `sum(traces_span_metrics_duration_milliseconds_bucket{${spans}, le=~"1000|1000\\\\.0"})`;
    expect(gateQuery(t, 'latency-p95-lt-1s').trim()).toBe(
      `(sum(traces_span_metrics_duration_milliseconds_count{${spans}}) - ${fast}) * ${Number(Math.log(4).toPrecision(12))}\n+ (${fast}) * ${Number(Math.log(0.9 / 0.975).toPrecision(12))}`);
    // the design is in the template, for the tools
    expect(JSON.parse(t.metadata.annotations['hotrod-progressive-delivery/gate-design'])).toEqual({
      evidenceSeconds: 60,
      canaryRequestsPerSecond: Number(schedule.canaryRequestsPerSecond.toPrecision(12)),
      gates: {
        'error-rate-lt-5-percent': { threshold: 0.05, good: 0.025, bad: 0.1, falseStop: 0.01, falsePromote: 0.01 },
        'latency-p95-lt-1s': { threshold: 0.05, good: 0.025, bad: 0.1, falseStop: 0.01, falsePromote: 0.01, latencyBound: 1000 },
      },
    });
  });

  test('the expected rate is what the slowest test needs, on average at good, over the evidence time', () => {
    expect(rolloutStack().analysis.requiredCanaryRequestsPerSecond).toBeCloseTo(sprt(0.05).expectedRequests(0.025) / 60, 9);
    // a 1 % gate needs more: the rate follows
    const one = rolloutStack({ gates: { maxErrorRatio: 0.01 } }).analysis;
    expect(one.requiredCanaryRequestsPerSecond).toBeCloseTo(sprt(0.01).expectedRequests(0.005) / 60, 9);
    expect(one.evidenceRequests).toBe(sprt(0.01).fewestToPromote);
    // twice the evidence time, half the rate
    expect(rolloutStack({ gates: { evidenceTime: Duration.minutes(2) } }).analysis.requiredCanaryRequestsPerSecond).toBeCloseTo(sprt(0.05).expectedRequests(0.025) / 120, 9);
    // minRequestsPerSecond stays a floor
    expect(rolloutStack({ gates: { minRequestsPerSecond: 5 } }).analysis.requiredCanaryRequestsPerSecond).toBe(5);
  });

  test('the design is a typed input: stricter error rates need more requests, and reach the conditions', () => {
    const strict = rolloutStack({ gates: { falseStop: 0.001, falsePromote: 0.001 } });
    const t = find(synth(strict.chart), 'AnalysisTemplate');
    expect(t.spec.metrics[1].failureCondition).toBe(`len(result) > 0 && result[0] >= ${Number(Math.log(1000).toPrecision(12))}`);
    expect(strict.analysis.evidenceRequests).toBeGreaterThan(rolloutStack().analysis.evidenceRequests);
    const custom = rolloutStack({ gates: { errorRateDesign: { good: 0.01, bad: 0.2 } } }).analysis.gate(GateKind.ERROR_RATE).design!;
    expect(custom.oc).toEqual({ good: 0.01, bad: 0.2, falseStop: 0.01, falsePromote: 0.01 });
    expect(custom.test.badWeight).toBeCloseTo(Math.log(20), 12);
  });

  describe('timings are derived from the Prometheus scrape and the spanmetrics flush', () => {
    test.each([
      ['the seed\'s 10 s scrape', PrometheusBackend.challengeEnvironment()],
      ['kube-prometheus-stack\'s 30 s scrape', PrometheusBackend.kubePrometheusStack()],
      ['a 2m scrape', PrometheusBackend.communityChart({ scrapeInterval: Duration.minutes(2) })],
    ])('%s: every gate looks at each scrape, the tests with the traffic gate, until the horizon', (_what, prometheus) => {
      const { analysis } = rolloutStack({ prometheus });
      const s = analysis.schedule;
      const look = prometheus.scrapeSeconds;
      for (const g of analysis.gates) expect(g.timing.interval.toSeconds()).toBe(look);
      expect(s.firstRequest.totalSeconds).toBeGreaterThanOrEqual(prometheus.discoverySeconds + 2 * look);
      expect((s.trafficFirstLookSeconds - s.firstLookSeconds) % look).toBe(0);
      expect(s.lastLookSeconds).toBeGreaterThanOrEqual(s.horizon.totalSeconds);
      const last = (g: { timing: { initialDelay: Duration; count: number; interval: Duration } }) => g.timing.initialDelay.toSeconds() + (g.timing.count - 1) * g.timing.interval.toSeconds();
      expect(analysis.gates.map(last)).toEqual([s.lastLookSeconds, s.lastLookSeconds, s.lastLookSeconds]);
    });
    test.each([
      ['the chart\'s 1m scrape', PrometheusBackend.communityChart(), 2],
      ['kube-prometheus-stack\'s 30 s scrape', PrometheusBackend.kubePrometheusStack(), 3],
      ['the seed\'s 10 s scrape', PrometheusBackend.challengeEnvironment(), 6],
    ])('%s: a spanmetrics-only canary\'s traffic gate lets a collector replacement\'s empty looks pass, then stops an idle canary', (_what, prometheus, looks) => {
      const { analysis } = rolloutStack({ prometheus, rollout: { name: 'checkout', workload: CHECKOUT_WORKLOAD } });
      const look = prometheus.scrapeSeconds;
      // a collector replaced before it exported the first request's series: away 10 s, then
      // discovered, flushed (15 s), the export delay (the SDK's and the collector's batching) and a
      // scrape later the series is back
      const exportDelay = analysis.schedule.firstRequest.countedFrom.find((t) => t.label === 'export delay')!.seconds;
      expect(exportDelay).toBeCloseTo(5.2, 9);
      const away = 10 + prometheus.discoverySeconds + 15 + exportDelay + look;
      const traffic = analysis.gate(GateKind.TRAFFIC).timing;
      expect(traffic.failureLimit).toBe(looks);
      expect(traffic.failureLimit * look).toBeGreaterThanOrEqual(away);
      expect((traffic.failureLimit - 1) * look).toBeLessThan(away);
      // an idle canary is still stopped before the horizon, by the same gate
      expect(traffic.count).toBeGreaterThan(traffic.failureLimit + 1);
      // counted from the canary's own pods, no collector stands between: the first empty look stops it
      expect(rolloutStack({ prometheus }).analysis.gate(GateKind.TRAFFIC).timing.failureLimit).toBe(0);
    });
    test('the connector\'s 60 s default flush makes the spanmetrics path the slower one', () => {
      const { analysis } = rolloutStack({ pipeline: { metricsFlushInterval: Duration.seconds(60) } });
      expect(formatDerivation(analysis.schedule.firstRequest)).toMatch(/^1\.2 \+ 60 \+ 3\.97[0-9]* \+ 60 \+ 60 = 185\.1[0-9]* s \(export delay \+ first flush phase \+ evidence time \+ last flush age \+ last scrape age\)$/);
    });
  });

  test('under kube-prometheus-stack HotROD\'s endpoint label is exported_endpoint (the PodMonitor sets endpoint, honorLabels is false)', () => {
    const t = template({ prometheus: PrometheusBackend.kubePrometheusStack() });
    const q = gateQuery(t, t.spec.metrics[0].name);
    expect(q).toContain('exported_endpoint=~"/|/dispatch"');
    expect(q).toContain('rollouts_pod_template_hash="{{args.canary-hash}}"');
    expect(t.spec.metrics[0].provider.prometheus.address).toBe('http://kube-prometheus-stack-prometheus.monitoring.svc.cluster.local:9090');
  });

  describe('metric and label names flow from the pipeline', () => {
    test('spanmetrics namespace', () => {
      expect(gateQuery(template({ pipeline: { metricsNamespace: 'spans' } }), 'latency-p95-lt-1s')).toContain('sum(spans_duration_milliseconds_bucket{');
    });
    test('histogram unit: name and bound', () => {
      const t = template({ pipeline: { histogramUnit: HistogramUnit.SECONDS } });
      expect(gateQuery(t, 'latency-p95-lt-1s')).toContain('traces_span_metrics_duration_seconds_bucket');
      expect(gateQuery(t, 'latency-p95-lt-1s')).toContain('le=~"1|1\\\\.0"');
    });
    test('the pod hash dimension', () => {
      const q = gateQuery(template({ pipeline: { podIdentity: { podTemplateHash: 'k8s.replicaset.hash' } } }), 'latency-p95-lt-1s');
      expect(q).toContain('k8s_replicaset_hash="{{args.canary-hash}}"');
      expect(q).not.toContain('k8s_pod_label_rollouts_pod_template_hash');
    });
    test('the namespace dimension', () => {
      expect(gateQuery(template({ pipeline: { podIdentity: { namespace: 'service.namespace' } } }), 'latency-p95-lt-1s'))
        .toContain('service_namespace="{{args.namespace}}"');
    });
  });

  test('thresholds and timing overrides are typed props', () => {
    const { analysis: gates, chart: hotrod } = rolloutStack({ gates: {
      maxErrorRatio: 0.025, maxP95: Duration.millis(800),
      latency: { count: 20 },
    } });
    const t = find(synth(hotrod), 'AnalysisTemplate');
    const evidence = sprt(0.025).fewestToPromote;
    expect(t.spec.metrics.map((m: any) => m.name)).toEqual([`traffic-at-least-${evidence}-requests`, 'error-rate-lt-2p5-percent', 'latency-p95-lt-800ms']);
    expect(t.spec.metrics[0].successCondition).toBe(`len(result) > 0 && result[0] >= ${evidence}`);
    // a longer horizon: the inconclusive looks follow the count
    expect(t.spec.metrics[2]).toMatchObject({ count: 20, inconclusiveLimit: 19 });
    expect(gateQuery(t, 'latency-p95-lt-800ms')).toContain('le=~"800|800\\\\.0"');
    expect(gates.gate(GateKind.LATENCY).timing.count).toBe(20);
  });

  test('a latency threshold that is no bucket bound becomes one: 900 ms is counted exactly, once for every gate that needs it', () => {
    const { chart, otel, analysis } = rolloutStack({ gates: { maxP95: Duration.millis(900), gates: [GateSpec.latency({ quantile: 0.99, max: Duration.millis(900) })] } });
    const t = find(synth(chart), 'AnalysisTemplate');
    expect(gateQuery(t, 'latency-p95-lt-900ms')).toContain('le=~"900|900\\\\.0"');
    expect(analysis.gate(GateKind.LATENCY).design!.latencyBound).toBe(900);
    const config = parse(find(synth(otel), 'ConfigMap', 'collector-config').data['collector-config.yaml']);
    const buckets: string[] = config.connectors.spanmetrics.histogram.explicit.buckets;
    expect(buckets).toEqual(['2ms', '4ms', '6ms', '8ms', '10ms', '50ms', '100ms', '200ms', '400ms', '800ms', '900ms', '1s', '1400ms', '2s', '5s', '10s', '15s']);
    // bounds the pipeline already has stay as they are
    const { otel: plain } = rolloutStack({ gates: { maxP95: Duration.millis(800) } });
    expect(parse(find(synth(plain), 'ConfigMap', 'collector-config').data['collector-config.yaml']).connectors.spanmetrics.histogram.explicit).toBeUndefined();
    // given buckets take the bound in order
    const { otel: given } = rolloutStack({ gates: { maxP95: Duration.millis(500) }, pipeline: { histogramBuckets: [100, 250, 1000].map((ms) => Duration.millis(ms)) } });
    expect(parse(find(synth(given), 'ConfigMap', 'collector-config').data['collector-config.yaml']).connectors.spanmetrics.histogram.explicit.buckets).toEqual(['100ms', '250ms', '500ms', '1s']);
  });

  describe('rejects', () => {
    const cases: [string, Parameters<typeof rolloutStack>[0], string | RegExp][] = [
      ['a zero request rate', { gates: { minRequestsPerSecond: 0 } }, 'ThreeGateAnalysis: minRequestsPerSecond must be a positive number of requests per second, got 0'],
      ['an error ratio given in percent', { gates: { maxErrorRatio: 5 } }, 'ThreeGateAnalysis: maxErrorRatio must be a ratio above 0 and below 1, got 5 (for 5% write 0.05)'],
      ['a negative error ratio', { gates: { maxErrorRatio: -0.1 } }, 'maxErrorRatio must be a ratio above 0 and below 1, got -0.1'],
      ['a zero latency', { gates: { maxP95: Duration.millis(0) } }, 'ThreeGateAnalysis: maxP95 must be a positive latency, got 0ms'],
      ['a chance of a false stop in percent', { gates: { falseStop: 1 } }, 'ThreeGateAnalysis: falseStop must be a chance above 0 and below 0.5, got 1 (for 1% write 0.01)'],
      ['a good share above the threshold', { gates: { errorRateDesign: { good: 0.06 } } }, 'GateSpec.errorRatio: good must be a share above 0 and below the threshold 0.05, got 0.06'],
      ['a fractional count', { gates: { traffic: { count: 2.5 } } }, 'ThreeGateAnalysis: traffic.count must be an integer >= 1, got 2.5'],
      ['a negative failure limit', { gates: { errorRate: { failureLimit: -1 } } }, 'ThreeGateAnalysis: error-rate.failureLimit must be an integer >= 0, got -1'],
      ['a count below failureLimit + consecutiveSuccessLimit', { gates: { latency: { count: 20, failureLimit: 20 } } },
        'ThreeGateAnalysis: latency.count 20 is below failureLimit 20 + consecutiveSuccessLimit 1; Argo Rollouts makes such a run Error at once'],
      ['a sequential gate without its success streak', { gates: { errorRate: { consecutiveSuccessLimit: 0 } } },
        'ThreeGateAnalysis: error-rate.consecutiveSuccessLimit 0 makes the gate Successful once it has looked count times, decided or not'],
      ['a sequential gate that gives up before its horizon', { gates: { errorRate: { inconclusiveLimit: 2 } } },
        'ThreeGateAnalysis: error-rate.inconclusiveLimit 2 ends the gate Inconclusive after 3 looks that decide nothing, before its horizon'],
      ['looks that end before the design\'s horizon', { gates: { latency: { count: 3 } } },
        'ThreeGateAnalysis: the latency gate looks for the last time at 135s (initialDelay 15s + (count 3 - 1) x interval 60s), but its design needs 534 requests to decide a canary at good or bad'],
      ['a sub-second interval', { gates: { traffic: { interval: Duration.millis(500) } } }, 'ThreeGateAnalysis: traffic.interval must be a non-negative whole number of seconds, got 500ms'],
      ['a traffic gate that judges a canary idle before its first request can be in Prometheus', { gates: { traffic: { initialDelay: Duration.seconds(90) } } },
        /ThreeGateAnalysis: the traffic gate fails a canary with no request at 90s \(initialDelay 90s \+ failureLimit 0 x interval 60s\), but a canary's first request is in Prometheus only 10 \+ 60 \+ 3\.9\d* \+ 60 = 133\.9\d* s \(discovery delay \+ first scrape phase \+ evidence time \+ last scrape age\) after it starts, worst case; a healthy canary would be stopped: raise traffic\.initialDelay to at least 134s/],
      ['an invalid template name', { gates: { name: 'HotROD Analysis' } }, "ThreeGateAnalysis: name 'HotROD Analysis' is not a valid Kubernetes object name"],
    ];
    test.each(cases)('%s', (_what, opts, message) => {
      // wrong on its face: at construction; wrong against the derived timings: at synth, once every gate is known
      expect(() => Testing.synth(rolloutStack(opts).chart)).toThrow(message);
    });
    test('a Prometheus address without scheme', () => {
      expect(() => PrometheusBackend.custom({ ...PROPS, address: 'prometheus-server.prometheus' }))
        .toThrow("PrometheusBackend 'custom': address 'prometheus-server.prometheus' is not an http(s) URL");
    });
  });
});

