import { readdirSync } from 'fs';
import { join } from 'path';
import { main, ValidateExit } from '../cli/validate';
import { kubectlKustomize } from '../lib/manifests';

/**
 * Small, realistic manifest sets written by the team, shaped like public ones (the challenge's
 * solution, the collector chart's rendered modes, the OTel demo, Jaeger's collector configs,
 * Argo Rollouts' examples, community canary projects): every valid set passes (exit 0,
 * warnings allowed) and every set with one planted bug fails on it, naming object and component.
 */
const CORPUS = join(__dirname, 'fixtures', 'corpus');

/** What each bug set must report, as its only error: the rule, the object (`Kind/namespace/name`, empty for a file) and the component or field named. */
const BUGS: Record<string, { rule: string; object: string; names: string; needsKustomize?: boolean }> = {
  'bug-jaeger-udp-on-localhost': { rule: 'collector/localhost-endpoint', object: 'ConfigMap/tracing/agent', names: 'receivers.jaeger.protocols.thrift_compact.endpoint' },
  'bug-service-to-localhost-telemetry': { rule: 'collector/service-port-mismatch', object: 'Service/observability/otel-gateway', names: 'binds localhost:8888' },
  'bug-protocol-grpc-on-http-port': { rule: 'otlp/protocol-mismatch', object: 'Deployment/observability/checkout', names: 'OTEL_EXPORTER_OTLP_PROTOCOL=grpc' },
  'bug-node-ip-without-hostport': { rule: 'otlp/no-receiver', object: 'Deployment/shop/cart', names: 'hostPort 4317' },
  'bug-processor-not-configured': { rule: 'collector/unconfigured-component', object: 'ConfigMap/tracing/agent', names: "processor 'memory_limiter'" },
  'bug-promql-syntax': { rule: 'gates/promql-syntax', object: 'AnalysisTemplate/default/success-rate', names: "gate 'success-rate'" },
  'bug-removed-rollout-field': { rule: 'schema/argo-rollouts', object: 'Rollout//rollouts-demo', names: 'analysis.templateName' },
  'bug-service-selects-nothing': { rule: 'services/selector-no-match', object: 'Service/apps/podinfo', names: 'selector {app=podinfo}' },
  'bug-appset-duplicate-names': { rule: 'appset/duplicate-application-name', object: 'ApplicationSet/argocd/guestbook', names: "template.metadata.name is 'guestbook'" },
  'bug-prometheus-host-mismatch': { rule: 'gates/prometheus-mismatch', object: 'AnalysisTemplate/podinfo/ingress-success', names: "gate 'request-rate'" },
  'bug-spliced-service-missing': { rule: 'gates/unknown-spliced-service', object: 'Rollout/shop/cart', names: "'cart-canary.shop.svc.cluster.local'" },
  'bug-idle-canary-generic': { rule: 'gates/no-idle-canary-gate', object: 'AnalysisTemplate/storefront/error-rate', names: 'YOUR_REQUESTS_TOTAL' },
  'bug-operator-collector-no-http': { rule: 'otlp/unknown-port', object: 'Deployment/shop/frontend', names: 'OpenTelemetryCollector otel' },
  'bug-kustomize-namespace-template': { rule: 'rollout/unknown-template', object: 'Rollout/guestbook-prod/web', names: "AnalysisTemplate 'error-rate'" },
  'bug-podmonitor-without-hash-label': { rule: 'gates/unknown-label', object: 'AnalysisTemplate/hotrod/hotrod-analysis', names: "label 'rollouts_pod_template_hash' on 'hotrod_requests_total'" },
  'bug-kustomize-patch-breaks-selector': { rule: 'services/selector-no-match', object: 'Service/guestbook-prod/guestbook-ui', names: 'selector {app=guestbook}', needsKustomize: true },
  'bug-gate-counter-of-other-namespace': { rule: 'gates/series-not-for-canary', object: 'Rollout/checkout/checkout', names: "gate 'traffic' selects hotrod_requests_total{namespace=\"checkout\"}" },
  'bug-gate-service-not-in-namespace': { rule: 'gates/series-not-for-canary', object: 'Rollout/checkout/checkout', names: 'service_name="payments"' },
  // the failure classes of issue 21, each beside a valid set of the same shape
  'bug-idle-canary-padded-ratio': { rule: 'gates/no-idle-canary-gate', object: 'AnalysisTemplate/payments/http-health', names: 'Rollout payments/ledger' },
  'bug-success-rate-passes-empty': { rule: 'gates/no-idle-canary-gate', object: 'AnalysisTemplate/catalog/success-rate', names: "'success-rate' passes an empty result" },
  'bug-web-worker-without-traffic-gate': { rule: 'gates/no-idle-canary-gate', object: 'AnalysisTemplate/jobs/worker-health', names: 'Rollout jobs/mailer' },
  'bug-fieldref-spliced-service-typo': { rule: 'gates/unknown-spliced-service', object: 'Rollout/orders/checkout', names: "'checkout-preveiw.orders.svc.cluster.local'" },
  'bug-renamed-analysis-argument': { rule: 'rollout/missing-arg', object: 'Rollout/inventory/stock', names: "without argument 'pod-hash'" },
  'bug-prometheus-host-typo': { rule: 'gates/prometheus-mismatch', object: 'AnalysisTemplate/shop/gates', names: "gate 'latency' queries Prometheus at 'http://prometheus-sever" },
  'bug-experiment-preview-selector-typo': { rule: 'services/selector-no-match', object: 'Service/web/frontend-preview', names: 'role=previwe' },
  'bug-mesh-prometheus-wrong-name': { rule: 'services/unknown-url-target', object: 'Deployment/istio-system/canary-controller', names: "'http://prometheus-server.istio-system:9090'" },
  'bug-unquoted-argument-in-annotation': { rule: 'input/not-yaml', object: '', names: "'yaml: invalid map key'" },
  'bug-flagger-canary-field-typo': { rule: 'schema/flagger', object: 'Canary/store/catalog', names: 'spec.analysis.treshold: unknown field' },
  'bug-servicemonitor-field-typo': { rule: 'schema/prometheus-operator', object: 'ServiceMonitor/store/catalog', names: "a misspelling of required 'endpoints'" },
  'bug-dashboard-query-typo': { rule: 'dashboard/unreadable', object: 'ConfigMap/monitoring/service-dashboards', names: "panel 'Saturation'" },
};

