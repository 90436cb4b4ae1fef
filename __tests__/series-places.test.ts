import { stringify } from 'yaml';
import { validateModel, validateRules } from './helpers';
import { parseManifests } from '../lib/manifests';
import { seriesCatalog } from '../lib/model/series';
import { spanSources } from '../lib/model/span-sources';
import { parseResourceAttributes } from '../lib/platform/otel';

/**
 * Where the series catalog places each series (namespace, span service name), and
 * gates/series-not-for-canary on small hand-written sets: one collector in `otel`, one app.
 */

type Any = any;

/** A collector in namespace otel whose spanmetrics carry the dimension `ns`, fed by its traces pipeline. */
function collector(opts: { processors?: Record<string, unknown>; receivers?: Record<string, unknown>; exporters?: Record<string, unknown> } = {}): Any[] {
  const config = {
    receivers: { otlp: { protocols: { http: { endpoint: '0.0.0.0:4318' } } }, ...opts.receivers },
    processors: { batch: {}, ...opts.processors },
    connectors: { spanmetrics: { dimensions: [{ name: 'ns' }] } },
    exporters: { prometheus: { endpoint: '0.0.0.0:8889' }, ...opts.exporters },
    service: {
      pipelines: {
        traces: { receivers: Object.keys({ otlp: 1, ...opts.receivers }), processors: Object.keys({ batch: 1, ...opts.processors }), exporters: ['spanmetrics', ...Object.keys(opts.exporters ?? {})] },
        metrics: { receivers: ['spanmetrics'], exporters: ['prometheus'] },
      },
    },
  };
  return [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'collector', namespace: 'otel' }, data: { 'config.yaml': stringify(config) } },
    {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'collector', namespace: 'otel' },
      spec: {
        selector: { matchLabels: { app: 'collector' } },
        template: {
          metadata: { labels: { app: 'collector' }, annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8889' } },
          spec: {
            containers: [{ name: 'otelcol', image: 'otel/opentelemetry-collector-contrib:0.142.0', ports: [{ containerPort: 4318 }, { containerPort: 8889 }], volumeMounts: [{ name: 'c', mountPath: '/c' }] }],
            volumes: [{ name: 'c', configMap: { name: 'collector' } }],
          },
        },
      },
    },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'collector', namespace: 'otel' }, spec: { selector: { app: 'collector' }, ports: [{ port: 4318 }] } },
  ];
}

const NS_ENV = [
  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
  { name: 'OTEL_RESOURCE_ATTRIBUTES', value: 'ns=$(POD_NAMESPACE)' },
];
const ENDPOINT = { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'http://collector.otel:4318' };

