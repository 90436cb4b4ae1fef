import { readFileSync, rmSync } from 'fs';
import { join } from 'path';
import { parse, stringify } from 'yaml';
import { fixtureFolder, validateRules } from './helpers';
import { Finding, formatFinding, LoadedManifest, PrometheusBackend, Severity } from '../lib';
import { COLLECTOR_CONFIG_KEY } from '../lib/constructs/otel-collector-daemon-set';
import { loadManifests, parseManifests } from '../lib/manifests';
import { ALL_RULES } from '../lib/rules/all-rules';
import { errorsOf } from '../lib/rules/engine';
import { RuleOptions } from '../lib/rules/types';
import { HealthyProfile, ImageCatalogue } from '../lib/platform/image-facts';
import { PRESET_IMAGES } from '../lib/presets/images';
import { HOTROD_IMAGE } from '../lib/presets/hotrod';

type Any = any;

let synthesized: LoadedManifest[];
beforeAll(() => {
  // the fixture stack (the library's defaults), not main.ts: a threshold changed there breaks nothing here
  const dir = fixtureFolder();
  try {
    synthesized = loadManifests(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A fresh deep copy of the default app's manifests. */
function fresh(): LoadedManifest[] {
  return structuredClone(synthesized);
}

function object(ms: LoadedManifest[], kind: string, name: string): Any {
  const found = ms.filter((m) => m.object.kind === kind && m.object.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind}/${name}, found ${found.length}`);
  return found[0].object;
}

/** Edits the collector configuration in its ConfigMap. */
function editConfig(ms: LoadedManifest[], edit: (cfg: Any) => void): void {
  const cm = object(ms, 'ConfigMap', 'collector-config');
  const cfg = parse(cm.data[COLLECTOR_CONFIG_KEY]);
  edit(cfg);
  cm.data[COLLECTOR_CONFIG_KEY] = stringify(cfg);
}

const collector = (ms: LoadedManifest[]) => object(ms, 'DaemonSet', 'collector').spec.template;
const hotrod = (ms: LoadedManifest[]) => object(ms, 'Rollout', 'hotrod').spec.template;
const gates = (ms: LoadedManifest[]) => object(ms, 'AnalysisTemplate', 'hotrod-analysis').spec.metrics;
const gate = (ms: LoadedManifest[], prefix: string) => gates(ms).find((g: Any) => g.name.startsWith(prefix));
const env = (container: Any, name: string) => container.env.find((e: Any) => e.name === name);
const steps = (ms: LoadedManifest[]) => object(ms, 'Rollout', 'hotrod').spec.strategy.canary.steps;

/**
 * Adds a second app: Rollout shop/cart (an image these rules do not know) exporting its spans to
 * the collector as service 'cart', running a copy of HotROD's gates in its namespace.
 */
function secondApp(ms: LoadedManifest[]): void {
  const template = structuredClone(object(ms, 'AnalysisTemplate', 'hotrod-analysis'));
  template.metadata.namespace = 'shop';
  const rollout = structuredClone(object(ms, 'Rollout', 'hotrod'));
  Object.assign(rollout.metadata, { name: 'cart', namespace: 'shop', labels: { app: 'cart' } });
  rollout.spec.selector.matchLabels = { app: 'cart' };
  rollout.spec.template.metadata = { labels: { app: 'cart' } };
  const container = rollout.spec.template.spec.containers[0];
  Object.assign(container, { name: 'cart', image: 'ghcr.io/acme/cart:1.0.0', ports: [{ name: 'http', containerPort: 8080 }] });
  container.env.push({ name: 'OTEL_SERVICE_NAME', value: 'cart' });
  ms.push({ object: rollout, file: 'shop/Rollout.cart.k8s.yaml' }, { object: template, file: 'shop/AnalysisTemplate.hotrod-analysis.k8s.yaml' });
}

/** One planted bug: what it changes, and the rule that must catch it. */
type Plant = [description: string, ruleId: string, plant: (ms: LoadedManifest[]) => void, severity?: Severity, options?: RuleOptions];

/** The rules' options when HotROD's image states how it behaves when healthy. */
const hotrodHealthy = (healthy: HealthyProfile): RuleOptions => ({ images: ImageCatalogue.of(...PRESET_IMAGES.all, { ...HOTROD_IMAGE, healthy }) });

const PLANTS: Plant[] = [
  // The seed challenge's four bugs.
  ['seed: receivers section emptied', 'collector/no-receivers', (ms) => editConfig(ms, (c) => { c.receivers = null; })],
  ['seed: no metrics pipeline', 'collector/connector-unpaired', (ms) => editConfig(ms, (c) => { delete c.service.pipelines.metrics; delete c.exporters.prometheus; })],
  ['seed: no prometheus exporter (metrics go to debug)', 'gates/unknown-metric', (ms) => editConfig(ms, (c) => {
    delete c.exporters.prometheus;
    c.exporters.debug = { verbosity: 'detailed' };
    c.service.pipelines.metrics.exporters = ['debug'];
  })],
  ['seed: no traffic gate', 'gates/no-idle-canary-gate', (ms) => { object(ms, 'AnalysisTemplate', 'hotrod-analysis').spec.metrics = gates(ms).filter((g: Any) => !g.name.startsWith('traffic-')); }],

  // Collector startup.
  ['no exporter configured', 'collector/no-exporters', (ms) => editConfig(ms, (c) => { delete c.exporters; })],
  ['no pipelines', 'collector/no-pipelines', (ms) => editConfig(ms, (c) => { c.service.pipelines = {}; })],
  ['a pipeline without receivers', 'collector/pipeline-no-receiver', (ms) => editConfig(ms, (c) => { c.service.pipelines.traces.receivers = []; })],
  ['a pipeline without exporters', 'collector/pipeline-no-exporter', (ms) => editConfig(ms, (c) => { c.service.pipelines.metrics.exporters = []; })],
  ['a pipeline names an unconfigured processor', 'collector/unconfigured-component', (ms) => editConfig(ms, (c) => { c.service.pipelines.traces.processors.push('attributes/pod'); })],
  ['service.extensions names an unconfigured extension', 'collector/unconfigured-component', (ms) => editConfig(ms, (c) => { c.service.extensions.push('pprof'); })],
  ['spanmetrics wired metrics -> traces', 'collector/connector-unpaired', (ms) => editConfig(ms, (c) => {
    c.service.pipelines.traces.exporters = ['otlp'];
    c.service.pipelines.traces.receivers.push('spanmetrics');
    c.service.pipelines.metrics.receivers = ['otlp'];
    c.service.pipelines.metrics.exporters.push('spanmetrics');
  })],
  ['a component type with a dash', 'collector/invalid-component-id', (ms) => editConfig(ms, (c) => { c.processors['memory-limiter'] = {}; c.service.pipelines.traces.processors.push('memory-limiter'); })],
  ['a pipeline id with an unknown signal', 'collector/invalid-pipeline-id', (ms) => editConfig(ms, (c) => { c.service.pipelines.spans = c.service.pipelines.traces; delete c.service.pipelines.traces; })],
  ['an exporter with the connector id', 'collector/ambiguous-id', (ms) => editConfig(ms, (c) => { c.exporters.spanmetrics = {}; })],
  ['a configured receiver no pipeline uses', 'collector/unused-component', (ms) => editConfig(ms, (c) => { c.receivers['otlp/unused'] = { protocols: { grpc: { endpoint: '0.0.0.0:14317' } } }; }), Severity.WARNING],

  // Binding, ports, probes, scrape.
  ['OTLP/HTTP receiver on localhost', 'collector/localhost-endpoint', (ms) => editConfig(ms, (c) => { c.receivers.otlp.protocols.http.endpoint = 'localhost:4318'; })],
  ['OTLP/gRPC receiver endpoint left to the default', 'collector/localhost-endpoint', (ms) => editConfig(ms, (c) => { c.receivers.otlp.protocols.grpc = null; })],
  ['prometheus exporter on 127.0.0.1', 'collector/localhost-endpoint', (ms) => editConfig(ms, (c) => { c.exporters.prometheus.endpoint = '127.0.0.1:8889'; })],
  ['container port where nothing listens (a warning: only what reaches it fails)', 'collector/container-ports', (ms) => { collector(ms).spec.containers[0].ports[1].containerPort = 4319; }, Severity.WARNING],
  ['Service port reaching a localhost-only listener', 'collector/service-port-mismatch', (ms) => {
    editConfig(ms, (c) => { c.service.telemetry = { metrics: { readers: [{ pull: { exporter: { prometheus: { host: 'localhost', port: 8888 } } } }] } }; });
    object(ms, 'Service', 'collector').spec.ports.push({ name: 'self-metrics', port: 8888, targetPort: 8888 });
  }],
  ['Service targets a port where nothing listens', 'collector/service-port-mismatch', (ms) => { object(ms, 'Service', 'collector').spec.ports[0].targetPort = 4316; }],
  ['health_check not in service.extensions', 'collector/probe-mismatch', (ms) => editConfig(ms, (c) => { c.service.extensions = []; })],
  ['health_check not configured', 'collector/probe-mismatch', (ms) => editConfig(ms, (c) => { delete c.extensions; delete c.service.extensions; })],
  ['readiness probe on another port', 'collector/probe-mismatch', (ms) => { collector(ms).spec.containers[0].readinessProbe.httpGet.port = 13134; }],
  ['scrape annotation on another port', 'collector/scrape-port-mismatch', (ms) => { collector(ms).metadata.annotations['prometheus.io/port'] = '8888'; }],

  // The app's OTLP endpoint.
  ['OTLP endpoint on the gRPC port with the default http/protobuf', 'otlp/protocol-mismatch', (ms) => { env(hotrod(ms).spec.containers[0], 'OTEL_EXPORTER_OTLP_ENDPOINT').value = 'http://collector.otel.svc.cluster.local:4317'; }],
  ['OTLP protocol grpc against the HTTP port', 'otlp/protocol-mismatch', (ms) => { hotrod(ms).spec.containers[0].env.push({ name: 'OTEL_EXPORTER_OTLP_PROTOCOL', value: 'grpc' }); }],
  ['OTLP endpoint names a missing Service', 'otlp/unknown-service', (ms) => { env(hotrod(ms).spec.containers[0], 'OTEL_EXPORTER_OTLP_ENDPOINT').value = 'http://otel-collector.otel.svc.cluster.local:4318'; }],
  ['OTLP endpoint on a port the Service lacks', 'otlp/unknown-port', (ms) => { env(hotrod(ms).spec.containers[0], 'OTEL_EXPORTER_OTLP_ENDPOINT').value = 'http://collector.otel:55681'; }],
  ['OTLP Service port reaching no receiver', 'otlp/no-receiver', (ms) => {
    object(ms, 'Service', 'collector').spec.ports[1].targetPort = 'prometheus';
  }],

  // Gates.
  ['histogram unit changed to seconds', 'gates/unknown-metric', (ms) => editConfig(ms, (c) => { c.connectors.spanmetrics.histogram.unit = 's'; })],
  ['pod hash dimension removed', 'gates/unknown-label', (ms) => editConfig(ms, (c) => { c.connectors.spanmetrics.dimensions = c.connectors.spanmetrics.dimensions.filter((d: Any) => d.name !== 'k8s.pod.label.rollouts-pod-template-hash'); })],
  ['HotROD no longer scraped', 'gates/unknown-metric', (ms) => { delete hotrod(ms).metadata.annotations['prometheus.io/scrape']; }],
  ['HotROD scraped on the customer port', 'gates/unknown-metric', (ms) => { hotrod(ms).metadata.annotations['prometheus.io/port'] = '8081'; }],
  ['a label HotROD does not emit', 'gates/unknown-label', (ms) => { gate(ms, 'error-rate').provider.prometheus.query = gate(ms, 'error-rate').provider.prometheus.query.replace('error="true"', 'status="error"'); }],
  ['grouping by a label the series lack', 'gates/unknown-label', (ms) => {
    gate(ms, 'latency').provider.prometheus.query = gate(ms, 'latency').provider.prometheus.query.replace('sum(traces_span_metrics_duration_milliseconds_count', 'sum by (route) (traces_span_metrics_duration_milliseconds_count');
  }],
  ['PromQL syntax error', 'gates/promql-syntax', (ms) => { gate(ms, 'latency').provider.prometheus.query = gate(ms, 'latency').provider.prometheus.query.replace(') * ', ') * * '); }],
  ['query uses an undeclared argument', 'gates/unknown-arg', (ms) => { gate(ms, 'traffic').provider.prometheus.query = gate(ms, 'traffic').provider.prometheus.query.replace('args.canary-hash', 'args.hash'); }],
  // a sequential test waits through looks without data; the traffic gate takes no data for an idle canary
  ['traffic gate measured from 30s', 'gates/judged-before-data', (ms) => { gate(ms, 'traffic').initialDelay = '30s'; }, Severity.WARNING],
  // Argo Rollouts' own spec validation: failureLimit -1 needs a consecutiveSuccessLimit (utils/analysis/factory.go ValidateMetric @ v1.8.3)
  ['failure check off without a success streak', 'gates/invalid-metric-spec', (ms) => { gate(ms, 'error-rate').failureLimit = -1; delete gate(ms, 'error-rate').consecutiveSuccessLimit; }],
  // SPEC trap 14: at the chart's 1m scrape, Prometheus's own scrapes of HotROD's /metrics alone are 1/60 req/s per pod.
  ['the traffic gate counts Prometheus\'s own scrapes and asks for less than they give', 'gates/self-traffic', (ms) => {
    const g = gate(ms, 'traffic');
    g.provider.prometheus.query = 'sum(rate(hotrod_requests_total{namespace="{{args.namespace}}", rollouts_pod_template_hash="{{args.canary-hash}}"}[2m]))\n';
    g.successCondition = 'len(result) > 0 && result[0] >= 0.01';
    delete g.failureCondition;
  }],
  ['the traffic gate counts the scrapes within an increase() window', 'gates/self-traffic', (ms) => {
    const g = gate(ms, 'traffic');
    g.provider.prometheus.query = 'sum(increase(hotrod_requests_total{namespace="{{args.namespace}}", rollouts_pod_template_hash="{{args.canary-hash}}"}[190s]))\n';
    g.successCondition = 'len(result) > 0 && result[0] >= 3';
  }],
  ['the traffic gate counts the scrapes since the canary started and asks for fewer than its looks see', 'gates/self-traffic', (ms) => {
    const g = gate(ms, 'traffic');
    g.provider.prometheus.query = g.provider.prometheus.query.replace(/, endpoint=~"[^"]*"/, '');
    g.successCondition = 'len(result) > 0 && result[0] >= 3';
  }],
  // SPEC trap 15: a latency gate over every span.
  ['the latency gate reads every span', 'gates/latency-over-all-spans', (ms) => {
    gate(ms, 'latency').provider.prometheus.query = gate(ms, 'latency').provider.prometheus.query.replace(/service_name="frontend", span_kind="SPAN_KIND_SERVER", span_name=~"[^"]*", /g, '');
  }, Severity.WARNING],
  ['a gate on a metric produced outside the manifests (kube-state-metrics) is listed as not checked', 'gates/unchecked-metric', (ms) => {
    gate(ms, 'latency').provider.prometheus.query = 'sum(kube_pod_container_status_restarts_total{namespace="{{args.namespace}}"})';
  }, Severity.INFO],
  ['traffic gate passes an empty result', 'gates/no-idle-canary-gate', (ms) => { gate(ms, 'traffic').successCondition = 'len(result) == 0 || result[0] >= 0'; delete gate(ms, 'traffic').failureCondition; }],
  ['traffic gate measures the stable pods too', 'gates/no-idle-canary-gate', (ms) => {
    gate(ms, 'traffic').provider.prometheus.query = 'sum(rate(hotrod_requests_total{namespace="{{args.namespace}}"}[2m]))\n';
  }],

  ['the latency gate names a service HotROD does not export', 'gates/series-not-for-canary', (ms) => {
    gate(ms, 'latency').provider.prometheus.query = gate(ms, 'latency').provider.prometheus.query.replace(/service_name="frontend"/g, 'service_name="payments"');
  }],
  ['a second app in its own namespace runs HotROD\'s gates', 'gates/series-not-for-canary', (ms) => secondApp(ms)],

  ['gates of one template on two Prometheus servers', 'gates/prometheus-mismatch', (ms) => { gate(ms, 'latency').provider.prometheus.address = 'http://prometheus.monitoring.svc.cluster.local:9090'; }],
  ['a web gate whose Service, named through an argument, does not exist', 'gates/unknown-spliced-service', (ms) => {
    const template = object(ms, 'AnalysisTemplate', 'hotrod-analysis');
    template.spec.args.push({ name: 'service', value: 'hotrod-preview' });
    template.spec.metrics.push({ name: 'smoke', count: 1, successCondition: 'result.ok == true', provider: { web: { url: 'http://{{args.service}}.hotrod.svc.cluster.local:8080/' } } });
  }],

  // Conditions.
  ['unguarded result[0]', 'conditions/unguarded-index', (ms) => { gate(ms, 'latency').successCondition = 'result[0] < 1000'; }, Severity.WARNING],
  ['a condition the rules cannot read', 'conditions/unreadable', (ms) => { gate(ms, 'latency').successCondition = 'all(result, {# < 1000})'; }, Severity.WARNING],
  ['a condition that passes an empty result', 'conditions/passes-empty', (ms) => { gate(ms, 'latency').successCondition = 'len(result) == 0 || result[0] < 1000'; }, Severity.WARNING],

  // Rollout analysis steps.
  ['analysis step names a missing template', 'rollout/unknown-template', (ms) => { steps(ms)[1].analysis.templates[0].templateName = 'hotrod-gates'; }],
  ['template in another namespace', 'rollout/unknown-template', (ms) => { object(ms, 'AnalysisTemplate', 'hotrod-analysis').metadata.namespace = 'argo-rollouts'; }],
  ['analysis step omits an argument', 'rollout/missing-arg', (ms) => { steps(ms)[1].analysis.args = steps(ms)[1].analysis.args.filter((a: Any) => a.name !== 'canary-hash'); }],

  // Services and URLs.
  ['Service selector matches no pod', 'services/selector-no-match', (ms) => { object(ms, 'Service', 'hotrod').spec.selector = { app: 'hot-rod' }; }],
  ['Service targets an undeclared port name', 'services/unknown-target-port', (ms) => { object(ms, 'Service', 'hotrod').spec.ports[0].targetPort = 'http'; }],
  ['traffic generator aimed at a wrong port', 'services/unknown-url-target', (ms) => {
    env(object(ms, 'Deployment', 'hotrod-traffic').spec.template.spec.containers[0], 'TARGET_URL').value = 'http://hotrod.hotrod.svc.cluster.local:8081';
  }],
  ['traffic generator aimed at a wrong host', 'services/unknown-url-target', (ms) => {
    env(object(ms, 'Deployment', 'hotrod-traffic').spec.template.spec.containers[0], 'TARGET_URL').value = 'http://frontend.hotrod:8080';
  }],

  ['an ApplicationSet naming every Application alike', 'appset/duplicate-application-name', (ms) => { object(ms, 'ApplicationSet', 'hotrod').spec.template.metadata.name = 'hotrod'; }],

  // Schemas of the exact versions targeted.
  ['Rollout replicas as a string', 'schema/argo-rollouts', (ms) => { object(ms, 'Rollout', 'hotrod').spec.replicas = '2'; }],
  ['an unknown canary step field', 'schema/argo-rollouts', (ms) => { steps(ms)[0].setWieght = 50; }],
  ['an unknown git generator field', 'schema/argo-cd', (ms) => { object(ms, 'ApplicationSet', 'hotrod').spec.generators[0].git.directory = [{ path: 'dist/*' }]; }],
  ['an AppProject whitelist entry without its group', 'schema/argo-cd', (ms) => { delete object(ms, 'AppProject', 'hotrod').spec.namespaceResourceWhitelist[0].group; }],
  ['a NetworkPolicy rule whose ports are a string', 'schema/core', (ms) => { object(ms, 'NetworkPolicy', 'collector').spec.ingress[0].ports = '4317'; }],
  ['a Service port as a string', 'schema/core', (ms) => { object(ms, 'Service', 'hotrod').spec.ports[0].port = '8080'; }],
  ['a PodMonitor endpoint under a misspelled key', 'schema/prometheus-operator', (ms) => {
    ms.push({ object: { apiVersion: 'monitoring.coreos.com/v1', kind: 'PodMonitor', metadata: { name: 'hotrod', namespace: 'hotrod' }, spec: { selector: { matchLabels: { app: 'hotrod' } }, podMetricEndpoints: [{ port: 'http' }] } }, file: 'hotrod/PodMonitor.hotrod.k8s.yaml' });
  }],
  ['a Flagger Canary without its targetRef', 'schema/flagger', (ms) => {
    ms.push({ object: { apiVersion: 'flagger.app/v1beta1', kind: 'Canary', metadata: { name: 'hotrod', namespace: 'hotrod' }, spec: { service: { port: 8080 }, analysis: { interval: '1m', threshold: 5, maxWeight: 50, stepWeight: 10 } } }, file: 'hotrod/Canary.hotrod.k8s.yaml' });
  }],
  ['a kind without a known schema', 'schema/known-kind', (ms) => {
    ms.push({ object: { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', namespace: 'hotrod' } }, file: 'hotrod/Widget.w.k8s.yaml' });
  }, Severity.WARNING],

  // Security.
  ['HotROD runAsNonRoot without runAsUser', 'security/run-as-non-root-needs-uid', (ms) => {
    delete hotrod(ms).spec.securityContext.runAsUser;
    delete hotrod(ms).spec.containers[0].securityContext.runAsUser;
  }],
  ['curl runAsNonRoot without runAsUser', 'security/run-as-non-root-needs-uid', (ms) => {
    const pod = object(ms, 'Deployment', 'hotrod-traffic').spec.template.spec;
    delete pod.securityContext.runAsUser;
    delete pod.containers[0].securityContext.runAsUser;
  }],
  ['runAsNonRoot with runAsUser 0', 'security/run-as-non-root-needs-uid', (ms) => { hotrod(ms).spec.containers[0].securityContext.runAsUser = 0; }],

  // The Pod Security Standards: the ApplicationSet makes every namespace enforce restricted, so each is an error here.
  ['a Windows HostProcess collector', 'pod-security/host-process', (ms) => { collector(ms).spec.securityContext.windowsOptions = { hostProcess: true }; }],
  ['the collector on the node\'s network', 'pod-security/host-namespaces', (ms) => { collector(ms).spec.hostNetwork = true; }],
  ['a privileged collector', 'pod-security/privileged', (ms) => { collector(ms).spec.containers[0].securityContext.privileged = true; }],
  ['SYS_ADMIN added to the collector', 'pod-security/capabilities-baseline', (ms) => { collector(ms).spec.containers[0].securityContext.capabilities.add = ['SYS_ADMIN']; }],
  ['the node\'s / mounted into the collector', 'pod-security/host-path-volumes', (ms) => { collector(ms).spec.volumes.push({ name: 'root', hostPath: { path: '/' } }); }],
  ['the collector\'s OTLP port on the node', 'pod-security/host-ports', (ms) => { collector(ms).spec.containers[0].ports[1].hostPort = 4318; }],
  ['HotROD unconfined by AppArmor', 'pod-security/apparmor', (ms) => { hotrod(ms).metadata.annotations['container.apparmor.security.beta.kubernetes.io/hotrod'] = 'unconfined'; }],
  ['an SELinux user on HotROD', 'pod-security/selinux', (ms) => { hotrod(ms).spec.securityContext.seLinuxOptions = { user: 'system_u' }; }],
  ['HotROD with /proc unmasked', 'pod-security/proc-mount', (ms) => { hotrod(ms).spec.containers[0].securityContext.procMount = 'Unmasked'; }],
  ['the traffic generator without seccomp', 'pod-security/seccomp-baseline', (ms) => {
    object(ms, 'Deployment', 'hotrod-traffic').spec.template.spec.containers[0].securityContext.seccompProfile = { type: 'Unconfined' };
  }],
  ['a sysctl of the node\'s kernel on HotROD', 'pod-security/sysctls', (ms) => { hotrod(ms).spec.securityContext.sysctls = [{ name: 'kernel.msgmax', value: '65536' }]; }],
  ['an nfs volume in the collector', 'pod-security/volume-types', (ms) => { collector(ms).spec.volumes.push({ name: 'share', nfs: { server: 'nfs.example.com', path: '/' } }); }],
  ['HotROD allowed to escalate', 'pod-security/privilege-escalation', (ms) => { hotrod(ms).spec.containers[0].securityContext.allowPrivilegeEscalation = true; }],
  ['HotROD allowed to run as root', 'pod-security/run-as-non-root', (ms) => {
    hotrod(ms).spec.securityContext.runAsNonRoot = false;
    hotrod(ms).spec.containers[0].securityContext.runAsNonRoot = false;
  }],
  ['the collector as uid 0', 'pod-security/run-as-user', (ms) => { collector(ms).spec.containers[0].securityContext.runAsUser = 0; }],
  ['HotROD without a seccomp profile', 'pod-security/seccomp-restricted', (ms) => {
    delete hotrod(ms).spec.securityContext.seccompProfile;
    delete hotrod(ms).spec.containers[0].securityContext.seccompProfile;
  }],
  ['the collector keeping its capabilities', 'pod-security/capabilities-restricted', (ms) => { delete collector(ms).spec.containers[0].securityContext.capabilities; }],
  ['HotROD stated to fail 6% of requests when healthy, its error gate stopping at 5%', 'gates/stops-healthy', () => undefined, Severity.ERROR, hotrodHealthy({ errorRatio: 0.06 })],
  ['HotROD stated to fail 4% of requests when healthy, its error gate taking 2.5% as good', 'gates/stops-healthy', () => undefined, Severity.WARNING, hotrodHealthy({ errorRatio: 0.04 })],
  ['HotROD stated to answer 10% of requests above 1 s when healthy, its p95 gate stopping at 5%', 'gates/stops-healthy', () => undefined, Severity.ERROR, hotrodHealthy({ latencyMs: { p50: 400, p90: 1000 } })],
  ['the traffic generator removed, and no real rate stated', 'traffic/rate-unknown', (ms) => { ms.splice(ms.findIndex((m) => m.object.kind === 'Deployment' && m.object.metadata.name === 'hotrod-traffic'), 1); }, Severity.WARNING],
  ['the collector\'s NetworkPolicy removed', 'network/otlp-open-to-all', (ms) => { ms.splice(ms.findIndex((m) => m.object.kind === 'NetworkPolicy' && m.object.metadata.name === 'collector'), 1); }, Severity.WARNING],
  ['the collector\'s OTLP ports opened to every namespace', 'network/otlp-open-to-all', (ms) => {
    object(ms, 'NetworkPolicy', 'collector').spec.ingress[0].from = [{ namespaceSelector: {} }];
  }, Severity.WARNING],

  // Production signals.
  ['tail sampling ahead of spanmetrics', 'collector/sampling-before-spanmetrics', (ms) => editConfig(ms, (c) => {
    c.processors.tail_sampling = { policies: [{ name: 'errors', type: 'status_code', status_code: { status_codes: ['ERROR'] } }] };
    c.service.pipelines.traces.processors.push('tail_sampling');
  })],
  ['a sampler ahead of a forward connector into the spanmetrics pipeline', 'collector/sampling-before-spanmetrics', (ms) => editConfig(ms, (c) => {
    c.processors.probabilistic_sampler = { sampling_percentage: 10 };
    c.connectors.forward = {};
    c.service.pipelines.traces.processors.push('probabilistic_sampler');
    c.service.pipelines.traces.exporters = ['otlp', 'forward'];
    c.service.pipelines['traces/metrics'] = { receivers: ['forward'], exporters: ['spanmetrics'] };
  })],
  ['a user id as a spanmetrics dimension', 'collector/high-cardinality-dimension', (ms) => editConfig(ms, (c) => { c.connectors.spanmetrics.dimensions.push({ name: 'user.id' }); })],
  ['300 HotROD pods, each its own spanmetrics series', 'collector/spanmetrics-series-budget', (ms) => { object(ms, 'Rollout', 'hotrod').spec.replicas = 300; }, Severity.WARNING],
  ['a dashboard ConfigMap that is no JSON', 'dashboard/unreadable', (ms) => { object(ms, 'ConfigMap', 'canary-dashboard').data['canaries-test.json'] = '{ panels: '; }],
  ['a dashboard query that does not parse', 'dashboard/unreadable', (ms) => {
    const cm = object(ms, 'ConfigMap', 'canary-dashboard');
    const d = JSON.parse(cm.data['canaries-test.json']);
    d.panels[1].targets[0].expr = 'sum(rate(x[5m])';
    cm.data['canaries-test.json'] = JSON.stringify(d);
  }],
  ['a PrometheusRule whose expr does not parse', 'alerts/promql-syntax', (ms) => { ms.push(prometheusRule('up ==')); }],
  ['an alert without severity', 'alerts/unrouted', (ms) => { ms.push(prometheusRule('up == 0', {})); }, Severity.WARNING],
  ['a PrometheusRule group without a name', 'schema/prometheus-operator', (ms) => {
    const rule = prometheusRule('up == 0');
    delete rule.object.spec.groups[0].name;
    ms.push(rule);
  }],
];

/** A PrometheusRule in the hotrod folder with one alert. */
function prometheusRule(expr: string, labels: Record<string, string> = { severity: 'ticket' }): LoadedManifest & { object: Any } {
  return {
    file: 'hotrod/PrometheusRule.planted.k8s.yaml',
    object: { apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', metadata: { name: 'planted', namespace: 'hotrod' }, spec: { groups: [{ name: 'g', rules: [{ alert: 'Planted', expr, labels }] }] } },
  };
}

describe('rules on the default app', () => {
  test('the unplanted manifests produce no finding at all: the derived gate timings fit the chart\'s 1m scrape', () => {
    expect(validateRules(synthesized).map(formatFinding)).toEqual([]);
  });

  test.each(PLANTS)('%s -> %s', (_description, ruleId, plant, severity = Severity.ERROR, options = {}) => {
    // GIVEN the default manifests with one bug planted
    const ms = fresh();
    plant(ms);
    // WHEN every rule runs
    const findings = validateRules(ms, options);
    // THEN the rule named catches it, with the severity it should, naming an object and saying how to fix it
    const caught = findings.filter((f) => f.ruleId === ruleId && f.severity === severity);
    if (process.env.SHOW_FINDINGS) console.log(findings.map(formatFinding).join('\n'));
    expect(caught.map(formatFinding)).not.toEqual([]);
    for (const f of caught) {
      expect(f.object.kind).toBeTruthy();
      expect(f.object.file).toMatch(/\.k8s\.yaml$/);
      expect(f.fix.length).toBeGreaterThan(10);
    }
  });

  test('every rule is planted at least once', () => {
    const planted = new Set(PLANTS.map(([, id]) => id));
    expect(ALL_RULES.map((r) => r.id).filter((id) => !planted.has(id))).toEqual([]);
    expect(PLANTS.length).toBeGreaterThanOrEqual(25);
  });

  test('docs/validate.md names every rule', () => {
    const page = readFileSync(join(__dirname, '..', 'docs', 'validate.md'), 'utf8');
    expect(ALL_RULES.map((r) => r.id).filter((id) => !page.includes(`\`${id}\``))).toEqual([]);
  });

  test('rules do not change the manifests they judge', () => {
    const ms = fresh();
    validateRules(ms);
    expect(ms).toEqual(synthesized);
  });
});

