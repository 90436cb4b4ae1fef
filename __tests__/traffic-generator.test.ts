import { Chart, Duration, Testing } from 'cdk8s';
import { CanaryRollout, TrafficGenerator } from '../lib';
import { BinomialSprt, operatingCharacteristic } from '../lib/analysis/sequential';
import { find, HOTROD, rolloutStack, synth } from './helpers';

function generator(props: Partial<ConstructorParameters<typeof TrafficGenerator>[2]> = {}, stack: Parameters<typeof rolloutStack>[0] = {}) {
  const wired = rolloutStack(stack);
  const chart = new Chart(wired.app, 'traffic-generator', { namespace: 'traffic-generator' });
  const construct = new TrafficGenerator(chart, 'Generator', { target: wired.rollout, ...props });
  return { chart, construct, wired };
}

describe('TrafficGenerator', () => {
  test('emits a Deployment that sends the rollout\'s user requests on a beat derived from the gates', () => {
    const { chart, construct, wired } = generator();
    const objects = synth(chart);
    expect(objects).toMatchSnapshot();
    const container = find(objects, 'Deployment', 'traffic-generator').spec.template.spec.containers[0];
    expect(container.image).toBe('curlimages/curl:8.11.1');
    expect(container.env).toEqual([{ name: 'TARGET_URL', value: 'http://hotrod.hotrod.svc.cluster.local:8080' }]);
    // the URLs come from the rollout's user endpoints: never /metrics nor internal endpoints
    expect(container.command[2]).toContain("for path in '/' '/dispatch?customer=123' '/dispatch?customer=567' '/dispatch?customer=392' '/dispatch?customer=731'");
    // open loop: each request in the background, the oldest reaped once certainly over
    expect(container.command[2]).toContain('"$TARGET_URL$path" &');
    // the canary (1 of 2 pods at 50%) must get the rate the gates' design expects: 2 x 1.76 req/s, one every 279 ms
    const required = wired.analysis.requiredCanaryRequestsPerSecond;
    // the requests a 5 % error gate needs on average at good (2.5 %), over the 1-minute evidence time
    expect(required).toBeCloseTo(BinomialSprt.of(operatingCharacteristic(0.05, {}, 'test')).expectedRequests(0.025) / 60, 9);
    expect(construct.requestInterval.toMilliseconds()).toBe(Math.floor(1000 / (2 * required) - 5));
    // requests in flight: those that may still run (2 s timeout + 1 s), at one per interval
    expect(container.command[2]).toContain(`if [ $# -gt ${Math.ceil(3000 / construct.requestInterval.toMilliseconds())} ]; then wait "$1"; shift; fi`);
    expect(container.command[2]).toContain(`sleep ${construct.requestInterval.toMilliseconds() / 1000}`);
    expect(construct.requestsPerSecond / 2).toBeGreaterThanOrEqual(required);
    // about 12 ms of CPU per curl, twice over, in steps of 10m
    const cpu = `${Math.ceil((construct.requestsPerSecond * 12 * 2) / 10) * 10}m`;
    expect(container.resources).toEqual({ limits: { cpu, memory: '32Mi' }, requests: { cpu, memory: '32Mi' } });
    // curlimages/curl runs as the non-numeric curl_user: runAsNonRoot needs a numeric uid; the rest is the restricted profile
    expect(container.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 100, runAsGroup: 101, allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
    expect(find(objects, 'Deployment', 'traffic-generator').spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 100, runAsGroup: 101 });
    // it serves nothing: its NetworkPolicy admits no connection at all
    expect(find(objects, 'NetworkPolicy', 'traffic-generator').spec).toEqual({ podSelector: { matchLabels: { app: 'traffic-generator' } }, policyTypes: ['Ingress'] });
  });

  test('the target follows the rollout Service name and port', () => {
    const { chart } = generator({}, { rollout: { name: 'shop', servicePort: 9090 } });
    expect(find(synth(chart), 'Deployment').spec.template.spec.containers[0].env[0].value).toBe('http://shop.hotrod.svc.cluster.local:9090');
  });

  test('a longer evidence time needs a slower beat', () => {
    const fast = generator().construct.requestInterval.toMilliseconds();
    const slow = generator({}, { gates: { evidenceTime: Duration.minutes(2) } }).construct.requestInterval.toMilliseconds();
    expect(slow).toBeGreaterThan(1.9 * fast);
  });

  test('synth fails when the canary would get less than the gates need in their evidence time', () => {
    const { chart, wired } = generator({ requestInterval: Duration.millis(1000) });
    const required = wired.analysis.requiredCanaryRequestsPerSecond;
    expect(() => Testing.synth(chart)).toThrow(
      'traffic generator sends 0.995 req/s (one every 1000ms + 5ms loop overhead); at the first analysis weight (50%: 1 canary of 2 pods) the canary gets 0.498 req/s, '
      + `but 'hotrod-analysis' needs ${Number(required.toPrecision(3))} req/s to gather its evidence in time; send at least ${Number((2 * required).toPrecision(3))} req/s `
      + `(requestsPerSecond, in a Delivery ServiceSpec.trafficGenerator: { requestsPerSecond }; or requestInterval at most ${Math.floor(1000 / (2 * required) - 5)}ms), `
      + "raise the first canary weight (the rollout's steps), or give the gates a longer evidenceTime (ServiceSpec.gates.evidenceTime)");
  });

  test('synth fails when the load would queue at HotROD\'s customer lookup (300 ms under a mutex)', () => {
    // one request every 100 ms: 8 /dispatch per second over 2 pods, 4 each, more than half of 3.33
    const { chart } = generator({ requestInterval: Duration.millis(100) });
    expect(() => Testing.synth(chart)).toThrow('traffic generator sends 3.81 req/s of /dispatch to each of 2 pods, more than 50% of the 3.33 req/s one pod can serve there');
  });

  test('without an analysis the rate cannot be derived', () => {
    const wired = rolloutStack();
    const other = new CanaryRollout(wired.chart, 'Other', { collector: wired.collector, name: 'other', workload: HOTROD.workload });
    const chart = new Chart(wired.app, 'tg2', { namespace: 'tg2' });
    expect(() => new TrafficGenerator(chart, 'G', { target: other })).toThrow(
      "TrafficGenerator: rollout 'other' runs no analysis that states the request rate it needs, so the request rate cannot be derived; "
      + 'add the analysis first (rollout.addThreeGateAnalysis() or rollout.addAnalysis()) or give requestInterval');
  });

  describe('rejects', () => {
    test('a path with a quote', () => {
      expect(() => generator({ paths: ["/x'; rm -rf /"] })).toThrow("TrafficGenerator: path '/x'; rm -rf /' must start with '/' and contain no spaces, quotes, '$' or '\\'");
    });
    test('no paths', () => {
      expect(() => generator({ paths: [] })).toThrow("TrafficGenerator: paths is empty; give at least one path such as '/'");
    });
    test('root as the user or the group', () => {
      expect(() => generator({ runAsUser: 0 })).toThrow('TrafficGenerator: runAsUser must be an integer >= 1, got 0');
      expect(() => generator({ runAsGroup: 0 })).toThrow('TrafficGenerator: runAsGroup must be an integer >= 1, got 0');
    });
    test('a zero interval', () => {
      expect(() => generator({ requestInterval: Duration.millis(0) })).toThrow('TrafficGenerator: requestInterval must be a positive whole number of milliseconds, got 0ms');
    });
  });
});
