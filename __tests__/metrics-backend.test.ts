import { Chart, Duration, Testing } from 'cdk8s';
import { PodScrape, PrometheusBackend, PrometheusBackendProps, PROMETHEUS_DISCOVERY_DELAY, PROMETHEUS_PRESETS } from '../lib/platform/metrics-backend';

/** A custom setup's props, for tests that change one of them. */
const PROPS: PrometheusBackendProps = {
  name: 'custom', address: 'http://prometheus.monitoring.svc:9090', scrapeInterval: Duration.seconds(15), discoveryDelay: Duration.seconds(10),
  podScrape: PodScrape.ANNOTATIONS, namespaceLabel: 'namespace', podLabel: 'pod', copiesPodLabels: true, honorLabels: true,
};

describe('PrometheusBackend presets: how each setup labels and scrapes (the facts themselves are cited where they are set)', () => {
  test('prometheus-community chart 29.1.0 defaults (charts/prometheus/values.yaml): 1m scrape, annotation-driven kubernetes-pods job, honor_labels', () => {
    const b = PrometheusBackend.communityChart();
    expect([b.scrapeSeconds, b.podScrape, b.honorLabels, b.copiesPodLabels, b.namespaceLabel, b.podLabel]).toEqual([60, PodScrape.ANNOTATIONS, true, true, 'namespace', 'pod']);
    expect(b.address).toBe('http://prometheus-server.prometheus.svc.cluster.local');
    expect(b.targetLabels(['app', 'rollouts-pod-template-hash'])).toEqual(['job', 'instance', 'namespace', 'pod', 'node', 'app', 'rollouts_pod_template_hash']);
    expect(b.jobOf('hotrod', 'hotrod')).toBe('kubernetes-pods');
    // honour_labels: an exposed `endpoint` keeps its name
    expect(b.exposedLabel('endpoint', b.targetLabels(['app']))).toBe('endpoint');
  });

  test('the seed challenge environment: the same chart at a 10 s scrape (its extra job is never applied: it sits under server:)', () => {
    const b = PrometheusBackend.challengeEnvironment();
    expect([b.scrapeSeconds, b.podScrape, b.namespaceLabel, b.honorLabels]).toEqual([10, PodScrape.ANNOTATIONS, 'namespace', true]);
  });

  test('kube-prometheus-stack: 30 s, PodMonitors, honorLabels false, only podTargetLabels copied', () => {
    const b = PrometheusBackend.kubePrometheusStack();
    expect([b.scrapeSeconds, b.podScrape, b.honorLabels, b.copiesPodLabels]).toEqual([30, PodScrape.POD_MONITOR, false, false]);
    const labels = b.targetLabels(['app', 'rollouts-pod-template-hash'], ['rollouts-pod-template-hash']);
    expect(labels).toEqual(['job', 'instance', 'namespace', 'pod', 'container', 'endpoint', 'rollouts_pod_template_hash']);
    // the PodMonitor sets `endpoint` (the port name): HotROD's own endpoint label is renamed
    expect(b.exposedLabel('endpoint', labels)).toBe('exported_endpoint');
    expect(b.exposedLabel('error', labels)).toBe('error');
    expect(b.jobOf('hotrod', 'hotrod')).toBe('hotrod/hotrod');
  });

  test("Prometheus's namespace is one fact: the address follows it, a custom address names it, and a contradiction or no namespace at all is an error", () => {
    // the presets: the chart's release namespace (SPEC's and the seed's `prometheus`), kube-prometheus-stack in `monitoring`
    expect([PrometheusBackend.communityChart().namespace, PrometheusBackend.challengeEnvironment().namespace, PrometheusBackend.kubePrometheusStack().namespace])
      .toEqual(['prometheus', 'prometheus', 'monitoring']);
    const moved = PrometheusBackend.communityChart({ namespace: 'observability' });
    expect([moved.namespace, moved.address]).toEqual(['observability', 'http://prometheus-server.observability.svc.cluster.local']);
    expect(PrometheusBackend.kubePrometheusStack({ namespace: 'mon' }).address).toBe('http://kube-prometheus-stack-prometheus.mon.svc.cluster.local:9090');
    const custom = (p: Partial<PrometheusBackendProps>) => PrometheusBackend.custom({ ...PROPS, ...p });
    expect(custom({ address: 'http://vm.metrics.svc:8428' }).scrapeNamespace('X')).toBe('metrics');
    expect(() => custom({ address: 'http://vm.metrics.svc:8428', namespace: 'monitoring' }))
      .toThrow("PrometheusBackend 'custom': namespace is 'monitoring', but address 'http://vm.metrics.svc:8428' is a Service in namespace 'metrics'");
    expect(() => custom({ address: 'https://prometheus.example.com', namespace: 'Mon' })).toThrow("namespace 'Mon' is not a valid namespace name");
    expect(custom({ address: 'https://prometheus.example.com', namespace: 'monitoring' }).scrapeNamespace('X')).toBe('monitoring');
    expect(() => custom({ address: 'https://prometheus.example.com' }).scrapeNamespace('OtelCollectorDaemonSet'))
      .toThrow("OtelCollectorDaemonSet: PrometheusBackend 'custom' has address 'https://prometheus.example.com', which names no namespace of the cluster, so the NetworkPolicies cannot admit its scrapes");
  });

  test('every preset waits the discovery delay of the Prometheus it runs (the managers\' throttles, not the scrape)', () => {
    expect(Object.values(PROMETHEUS_PRESETS).map((p) => p().discoverySeconds)).toEqual(Object.values(PROMETHEUS_PRESETS).map(() => PROMETHEUS_DISCOVERY_DELAY.toSeconds()));
  });

  test('scraping is annotations for annotation-driven setups, a PodMonitor selected by the release label otherwise', () => {
    const chart = new Chart(Testing.app(), 'c', { namespace: 'shop' });
    const request = { name: 'shop', selector: { app: 'shop' }, port: { name: 'http', number: 9000 }, path: '/metrics', podTargetLabels: ['rollouts-pod-template-hash'] };
    expect(PrometheusBackend.communityChart().scrape(chart, request)).toEqual({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9000', 'prometheus.io/path': '/metrics' });
    expect(Testing.synth(chart)).toEqual([]);
    expect(PrometheusBackend.kubePrometheusStack().scrape(chart, request)).toEqual({});
    expect(Testing.synth(chart)).toEqual([{
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PodMonitor',
      metadata: { name: 'shop', namespace: 'shop', labels: { release: 'kube-prometheus-stack' } },
      spec: { selector: { matchLabels: { app: 'shop' } }, podMetricsEndpoints: [{ port: 'http', path: '/metrics' }], podTargetLabels: ['rollouts-pod-template-hash'] },
    }]);
  });

  test('presets take overrides, and bad facts are refused with the prop', () => {
    expect(PrometheusBackend.communityChart({ scrapeInterval: Duration.seconds(15) }).scrapeSeconds).toBe(15);
    expect(() => PrometheusBackend.communityChart({ scrapeInterval: Duration.millis(1500) }))
      .toThrow("PrometheusBackend 'prometheus-community chart 29.1.0': scrapeInterval must be a whole number of seconds, at least 1s, got 1500ms");
    expect(() => PrometheusBackend.communityChart({ namespaceLabel: 'kubernetes-namespace' }))
      .toThrow("PrometheusBackend 'prometheus-community chart 29.1.0': namespaceLabel 'kubernetes-namespace' is not a Prometheus label name; use letters, digits and '_'");
  });
});