/** Changes that keep the wiring right: no rule may complain. */
const SOUND: [description: string, change: (ms: LoadedManifest[]) => void][] = [
  ['receivers bound to the pod IP', (ms) => editConfig(ms, (c) => {
    c.receivers.otlp.protocols.http.endpoint = '${env:MY_POD_IP}:4318';
    c.receivers.otlp.protocols.grpc.endpoint = '[::]:4317';
  })],
  ['resource attributes turned into labels, and a gate on one of them', (ms) => {
    editConfig(ms, (c) => { c.exporters.prometheus.resource_to_telemetry_conversion = { enabled: true }; });
    gate(ms, 'latency').provider.prometheus.query = gate(ms, 'latency').provider.prometheus.query.replace('k8s_namespace_name=', 'service_namespace=');
  }],
  ['an OTLP endpoint outside the manifests', (ms) => { env(hotrod(ms).spec.containers[0], 'OTEL_EXPORTER_OTLP_ENDPOINT').value = 'https://otlp.example.com'; }],
  ['the short Service name with the gRPC protocol', (ms) => {
    env(hotrod(ms).spec.containers[0], 'OTEL_EXPORTER_OTLP_ENDPOINT').value = 'http://collector.otel:4317';
    hotrod(ms).spec.containers[0].env.push({ name: 'OTEL_EXPORTER_OTLP_PROTOCOL', value: 'grpc' });
  }],
  ['Service and probes by port name', (ms) => {
    object(ms, 'Service', 'collector').spec.ports[1].targetPort = 'otlp-http';
    collector(ms).spec.containers[0].livenessProbe.httpGet.port = 'health';
  }],
  ['placeholders written with spaces', (ms) => { gate(ms, 'traffic').provider.prometheus.query = gate(ms, 'traffic').provider.prometheus.query.replace('{{args.canary-hash}}', '{{ args.canary-hash }}'); }],
  ['a failureCondition as the traffic gate', (ms) => { delete gate(ms, 'traffic').successCondition; gate(ms, 'traffic').failureCondition = 'len(result) == 0 || result[0] < 0.05'; }],
];

