import { CollectorConfig, DebugExporter, OtlpReceiver, PrometheusExporter, Signal, SpanmetricsConnector, spanmetricsSeries } from '../lib/platform/collector-config';
import { prometheusMetricName, OtelMetricType, sanitizeLabelName } from '../lib/platform/prometheus-naming';

describe('CollectorConfig', () => {
  test('renders only the components pipelines use, each once', () => {
    const config = new CollectorConfig();
    const otlp = new OtlpReceiver({ http: { port: 4318 } });
    const spanmetrics = new SpanmetricsConnector();
    config.addPipeline({ signal: Signal.TRACES, receivers: [otlp], exporters: [spanmetrics] });
    config.addPipeline({ signal: Signal.METRICS, receivers: [spanmetrics], exporters: [new PrometheusExporter({ bind: { port: 8889 } })] });
    const json = config.toJson() as any;
    expect(Object.keys(json)).toEqual(['receivers', 'connectors', 'exporters', 'service']);
    expect(json.service.pipelines.metrics.receivers).toEqual(['spanmetrics']);
    expect(config.connectorProblems()).toEqual([]);
  });

  test('a connector used on one side only is reported, as the collector would refuse it', () => {
    const config = new CollectorConfig();
    config.addPipeline({ signal: Signal.TRACES, receivers: [new OtlpReceiver({ http: { port: 4318 } })], exporters: [new SpanmetricsConnector()] });
    expect(config.connectorProblems()).toEqual([
      "connector 'spanmetrics' is an exporter in [traces] and a receiver in []; it must bridge traces -> metrics: add it to the exporters of a traces pipeline and the receivers of a metrics pipeline",
    ]);
  });

  test('a pipeline without receiver or exporter is refused', () => {
    const config = new CollectorConfig();
    expect(() => config.addPipeline({ signal: Signal.METRICS, receivers: [], exporters: [new DebugExporter()] }))
      .toThrow("pipeline 'metrics' has no receiver; the collector refuses to start without one");
    expect(() => config.addPipeline({ signal: Signal.TRACES, receivers: [new OtlpReceiver({ grpc: { port: 4317 } })], exporters: [] }))
      .toThrow("pipeline 'traces' has no exporter");
  });

  test('two different components with one id are refused', () => {
    const config = new CollectorConfig();
    config.addPipeline({ signal: Signal.TRACES, receivers: [new OtlpReceiver({ http: { port: 4318 } })], exporters: [new DebugExporter()] });
    config.addPipeline({ signal: Signal.LOGS, receivers: [new OtlpReceiver({ http: { port: 4319 } })], exporters: [new DebugExporter()] });
    expect(() => config.toJson()).toThrow("two different receivers share the id 'otlp'; give one of them a name (otlp/NAME)");
  });

  test('an OTLP receiver needs a protocol', () => {
    expect(() => new OtlpReceiver({})).toThrow('receiver otlp: enable at least one protocol (grpc or http)');
  });
});

describe('Prometheus naming', () => {
  test('follows the prometheus exporter rules', () => {
    expect(prometheusMetricName({ name: 'traces.span.metrics.duration', unit: 'ms', type: OtelMetricType.HISTOGRAM })).toBe('traces_span_metrics_duration_milliseconds');
    expect(prometheusMetricName({ name: 'traces.span.metrics.calls', type: OtelMetricType.MONOTONIC_SUM })).toBe('traces_span_metrics_calls_total');
    expect(prometheusMetricName({ name: 'calls', type: OtelMetricType.MONOTONIC_SUM, exporterNamespace: 'otel' })).toBe('otel_calls_total');
    expect(sanitizeLabelName('hotrod.pod.hash')).toBe('hotrod_pod_hash');
    expect(sanitizeLabelName('rollouts-pod-template-hash')).toBe('rollouts_pod_template_hash');
    expect(sanitizeLabelName('9lives')).toBe('key_9lives');
  });

  test('reads a hand-written spanmetrics block with defaults', () => {
    const s = spanmetricsSeries({ dimensions: [{ name: 'hotrod.pod.hash' }] }, { endpoint: '0.0.0.0:8889' });
    expect(s.durationBucket).toBe('traces_span_metrics_duration_milliseconds_bucket');
    expect(s.dimensionLabels).toEqual({ 'hotrod.pod.hash': 'hotrod_pod_hash' });
  });
});