/** Rollout shop/app with one container, and a template whose gate selects `selector` with ns="{{args.namespace}}". */
function app(container: Any, selector: string, pod: Any = {}): Any[] {
  return [
    {
      apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', metadata: { name: 'app', namespace: 'shop' },
      spec: {
        selector: { matchLabels: { app: 'app' } },
        strategy: { canary: { steps: [{ analysis: { templates: [{ templateName: 'gates' }], args: [{ name: 'namespace', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } }] } }] } },
        template: { metadata: { labels: { app: 'app' }, ...pod }, spec: { containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0.0', ...container }] } },
      },
    },
    {
      apiVersion: 'argoproj.io/v1alpha1', kind: 'AnalysisTemplate', metadata: { name: 'gates', namespace: 'shop' },
      spec: {
        args: [{ name: 'namespace' }],
        metrics: [{ name: 'calls', successCondition: 'len(result) > 0 && result[0] >= 1', provider: { prometheus: { address: 'http://prometheus', query: `sum(rate(${selector}[2m]))` } } }],
      },
    },
  ];
}

const set = (...objects: Any[]) => parseManifests(objects.map((o) => stringify(o)).join('---\n'), 'set.yaml');
const canaryFindings = (...objects: Any[]) => validateRules(set(...objects)).filter((f) => f.ruleId === 'gates/series-not-for-canary').map((f) => f.message);
const CALLS = 'traces_span_metrics_calls_total';
const payments = `${CALLS}{service_name="payments", ns="{{args.namespace}}"}`;

describe('span sources', () => {
  test('the service name is OTEL_SERVICE_NAME, else service.name in OTEL_RESOURCE_ATTRIBUTES, else the known image\'s services, else unknown', () => {
    const services = (env: Any[], image = 'ghcr.io/acme/app:1.0.0') => {
      const model = validateModel(set(...collector(), ...app({ image, env: [ENDPOINT, ...env] }, CALLS)));
      return [...spanSources(model).byCollector.values()].flat().map((s) => s.services);
    };
    expect(services([{ name: 'OTEL_SERVICE_NAME', value: 'cart' }, { name: 'OTEL_RESOURCE_ATTRIBUTES', value: 'service.name=basket' }])).toEqual([['cart']]);
    expect(services([{ name: 'OTEL_RESOURCE_ATTRIBUTES', value: 'service.name=basket%20api,ns=x' }])).toEqual([['basket api']]);
    expect(services([], 'jaegertracing/example-hotrod:1.76.0')).toEqual([['frontend', 'customer', 'driver', 'route']]);
    expect(services([])).toEqual([undefined]);
    expect(services([{ name: 'OTEL_SERVICE_NAME', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }])).toEqual([undefined]);
    expect(services([{ name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } }, { name: 'OTEL_SERVICE_NAME', value: '$(APP)' }])).toEqual([undefined]);
  });

  test('resource attributes are split on commas and percent-decoded', () => {
    expect([...parseResourceAttributes('a=1, b = x%2Cy ,bad,c=')]).toEqual([['a', '1'], ['b', 'x,y'], ['c', '']]);
  });

  test('a collector that another collector forwards to has spans from unknown places', () => {
    const agent = [
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'agent', namespace: 'otel' }, data: { 'config.yaml': stringify({
        receivers: { otlp: { protocols: { http: {} } } }, exporters: { otlphttp: { endpoint: 'http://collector.otel.svc.cluster.local:4318' } },
        service: { pipelines: { traces: { receivers: ['otlp'], exporters: ['otlphttp'] } } },
      }) } },
      { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent', namespace: 'otel' }, spec: { template: { spec: {
        containers: [{ name: 'agent', image: 'otel/opentelemetry-collector-contrib:0.142.0', volumeMounts: [{ name: 'c', mountPath: '/c' }] }], volumes: [{ name: 'c', configMap: { name: 'agent' } }],
      } } } },
    ];
    const model = validateModel(set(...collector(), ...agent));
    expect([...spanSources(model).relayed].map((c) => c.ref.name)).toEqual(['collector']);
    expect(seriesCatalog(model).places.unplaced(CALLS)).toContain('another collector of the manifests forwards spans to it');
  });
});