describe('gates/invalid-metric-spec', () => {
  // utils/analysis/factory.go ValidateMetrics @ v1.8.3: what Argo refuses before a run measures
  const invalid = (ms: LoadedManifest[]) => validateRules(ms).filter((f) => f.ruleId === 'gates/invalid-metric-spec');
  test('names the template, the metric, the field, what Argo refuses and the fix', () => {
    const ms = fresh();
    Object.assign(gate(ms, 'latency'), { count: 2, failureLimit: 3 });
    const [f, ...more] = invalid(ms);
    expect(more).toEqual([]);
    expect(f.object).toMatchObject({ kind: 'AnalysisTemplate', name: 'hotrod-analysis' });
    expect(f.message).toMatch(/^metric 'latency-p95-lt-1s' \(metrics\[2\], field count\): count 2 leaves no room for failureLimit \+ consecutiveSuccessLimit \(3 \+ 1 = 4\)/);
    expect(f.fix).toBe('raise count to at least 4, or lower the limits');
  });
  test('failureLimit -1 with a consecutiveSuccessLimit is valid; a limit given as an argument is not judged', () => {
    const ms = fresh();
    Object.assign(gate(ms, 'error-rate'), { failureLimit: -1, consecutiveSuccessLimit: 1 });
    Object.assign(gate(ms, 'latency'), { failureLimit: '{{args.limit}}' });
    expect(invalid(ms)).toEqual([]);
  });
});

