import { Chart, Duration, Testing } from 'cdk8s';
import { CanaryRollout, CanaryStep, OtelCollectorDaemonSet, PrometheusBackend, SpanmetricsPipeline } from '../lib';
import { hotrodWorkload } from '../lib/presets/hotrod-workload';
import { CHECKOUT_WORKLOAD, find, rolloutStack, synth } from './helpers';

describe('CanaryRollout', () => {
  test('emits the Rollout and Service of SPEC', () => {
    const { chart: hotrod } = rolloutStack();
    const objects = synth(hotrod);
    expect(objects.filter((o) => o.kind !== 'AnalysisTemplate')).toMatchSnapshot();

    const rollout = find(objects, 'Rollout', 'hotrod');
    expect(rollout.spec.replicas).toBe(2);
    expect(rollout.spec.revisionHistoryLimit).toBe(3);
    const container = rollout.spec.template.spec.containers[0];
    expect(container.image).toBe('jaegertracing/example-hotrod:1.76.0');
    expect(container.args).toEqual(['all']);
    expect(container.ports.map((p: any) => [p.name, p.containerPort])).toEqual([['frontend', 8080], ['customer', 8081], ['route', 8083]]);
    const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? e.valueFrom.fieldRef.fieldPath]));
    expect(env).toEqual({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector.otel.svc.cluster.local:4318',
      POD_NAME: 'metadata.name',
      POD_NAMESPACE: 'metadata.namespace',
      POD_HASH: "metadata.labels['rollouts-pod-template-hash']",
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE),k8s.pod.label.rollouts-pod-template-hash=$(POD_HASH)',
    });
    // $(VAR) only expands variables defined earlier in the list.
    const names = container.env.map((e: any) => e.name);
    expect(names.indexOf('OTEL_RESOURCE_ATTRIBUTES')).toBeGreaterThan(names.indexOf('POD_HASH'));
    expect(container.resources).toEqual({ limits: { cpu: '100m', memory: '100Mi' }, requests: { cpu: '100m', memory: '100Mi' } });
    expect(container.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
    expect(rollout.spec.template.spec.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } });
    // Probes must not send HTTP requests HotROD would count as traffic to the canary.
    expect(container.readinessProbe).toEqual({ failureThreshold: 3, tcpSocket: { port: 8080 } });
    expect(container.livenessProbe).toBeUndefined();
    expect(rollout.spec.template.metadata.annotations).toEqual({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8080', 'prometheus.io/path': '/metrics' });
    expect(rollout.spec.strategy.canary.steps).toEqual([
      { setWeight: 50 },
      { analysis: {
        templates: [{ templateName: 'hotrod-analysis' }],
        args: [
          { name: 'namespace', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
          { name: 'canary-hash', valueFrom: { podTemplateHashValue: 'Latest' } },
        ],
      } },
      { setWeight: 100 },
    ]);

    const svc = find(objects, 'Service', 'hotrod');
    expect(svc.spec.ports).toEqual([{ name: 'frontend', port: 8080, targetPort: 8080, protocol: 'TCP' }]);
    expect(svc.spec.selector).toEqual(rollout.spec.selector.matchLabels);
  });

  test("its NetworkPolicy opens the serving port to anyone and the metrics port to Prometheus's namespace; the collector admits the rollout's namespace", () => {
    // GIVEN a service whose metrics port is not its serving port, scraped by kube-prometheus-stack
    const workload = { ...CHECKOUT_WORKLOAD, ports: [{ name: 'http', number: 9000 }, { name: 'admin', number: 9100 }], metrics: { port: 'admin' } };
    const { chart, otel } = rolloutStack({ prometheus: PrometheusBackend.kubePrometheusStack(), rollout: { name: 'checkout', workload } });
    const objects = synth(chart);
    const policy = find(objects, 'NetworkPolicy', 'checkout');
    // THEN the policy selects the rollout's pods; users reach 9000 from anywhere, only Prometheus reaches 9100, nothing else is open
    expect(policy.spec.podSelector).toEqual(find(objects, 'Rollout').spec.selector);
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    expect(policy.spec.ingress).toEqual([
      { ports: [{ port: 9000, protocol: 'TCP' }] },
      { ports: [{ port: 9100, protocol: 'TCP' }], from: [{ namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['monitoring'] }] } }] },
    ]);
    // AND the collector's receivers admit the rollout's namespace, the one its spans come from
    const collectorPolicy = find(synth(otel), 'NetworkPolicy', 'collector');
    expect(collectorPolicy.spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values).toEqual(['hotrod']);
  });

  test('the OTLP endpoint follows the collector Service and its OTLP/HTTP port', () => {
    const { chart: hotrod, collector } = rolloutStack({ pipeline: { otlpHttpPort: 4999 } });
    const env = find(synth(hotrod), 'Rollout').spec.template.spec.containers[0].env;
    expect(env.find((e: any) => e.name === 'OTEL_EXPORTER_OTLP_ENDPOINT').value).toBe('http://collector.otel.svc.cluster.local:4999');
    expect(find(synth(collector.node.scope as Chart), 'Service', 'collector').spec.ports.map((p: any) => p.port)).toContain(4999);
  });

  test('resource attribute keys follow the pipeline dimensions', () => {
    const { chart: hotrod } = rolloutStack({ pipeline: { podIdentity: { podTemplateHash: 'app.pod.hash' } } });
    const env = find(synth(hotrod), 'Rollout').spec.template.spec.containers[0].env;
    expect(env.find((e: any) => e.name === 'OTEL_RESOURCE_ATTRIBUTES').value).toContain('app.pod.hash=$(POD_HASH)');
  });

  test('the Service port is a choice; what it targets and what is scraped are the image\'s', () => {
    const { chart: hotrod, rollout } = rolloutStack({ rollout: { servicePort: 80 } });
    const objects = synth(hotrod);
    expect(find(objects, 'Service', 'hotrod').spec.ports).toEqual([{ name: 'frontend', port: 80, targetPort: 8080, protocol: 'TCP' }]);
    expect(find(objects, 'Rollout').spec.template.metadata.annotations['prometheus.io/port']).toBe('8080');
    expect(rollout.url).toBe('http://hotrod.hotrod.svc.cluster.local:80');
  });

  test('the image tag is one prop', () => {
    const { chart: hotrod } = rolloutStack({ rollout: { workload: hotrodWorkload({ tag: '1.77.0' }) } });
    expect(find(synth(hotrod), 'Rollout').spec.template.spec.containers[0].image).toBe('jaegertracing/example-hotrod:1.77.0');
  });

  test('pods at a weight follow Argo Rollouts without a traffic router', () => {
    const { rollout } = rolloutStack();
    expect(rollout.podsAtWeight(50)).toEqual({ canary: 1, stable: 1 });
    expect(rollout.podsAtWeight(10)).toEqual({ canary: 1, stable: 1 });
    expect(rollout.podsAtWeight(100)).toEqual({ canary: 2, stable: 0 });
    expect(rolloutStack({ rollout: { replicas: 10 } }).rollout.podsAtWeight(25)).toEqual({ canary: 3, stable: 7 });
  });

  describe('rejects', () => {
    function make(props: object) {
      const app = Testing.app();
      const otel = new Chart(app, 'otel', { namespace: 'otel' });
      const collector = new OtelCollectorDaemonSet(otel, 'C', { pipeline: new SpanmetricsPipeline(otel, 'P') });
      return new CanaryRollout(new Chart(app, 'hotrod', { namespace: 'hotrod' }), 'R', { collector, name: 'hotrod', workload: hotrodWorkload({ tag: '1.76.0' }), ...props });
    }
    test('zero replicas', () => {
      expect(() => make({ replicas: 0 })).toThrow('CanaryRollout: replicas must be an integer >= 1, got 0');
    });
    test('a weight above 100', () => {
      expect(() => CanaryStep.setWeight(150)).toThrow('CanaryStep.setWeight: percent must be an integer between 0 and 100, got 150');
    });
    test('an image tag with a colon or a space names the construct and prop', () => {
      expect(() => make({ workload: { ...hotrodWorkload({ tag: '1' }), image: 'jaegertracing/example-hotrod:v1:2' } })).toThrow("CanaryRollout: workload.image: image tag 'v1:2' is not a valid tag");
      expect(() => make({ workload: { ...hotrodWorkload({ tag: '1' }), image: 'jaegertracing/example-hotrod:1.76 .0' } }))
        .toThrow("CanaryRollout: workload.image: image tag '1.76 .0' is not a valid tag; use letters, digits, '_', '.' and '-' (at most 128), e.g. '1.76.0'");
      expect(() => hotrodWorkload({ tag: '1.76 .0' })).toThrow("hotrodWorkload: image tag '1.76 .0' is not a valid tag");
      expect(() => make({ workload: { ...hotrodWorkload({ tag: '1' }), image: 'ghcr.io/acme/checkout' } })).toThrow("CanaryRollout: workload.image 'ghcr.io/acme/checkout' has no tag");
    });
    test("the tag 'latest', an empty or a missing tag is an error naming the fix; a digest pins the image", () => {
      // 'latest' moves with every push: the manifest would not say which image runs
      expect(() => hotrodWorkload({ tag: 'latest' })).toThrow("hotrodWorkload: image tag 'latest' of 'jaegertracing/example-hotrod' follows whatever was pushed last");
      expect(() => make({ workload: { ...hotrodWorkload({ tag: '1' }), image: 'ghcr.io/acme/checkout:latest' } }))
        .toThrow("CanaryRollout: workload.image: image tag 'latest' of 'ghcr.io/acme/checkout' follows whatever was pushed last, so a release would not change the manifest");
      expect(() => hotrodWorkload({ tag: '' })).toThrow("hotrodWorkload: image 'jaegertracing/example-hotrod' has an empty tag; give the version to deploy");
      expect(() => hotrodWorkload({})).toThrow("hotrodWorkload: image 'jaegertracing/example-hotrod' has no tag and no digest");
      expect(() => make({ workload: { ...hotrodWorkload({ tag: '1' }), image: 'ghcr.io/acme/checkout:' } })).toThrow("CanaryRollout: workload.image 'ghcr.io/acme/checkout:' has an empty tag");
      expect(() => make({ workload: { ...hotrodWorkload({ tag: '1' }), image: 'ghcr.io/acme/checkout@md5:x' } })).toThrow("CanaryRollout: workload.image: image digest 'md5:x' is not a digest");
      // a digest alone, or beside a tag, is what runs, and names the rollout by its repository
      const digest = `sha256:${'ab'.repeat(32)}`;
      for (const [options, image] of [
        [{ digest }, `jaegertracing/example-hotrod@${digest}`],
        [{ tag: '1.76.0', digest }, `jaegertracing/example-hotrod:1.76.0@${digest}`],
      ] as const) {
        const { chart } = rolloutStack({ rollout: { workload: hotrodWorkload(options) } });
        const rollout = find(Testing.synth(chart), 'Rollout');
        expect(rollout.metadata.name).toBe('hotrod');
        expect(rollout.spec.template.spec.containers[0].image).toBe(image);
      }
    });
    test('an analysis that no step runs: the canary would be promoted ungated', () => {
      const { chart: hotrod } = rolloutStack({ rollout: { steps: [CanaryStep.setWeight(50), CanaryStep.setWeight(100)] } });
      expect(() => Testing.synth(hotrod)).toThrow("CanaryRollout: rollout 'hotrod' has analysis 'hotrod-analysis', but none of its steps (setWeight 50, setWeight 100) runs it, "
        + 'so every canary would be promoted without it; add CanaryStep.analysis() to steps after the first setWeight');
    });
    test('durations cdk8s cannot render name the construct and prop', () => {
      expect(() => rolloutStack({ gates: { evidenceTime: Duration.millis(0.8) } })).toThrow('ThreeGateAnalysis: evidenceTime must be a non-negative whole number of seconds, got 0.8ms');
      expect(() => rolloutStack({ gates: { latency: { interval: Duration.millis(0.8) } } })).toThrow('ThreeGateAnalysis: latency.interval must be a non-negative whole number of seconds, got 0.8ms');
      expect(() => rolloutStack({ pipeline: { metricsFlushInterval: Duration.millis(0.8) } })).toThrow('spanmetrics: metricsFlushInterval must be a positive whole number of milliseconds, got 0.8ms');
    });
    test('an analysis step with no analysis', () => {
      const rollout = make({});
      expect(() => Testing.synth(Chart.of(rollout))).toThrow("rollout 'hotrod' has an analysis step but no analysis; call rollout.addThreeGateAnalysis() or rollout.addAnalysis({ gates })");
    });
  });
});