describe('gates/series-not-for-canary', () => {
  const named = [ENDPOINT, ...NS_ENV, { name: 'OTEL_SERVICE_NAME', value: 'cart' }];

  test('a literal service name no pod of the namespace exports', () => {
    expect(canaryFindings(...collector(), ...app({ env: named }, payments))).toEqual([expect.stringContaining('but the pods of namespace shop export spans only as service cart')]);
    expect(canaryFindings(...collector(), ...app({ env: named }, `${CALLS}{service_name=~"cart|payments", ns="{{args.namespace}}"}`))).toEqual([]);
  });

  test('an init container of an unknown image hides nothing: it is taken to trace nothing', () => {
    const objects = [...collector(), ...app({ env: named }, payments)];
    objects.find((o) => o.kind === 'Rollout').spec.template.spec.initContainers = [{ name: 'wait', image: 'busybox:1.36' }];
    expect(canaryFindings(...objects)).toHaveLength(1);
  });

  test('a sidecar collector gets the spans of a known image that sets no endpoint (the SDK default is localhost)', () => {
    const [config] = collector();
    config.metadata.namespace = 'shop';
    const objects = app({ image: 'jaegertracing/example-hotrod:1.76.0', args: ['all'], env: NS_ENV }, `${CALLS}{service_name="payments", ns="{{args.namespace}}"}`, {
      annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8889' },
    });
    const pod = objects[0].spec.template.spec;
    pod.containers.push({ name: 'otelcol', image: 'otel/opentelemetry-collector-contrib:0.142.0', ports: [{ containerPort: 8889 }], volumeMounts: [{ name: 'c', mountPath: '/c' }] });
    pod.volumes = [{ name: 'c', configMap: { name: 'collector' } }];
    expect(canaryFindings(config, ...objects)).toEqual([expect.stringContaining('export spans only as service customer, driver, frontend, route (Rollout shop/app container \'app\' (the services of jaegertracing/example-hotrod))')]);
  });

  test('spanmetrics the namespace does not export', () => {
    const elsewhere = [{ name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'http://jaeger.otel:4318' }, { name: 'OTEL_SERVICE_NAME', value: 'cart' }];
    const jaeger = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'jaeger', namespace: 'otel' }, spec: { selector: { app: 'jaeger' }, ports: [{ port: 4318 }] } };
    expect(canaryFindings(...collector(), jaeger, ...app({ env: elsewhere }, payments))).toEqual([
      expect.stringMatching(/selects traces_span_metrics_calls_total\{ns="shop"\} .* but no pod of the manifests exports spans to the collector that produces traces_span_metrics_calls_total; for namespace shop they produce no series these rules know of/),
    ]);
  });

  test('no finding where the manifests cannot know the service names or where the spans go', () => {
    const cases: [string, Any[], Any?][] = [
      ['no service name', [ENDPOINT, ...NS_ENV]],
      ['an unknown image without an OTLP endpoint variable', []],
      ['the endpoint from a ConfigMap', [{ name: 'OTEL_EXPORTER_OTLP_ENDPOINT', valueFrom: { configMapKeyRef: { name: 'c', key: 'k' } } }, { name: 'OTEL_SERVICE_NAME', value: 'cart' }]],
      ['variables from envFrom', [ENDPOINT], { envFrom: [{ configMapRef: { name: 'otel' } }] }],
      ['an endpoint outside the manifests', [{ name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'http://gateway.observability:4318' }, { name: 'OTEL_SERVICE_NAME', value: 'cart' }]],
    ];
    for (const [description, env, extra] of cases) {
      expect([description, canaryFindings(...collector(), ...app({ env, ...extra }, payments))]).toEqual([description, []]);
    }
    const injected = { annotations: { 'instrumentation.opentelemetry.io/inject-java': 'true' } };
    expect(canaryFindings(...collector(), ...app({ env: [] }, payments, injected))).toEqual([]);
  });

  test('no finding where the collector may rename services or receive spans from elsewhere', () => {
    expect(canaryFindings(...collector({ processors: { k8sattributes: {} } }), ...app({ env: named }, payments))).toEqual([]);
    expect(canaryFindings(...collector({ processors: { 'resource/names': { attributes: [{ key: 'service.name', action: 'upsert', value: 'payments' }] } } }), ...app({ env: named }, payments))).toEqual([]);
    expect(canaryFindings(...collector({ receivers: { zipkin: {} } }), ...app({ env: named }, payments))).toEqual([]);
  });

  test('no finding without a namespace matcher, or with one the Rollout\'s arguments do not resolve', () => {
    expect(canaryFindings(...collector(), ...app({ env: named }, `${CALLS}{service_name="payments"}`))).toEqual([]);
    const objects = [...collector(), ...app({ env: named }, payments)];
    objects.find((o) => o.kind === 'Rollout').spec.strategy.canary.steps[0].analysis.args = [{ name: 'namespace', valueFrom: { podTemplateHashValue: 'Latest' } }];
    expect(canaryFindings(...objects)).toEqual([]);
  });

  test('a literal namespace argument counts when its label carries the namespace', () => {
    const objects = [...collector(), ...app({ env: named }, payments)];
    objects.find((o) => o.kind === 'Rollout').spec.strategy.canary.steps[0].analysis.args = [{ name: 'namespace', value: 'shop' }];
    expect(canaryFindings(...objects)).toEqual([expect.stringContaining('ns="shop"} ({{args.namespace}} from value in strategy.canary.steps[0].analysis.args)')]);
  });
});
