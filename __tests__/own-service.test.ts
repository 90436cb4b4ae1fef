import { Duration } from 'cdk8s';
import { GateKind, GateSpec, PrometheusEngine, ServiceSpec, Severity, WorkloadProps } from '../lib';
import { MeasurementPhase } from '../lib/analysis/condition';
import { explainModel } from '../lib/explain/sources';
import { EngineBinaries, EngineNotFoundError, locateEngine } from '../lib/rehearsal/prometheus-engine';
import { prepareRehearsal, runScenarios } from '../lib/rehearsal/rehearse';
import { slowerShare } from '../lib/analysis/profile';
import { healthyTraffic, wholeRunScenarios } from '../lib/rehearsal/scenarios';
import { formatResults } from '../lib/rehearsal/report';
import { Delivery } from '../lib/app/delivery';
import { modelOptionsOf } from '../lib/app/run-synth';
import { synthesizeInMemory } from '../lib/app/in-memory';
import { ALL_RULES } from '../lib/rules/all-rules';
import { runRules } from '../lib/rules/engine';
import { find, fixtureDelivery, modelOfApp, synth, targetOf, validateRules } from './helpers';

/** A payments service of one's own: HTTP on 9090, a GET and a POST with a JSON body, judged at 1 % and a p99 below 300 ms. */
const PAYMENTS: WorkloadProps = {
  image: 'ghcr.io/acme/payments:3.1.4',
  ports: [{ name: 'http', number: 9090 }],
  securityContext: { user: 10001, group: 10001 },
  endpoints: [
    { spanName: 'GET /payments/{id}', caller: 'user', urls: ['/payments/1'] },
    { spanName: 'POST /payments', caller: 'user', urls: ['/payments'], method: 'POST', body: '{"amount": 12.5, "note": "a \\"quoted\\" word"}', headers: { 'Content-Type': 'application/json' } },
  ],
};

const payments = (spec: Partial<ServiceSpec> = {}) => fixtureDelivery({
  services: [{
    name: 'payments', workload: PAYMENTS, gates: { maxErrorRatio: 0.01 },
    extraGates: [GateSpec.latency({ quantile: 0.99, max: Duration.millis(300) })], ...spec,
  }],
});

