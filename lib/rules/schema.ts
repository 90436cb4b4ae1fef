import { SchemaResult, SchemaSource, validateSchema, formatViolation } from '../schema/validate';
import { Finding, refOf, Rule, Severity } from './types';
import { LoadedManifest } from '../manifests';

/**
 * Schema rules: every object validates against the schema of its kind, for the exact
 * versions the stack targets (see lib/schema/validate.ts).
 */

const FIX = {
  [SchemaSource.CRD]: 'make the field match the CRD schema of the pinned release (named in the message)',
  [SchemaSource.KUBERNETES]: 'make the field match the Kubernetes API of the kind',
};

/**
 * Each object's schema result, computed once per set of manifests: the schema rules split the
 * objects by kind and `schema/known-kind` looks at all of them, but no object is validated twice.
 */
const resultsBySet = new WeakMap<readonly LoadedManifest[], WeakMap<LoadedManifest, SchemaResult>>();

function schemaResult(manifests: readonly LoadedManifest[], m: LoadedManifest): SchemaResult {
  let results = resultsBySet.get(manifests);
  if (!results) {
    results = new WeakMap();
    resultsBySet.set(manifests, results);
  }
  let result = results.get(m);
  if (!result) {
    result = validateSchema(m.object);
    results.set(m, result);
  }
  return result;
}

/** A rule that reports the schema violations of the objects a filter picks. */
function schemaRule(id: string, description: string, source: SchemaSource.CRD | SchemaSource.KUBERNETES, picks: (m: LoadedManifest) => boolean): Rule {
  return {
    id,
    description,
    check: (manifests) => manifests.filter(picks).flatMap((m): Finding[] => {
      const result = schemaResult(manifests, m);
      if (result.source !== source) return [];
      return result.violations.map((v) => ({
        ruleId: id,
        severity: Severity.ERROR,
        object: refOf(m),
        message: `${formatViolation(v)} (schema: ${result.schema})`,
        fix: FIX[source],
      }));
    }),
  };
}

const isArgo = (product: 'rollouts' | 'cd') => (m: LoadedManifest) => m.object.apiVersion === 'argoproj.io/v1alpha1'
  && (product === 'cd') === ['Application', 'ApplicationSet', 'AppProject'].includes(m.object.kind);
const inGroup = (group: string) => (m: LoadedManifest) => typeof m.object.apiVersion === 'string' && m.object.apiVersion.startsWith(`${group}/`);

/** Every object against the schema of its kind; objects of kinds without a known schema get a warning. */
export const schemaRules: Rule[] = [
  schemaRule('schema/core', 'core Kubernetes objects validate against the Kubernetes OpenAPI schema (kubernetes-models)', SchemaSource.KUBERNETES,
    (m) => !(typeof m.object.apiVersion === 'string' && m.object.apiVersion.startsWith('argoproj.io/'))),
  schemaRule('schema/argo-rollouts', 'Argo Rollouts objects validate against the CRD schemas of the pinned release; undeclared fields are errors', SchemaSource.CRD, isArgo('rollouts')),
  schemaRule('schema/argo-cd', 'Argo CD objects validate against the CRD schemas of the pinned release; undeclared fields are errors', SchemaSource.CRD, isArgo('cd')),
  schemaRule('schema/prometheus-operator', 'PodMonitor, ServiceMonitor, PrometheusRule and AlertmanagerConfig validate against the CRDs of prometheus-operator v0.93.0; undeclared fields are errors', SchemaSource.CRD, inGroup('monitoring.coreos.com')),
  schemaRule('schema/flagger', "Flagger's Canary validates against the CRD of Flagger v1.44.0; undeclared fields are errors", SchemaSource.CRD, inGroup('flagger.app')),
  {
    id: 'schema/known-kind',
    description: 'every object is of a kind whose schema is known, so the other schema rules checked it (one warning per kind that is not)',
    // Once per kind: a note of what was not checked, not a fault of each object.
    check: (manifests) => {
      const byKind = new Map<string, LoadedManifest[]>();
      for (const m of manifests) {
        const result = schemaResult(manifests, m);
        if (result.source === SchemaSource.NONE) byKind.set(result.schema, [...(byKind.get(result.schema) ?? []), m]);
      }
      return [...byKind].map(([schema, objects]): Finding => ({
        ruleId: 'schema/known-kind',
        severity: Severity.WARNING,
        object: refOf(objects[0]),
        message: `no schema is known for ${schema}; ${objects.length === 1 ? 'the object was' : `its ${objects.length} objects were`} not validated`,
        fix: 'check apiVersion and kind; for a custom resource, add its pinned CRD to cdk8s.yaml and run npm run crd-schemas',
      }));
    },
  },
];