describe('gates/judged-before-data', () => {
  const judged = (ms: LoadedManifest[]) => validateRules(ms).filter((f) => f.ruleId === 'gates/judged-before-data').map((f) => f.message);
  /** The seed's latency gate timing: first measurement at 90 s, every 10 s, the third failure stops the run. */
  const seedLatency = (ms: LoadedManifest[]) => Object.assign(gate(ms, 'latency'), { initialDelay: '90s', interval: '10s', count: 3, failureLimit: 2, inconclusiveLimit: 2 });
  test('the seed\'s latency timing with the connector\'s 60 s flush can stop a healthy canary before spanmetrics reach Prometheus', () => {
    const ms = fresh();
    seedLatency(ms);
    editConfig(ms, (c) => { c.connectors.spanmetrics.metrics_flush_interval = '60s'; });
    expect(judged(ms)).toEqual([expect.stringContaining("gate 'latency-p95-lt-1s' can stop a healthy canary for lack of data: with none it stops the run at 110s; "
      + 'inconclusive measurement 3, which pauses the rollout: initialDelay 90s + inconclusiveLimit 2 x interval 10s; '
      + "it reads spanmetrics flushed every 60s, so a new canary's series can be missing (or too short for increase() or rate()) until "
      + '0 + 60 + 60 + 60 = 180 s (export delay + first flush phase + last flush age + last scrape age) with prometheus-community chart 29.1.0')]);
  });
  test('the same timing is safe with a 15 s flush at the seed\'s 10 s scrape', () => {
    const ms = fresh();
    seedLatency(ms);
    gate(ms, 'latency').initialDelay = '30s';
    expect(validateRules(ms, { prometheus: PrometheusBackend.challengeEnvironment() }).filter((f) => f.ruleId === 'gates/judged-before-data')).toEqual([]);
    // 0 + 15 + 15 + 60 = 90 s at the chart's 1m scrape
    expect(judged(ms)).toHaveLength(1);
  });
  test('the connector\'s 60 s default flush makes a gate that stops on no data too early', () => {
    const ms = fresh();
    editConfig(ms, (c) => { c.connectors.spanmetrics.metrics_flush_interval = '60s'; });
    // the sequential latency gate waits through looks without data; one that fails on them cannot
    Object.assign(gate(ms, 'latency'), { initialDelay: '170s', failureCondition: 'len(result) == 0 || result[0] >= 4.6' });
    expect(judged(ms)).toEqual([expect.stringContaining('0 + 60 + 60 + 60 = 180 s (export delay + first flush phase + last flush age + last scrape age)')]);
  });
  test('the failure check off: an empty result ends the gate only at count, without its success streak', () => {
    // analysis/analysis.go assessMetricStatus @ v1.8.3: count reached, consecutiveSuccessLimit not, failureLimit -1: Failed
    const ms = fresh();
    editConfig(ms, (c) => { c.connectors.spanmetrics.metrics_flush_interval = '60s'; });
    Object.assign(gate(ms, 'latency'), { initialDelay: '90s', interval: '10s', count: 3, failureLimit: -1, consecutiveSuccessLimit: 2, inconclusiveLimit: 3 });
    delete gate(ms, 'latency').failureCondition;
    expect(judged(ms)).toEqual([expect.stringContaining('with none it stops the run at 110s; measurement 3 completes count without 2 successes in a row, which makes it Failed;')]);
  });
  test('gates on scraped app counters are judged by discovery and two scrapes', () => {
    const ms = fresh();
    gate(ms, 'traffic').initialDelay = '60s';
    expect(judged(ms)).toEqual([expect.stringContaining("gate 'traffic-at-least-58-requests' can stop a healthy canary for lack of data: with none it stops the run at 60s; failed measurement 1: initialDelay 60s + failureLimit 0 x interval 60s; it reads metrics scraped from the canary's own pods, so a new canary's series can be missing (or too short for increase() or rate()) until 10 + 60 + 60 = 130 s")]);
  });
});

