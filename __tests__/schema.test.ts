import { existsSync, readdirSync, readFileSync } from 'fs';
import { join } from 'path';
import { LoadedManifest, Manifest } from '../lib';
import { loadManifests } from '../lib/manifests';
import { runRules } from '../lib/rules/engine';
import { schemaRules } from '../lib/rules/schema';
import { buildCrdSchemaFile, CRD_SCHEMA_FILE, renderCrdSchemaFile } from '../lib/schema/crd-schema-file';
import { schemaProblems, SchemaSource, validateSchema } from '../lib/schema/validate';
import { CRD_VALIDATOR_DIR } from '../lib/schema/crd-schema-file';
import { BUNDLED_CORE_KINDS } from '../lib/schema/validate';
import { crdValidatorFiles } from '../lib/schema/standalone';
import { find, fixtureDelivery, Obj, synth } from './helpers';
import { checkUnlessUnchanged } from './unchanged';

const ROOT = join(__dirname, '..');
const CRD_DIR = process.env.ARGO_CRD_DIR ?? join(ROOT, '..', 'shared', 'crds');

let synthesized: Obj[] | undefined;

/** The fixture delivery's objects (every kind the platform makes), synthesized once per file; callers only read them (copyOf copies). */
function defaultObjects(): Obj[] {
  synthesized ??= fixtureDelivery().app.charts.flatMap(synth);
  return synthesized;
}

/** A deep copy of the default app's object of a kind, to break. */
function copyOf(kind: string, name?: string): Obj {
  return JSON.parse(JSON.stringify(find(defaultObjects(), kind, name)));
}

function check(objects: Obj[]) {
  const manifests: LoadedManifest[] = objects.map((object) => ({ object: object as Manifest }));
  return schemaRules.flatMap((r) => r.check(manifests));
}