describe('a service of one\'s own', () => {
  test('its POST endpoint gets POSTs: each request a curl config file, its body and headers never through the shell; the tools read them back', () => {
    const fixture = payments();
    const objects = synth(fixture.charts.traffic!);
    const configs = find(objects, 'ConfigMap', 'payments-traffic-requests').data;
    expect(configs['0.curl']).toBe('url = "http://payments.payments.svc.cluster.local:9090/payments/1"\nrequest = "GET"\n');
    expect(configs['1.curl']).toBe('url = "http://payments.payments.svc.cluster.local:9090/payments"\nrequest = "POST"\nheader = "Content-Type: application/json"\n'
      + 'data-binary = "{\\"amount\\": 12.5, \\"note\\": \\"a \\\\\\"quoted\\\\\\" word\\"}"\n');
    const pod = find(objects, 'Deployment', 'payments-traffic').spec.template.spec;
    expect(pod.containers[0].command[2]).toContain('for request in 0 1; do');
    expect(pod.containers[0].command[2]).toContain('--config "/etc/traffic-generator/$request.curl" &');
    expect(pod.containers[0].volumeMounts).toEqual([expect.objectContaining({ mountPath: '/etc/traffic-generator', readOnly: true })]);
    // the rehearsal and explain read the methods back from the mounted files
    const target = targetOf(fixture);
    expect(target.userMix.map((m) => [m.endpoint.spanName, m.share])).toEqual([['GET /payments/{id}', 0.5], ['POST /payments', 0.5]]);
    const [explained] = explainModel(modelOfApp(fixture.app));
    expect(explained.generator?.paths).toEqual(['/payments/1', 'POST /payments']);
    // and validate finds nothing wrong with it
    expect(validateRules(modelOfApp(fixture.app).manifests).filter((f) => f.severity === Severity.ERROR)).toEqual([]);
  });

  test('a method, header or body that cannot be sent is refused at construction, naming the endpoint', () => {
    const bad = (endpoint: Partial<WorkloadProps['endpoints'][number]>) => () => payments({
      workload: { ...PAYMENTS, endpoints: [{ ...PAYMENTS.endpoints[0], ...endpoint }] },
    });
    expect(bad({ method: 'post' })).toThrow("CanaryRollout: workload.endpoints[0] ('GET /payments/{id}'): method 'post' is not an HTTP method; write it in capitals, e.g. 'POST'");
    expect(bad({ headers: { 'Content Type': 'x' } })).toThrow("header name 'Content Type' is not an HTTP token");
    expect(bad({ body: 'a\u0000b' })).toThrow('body holds a control character');
    // a span named `POST /p` is what the server makes of POSTs; GETs would not reach the gates
    expect(bad({ spanName: 'POST /payments' })).toThrow("CanaryRollout: workload.endpoints[0] ('POST /payments') is named as a server names POST requests, "
      + "but the traffic generator would send GET (method is not set), whose spans carry another name; set method: 'POST'");
  });

  test('without a traffic generator, a stated request rate times the gates; without one, validate warns that nothing sends what they assume', () => {
    const stated = payments({ trafficGenerator: false, expectedRequestsPerSecond: 20 });
    const analysis = stated.delivery.services[0].analysis;
    // half the pods serve the canary at the analysis weight
    expect(analysis.schedule.canaryRequestsPerSecond).toBe(10);
    expect(JSON.parse(find(synth(stated.delivery.services[0].chart), 'AnalysisTemplate').metadata.annotations['hotrod-progressive-delivery/gate-design']))
      .toMatchObject({ canaryRequestsPerSecond: 10, rateStated: true });
    const rateUnknown = (fixture: ReturnType<typeof payments>) => validateRules(modelOfApp(fixture.app).manifests).filter((f) => f.ruleId === 'traffic/rate-unknown');
    expect(rateUnknown(stated)).toEqual([]);
    const unknown = rateUnknown(payments({ trafficGenerator: false }));
    expect(unknown.map((f) => [f.severity, f.object.kind])).toEqual([[Severity.WARNING, 'AnalysisTemplate']]);
    expect(unknown[0].fix).toContain('ServiceSpec.expectedRequestsPerSecond');
    expect(rateUnknown(payments())).toEqual([]);
    expect(() => payments({ expectedRequestsPerSecond: 20 })).toThrow("Delivery: service 'payments' has a traffic generator and expectedRequestsPerSecond");
    // a slower real rate lengthens the horizon
    const slow = payments({ trafficGenerator: false, expectedRequestsPerSecond: 4 }).delivery.services[0].analysis.schedule;
    expect(slow.lastLookSeconds).toBeGreaterThan(analysis.schedule.lastLookSeconds);
  });

  test('a stated healthy profile sets the healthy canary: the share slower than each gate\'s bound read from its quantiles', () => {
    // between two stated quantiles: on log-log scales; at them: exact
    const profile = { p50: 80, p99: 250 };
    expect(slowerShare(profile, 80)).toBeCloseTo(0.5, 12);
    expect(slowerShare(profile, 250)).toBeCloseTo(0.01, 12);
    const mid = slowerShare(profile, 150);
    expect(mid).toBeLessThan(0.5);
    expect(mid).toBeGreaterThan(0.01);
    // beyond them: along the last segment, falling
    expect(slowerShare(profile, 300)).toBeLessThan(0.01);
    // one quantile: a log-normal tail through it
    expect(slowerShare({ p95: 200 }, 200)).toBeCloseTo(0.05, 5);
    expect(slowerShare({ p95: 200 }, 400)).toBeLessThan(0.002);
    const target = targetOf(payments({ workload: { ...PAYMENTS, healthy: { errorRatio: 0.002, latency: { p50: Duration.millis(80), p99: Duration.millis(250) } } } }));
    expect(target.healthy).toEqual({ errorRatio: 0.002, latencyMs: { p50: 80, p99: 250 } });
    const healthy = healthyTraffic(target);
    expect(healthy.errorRatio).toBe(0.002);
    // the p95 gate's 1000 ms and the p99 gate's 300 ms
    expect(healthy.slow.map((s) => s.bound)).toEqual([300, 1000]);
    expect(healthy.slow[0].share).toBeCloseTo(slowerShare(profile, 300), 12);
    expect(() => payments({ workload: { ...PAYMENTS, healthy: { latency: { p50: Duration.millis(300), p99: Duration.millis(100) } } } }))
      .toThrow('CanaryRollout: workload.healthy.latency.p99 (100ms) is below p50 (300ms); a higher quantile is never faster');
    expect(() => payments({ workload: { ...PAYMENTS, healthy: { errorRatio: 1.5 } } })).toThrow('workload.healthy.errorRatio must be a share in [0, 1), got 1.5');
  });

  test('a stated healthy profile that a gate would stop is a finding at synth, with the chance it stops a healthy canary', () => {
    const findings = (healthy: WorkloadProps['healthy']) => {
      const fixture = payments({ workload: { ...PAYMENTS, healthy } });
      return runRules(synthesizeInMemory(fixture.app), ALL_RULES, modelOptionsOf(Delivery.of(fixture.app))).filter((f) => f.ruleId === 'gates/stops-healthy');
    };
    // 0.18% slower than 300 ms, 0.2% failed: inside both designs' good (0.5%)
    expect(findings({ errorRatio: 0.002, latency: { p50: Duration.millis(80), p99: Duration.millis(200) } })).toEqual([]);
    // 0.53% slower than 300 ms: past the p99 gate's good (0.5%), but stopped in 0.93% of analyses, within the design's 1%
    expect(findings({ latency: { p50: Duration.millis(80), p99: Duration.millis(250) } })).toEqual([]);
    // 0.71%: stopped in 5%, more than the design allows
    const near = findings({ latency: { p50: Duration.millis(80), p99: Duration.millis(270) } });
    expect(near.map((f) => f.severity)).toEqual([Severity.WARNING]);
    expect(near[0].message).toBe("Rollout payments/payments's image states that healthy, the share of its requests slower than 300ms (read from p50 80ms, p99 270ms) is 0.71%; "
      + "gate 'latency-p99-lt-300ms' of 'payments-analysis' takes 0.5% as good (its threshold 1%): it would stop about 5.2% of healthy canaries (designed for 1% at good)");
    expect(near[0].fix).toContain('GateSpec.latency({ good })');
    // a p99 of 320 ms against a 300 ms bound: most healthy releases stopped, an error that fails the synth
    const past = findings({ errorRatio: 0.002, latency: { p50: Duration.millis(80), p99: Duration.millis(320) } });
    expect(past.map((f) => [f.severity, f.message.match(/gate '([^']+)'/)![1]])).toEqual([[Severity.ERROR, 'latency-p99-lt-300ms']]);
    expect(Number(past[0].message.match(/stop about (\d+)%/)![1])).toBeGreaterThan(50);
  });
});

// The rehearsal needs a real Prometheus, as in rehearsal.test.ts.
let binaries: EngineBinaries | undefined;
try {
  binaries = locateEngine();
} catch (e) {
  if (!(e instanceof EngineNotFoundError)) throw e;
  if (process.env.CI === 'true') throw e;
}
(binaries ? describe : describe.skip)('a service of one\'s own, rehearsed', () => {
  jest.setTimeout(120_000);

  test('with a p99 < 300 ms gate and its stated healthy profile, a healthy canary is promoted, and the report says what it assumed', async () => {
    // 0.18% slower than 300 ms: well inside the gate's good share (0.5%)
    const fixture = payments({ workload: { ...PAYMENTS, healthy: { errorRatio: 0.002, latency: { p50: Duration.millis(80), p99: Duration.millis(200) } } } });
    const target = targetOf(fixture);
    expect(target.gates.map((g) => g.kind)).toEqual([GateKind.TRAFFIC, GateKind.ERROR_RATE, GateKind.LATENCY, GateKind.LATENCY]);
    const data = prepareRehearsal(target, { trials: 20, seed: 3 }, (t) => wholeRunScenarios(t).filter((s) => ['healthy', 'slow-half', 'failing-half'].includes(s.name)));
    const engine = await PrometheusEngine.start(() => data.stream(), binaries);
    try {
      const results = await runScenarios(data, engine);
      const of = (name: string) => results.find((r) => r.scenario.name === name)!;
      expect(of('healthy').verdicts).toEqual({ [MeasurementPhase.SUCCESSFUL]: 20 });
      expect(of('failing-half').verdicts).toEqual({ [MeasurementPhase.FAILED]: 20 });
      expect(of('slow-half').verdicts).toEqual({ [MeasurementPhase.FAILED]: 20 });
      expect(formatResults(results)).toContain('  a healthy canary: as the service states it: fails 0.2%, p50 80ms, p99 200ms');
    } finally {
      await engine.stop();
    }
  });
});