/** The findings beyond the one the default app always has (SPEC's latency gate timing). */
const beyondDefault = (ms: LoadedManifest[]) => validateRules(ms).map(formatFinding);

describe('no false alarms', () => {
  test.each(SOUND)('%s', (_description, change) => {
    const ms = fresh();
    change(ms);
    expect(beyondDefault(ms)).toEqual([]);
  });
});

test('odd shapes of hand-written YAML read as absent fields, not crashes', () => {
  const odd = parseManifests([
    'kind: Deployment\nmetadata: {name: a}\nspec: {template: {spec: {containers: "nope"}}}',
    'kind: Rollout\nmetadata: {name: b}\nspec: {strategy: {canary: {steps: [{analysis: {templates: "x"}}, 3]}}, template: {metadata: {labels: [1]}}}',
    'kind: Service\nmetadata: {name: c}\nspec: {selector: {app: a}, ports: [{port: "http"}, 7, {port: 80, targetPort: {}}]}',
    'kind: ConfigMap\nmetadata: {name: d}\ndata: {c.yaml: "service: {pipelines: {traces: {receivers: otlp}}, extensions: 5}\\nreceivers: [1]"}',
    'kind: DaemonSet\nmetadata: {name: e}\nspec: {template: {spec: {volumes: [{name: v, configMap: {name: d}}], containers: [{name: x, volumeMounts: [{name: v}], ports: [{containerPort: "a"}], readinessProbe: {httpGet: {}}, env: [{name: OTEL_EXPORTER_OTLP_ENDPOINT}]}]}}}',
    'kind: AnalysisTemplate\nmetadata: {name: f}\nspec: {metrics: [{name: g, provider: {prometheus: {query: 5}}}, {provider: {prometheus: {query: "up{"}}, successCondition: 7}]}',
  ].join('\n---\n'), 'odd.yaml');
  const ids = validateRules(odd).map((f) => f.ruleId);
  expect(ids).toContain('collector/no-receivers');
  expect(ids).toContain('gates/promql-syntax');
});

