import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { main, validateCli, ValidateExit } from '../cli/validate';
import { PrometheusBackend } from '../lib';
import { findCollectorConfigs, parseManifests } from '../lib/manifests';
import { stringify } from 'yaml';
import { fixtureFolder } from './helpers';

const ROOT = join(__dirname, '..');
const SEED = join(__dirname, 'fixtures', 'seed-manifests');

/** Runs `validate` with the given arguments; returns the exit code and what it printed. */
function validate(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

describe('npm run validate -- DIR', () => {
  let work: string;
  beforeEach(() => { work = mkdtempSync(join(tmpdir(), 'hotrod-validate-')); });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  /** A copy of the seed fixture with one file edited. */
  function seedCopy(file: string, edit: (text: string) => string): string {
    const dir = join(work, 'manifests');
    cpSync(SEED, dir, { recursive: true });
    const path = join(dir, file);
    const before = readFileSync(path, 'utf8');
    const after = edit(before);
    expect(after).not.toBe(before);
    writeFileSync(path, after);
    return dir;
  }

  test('a folder as synth writes it passes without a warning, judged against the setup it is made for, which it names', () => {
    // (whether the committed dist/ passes is __tests__/main-app.test.ts's check)
    const chart = fixtureFolder();
    expect(validate(chart)).toEqual({ code: ValidateExit.OK, err: [], out: [
      'Prometheus setup: prometheus-community chart 29.1.0 (since it has no PodMonitor or ServiceMonitor: pods are scraped by their annotations; another: --prometheus NAME)',
      `${chart}: 14 objects, 0 error(s), 0 warning(s)`,
    ] });
    // a folder made for kube-prometheus-stack (PodMonitors) is judged against its 30 s scrape, not the chart's 1m
    const stack = fixtureFolder({ prometheus: PrometheusBackend.kubePrometheusStack() });
    const { code, out } = validate(stack);
    expect(code).toBe(ValidateExit.OK);
    expect(out.filter((l) => /gates\/judged-before-data/.test(l))).toEqual([]);
    expect(out[out.length - 2]).toBe('Prometheus setup: kube-prometheus-stack (since it scrapes through prometheus-operator (PodMonitor hotrod/hotrod); another: --prometheus NAME)');
    expect(validate('--prometheus', 'community-chart', stack).out.filter((l) => /gates\/judged-before-data/.test(l)).length).toBeGreaterThan(0);
  });

  test('APPFILE (default main.ts): the committed output of the app, each environment judged against the Prometheus it names', async () => {
    const lines: string[] = [];
    const code = await validateCli(['examples/platform/main.ts'], { out: (l) => lines.push(l), err: (l) => lines.push(l) });
    expect(code).toBe(ValidateExit.OK);
    expect(lines.filter((l) => !/ warning: /.test(l))).toEqual([
      "Prometheus setup: staging: prometheus-community chart 29.1.0 (the one environment 'staging' names in examples/platform/main.ts; another: --prometheus NAME)",
      "Prometheus setup: production: kube-prometheus-stack (the one environment 'production' names in examples/platform/main.ts; another: --prometheus NAME)",
      expect.stringMatching(/^examples\/platform\/dist: 66 objects, 0 error\(s\), \d+ warning\(s\)$/),
    ]);
    // the findings name the environment's folder
    expect(lines.filter((l) => / warning: /.test(l)).every((l) => /^(staging|production)\//.test(l))).toBe(true);
    // a folder of several environments made for different setups is judged against one: said, with the way to judge each
    expect(validate(join(ROOT, 'examples', 'platform', 'dist')).out.find((l) => l.startsWith('Prometheus setup:')))
      .toContain('its environments are made for different setups: production for kube-prometheus-stack, staging for community-chart; validate each folder, or the app that writes them');
    // an app file that is not there, or whose output is not, exits 2 saying what to do
    const missing: string[] = [];
    expect(await validateCli(['apps/nope.ts'], { out: (l) => missing.push(l), err: (l) => missing.push(l) })).toBe(ValidateExit.UNREADABLE);
    expect(missing).toEqual(['validate: apps/nope.ts: no such app file; give a .ts file that exports an app (export const app = deliveryApp({ ... }))']);
  });

  test("the seed's fixed hand-written folder passes, with warnings for its unguarded conditions", () => {
    // appset.yaml at the root, no metadata.namespace, the collector config under the key 'otel-collector.yaml'
    const { code, out } = validate(SEED);
    expect(code).toBe(ValidateExit.OK);
    expect(out.filter((l) => / error: /.test(l))).toEqual([]);
    // three unguarded result[0] (each making its gate error out before its series can be in Prometheus at the chart's
    // 1m scrape, folded under it), and a latency quantile over every span; 11 restricted Pod Security controls its three pods miss (no seccomp anywhere),
    // one finding per pod with the others folded under it; and a collector every pod of the cluster can send spans to
    expect(out.filter((l) => / warning: /.test(l) && !/ pod-security\//.test(l) && !/ network\//.test(l))).toHaveLength(4);
    const podSecurity = out.filter((l) => / warning: .* pod-security\//.test(l));
    expect(podSecurity.map((l) => /warning: (\w+\/\S+):/.exec(l)![1])).toEqual(['Rollout/hotrod/hotrod', 'DaemonSet/otel/collector', 'Deployment/traffic-generator/traffic-generator']);
    expect(podSecurity.join('\n').match(/pod-security\/[\w-]+-?\w*: /g)).toHaveLength(11);
    expect(podSecurity.join('\n').match(/pod-security\/seccomp-restricted: /g)).toHaveLength(3);
    expect(podSecurity.every((l) => /\n {4}the Pod Security Standards restricted control "[^"]+" \(policy v1\.33\) forbids it\n/.test(l))).toBe(true);
    expect(out.filter((l) => / warning: DaemonSet\/otel\/collector: network\/otlp-open-to-all: the OTLP receivers on 4318 /.test(l))).toHaveLength(1);
    expect(out.filter((l) => / gates\/latency-over-all-spans: gate 'latency-p95-lt-1s'/.test(l))).toHaveLength(1);
    // a gate that errors on no data stops the run before its data can exist: folded under the unguarded index that makes it error
    expect(out.filter((l) => /conditions\/unguarded-index: gate 'latency-p95-lt-1s'.*\n(?: {4}.*\n)* {4}- \S+ gates\/judged-before-data: gate 'latency-p95-lt-1s' .* stops the run at 110s$/s.test(l))).toHaveLength(1);
    expect(out.filter((l) => /conditions\/unguarded-index: gate 'error-rate-lt-5-percent'.*\n(?: {4}.*\n)* {4}- \S+ gates\/judged-before-data: gate 'error-rate-lt-5-percent' .* stops the run at 80s$/s.test(l))).toHaveLength(1);
    expect(out.some((l) => /^hotrod\/analysis-template\.yaml: warning: AnalysisTemplate\/hotrod\/hotrod-analysis: conditions\/unguarded-index: gate 'traffic-detection'/.test(l))).toBe(true);
    expect(out[out.length - 1]).toBe(`${SEED}: 8 objects, 0 error(s), 8 warning(s)`);
  });

  test("the seed's first bug (empty receivers) exits 1 and names file, object, rule and fix", () => {
    const dir = seedCopy('otel/config.yaml', (t) => t.replace(/ {4}receivers:\n(?: {6}.*\n)+/, '    receivers:\n      # empty\n'));
    const { code, out } = validate(dir);
    expect(code).toBe(ValidateExit.ERRORS);
    // one finding per root cause: a short first line, the details and fix indented under it, and what follows from it folded in
    expect(out[0].split('\n')).toEqual([
      "otel/config.yaml: error: ConfigMap/otel/collector-config: collector/no-receivers: config key 'otel-collector.yaml' configures no receiver",
      "    the collector exits with 'no receiver configuration specified in config'",
      "    fix: configure the receiver the apps send to, e.g. receivers: {otlp: {protocols: {http: {endpoint: '0.0.0.0:4318'}}}}, and list it in the traces pipeline's receivers",
      "    namespace otel: ApplicationSet hotrod destination.namespace '{{path.basename}}'",
      '    from the same cause:',
      "    - ConfigMap/otel/collector-config: collector/unconfigured-component: config key 'otel-collector.yaml': pipeline 'traces' lists receiver 'otlp', which is not configured under receivers or connectors",
      "    - otel/daemonset.yaml: Service/otel/collector: collector/service-port-mismatch: port 'otlp-http' 4318 -> targetPort otlp-http: no component of ConfigMap otel/collector-config listens on 4318",
      "    - hotrod/rollout.yml: Rollout/hotrod/hotrod: otlp/no-receiver: container 'hotrod' OTEL_EXPORTER_OTLP_ENDPOINT='http://collector.otel.svc.cluster.local:4318' goes through Service otel/collector port 4318 -> targetPort otlp-http, but no OTLP receiver listens there",
      "    - otel/daemonset.yaml: DaemonSet/otel/collector: collector/container-ports: container 'collector' declares port 'otlp-http' 4318, but no component of ConfigMap otel/collector-config listens there",
    ]);
    expect(out[out.length - 1]).toMatch(/: 8 objects, \d+ error\(s\), \d+ warning\(s\)$/);
  });

  test('a file that is not YAML is an error of its own, naming line and column, and the rest of the folder is still checked', () => {
    const dir = seedCopy('hotrod/rollout.yml', (t) => t.replace('  replicas: 2\n', '  replicas: [2\n'));
    const { code, out, err } = validate(dir);
    expect(code).toBe(ValidateExit.ERRORS);
    expect(err).toEqual([]);
    expect(out[0]).toMatch(/^hotrod\/rollout\.yml: error: input\/not-yaml: line:col 7:3: YAML syntax error: Flow sequence.*\n {4}the file was not checked \(the rest of the folder was\)\n/);
    // the other files were checked: the traffic generator now calls a Service that was in the unreadable file
    expect(out.some((l) => /^traffic-generator\/deployment\.yaml: error: .*services\/unknown-url-target/.test(l))).toBe(true);
    expect(out[out.length - 1]).toMatch(/: 6 objects, 3 error\(s\)/);
  });

  test('--prometheus judges the gate timings against that setup: the seed\'s gates fit its own 10 s scrape better', () => {
    // each stop on no data comes from a condition that errors on an empty result: folded under its unguarded-index finding
    const early = (out: string[]) => out.flatMap((l) => [...l.matchAll(/\n {4}- AnalysisTemplate\/hotrod\/hotrod-analysis: gates\/judged-before-data: (gate '[\w-]+') can stop a healthy canary for lack of data: with none it stops the run at (\d+)s$/gm)].map((m) => `${m[1]} at ${m[2]}s`));
    const chart = validate(SEED).out;
    const seed = validate('--prometheus', 'challenge', SEED).out;
    expect(early(chart)).toEqual(["gate 'traffic-detection' at 120s", "gate 'error-rate-lt-5-percent' at 80s", "gate 'latency-p95-lt-1s' at 110s"]);
    // at 10 s the traffic and error-rate gates' series are in Prometheus before they stop the run; the latency gate still errors out early
    expect(early(seed)).toEqual(["gate 'latency-p95-lt-1s' at 110s"]);
    expect(seed.find((l) => l.startsWith('Prometheus setup:'))).toMatch(/^Prometheus setup: seed challenge environment/);
  });

  test('at the seed\'s own 10 s scrape its traffic gate passes an idle canary on Prometheus\'s scrapes alone: an error', () => {
    const { code, out } = validate('--prometheus', 'challenge', SEED);
    expect(code).toBe(ValidateExit.ERRORS);
    expect(out.filter((l) => / error: /.test(l))).toEqual([expect.stringContaining(
      "gates/self-traffic: gate 'traffic-detection' counts hotrod_requests_total of the canary, which also counts Prometheus's own scrapes (endpoint=\"/metrics\"): "
      + "with seed challenge environment's 10s scrape they alone give 0.1 req/s, at least the 0.05 the gate asks for, so an idle canary passes it")]);
  });

  test('a file given instead of a folder is checked alone, with the checks a folder gets', () => {
    // the seed's analysis template: its three unguarded conditions; what needs the other files (the rollout that runs it) is not judged
    const file = join(SEED, 'hotrod', 'analysis-template.yaml');
    const { code, out } = validate(file);
    expect(code).toBe(ValidateExit.OK);
    expect(out[out.length - 1]).toBe(`${file}: 1 objects, 0 error(s), 3 warning(s), 1 note(s)`);
    expect(out.filter((l) => /^analysis-template\.yaml: warning: AnalysisTemplate\/default\/hotrod-analysis: conditions\/unguarded-index: /.test(l))).toHaveLength(3);
    // a binary file given alone is its finding, as in a folder
    const binary = join(work, 'binary.yaml');
    writeFileSync(binary, Buffer.from([0, 1, 2, 3]));
    const b = validate(binary);
    expect(b.code).toBe(ValidateExit.ERRORS);
    expect(b.out[0]).toMatch(/^binary\.yaml: error: input\/binary: /);
  });

  test('a missing folder, a folder without manifests, and bad arguments exit 2', () => {
    expect(validate(join(work, 'nope'))).toEqual({ code: ValidateExit.UNREADABLE, out: [], err: [`validate: ${join(work, 'nope')}: no such folder`] });
    expect(validate(work).code).toBe(ValidateExit.UNREADABLE);
    expect(validate().err).toEqual(['usage: npm run validate -- [--namespace NS] [--strict-metrics] [--no-kustomize] [--prometheus community-chart|challenge|kube-prometheus-stack] DIR|FILE   (checks every *.yaml/*.yml under DIR, or FILE)']);
    expect(validate('--prometheus', 'thanos', work).code).toBe(ValidateExit.UNREADABLE);
    expect(validate('--namespace', 'Not_A_Name', work).code).toBe(ValidateExit.UNREADABLE);
    expect(validate('a', 'b').code).toBe(ValidateExit.UNREADABLE);
  });
});

describe('collector configurations in ConfigMaps', () => {
  const configMap = (data: Record<string, string>) => parseManifests(stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'otel' }, data }));
  const found = (data: Record<string, string>) => findCollectorConfigs(configMap(data)).map((f) => f.key);

  test('found in any form YAML allows: block, indented, JSON', () => {
    const config = { receivers: { otlp: { protocols: { grpc: {} } } }, exporters: { debug: {} }, service: { pipelines: { traces: { receivers: ['otlp'], exporters: ['debug'] } } } };
    expect(found({
      'block.yaml': stringify(config),
      'indented.yaml': stringify(config).replace(/^/gm, '  '),
      'config.json': JSON.stringify(config, null, 1),
      'flow.json': JSON.stringify(config),
      // no service: two sections still make a (partial) configuration
      'partial.yaml': stringify({ receivers: config.receivers, exporters: config.exporters }),
    })).toEqual(['block.yaml', 'config.json', 'flow.json', 'indented.yaml', 'partial.yaml']);
  });

  test('values that only mention a section are not taken for one: a dashboard querying service_name, settings, scripts', () => {
    const dashboard = JSON.stringify({ title: 'canaries', panels: [{ title: 'requests by service', targets: [{ expr: 'sum by (service_name) (rate(calls_total[1m]))' }] }], templating: { list: [{ name: 'service' }] } }, null, 1);
    expect(found({
      'dashboard.json': dashboard,
      'settings.yaml': stringify({ upstream: { service: 'checkout', receivers: 3 } }).replace(/^ +(service|receivers)/gm, '# $1'),
      'run.sh': 'echo "exporters: none"; service --status-all',
    })).toEqual([]);
  });
});
