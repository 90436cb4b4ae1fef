import { Chart, Testing } from 'cdk8s';
import { IngressSource, PodIngressPolicy } from '../lib/constructs/pod-ingress-policy';
import { find, synth } from './helpers';

function policy(build: (p: PodIngressPolicy) => void = () => undefined) {
  const chart = new Chart(Testing.app(), 'otel', { namespace: 'otel' });
  const construct = new PodIngressPolicy(chart, 'Ingress', { name: 'collector', selector: { app: 'collector' } });
  build(construct);
  return find(synth(chart), 'NetworkPolicy', 'collector');
}

const OTLP = [{ name: 'otlp-grpc', number: 4317 }, { name: 'otlp-http', number: 4318 }];
const byName = (...names: string[]) => [{ namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: names }] } }];

describe('PodIngressPolicy', () => {
  test('with nothing admitted, the pods are isolated for ingress and admit nothing; egress is left alone', () => {
    const np = policy();
    expect(np.metadata).toEqual({ name: 'collector', namespace: 'otel' });
    expect(np.spec).toEqual({ podSelector: { matchLabels: { app: 'collector' } }, policyTypes: ['Ingress'] });
  });

  test('admits ports from namespaces by their name label, adding later namespaces to the same rule, and from anywhere with no `from`', () => {
    // GIVEN OTLP admitted from one namespace, then another, and a port open to anyone
    const np = policy((p) => {
      p.admit(OTLP, IngressSource.namespaces());
      p.admit([{ name: 'http', number: 8080 }], IngressSource.anywhere());
      p.admit([OTLP[1], OTLP[0]], IngressSource.namespaces('shop'));
      p.admit(OTLP, IngressSource.namespaces('hotrod', 'shop'));
    });
    // THEN one OTLP rule with both namespaces (sorted), after nothing else changed the order
    expect(np.spec.ingress).toEqual([
      { ports: [{ port: 4317, protocol: 'TCP' }, { port: 4318, protocol: 'TCP' }], from: byName('hotrod', 'shop') },
      { ports: [{ port: 8080, protocol: 'TCP' }] },
    ]);
  });

  test('a rule still without namespaces admits nothing and is left out', () => {
    const np = policy((p) => p.admit(OTLP, IngressSource.namespaces()));
    expect(np.spec.ingress).toBeUndefined();
  });

  describe('rejects', () => {
    test('an empty selector, no ports, a bad port or a bad namespace, naming the construct and the value', () => {
      const chart = new Chart(Testing.app(), 'c', { namespace: 'c' });
      expect(() => new PodIngressPolicy(chart, 'A', { name: 'a', selector: {} })).toThrow("PodIngressPolicy 'a': selector is empty, which selects every pod of the namespace");
      expect(() => new PodIngressPolicy(chart, 'B', { name: 'B_1', selector: { app: 'b' } })).toThrow("PodIngressPolicy: name 'B_1' is not a valid Kubernetes name");
      const p = new PodIngressPolicy(chart, 'C', { name: 'c', selector: { app: 'c' } });
      expect(() => p.admit([], IngressSource.anywhere())).toThrow('PodIngressPolicy: admit needs at least one port; a rule without ports would admit every port');
      expect(() => p.admit([{ name: 'x', number: 70000 }], IngressSource.anywhere())).toThrow("PodIngressPolicy: port 'x' must be an integer between 1 and 65535, got 70000");
      expect(() => IngressSource.namespaces('Shop')).toThrow("IngressSource: namespaces 'Shop' is not a valid Kubernetes name");
    });
  });
});
