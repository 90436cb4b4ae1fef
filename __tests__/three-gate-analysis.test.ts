import { Duration, Testing } from 'cdk8s';
import { GateKind, HistogramUnit, PodScrape, PrometheusBackend, SeriesPath } from '../lib';
import { formatDerivation, poissonMeanFor, requestsForErrorRatio, samplesForQuantile } from '../lib/analysis/evidence';
import { find, gateQuery, rolloutStack, synth } from './helpers';

const PROPS = {
  name: 'custom', address: 'http://prom', scrapeInterval: Duration.seconds(15), discoveryDelay: Duration.seconds(10), podScrape: PodScrape.ANNOTATIONS,
  namespaceLabel: 'namespace', podLabel: 'pod', copiesPodLabels: true, honorLabels: true,
};

function template(opts: Parameters<typeof rolloutStack>[0] = {}) {
  return find(synth(rolloutStack(opts).chart), 'AnalysisTemplate');
}

const byName = (t: any) => Object.fromEntries(t.spec.metrics.map((m: any) => [m.name, m]));

describe('ThreeGateAnalysis', () => {
  test('emits three evidence gates on the canary\'s user requests, timed from the chart\'s 1m scrape', () => {
    const t = template();
    expect(t).toMatchSnapshot();
    expect(t.metadata.name).toBe('hotrod-analysis');
    expect(t.spec.args).toEqual([{ name: 'namespace' }, { name: 'canary-hash' }]);
    const m = byName(t);
    expect(Object.keys(m)).toEqual(['traffic-at-least-60-requests', 'error-rate-lt-5-percent', 'latency-p95-lt-1s']);
    // discovery 10 + first scrape 60 + evidence 60 + last scrape 60 = 190 s; spanmetrics: 1.2 + 15 + 60 + 15 + 60 = 151.2 s
    for (const metric of t.spec.metrics) {
      expect(metric).toMatchObject({ initialDelay: '190s', interval: '60s', count: 1, failureLimit: 0, inconclusiveLimit: 0, consecutiveErrorLimit: 3 });
      expect(metric.provider.prometheus.address).toBe('http://prometheus-server.prometheus.svc.cluster.local');
    }
    expect(m['traffic-at-least-60-requests']).toMatchObject({
      successCondition: 'len(result) > 0 && result[0] >= 60', failureCondition: 'len(result) == 0 || result[0] < 1' });
    expect(m['error-rate-lt-5-percent']).toMatchObject({
      successCondition: 'len(result) > 0 && result[0] < 0.05', failureCondition: 'len(result) > 0 && result[0] >= 0.05' });
    expect(m['latency-p95-lt-1s']).toMatchObject({
      successCondition: 'len(result) > 0 && result[0] < 1000', failureCondition: 'len(result) > 0 && result[0] >= 1000' });

    // Only the frontend's user endpoints count: never Prometheus's /metrics scrapes nor internal calls.
    expect(gateQuery(t, 'traffic-at-least-60-requests').trim()).toBe(
      'sum(increase(hotrod_requests_total{namespace="{{args.namespace}}", rollouts_pod_template_hash="{{args.canary-hash}}", endpoint=~"/|/dispatch"}[190s]))');
    expect(gateQuery(t, 'error-rate-lt-5-percent')).toContain('error="true"');
    expect(gateQuery(t, 'error-rate-lt-5-percent')).toContain('and on()\nsum(increase(hotrod_requests_total{');
    expect(gateQuery(t, 'error-rate-lt-5-percent').trim()).toMatch(/>= 60$/);
    expect(gateQuery(t, 'latency-p95-lt-1s')).toContain(
      'histogram_quantile(0.95, sum by (le) (increase(traces_span_metrics_duration_milliseconds_bucket{service_name="frontend", span_kind="SPAN_KIND_SERVER", '
      + 'span_name=~"/|/dispatch", k8s_namespace_name="{{args.namespace}}", k8s_pod_label_rollouts_pod_template_hash="{{args.canary-hash}}"}[190s])))');
    expect(gateQuery(t, 'latency-p95-lt-1s')).toContain('sum(increase(traces_span_metrics_duration_milliseconds_count{');
  });

  test('the evidence follows the error threshold and the confidence (rule of three), and a p95 needs 59 samples', () => {
    expect(requestsForErrorRatio(0.05, 0.95)).toBe(60);
    expect(requestsForErrorRatio(0.01, 0.95)).toBe(300);
    expect(samplesForQuantile(0.95, 0.95)).toBe(59);
    expect(samplesForQuantile(0.99, 0.95)).toBe(299);
    const { analysis: gates } = rolloutStack({ gates: { maxErrorRatio: 0.025 } });
    expect(gates.evidenceRequests).toBe(120);
    expect(gates.gate(GateKind.TRAFFIC).name).toBe('traffic-at-least-120-requests');
    expect(rolloutStack({ gates: { confidence: 0.99 } }).analysis.evidenceRequests).toBe(93);
    // The canary must get enough requests for the evidence in 99.9% of evidence times: a Poisson mean above 60.
    expect(poissonMeanFor(60, 0.999)).toBeGreaterThan(80);
    expect(rolloutStack().analysis.requiredCanaryRequestsPerSecond).toBeCloseTo(poissonMeanFor(60, 0.999) / 60, 6);
  });

  test('minRequestsPerSecond stays a floor under the evidence', () => {
    // 1 req/s over the 190 s window is 190 requests, more than the 60 the error threshold needs.
    expect(byName(template({ gates: { minRequestsPerSecond: 1 } }))['traffic-at-least-190-requests'].successCondition).toBe('len(result) > 0 && result[0] >= 190');
  });

  describe('timings are derived from the Prometheus scrape and the spanmetrics flush', () => {
    const delay = (opts: Parameters<typeof rolloutStack>[0]) => template(opts).spec.metrics.map((m: any) => [m.initialDelay, m.interval]);
    test.each([
      ['the seed\'s 10 s scrape', PrometheusBackend.challengeEnvironment(), '105s', '10s'],
      ['kube-prometheus-stack\'s 30 s scrape', PrometheusBackend.kubePrometheusStack(), '130s', '30s'],
      ['a 2m scrape', PrometheusBackend.communityChart({ scrapeInterval: Duration.minutes(2) }), '310s', '120s'],
    ])('%s', (_what, prometheus, initialDelay, interval) => {
      expect(delay({ prometheus })).toEqual([[initialDelay, interval], [initialDelay, interval], [initialDelay, interval]]);
    });
    test('the connector\'s 60 s default flush makes the spanmetrics path the slower one', () => {
      const { analysis: gates } = rolloutStack({ pipeline: { metricsFlushInterval: Duration.seconds(60) } });
      // 1.2 + 60 + 60 + 60 + 60 = 241.2 s
      expect(formatDerivation(gates.derivations[SeriesPath.SPANMETRICS])).toBe(
        '1.2 + 60 + 60 + 60 + 60 = 241.2 s (export delay + first flush phase + evidence time + last flush age + last scrape age)');
      expect(gates.gates.map((g) => g.timing.initialDelay.toSeconds())).toEqual([245, 245, 245]);
    });
    test('a longer evidence time moves every gate', () => {
      expect(delay({ gates: { evidenceTime: Duration.minutes(2) } })[0]).toEqual(['250s', '60s']);
    });
  });

  test('under kube-prometheus-stack HotROD\'s endpoint label is exported_endpoint (the PodMonitor sets endpoint, honorLabels is false)', () => {
    const q = gateQuery(template({ prometheus: PrometheusBackend.kubePrometheusStack() }), 'traffic-at-least-60-requests');
    expect(q).toContain('exported_endpoint=~"/|/dispatch"');
    expect(q).toContain('rollouts_pod_template_hash="{{args.canary-hash}}"');
    expect(template({ prometheus: PrometheusBackend.kubePrometheusStack() }).spec.metrics[0].provider.prometheus.address)
      .toBe('http://kube-prometheus-stack-prometheus.monitoring.svc.cluster.local:9090');
  });

  describe('metric and label names flow from the pipeline', () => {
    test('spanmetrics namespace', () => {
      expect(gateQuery(template({ pipeline: { metricsNamespace: 'spans' } }), 'latency-p95-lt-1s')).toContain('increase(spans_duration_milliseconds_bucket{');
    });
    test('histogram unit: name and threshold', () => {
      const t = template({ pipeline: { histogramUnit: HistogramUnit.SECONDS } });
      expect(gateQuery(t, 'latency-p95-lt-1s')).toContain('traces_span_metrics_duration_seconds_bucket');
      expect(t.spec.metrics[2].successCondition).toBe('len(result) > 0 && result[0] < 1');
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
      latency: { initialDelay: Duration.minutes(4), count: 4, inconclusiveLimit: 1, window: Duration.minutes(5) },
    } });
    const t = find(synth(hotrod), 'AnalysisTemplate');
    expect(t.spec.metrics.map((m: any) => m.name)).toEqual(['traffic-at-least-120-requests', 'error-rate-lt-2p5-percent', 'latency-p95-lt-800ms']);
    expect(t.spec.metrics.map((m: any) => m.successCondition)).toEqual([
      'len(result) > 0 && result[0] >= 120', 'len(result) > 0 && result[0] < 0.025', 'len(result) > 0 && result[0] < 800']);
    expect(t.spec.metrics[2]).toMatchObject({ initialDelay: '240s', count: 4, inconclusiveLimit: 1 });
    expect(gateQuery(t, 'latency-p95-lt-800ms')).toContain('[5m]');
    expect(gates.gate(GateKind.LATENCY).timing.count).toBe(4);
  });

  test('a latency threshold between two bucket bounds is refused: the verdict would be an interpolation, not the requests', () => {
    const { chart: hotrod } = rolloutStack({ gates: { maxP95: Duration.millis(500) } });
    expect(() => Testing.synth(hotrod)).toThrow("ThreeGateAnalysis: gate 'latency-p95-lt-500ms' compares a quantile with 500ms, which lies between the histogram's bucket bounds 400 and 800: "
      + "the verdict would follow histogram_quantile's interpolation inside that bucket, not the requests; use a bound as the threshold (400ms or 800ms), or add 500ms to the pipeline's histogramBuckets");
    // with the bound added to the buckets it synthesizes
    const ok = rolloutStack({ gates: { maxP95: Duration.millis(500) }, pipeline: { histogramBuckets: [100, 250, 500, 1000, 2000].map((ms) => Duration.millis(ms)) } });
    expect(find(synth(ok.chart), 'AnalysisTemplate').spec.metrics[2].name).toBe('latency-p95-lt-500ms');
  });

  describe('rejects', () => {
    const cases: [string, Parameters<typeof rolloutStack>[0], string][] = [
      ['a zero request rate', { gates: { minRequestsPerSecond: 0 } }, 'ThreeGateAnalysis: minRequestsPerSecond must be a positive number of requests per second, got 0'],
      ['an error ratio given in percent', { gates: { maxErrorRatio: 5 } }, 'ThreeGateAnalysis: maxErrorRatio must be a ratio above 0 and at most 1, got 5 (for 5% write 0.05)'],
      ['a negative error ratio', { gates: { maxErrorRatio: -0.1 } }, 'maxErrorRatio must be a ratio above 0 and at most 1, got -0.1'],
      ['a zero latency', { gates: { maxP95: Duration.millis(0) } }, 'ThreeGateAnalysis: maxP95 must be a positive latency, got 0ms'],
      ['a confidence in percent', { gates: { confidence: 95 } }, 'ThreeGateAnalysis: confidence must lie strictly between 0 and 1, got 95 (for 95% write 0.95)'],
      ['a fractional count', { gates: { traffic: { count: 2.5 } } }, 'ThreeGateAnalysis: traffic.count must be an integer >= 1, got 2.5'],
      ['a negative failure limit', { gates: { errorRate: { failureLimit: -1 } } }, 'ThreeGateAnalysis: error-rate.failureLimit must be an integer >= 0, got -1'],
      ['a failure limit that cannot be exceeded', { gates: { latency: { count: 3, failureLimit: 3 } } }, 'ThreeGateAnalysis: latency.failureLimit 3 can never be exceeded with count 3'],
      ['every measurement allowed to be inconclusive', { gates: { latency: { count: 2, inconclusiveLimit: 2 } } },
        'ThreeGateAnalysis: latency.inconclusiveLimit 2 lets all 2 measurements be inconclusive, and Argo Rollouts then counts the gate Successful without any evidence'],
      ['a sub-second interval', { gates: { traffic: { interval: Duration.millis(500) } } }, 'ThreeGateAnalysis: traffic.interval must be a non-negative whole number of seconds, got 500ms'],
      ['a first measurement before the evidence can be in Prometheus', { gates: { traffic: { initialDelay: Duration.seconds(90) } } },
        'ThreeGateAnalysis: the traffic gate ends the run at 90s without evidence (initialDelay 90s + failureLimit 0 x interval 60s = 90s), but the canary\'s evidence is in Prometheus only '
        + '10 + 60 + 60 + 60 = 190 s (discovery delay + first scrape phase + evidence time + last scrape age) after it starts, worst case; a healthy canary would be stopped: '
        + 'raise traffic.initialDelay to at least 190s, or shorten the scrape interval, the flush interval or evidenceTime'],
      ['a window that cannot hold the evidence', { gates: { errorRate: { window: Duration.minutes(1) } } },
        "ThreeGateAnalysis: the error-rate gate's window 60s cannot hold the evidence: the canary's first counted sample can be 70s after it starts and the evidence takes 60s more; use a window of at least 130s"],
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

