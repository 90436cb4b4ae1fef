import { Duration, Testing } from 'cdk8s';
import { parse } from 'yaml';
import { DebugVerbosity, ExporterTls, HistogramUnit, PodIdentity, SpanmetricsPipeline } from '../lib';

function pipeline(props = {}) {
  return new SpanmetricsPipeline(Testing.chart(), 'Pipeline', props);
}

describe('SpanmetricsPipeline', () => {
  test('renders the SPEC collector configuration', () => {
    // GIVEN / WHEN
    const config = parse(pipeline().toYaml());

    // THEN
    expect(config).toMatchSnapshot();
    expect(config.receivers.otlp.protocols).toEqual({ grpc: { endpoint: '0.0.0.0:4317' }, http: { endpoint: '0.0.0.0:4318' } });
    expect(config.connectors.spanmetrics.dimensions.map((d: any) => d.name)).toEqual(['k8s.namespace.name', 'k8s.pod.name', 'k8s.pod.label.rollouts-pod-template-hash']);
    expect(config.exporters.otlp).toEqual({ endpoint: 'jaeger-collector.jaeger.svc.cluster.local:4317', tls: { insecure: true } });
    expect(config.exporters.prometheus).toEqual({ endpoint: '0.0.0.0:8889' });
    expect(config.exporters.debug).toBeUndefined();
    expect(config.extensions.health_check).toEqual({ endpoint: '0.0.0.0:13133' });
    expect(config.service.extensions).toEqual(['health_check']);
    expect(config.service.pipelines.traces.receivers).toEqual(['otlp']);
    expect(config.service.pipelines.traces.exporters).toEqual(['otlp', 'spanmetrics']);
    expect(config.service.pipelines.metrics).toEqual({ receivers: ['spanmetrics'], processors: ['memory_limiter', 'batch'], exporters: ['prometheus'] });
  });

  test('names its Prometheus output from its own settings', () => {
    const p = pipeline();
    expect(p.series.calls).toBe('traces_span_metrics_calls_total');
    expect(p.series.durationBucket).toBe('traces_span_metrics_duration_milliseconds_bucket');
    expect(p.series.durationCount).toBe('traces_span_metrics_duration_milliseconds_count');
    expect(p.dimensionLabel(PodIdentity.POD_TEMPLATE_HASH)).toBe('k8s_pod_label_rollouts_pod_template_hash');
    expect(p.dimensionLabel(PodIdentity.NAMESPACE)).toBe('k8s_namespace_name');
    expect(p.series.intrinsicLabels).toEqual(['service_name', 'span_name', 'span_kind', 'status_code']);
    expect(p.inHistogramUnit(Duration.seconds(1))).toBe(1000);
  });

  test('a seconds histogram and another namespace change the names and the unit of thresholds', () => {
    const p = pipeline({ metricsNamespace: 'spans', histogramUnit: HistogramUnit.SECONDS });
    expect(p.series.calls).toBe('spans_calls_total');
    expect(p.series.durationBucket).toBe('spans_duration_seconds_bucket');
    expect(p.inHistogramUnit(Duration.millis(250))).toBe(0.25);
    expect(parse(p.toYaml()).connectors.spanmetrics.histogram).toEqual({ unit: 's' });
  });

  test('podIdentity keys become dimensions and labels', () => {
    const p = pipeline({ podIdentity: { podTemplateHash: 'k8s.pod.template-hash' }, extraDimensions: ['deployment.environment'] });
    expect(p.dimensionLabel(PodIdentity.POD_TEMPLATE_HASH)).toBe('k8s_pod_template_hash');
    expect(parse(p.toYaml()).connectors.spanmetrics.dimensions.map((d: any) => d.name))
      .toEqual(['k8s.namespace.name', 'k8s.pod.name', 'k8s.pod.template-hash', 'deployment.environment']);
  });

  test('debug verbosity adds the debug exporter to both pipelines', () => {
    const config = parse(pipeline({ debugVerbosity: DebugVerbosity.DETAILED }).toYaml());
    expect(config.exporters.debug).toEqual({ verbosity: 'detailed' });
    expect(config.service.pipelines.traces.exporters).toContain('debug');
    expect(config.service.pipelines.metrics.exporters).toContain('debug');
  });

  test('the trace backend connection: plaintext by default and said so, TLS from files or from a Secret, mutual TLS with a client certificate', () => {
    // the default keeps the reference environment's plaintext Jaeger, written out rather than left to the collector's default (TLS)
    expect(parse(pipeline().toYaml()).exporters.otlp.tls).toEqual({ insecure: true });
    expect(pipeline().tracesExporter.tls.isInsecure).toBe(true);
    // TLS against the system's roots, or a CA file in the container
    expect(parse(pipeline({ tracesBackendTls: ExporterTls.fromFiles() }).toYaml()).exporters.otlp.tls).toEqual({ insecure: false });
    const files = pipeline({ tracesBackendTls: ExporterTls.fromFiles({ caFile: '/certs/ca.pem', certFile: '/certs/client.pem', keyFile: '/certs/client.key', serverName: 'tempo' }) });
    expect(parse(files.toYaml()).exporters.otlp.tls).toEqual({ insecure: false, ca_file: '/certs/ca.pem', cert_file: '/certs/client.pem', key_file: '/certs/client.key', server_name_override: 'tempo' });
    expect(files.tlsSecrets()).toEqual([]);
    // from a Secret: the paths are where the collector mounts it, and the pipeline says which Secrets to mount
    const fromSecret = pipeline({ tracesBackendTls: ExporterTls.fromSecret('tempo-tls', { ca: 'ca.crt', cert: 'tls.crt', key: 'tls.key' }) });
    expect(parse(fromSecret.toYaml()).exporters.otlp.tls).toEqual({
      insecure: false, ca_file: '/etc/otelcol/tls/tempo-tls/ca.crt', cert_file: '/etc/otelcol/tls/tempo-tls/tls.crt', key_file: '/etc/otelcol/tls/tempo-tls/tls.key',
    });
    expect(fromSecret.tlsSecrets()).toEqual([{ secretName: 'tempo-tls', mountPath: '/etc/otelcol/tls/tempo-tls' }]);
  });

  test('listeners are what the config binds', () => {
    expect(pipeline({ otlpHttpPort: 14318 }).listeners().map((l) => [l.name, l.port])).toEqual([
      ['otlp-grpc', 4317], ['otlp-http', 14318], ['prometheus', 8889], ['health', 13133],
    ]);
  });

  describe('rejects', () => {
    test('two components on one port', () => {
      expect(() => pipeline({ prometheusPort: 4318 })).toThrow('otlp-http and prometheus both bind port 4318; give each its own port');
    });
    test('a port out of range', () => {
      expect(() => pipeline({ otlpHttpPort: 70000 })).toThrow('receiver otlp: http.port must be an integer port between 1 and 65535, got 70000');
    });
    test('a dimension listed twice', () => {
      expect(() => pipeline({ extraDimensions: ['k8s.pod.name'] })).toThrow("dimension 'k8s.pod.name' is listed twice");
    });
    test('two dimensions that become one label', () => {
      expect(() => pipeline({ extraDimensions: ['k8s_pod.name'] })).toThrow("two dimensions become the Prometheus label 'k8s_pod_name'");
    });
    test('a zero flush interval', () => {
      expect(() => pipeline({ metricsFlushInterval: Duration.seconds(0) })).toThrow('metricsFlushInterval must be a positive whole number of milliseconds, got 0ms');
    });
    test('TLS files that cannot work', () => {
      expect(() => ExporterTls.fromFiles({ certFile: '/certs/client.pem' })).toThrow('ExporterTls: certFile and keyFile go together (got certFile alone): a client certificate needs its key');
      expect(() => ExporterTls.fromFiles({ caFile: 'ca.pem' })).toThrow("ExporterTls: caFile 'ca.pem' must be an absolute path in the collector's container");
      expect(() => ExporterTls.fromSecret('Tempo_TLS')).toThrow("ExporterTls: secret name 'Tempo_TLS' is not a valid Secret name");
      expect(() => ExporterTls.fromSecret('tempo-tls', { ca: 'ca/crt' })).toThrow("ExporterTls: ca key 'ca/crt' is not a Secret key");
      expect(() => ExporterTls.fromSecret('tempo-tls', { key: 'tls.key' })).toThrow('ExporterTls: certFile and keyFile go together (got keyFile alone)');
    });
    test('a traces backend without a port', () => {
      expect(() => pipeline({ tracesBackend: 'jaeger' })).toThrow("endpoint 'jaeger' must be host:port");
    });
  });
});