describe('schema validation', () => {
  test('every object of the default app validates against the schema of its exact version', () => {
    const objects = defaultObjects();
    const schemas = objects.map((o) => validateSchema(o as Manifest));
    expect(schemas.map((s) => s.schema).sort()).toEqual([
      'Argo CD v3.2.0 AppProject',
      'Argo CD v3.2.0 ApplicationSet',
      'Argo Rollouts v1.8.3 AnalysisTemplate',
      'Argo Rollouts v1.8.3 Rollout',
      'Kubernetes v1.33 apps/v1 DaemonSet',
      'Kubernetes v1.33 apps/v1 Deployment',
      'Kubernetes v1.33 networking.k8s.io/v1 NetworkPolicy',
      'Kubernetes v1.33 networking.k8s.io/v1 NetworkPolicy',
      'Kubernetes v1.33 networking.k8s.io/v1 NetworkPolicy',
      'Kubernetes v1.33 v1 ConfigMap',
      'Kubernetes v1.33 v1 ConfigMap',
      'Kubernetes v1.33 v1 ConfigMap',
      'Kubernetes v1.33 v1 Service',
      'Kubernetes v1.33 v1 Service',
    ]);
    expect(schemas.flatMap((s) => s.violations)).toEqual([]);
    expect(check(objects)).toEqual([]);
  });

  test("the example's committed folders pass the schema rules, its prometheus-operator objects against the pinned CRDs; a broken one does not", () => {
    expect(schemaRules.flatMap((r) => r.check(loadManifests(join(ROOT, 'examples', 'platform', 'dist'))))).toEqual([]);
    const objects = loadManifests(join(ROOT, 'examples', 'platform', 'dist', 'production')).map((m) => m.object)
      .filter((o) => String(o.apiVersion).startsWith('monitoring.coreos.com/'));
    expect([...new Set(objects.map((o) => o.kind))].sort()).toEqual(['AlertmanagerConfig', 'PodMonitor', 'PrometheusRule']);
    for (const o of objects) {
      const r = validateSchema(o as Manifest);
      expect([r.source, r.violations]).toEqual([SchemaSource.CRD, []]);
    }
    const amc = structuredClone(objects.find((o) => o.kind === 'AlertmanagerConfig')!) as any;
    amc.spec.route.matchers[0].matchType = '==';
    expect(validateSchema(amc).violations.map((v) => v.path)).toEqual(['spec.route.matchers[0].matchType']);
  });

  test('a string replica count on the Rollout is rejected with its path', () => {
    const rollout = copyOf('Rollout');
    rollout.spec.replicas = '2';
    expect(schemaProblems(rollout)).toEqual(['spec.replicas: must be integer, got string "2"']);
    const [finding] = check([rollout]);
    expect(finding).toMatchObject({ ruleId: 'schema/argo-rollouts', severity: 'error', object: { kind: 'Rollout', name: 'hotrod' } });
    expect(finding.message).toBe('spec.replicas: must be integer, got string "2" (schema: Argo Rollouts v1.8.3 Rollout)');
  });

  test('an unknown canary step field is rejected, though the API server would only prune it', () => {
    const rollout = copyOf('Rollout');
    rollout.spec.strategy.canary.steps[1].analysis.timeout = '5m';
    rollout.spec.strategy.canary.steps[2].setWieght = 100;
    expect(schemaProblems(rollout)).toEqual([
      expect.stringMatching(/^spec\.strategy\.canary\.steps\[1\]\.analysis\.timeout: unknown field/),
      expect.stringMatching(/^spec\.strategy\.canary\.steps\[2\]\.setWieght: unknown field/),
    ]);
  });

  test('fields the CRD leaves open (x-kubernetes-preserve-unknown-fields) stay open', () => {
    const rollout = copyOf('Rollout');
    rollout.spec.strategy.canary.steps.push({ plugin: { name: 'acme/step', config: { anything: { goes: [1, 'two'] } } } });
    expect(schemaProblems(rollout)).toEqual([]);
  });

  test('int-or-string fields say so once', () => {
    const rollout = copyOf('Rollout');
    rollout.spec.template.spec.containers[0].readinessProbe.tcpSocket.port = true;
    expect(schemaProblems(rollout)).toEqual(['spec.template.spec.containers[0].readinessProbe.tcpSocket.port: must be an integer or a string, got boolean true']);
  });

  test('wrong types and missing fields in core objects are rejected with their paths', () => {
    const daemonSet = copyOf('DaemonSet');
    daemonSet.spec.template.spec.containers[0].ports[0].containerPort = '4317';
    delete daemonSet.spec.selector;
    expect(schemaProblems(daemonSet)).toEqual([
      'spec.selector: required field is missing',
      'spec.template.spec.containers[0].ports[0].containerPort: must be integer, got string "4317"',
    ]);
    const service = copyOf('Service', 'hotrod');
    service.metadata.labels = { 'app.kubernetes.io/name': 7 };
    const findings = check([service]);
    expect(findings.map((f) => [f.ruleId, f.message])).toEqual([
      ['schema/core', "metadata.labels['app.kubernetes.io/name']: must be string, got number 7 (schema: Kubernetes v1.33 v1 Service)"],
    ]);
  });

  test('Argo CD objects: types and unknown fields', () => {
    const appSet = copyOf('ApplicationSet');
    appSet.spec.template.spec.syncPolicy.automated.prune = 'yes';
    appSet.spec.generators[0].git.directories[0].recurse = true;
    expect(check([appSet]).map((f) => `${f.ruleId}: ${f.message}`)).toEqual([
      expect.stringMatching(/^schema\/argo-cd: spec\.generators\[0\]\.git\.directories\[0\]\.recurse: unknown field.*\(schema: Argo CD v3\.2\.0 ApplicationSet\)$/),
      'schema/argo-cd: spec.template.spec.syncPolicy.automated.prune: must be boolean, got string "yes" (schema: Argo CD v3.2.0 ApplicationSet)',
    ]);
  });

  test('an apiVersion or kind that is not a string is a schema error, not a crash of the rules', () => {
    // GIVEN objects handed to the rules in memory (the loader refuses such documents; the API does not)
    const objects = [
      { apiVersion: 1, kind: 'ConfigMap', metadata: { name: 'a' } },
      { apiVersion: ['argoproj.io/v1alpha1'], kind: 'Rollout', metadata: { name: 'b' } },
      { apiVersion: 'v1', kind: { name: 'Service' }, metadata: { name: 'c' } },
    ] as unknown as Obj[];
    // WHEN every rule runs, THEN each object gets one schema/core error naming the field and its value
    const findings = runRules(objects.map((object) => ({ object: object as Manifest })));
    expect(findings.map((f) => `${f.ruleId} ${f.object.name}: ${f.message}`)).toEqual([
      'schema/core a: apiVersion: must be a string, got number 1 (schema: Kubernetes v1.33 object)',
      'schema/core b: apiVersion: must be a string, got an array (schema: Kubernetes v1.33 object)',
      'schema/core c: kind: must be a string, got an object (schema: Kubernetes v1.33 object)',
    ]);
  });

  test('a kind without a known schema is a warning, not silence', () => {
    const run = { apiVersion: 'argoproj.io/v1alpha1', kind: 'AnalysisRun', metadata: { name: 'x' } } as Obj;
    expect(validateSchema(run as Manifest).source).toBe(SchemaSource.NONE);
    expect(check([run]).map((f) => [f.ruleId, f.severity])).toEqual([['schema/known-kind', 'warning']]);
  });

  test('the core kinds required by name are the kinds they are listed as', () => {
    for (const [key, load] of Object.entries(BUNDLED_CORE_KINDS)) {
      const kind = key.split('/').pop()!;
      const model = load()[kind] as { apiVersion: string; kind: string };
      expect(`${model.apiVersion}/${model.kind}`).toBe(key);
    }
  });

  test('ClusterAnalysisTemplate, Experiment and Application are validated against the pinned CRDs', () => {
    const objects = [
      { apiVersion: 'argoproj.io/v1alpha1', kind: 'ClusterAnalysisTemplate', metadata: { name: 'c' }, spec: { metrics: [{ name: 'm', provider: { prometheus: { query: 'up' } }, intervall: '1m' }] } },
      { apiVersion: 'argoproj.io/v1alpha1', kind: 'Experiment', metadata: { name: 'e' }, spec: { templates: [{ name: 't', selector: {}, template: {} }], durration: '5m' } },
      { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', metadata: { name: 'a' }, spec: { project: 'default', destination: {}, source: { repoURL: 'x', path: 'y' }, syncPolicy: { automatic: {} } } },
    ] as Obj[];
    expect(objects.map((o) => validateSchema(o as Manifest).source)).toEqual([SchemaSource.CRD, SchemaSource.CRD, SchemaSource.CRD]);
    expect(check(objects).map((f) => f.message.split(':')[0])).toEqual(['spec.metrics[0].intervall', 'spec.durration', 'spec.syncPolicy.automatic']);
  });

  (existsSync(CRD_DIR) ? test : test.skip)(`${CRD_SCHEMA_FILE} is what npm run crd-schemas generates from the pinned CRDs`, () => {
    checkUnlessUnchanged('crd-schema-file', [CRD_DIR, join(ROOT, 'cdk8s.yaml'), join(ROOT, CRD_SCHEMA_FILE)], () => {
      // the CRDs shared/ does not hold (prometheus-operator's, Flagger's) keep their committed entries
      const committed = readFileSync(join(ROOT, CRD_SCHEMA_FILE), 'utf8');
      const fresh = renderCrdSchemaFile(buildCrdSchemaFile(CRD_DIR, readFileSync(join(ROOT, 'cdk8s.yaml'), 'utf8'), JSON.parse(committed)));
      if (committed !== fresh) throw new Error(`${CRD_SCHEMA_FILE} is stale: run npm run crd-schemas -- ${CRD_DIR}`);
    });
  });

  test(`${CRD_VALIDATOR_DIR}/ is what npm run crd-schemas compiles from ${CRD_SCHEMA_FILE}`, () => {
    const dir = join(ROOT, CRD_VALIDATOR_DIR);
    checkUnlessUnchanged('crd-validators', [join(ROOT, CRD_SCHEMA_FILE), dir], () => {
      const fresh = crdValidatorFiles(JSON.parse(readFileSync(join(ROOT, CRD_SCHEMA_FILE), 'utf8')));
      expect(readdirSync(dir).sort()).toEqual([...fresh.keys()].sort());
      for (const [name, text] of fresh) {
        if (readFileSync(join(dir, name), 'utf8') !== text) throw new Error(`${CRD_VALIDATOR_DIR}/${name} is stale: run npm run crd-schemas`);
      }
    });
  });
});
