import { Chart, Duration, Testing } from 'cdk8s';
import { TrafficGenerator } from '../lib';
import { find, synth, wiredStack } from './helpers';

function generator(props: Partial<ConstructorParameters<typeof TrafficGenerator>[2]> = {}, stack: Parameters<typeof wiredStack>[0] = {}) {
  const wired = wiredStack(stack);
  const chart = new Chart(wired.app, 'traffic-generator', { namespace: 'traffic-generator' });
  const construct = new TrafficGenerator(chart, 'Generator', { target: wired.rollout, ...props });
  return { chart, construct, wired };
}

describe('TrafficGenerator', () => {
  test('emits a Deployment aimed at the rollout Service', () => {
    const { chart } = generator();
    const objects = synth(chart);
    expect(objects).toMatchSnapshot();
    const container = find(objects, 'Deployment', 'traffic-generator').spec.template.spec.containers[0];
    expect(container.image).toBe('curlimages/curl:8.11.1');
    expect(container.env).toEqual([{ name: 'TARGET_URL', value: 'http://hotrod.hotrod.svc.cluster.local:8080' }]);
    expect(container.command[2]).toContain("for path in '/' '/dispatch?customer=123' '/dispatch?customer=567' '/dispatch?customer=392' '/dispatch?customer=731'");
    expect(container.command[2]).toContain('sleep 0.5');
    expect(container.resources).toEqual({ limits: { cpu: '20m', memory: '32Mi' }, requests: { cpu: '20m', memory: '32Mi' } });
    // curlimages/curl runs as the non-numeric curl_user: runAsNonRoot needs a numeric uid.
    expect(container.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 100 });
  });

  test('the target follows the rollout Service name and port', () => {
    const { chart } = generator({}, { rollout: { name: 'shop', servicePort: 9090 } });
    expect(find(synth(chart), 'Deployment').spec.template.spec.containers[0].env[0].value).toBe('http://shop.hotrod.svc.cluster.local:9090');
  });

  test('synth fails when the canary would get less than the traffic gate minimum', () => {
    // 1 req per (0.5s + 2s) = 0.4 req/s, half of it to the canary = 0.2 < 0.3
    const { chart } = generator({}, { gates: { minRequestsPerSecond: 0.3 } });
    expect(() => Testing.synth(chart)).toThrow(
      "traffic generator sends at least 0.4 req/s (pause 500ms + timeout 2000ms per request); at the first analysis weight (50%: 1 canary of 2 pods) the canary gets 0.2 req/s, "
      + "below the traffic gate's minRequestsPerSecond 0.3 of 'hotrod-analysis'; shorten pause or requestTimeout, raise the first canary weight, or lower minRequestsPerSecond");
  });

  test('a faster loop satisfies the same gate', () => {
    const { chart } = generator({ pause: Duration.millis(100), requestTimeout: Duration.seconds(1) }, { gates: { minRequestsPerSecond: 0.3 } });
    expect(() => Testing.synth(chart)).not.toThrow();
  });

  describe('rejects', () => {
    test('a path with a quote', () => {
      expect(() => generator({ paths: ["/x'; rm -rf /"] })).toThrow("TrafficGenerator: path '/x'; rm -rf /' must start with '/' and contain no spaces, quotes, '$' or '\\'");
    });
    test('no paths', () => {
      expect(() => generator({ paths: [] })).toThrow("TrafficGenerator: paths is empty; give at least one path such as '/'");
    });
    test('a zero pause', () => {
      expect(() => generator({ pause: Duration.millis(0) })).toThrow('TrafficGenerator: pause must be a positive whole number of milliseconds, got 0ms');
    });
  });
});
