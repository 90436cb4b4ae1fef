import { SchemaResult, SchemaSource, validateSchema, formatViolation } from '../schema/validate';
import { Finding, refOf, Rule, Severity } from './types';
import { LoadedManifest } from '../manifests';

/**
 * Schema rules: every object validates against the schema of its kind, for the exact
 * versions the stack targets (see lib/schema/validate.ts).
 */

const FIX = {
  [SchemaSource.CRD]: 'make the field match the CRD schema of the pinned Argo release (imports/ has the typed classes)',
  [SchemaSource.KUBERNETES]: 'make the field match the Kubernetes API of the kind',
  [SchemaSource.PROMETHEUS_OPERATOR]: 'make the field match prometheus-operator\'s API of the kind (monitoring.coreos.com)',
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
function schemaRule(id: string, description: string, source: SchemaSource.CRD | SchemaSource.KUBERNETES | SchemaSource.PROMETHEUS_OPERATOR, picks: (m: LoadedManifest) => boolean): Rule {
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

/** Every object against the schema of its kind; objects of kinds without a known schema get a warning. */
export const schemaRules: Rule[] = [
  schemaRule('schema/core', 'core Kubernetes objects validate against the Kubernetes OpenAPI schema (kubernetes-models)', SchemaSource.KUBERNETES,
    (m) => !(typeof m.object.apiVersion === 'string' && m.object.apiVersion.startsWith('argoproj.io/'))),
  schemaRule('schema/prometheus-operator', 'prometheus-operator objects (PrometheusRule, AlertmanagerConfig, PodMonitor, ServiceMonitor) validate against its schemas',
    SchemaSource.PROMETHEUS_OPERATOR, (m) => typeof m.object.apiVersion === 'string' && m.object.apiVersion.startsWith('monitoring.coreos.com/')),
  schemaRule('schema/argo-rollouts', 'Argo Rollouts objects validate against the CRD schemas of the pinned release; undeclared fields are errors', SchemaSource.CRD, isArgo('rollouts')),
  schemaRule('schema/argo-cd', 'Argo CD objects validate against the CRD schemas of the pinned release; undeclared fields are errors', SchemaSource.CRD, isArgo('cd')),
  {
    id: 'schema/known-kind',
    description: 'every object is of a kind whose schema is known, so the other schema rules checked it',
    check: (manifests) => manifests.flatMap((m): Finding[] => {
      const result = schemaResult(manifests, m);
      return result.source !== SchemaSource.NONE ? [] : [{
        ruleId: 'schema/known-kind',
        severity: Severity.WARNING,
        object: refOf(m),
        message: `no schema is known for ${result.schema}; the object was not validated`,
        fix: 'check apiVersion and kind; for a custom resource, add its pinned CRD to cdk8s.yaml and run npm run crd-schemas',
      }];
    }),
  },
];
