import { Duration } from 'cdk8s';
import { GateKind, HistogramUnit } from '../lib';
import { find, gateQuery, synth, wiredStack } from './helpers';

function template(opts: Parameters<typeof wiredStack>[0] = {}) {
  return find(synth(wiredStack(opts).hotrod), 'AnalysisTemplate');
}

describe('ThreeGateAnalysis', () => {
  test('emits the three gates of SPEC', () => {
    const t = template();
    expect(t).toMatchSnapshot();
    expect(t.metadata.name).toBe('hotrod-analysis');
    expect(t.spec.args).toEqual([{ name: 'namespace' }, { name: 'canary-hash' }]);
    const byName = Object.fromEntries(t.spec.metrics.map((m: any) => [m.name, m]));
    expect(Object.keys(byName)).toEqual(['traffic-detection', 'error-rate-lt-5-percent', 'latency-p95-lt-1s']);

    expect(byName['traffic-detection']).toMatchObject({ initialDelay: '90s', interval: '10s', count: 5, failureLimit: 3, inconclusiveLimit: 5, consecutiveErrorLimit: 3,
      successCondition: 'len(result) > 0 && result[0] >= 0.05' });
    expect(byName['error-rate-lt-5-percent']).toMatchObject({ initialDelay: '60s', interval: '10s', count: 3, failureLimit: 2, inconclusiveLimit: 3, consecutiveErrorLimit: 2,
      successCondition: 'len(result) > 0 && result[0] < 0.05' });
    expect(byName['latency-p95-lt-1s']).toMatchObject({ initialDelay: '90s', interval: '10s', count: 3, failureLimit: 2, inconclusiveLimit: 3, consecutiveErrorLimit: 2,
      successCondition: 'len(result) > 0 && result[0] < 1000' });
    for (const m of t.spec.metrics) {
      expect(m.provider.prometheus.address).toBe('http://prometheus-server.prometheus.svc.cluster.local');
    }

    expect(gateQuery(t, 'traffic-detection').trim()).toBe(
      'sum(rate(hotrod_requests_total{namespace="{{args.namespace}}", rollouts_pod_template_hash="{{args.canary-hash}}"}[2m]))');
    expect(gateQuery(t, 'error-rate-lt-5-percent')).toContain('error="true"');
    expect(gateQuery(t, 'latency-p95-lt-1s').trim()).toBe(
      'histogram_quantile(0.95, sum by (le) (rate(traces_span_metrics_duration_milliseconds_bucket{hotrod_namespace="{{args.namespace}}", hotrod_pod_hash="{{args.canary-hash}}"}[2m])))');
  });

  describe('metric and label names flow from the pipeline', () => {
    test('spanmetrics namespace', () => {
      expect(gateQuery(template({ pipeline: { metricsNamespace: 'spans' } }), 'latency-p95-lt-1s')).toContain('rate(spans_duration_milliseconds_bucket{');
    });
    test('histogram unit: name and threshold', () => {
      const t = template({ pipeline: { histogramUnit: HistogramUnit.SECONDS } });
      expect(gateQuery(t, 'latency-p95-lt-1s')).toContain('traces_span_metrics_duration_seconds_bucket');
      expect(t.spec.metrics[2].successCondition).toBe('len(result) > 0 && result[0] < 1');
    });
    test('the pod hash dimension', () => {
      const q = gateQuery(template({ pipeline: { podIdentity: { podTemplateHash: 'k8s.replicaset.hash' } } }), 'latency-p95-lt-1s');
      expect(q).toContain('k8s_replicaset_hash="{{args.canary-hash}}"');
      expect(q).not.toContain('hotrod_pod_hash');
    });
    test('the namespace dimension', () => {
      expect(gateQuery(template({ pipeline: { podIdentity: { namespace: 'service.namespace' } } }), 'latency-p95-lt-1s'))
        .toContain('service_namespace="{{args.namespace}}"');
    });
  });

  test('thresholds and timings are typed props', () => {
    const { gates, hotrod } = wiredStack({ gates: {
      minRequestsPerSecond: 0.2, maxErrorRatio: 0.025, maxP95: Duration.millis(750), rateWindow: Duration.minutes(5),
      latency: { initialDelay: Duration.minutes(3), count: 4 },
    } });
    const t = find(synth(hotrod), 'AnalysisTemplate');
    expect(t.spec.metrics.map((m: any) => m.name)).toEqual(['traffic-detection', 'error-rate-lt-2p5-percent', 'latency-p95-lt-750ms']);
    expect(t.spec.metrics.map((m: any) => m.successCondition)).toEqual([
      'len(result) > 0 && result[0] >= 0.2', 'len(result) > 0 && result[0] < 0.025', 'len(result) > 0 && result[0] < 750']);
    expect(t.spec.metrics[2]).toMatchObject({ initialDelay: '180s', count: 4, failureLimit: 2 });
    expect(gateQuery(t, 'traffic-detection')).toContain('[5m]');
    expect(gates.gate(GateKind.LATENCY).timing.count).toBe(4);
  });

  test('maxP95Ms is the same as maxP95', () => {
    expect(template({ gates: { maxP95Ms: 1500 } }).spec.metrics[2].successCondition).toBe('len(result) > 0 && result[0] < 1500');
  });

  describe('rejects', () => {
    const cases: [string, Parameters<typeof wiredStack>[0], string][] = [
      ['a zero request rate', { gates: { minRequestsPerSecond: 0 } }, 'ThreeGateAnalysis: minRequestsPerSecond must be a positive number of requests per second, got 0'],
      ['an error ratio given in percent', { gates: { maxErrorRatio: 5 } }, 'ThreeGateAnalysis: maxErrorRatio must be a ratio above 0 and at most 1, got 5 (for 5% write 0.05)'],
      ['a negative error ratio', { gates: { maxErrorRatio: -0.1 } }, 'maxErrorRatio must be a ratio above 0 and at most 1, got -0.1'],
      ['both latency props', { gates: { maxP95: Duration.seconds(1), maxP95Ms: 900 } }, 'ThreeGateAnalysis: give maxP95 or maxP95Ms, not both (got 1000ms and 900ms)'],
      ['a zero latency', { gates: { maxP95Ms: 0 } }, 'ThreeGateAnalysis: maxP95 must be a positive latency, got 0ms'],
      ['a fractional count', { gates: { traffic: { count: 2.5 } } }, 'ThreeGateAnalysis: traffic.count must be an integer >= 1, got 2.5'],
      ['a negative failure limit', { gates: { errorRate: { failureLimit: -1 } } }, 'ThreeGateAnalysis: error-rate.failureLimit must be an integer >= 0, got -1'],
      ['a failure limit that cannot be exceeded', { gates: { latency: { failureLimit: 3 } } }, 'ThreeGateAnalysis: latency.failureLimit 3 can never be exceeded with count 3'],
      ['a sub-second interval', { gates: { traffic: { interval: Duration.millis(500) } } }, 'ThreeGateAnalysis: traffic.interval must be a non-negative whole number of seconds, got 500ms'],
      ['a rate window shorter than two flushes', { gates: { rateWindow: Duration.minutes(1) } }, 'ThreeGateAnalysis: rateWindow 1m is shorter than twice the spanmetrics flush interval (60s); rate() needs two points in its window: use at least 120s'],
      ['a Prometheus address without scheme', { gates: { prometheusAddress: 'prometheus-server.prometheus' } }, "ThreeGateAnalysis: prometheusAddress 'prometheus-server.prometheus' is not an http(s) URL"],
      ['an invalid template name', { gates: { name: 'HotROD Analysis' } }, "ThreeGateAnalysis: name 'HotROD Analysis' is not a valid Kubernetes object name"],
    ];
    test.each(cases)('%s', (_what, opts, message) => {
      expect(() => wiredStack(opts)).toThrow(message);
    });
  });
});
