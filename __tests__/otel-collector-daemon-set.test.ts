import { Chart, Size, Testing } from 'cdk8s';
import { parse } from 'yaml';
import { ExporterTls, OtelCollectorDaemonSet, PrometheusBackend, SpanmetricsPipeline, SpanmetricsPipelineProps } from '../lib';
import { COLLECTOR_CONFIG_KEY, CONFIG_HASH_ANNOTATION } from '../lib/constructs/otel-collector-daemon-set';
import { find, synth } from './helpers';

function collector(pipelineProps: SpanmetricsPipelineProps = {}) {
  const chart = new Chart(Testing.app(), 'otel', { namespace: 'otel' });
  const pipeline = new SpanmetricsPipeline(chart, 'Pipeline', pipelineProps);
  const construct = new OtelCollectorDaemonSet(chart, 'Collector', { pipeline });
  const objects = synth(chart);
  return { construct, objects, ds: find(objects, 'DaemonSet', 'collector'), svc: find(objects, 'Service', 'collector'), cm: find(objects, 'ConfigMap', 'collector-config') };
}

describe('OtelCollectorDaemonSet', () => {
  test('emits ConfigMap, DaemonSet and Service wired to the pipeline', () => {
    const { objects, ds, svc, cm, construct } = collector();
    expect(objects).toMatchSnapshot();

    const pod = ds.spec.template;
    const container = pod.spec.containers[0];
    expect(container.image).toBe('otel/opentelemetry-collector-contrib:0.142.0');
    expect(container.args).toEqual([`--config=/conf/${COLLECTOR_CONFIG_KEY}`]);
    expect(container.ports.map((p: any) => [p.name, p.containerPort])).toEqual([['otlp-grpc', 4317], ['otlp-http', 4318], ['prometheus', 8889], ['health', 13133]]);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/', port: 13133, scheme: 'HTTP' });
    expect(container.readinessProbe.httpGet.port).toBe(13133);
    expect(container.env).toEqual([{ name: 'GOMEMLIMIT', value: '102MiB' }]);
    expect(container.resources).toEqual({ limits: { cpu: '100m', memory: '128Mi' }, requests: { cpu: '100m', memory: '128Mi' } });
    expect(container.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8889', 'prometheus.io/path': '/metrics' });
    expect(pod.spec.volumes).toEqual([{ name: 'config', configMap: { name: 'collector-config' } }]);

    expect(svc.spec.ports.map((p: any) => [p.name, p.port, p.targetPort])).toEqual([['otlp-grpc', 4317, 4317], ['otlp-http', 4318, 4318]]);
    expect(svc.spec.selector).toEqual({ app: 'collector' });
    expect(pod.metadata.labels).toMatchObject(svc.spec.selector);

    expect(parse(cm.data[COLLECTOR_CONFIG_KEY]).exporters.prometheus.endpoint).toBe('0.0.0.0:8889');
    expect(construct.otlpHttpEndpoint).toBe('http://collector.otel.svc.cluster.local:4318');
    expect(construct.otlpGrpcEndpoint).toBe('collector.otel.svc.cluster.local:4317');
  });

  test("its NetworkPolicy admits the Service's OTLP ports only from the namespaces wired to it, and the exporter only from Prometheus's namespace", () => {
    // GIVEN a collector no app is wired to yet
    const chart = new Chart(Testing.app(), 'otel', { namespace: 'otel' });
    const construct = new OtelCollectorDaemonSet(chart, 'Collector', { pipeline: new SpanmetricsPipeline(chart, 'P', { prometheusPort: 9464 }), prometheus: PrometheusBackend.kubePrometheusStack() });
    const policy = () => find(synth(chart), 'NetworkPolicy', 'collector');
    const fromNamespaces = (...names: string[]) => [{ namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: names }] } }];
    // THEN it selects the collector's pods and admits only Prometheus (its preset's namespace) to the exporter's port
    expect(policy().spec.podSelector).toEqual(find(synth(chart), 'DaemonSet').spec.selector);
    expect(policy().spec.ingress).toEqual([{ ports: [{ port: 9464, protocol: 'TCP' }], from: fromNamespaces('monitoring') }]);
    // WHEN two namespaces' apps are wired to it, THEN they (and no other) may reach the Service's ports; the health port is never admitted (the kubelet probes from the node)
    construct.admitTelemetryFrom('shop');
    construct.admitTelemetryFrom('hotrod');
    expect(policy().spec.ingress).toEqual([
      { ports: [{ port: 4317, protocol: 'TCP' }, { port: 4318, protocol: 'TCP' }], from: fromNamespaces('hotrod', 'shop') },
      { ports: [{ port: 9464, protocol: 'TCP' }], from: fromNamespaces('monitoring') },
    ]);
    expect(find(synth(chart), 'Service').spec.ports.map((p: any) => p.targetPort)).toEqual([4317, 4318]);
  });

  test('mounts, read-only, the Secret the trace exporter reads its TLS files from, where the configuration looks for them', () => {
    const { ds, cm } = collector({ tracesBackendTls: ExporterTls.fromSecret('tempo-tls', { ca: 'ca.crt' }) });
    const spec = ds.spec.template.spec;
    expect(spec.volumes).toContainEqual({ name: 'tls-0', secret: { secretName: 'tempo-tls' } });
    expect(spec.containers[0].volumeMounts).toContainEqual({ name: 'tls-0', mountPath: '/etc/otelcol/tls/tempo-tls', readOnly: true });
    expect(parse(cm.data[COLLECTOR_CONFIG_KEY]).exporters.otlp.tls.ca_file).toBe('/etc/otelcol/tls/tempo-tls/ca.crt');
    // the default, plaintext, mounts nothing
    expect(collector().ds.spec.template.spec.volumes).toEqual([{ name: 'config', configMap: { name: 'collector-config' } }]);
  });

  test('ports, probes and annotations follow the pipeline', () => {
    const { ds, svc } = collector({ otlpHttpPort: 14318, prometheusPort: 9464, healthCheckPort: 13999 });
    const container = ds.spec.template.spec.containers[0];
    expect(container.ports.find((p: any) => p.name === 'otlp-http').containerPort).toBe(14318);
    expect(svc.spec.ports.find((p: any) => p.name === 'otlp-http')).toMatchObject({ port: 14318, targetPort: 14318 });
    expect(ds.spec.template.metadata.annotations['prometheus.io/port']).toBe('9464');
    expect(container.livenessProbe.httpGet.port).toBe(13999);
    expect(container.readinessProbe.httpGet.port).toBe(13999);
  });

  test('the pod template carries a hash of the config, which changes with it', () => {
    const a = collector().ds.spec.template.metadata.annotations[CONFIG_HASH_ANNOTATION];
    const again = collector().ds.spec.template.metadata.annotations[CONFIG_HASH_ANNOTATION];
    const b = collector({ extraDimensions: ['deployment.environment'] }).ds.spec.template.metadata.annotations[CONFIG_HASH_ANNOTATION];
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(again).toBe(a);
    expect(b).not.toBe(a);
  });

  test('GOMEMLIMIT follows the memory limit', () => {
    const chart = new Chart(Testing.app(), 'otel', { namespace: 'otel' });
    new OtelCollectorDaemonSet(chart, 'Collector', { pipeline: new SpanmetricsPipeline(chart, 'P'), memory: Size.mebibytes(512) });
    const container = find(synth(chart), 'DaemonSet').spec.template.spec.containers[0];
    expect(container.env).toEqual([{ name: 'GOMEMLIMIT', value: '409MiB' }]);
    expect(container.resources.limits.memory).toBe('512Mi');
  });

  describe('rejects', () => {
    test('an invalid name', () => {
      const chart = new Chart(Testing.app(), 'otel', { namespace: 'otel' });
      expect(() => new OtelCollectorDaemonSet(chart, 'C', { pipeline: new SpanmetricsPipeline(chart, 'P'), name: 'Collector_1' }))
        .toThrow("OtelCollectorDaemonSet: name 'Collector_1' is not a valid Kubernetes name");
    });
    test('an invalid image tag', () => {
      const chart = new Chart(Testing.app(), 'otel', { namespace: 'otel' });
      expect(() => new OtelCollectorDaemonSet(chart, 'C', { pipeline: new SpanmetricsPipeline(chart, 'P'), image: { repository: 'otel/opentelemetry-collector-contrib', tag: '0.142.0 ' } }))
        .toThrow("image tag '0.142.0 ' is not a valid tag");
      expect(() => new OtelCollectorDaemonSet(chart, 'L', { pipeline: new SpanmetricsPipeline(chart, 'P2'), image: { repository: 'otel/opentelemetry-collector-contrib', tag: 'latest' } }))
        .toThrow("OtelCollectorDaemonSet: image tag 'latest' of 'otel/opentelemetry-collector-contrib' follows whatever was pushed last");
    });
  });
});