describe('messages', () => {
  const only = (ms: LoadedManifest[], id: string): Finding[] => validateRules(ms).filter((f) => f.ruleId === id);

  test('the seed crash names the collector error and the ConfigMap', () => {
    const ms = fresh();
    editConfig(ms, (c) => { c.receivers = null; });
    expect(errorsOf(only(ms, 'collector/no-receivers')).map(formatFinding)).toEqual([
      "ConfigMap/otel/collector-config: collector/no-receivers: config key 'collector-config.yaml' configures no receiver; the collector exits with "
      + "'no receiver configuration specified in config' (fix: configure the receiver the apps send to, e.g. receivers: {otlp: {protocols: {http: {endpoint: '0.0.0.0:4318'}}}}, "
      + "and list it in the traces pipeline's receivers)",
    ]);
  });

  test('a PromQL error names the gate and the line and column in the query as written', () => {
    const ms = fresh();
    gate(ms, 'error-rate').provider.prometheus.query = 'sum(rate(hotrod_requests_total{namespace="{{args.namespace}}"}[2m])\n/\n1';
    const [f] = only(ms, 'gates/promql-syntax');
    expect(f.message).toBe("gate 'error-rate-lt-5-percent': the query does not parse as PromQL at line 3, column 2 (near 'end of query')");
  });

  test('a gate on a counter of another namespace names the Rollout, the template, what is produced there, and the fix', () => {
    const ms = fresh();
    secondApp(ms);
    const messages = only(ms, 'gates/series-not-for-canary').map((f) => `${f.object.kind}/${f.object.namespace}/${f.object.name}: ${f.message} (fix: ${f.fix})`);
    expect(messages).toContainEqual("Rollout/shop/cart: Rollout shop/cart runs AnalysisTemplate 'hotrod-analysis' (strategy.canary.steps[1].analysis), whose gate 'traffic-at-least-58-requests' "
      + 'selects hotrod_requests_total{namespace="shop"} ({{args.namespace}} from fieldRef metadata.namespace), but the manifests produce hotrod_requests_total only for namespace hotrod '
      + '(Rollout hotrod/hotrod (jaegertracing/example-hotrod:1.76.0)); for namespace shop they produce traces_span_metrics_calls_total, traces_span_metrics_duration_milliseconds_bucket, '
      + 'traces_span_metrics_duration_milliseconds_count, traces_span_metrics_duration_milliseconds_sum (spans of service cart): the query returns nothing for this canary '
      + '(fix: gate on spanmetrics of service \'cart\' (traces_span_metrics_calls_total{service_name="cart", k8s_namespace_name="{{args.namespace}}", ...}), '
      + 'or make the service serve and expose hotrod_requests_total and have Prometheus scrape it)');
    // the spanmetrics latency gate reads the right namespace, but HotROD's service name
    expect(messages).toContainEqual(expect.stringContaining("whose gate 'latency-p95-lt-1s' selects traces_span_metrics_duration_milliseconds_count{service_name=\"frontend\", k8s_namespace_name=\"shop\"} "
      + '({{args.namespace}} from fieldRef metadata.namespace), but the pods of namespace shop export spans only as service cart '
      + "(Rollout shop/cart container 'cart' (OTEL_SERVICE_NAME=cart))"));
    // one finding per gate, however often its query reads the series
    expect(messages).toHaveLength(3);
  });

  test('an unknown metric lists what is produced', () => {
    const ms = fresh();
    editConfig(ms, (c) => { c.connectors.spanmetrics.histogram.unit = 's'; });
    const [f] = only(ms, 'gates/unknown-metric');
    expect(f.message).toContain("selects 'traces_span_metrics_duration_milliseconds_count'");
    expect(f.message).toContain('traces_span_metrics_duration_seconds_bucket');
    expect(f.message).toContain('hotrod_requests_total');
  });
});