/** Sets that need a flag. */
const ARGS: Record<string, string[]> = {
  'valid-namespace-flag': ['--namespace', 'storefront'],
  'valid-kube-prometheus-podmonitors': ['--prometheus', 'kube-prometheus-stack'],
  'bug-podmonitor-without-hash-label': ['--prometheus', 'kube-prometheus-stack'],
  'bug-prometheus-host-typo': ['--prometheus', 'community-chart'],
  'valid-prometheus-one-host': ['--prometheus', 'community-chart'],
};

const kubectl = kubectlKustomize();
const sets = readdirSync(CORPUS).sort();
const valid = sets.filter((s) => s.startsWith('valid-'));

function run(set: string, extra: string[] = [], kustomize = kubectl) {
  const out: string[] = [];
  const code = main([...(ARGS[set] ?? []), ...extra, join(CORPUS, set)], { out: (l) => out.push(l), err: (l) => out.push(l) }, { kustomize: () => kustomize });
  return { code, out };
}

if (!kubectl) {
  // Debian's kubectl (kubernetes-client 1.20) embeds a kustomize too old to trust; the builds are checked where kubectl is installed.
  console.warn('corpus: kubectl not on PATH, so the sets are checked without kustomize builds and bug-kustomize-patch-breaks-selector is skipped');
}

describe('the corpus of realistic sets', () => {
  test('has at least 25 sets, about 60% valid, each bug set in the table', () => {
    expect(sets.length).toBeGreaterThanOrEqual(25);
    expect(valid.length / sets.length).toBeGreaterThanOrEqual(0.5);
    expect(sets.filter((s) => !s.startsWith('valid-')).sort()).toEqual(Object.keys(BUGS).sort());
  });

  test.each(valid)('%s passes', (set) => {
    const { code, out } = run(set);
    expect(out.filter((l) => / error: /.test(l))).toEqual([]);
    expect(code).toBe(ValidateExit.OK);
  });

  test.each(Object.entries(BUGS))('%s is caught', (set, bug) => {
    if (bug.needsKustomize && !kubectl) return;
    const { code, out } = run(set);
    expect(code).toBe(ValidateExit.ERRORS);
    const errors = out.filter((l) => / error: /.test(l));
    const at = bug.object ? `${bug.object}: ${bug.rule}: ` : `${bug.rule}: `;
    expect(errors).toContainEqual(expect.stringContaining(`error: ${at}`));
    expect(errors.find((l) => l.includes(at))).toContain(bug.names);
    // one finding per root cause: nothing else is an error of its own
    expect(errors).toHaveLength(1);
  });

  test('without kustomize the overlay namespace still applies, kustomize kinds are skipped, and the patch bug goes unseen', () => {
    const noKustomize = (set: string) => run(set, ['--no-kustomize'], undefined);
    expect(noKustomize('valid-kustomize-overlay').code).toBe(ValidateExit.OK);
    const { out } = noKustomize('bug-kustomize-namespace-template');
    expect(out).toContainEqual(expect.stringMatching(/rollout\/unknown-template: [\s\S]*\n {4}namespace guestbook-prod: app\/kustomization\.yaml namespace$/));
    expect(out.some((l) => /Kustomization/.test(l) && /schema\//.test(l))).toBe(false);
    expect(noKustomize('bug-kustomize-patch-breaks-selector').code).toBe(ValidateExit.OK);
  });

  (kubectl ? test : test.skip)('with kustomize the overlay is built: its namespace and patches apply', () => {
    const { out } = run('valid-kustomize-overlay');
    expect(out).toContainEqual(expect.stringMatching(/^overlays\/prod\/kustomization\.yaml: info: input\/kustomize: built with kustomize/));
  });

  test('a chart template is skipped with a note; the rendered chart is checked', () => {
    const { out } = run('valid-helm-chart-and-render');
    expect(out).toContainEqual(expect.stringMatching(/^chart\/templates\/deployment\.yaml: info: input\/chart-template: /));
    expect(out[out.length - 1]).toMatch(/: 2 objects, 0 error\(s\)/);
  });

  test('metrics produced outside the folder are listed once as not checked, and are errors with --strict-metrics', () => {
    const { out } = run('valid-istio-success-rate');
    expect(out.filter((l) => /gates\/unchecked-metric: not checked: 'istio_requests_total'/.test(l))).toHaveLength(1);
    const strict = run('valid-istio-success-rate', ['--strict-metrics']);
    expect(strict.code).toBe(ValidateExit.ERRORS);
    expect(strict.out).toContainEqual(expect.stringContaining("gates/unknown-metric: gate 'success-rate' selects 'istio_requests_total'"));
  });

  test('namespaces come from the folder\'s evidence, and the finding says which', () => {
    expect(run('valid-namespace-flag', []).code).toBe(ValidateExit.OK);
    const without = main([join(CORPUS, 'valid-namespace-flag')], { out: () => undefined, err: () => undefined });
    expect(without).toBe(ValidateExit.ERRORS); // without --namespace the Rollout lands in default, away from its template
  });
});