describe('dashboard/unreadable on dashboards written by hand', () => {
  /** A dashboard as public repositories ship them: template variables, rows, several data sources. */
  function dashboard(broken: { top?: string; inRow?: string } = {}) {
    const prom = { type: 'prometheus', uid: '$datasource' };
    return {
      title: 'Collector', schemaVersion: 39, templating: { list: [{ name: 'metric', type: 'custom' }, { name: 'minstep', type: 'interval' }] },
      panels: [
        { title: 'Spans ${metric:text}', type: 'timeseries', datasource: prom, targets: [
          { refId: 'A', expr: 'sum(rate(otelcol_receiver_accepted_${metric:value}${suffix_total}{job=~"$job"}[$__rate_interval])) by ($grouping)' },
          { refId: 'B', expr: 'max(otelcol_process_uptime{job="$job"}) * 1000 / $__interval_ms' },
          { refId: 'C', expr: 'sum(increase(otelcol_exporter_sent_spans[$minstep]))' },
          { refId: 'D', expr: 'histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m] offset $shift)))' },
          { refId: 'E', expr: '' },
          { refId: 'F', expr: 'sum(', hide: true },
          ...(broken.top ? [{ refId: 'G', expr: broken.top }] : []),
        ] },
        { title: 'Logs', type: 'logs', datasource: { type: 'loki', uid: 'logs' }, targets: [{ refId: 'A', expr: '{app="cart"} |= "error" | json' }] },
        { title: 'Mixed', type: 'table', datasource: { type: 'datasource', uid: '-- Mixed --' }, targets: [
          { refId: 'A', datasource: { type: 'grafana-opensearch-datasource', uid: 'search' }, expr: 'level:error AND service:cart' },
          { refId: 'B', datasource: prom, expr: 'up{job="cart"}' },
        ] },
        { title: 'Details', type: 'row', collapsed: true, panels: [
          { title: 'Queue', type: 'timeseries', datasource: prom, targets: [{ refId: 'A', expr: broken.inRow ?? 'otelcol_exporter_queue_size' }] },
        ] },
      ],
    };
  }
  const folder = (d: object): LoadedManifest[] => [{
    file: 'grafana/dashboards.yaml',
    object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'dashboards', namespace: 'monitoring', labels: { grafana_dashboard: '1' } },
      data: { 'collector.json': JSON.stringify(d), 'README.md': 'Not a dashboard: { panels' } },
  }];
  const unreadable = (d: object) => validateRules(folder(d)).filter((f) => f.ruleId === 'dashboard/unreadable');

  test('variables Grafana fills, other data sources, empty and hidden queries and notes beside the JSON are no finding', () => {
    expect(unreadable(dashboard()).map(formatFinding)).toEqual([]);
  });

  test('queries that cannot parse, in a panel and in a collapsed row, are one finding naming both panels', () => {
    const found = unreadable(dashboard({ top: 'sum(rate(otelcol_receiver_refused_spans[5m])', inRow: 'otelcol_exporter_queue_size{' }));
    expect(found).toHaveLength(1);
    expect(found[0].severity).toBe(Severity.ERROR);
    expect(found[0].message).toMatch(/^data 'collector\.json': 2 panel queries do not parse as PromQL; panel 'Spans \$\{metric:text\}' near .+; panel 'Queue' near /);
  });
});
