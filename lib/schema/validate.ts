import type { ErrorObject } from 'ajv';
import { readFileSync } from 'fs';
import { join } from 'path';
import { Manifest } from '../manifests';
import { CRD_VALIDATOR_DIR, CRD_VALIDATOR_INDEX, projectRoot } from './crd-schema-file';

/**
 * Validates plain Kubernetes objects against the schema of their kind:
 * - Argo kinds against the `openAPIV3Schema` of the pinned CRDs (Argo Rollouts v1.8.3,
 *   Argo CD v3.2.0), with the validators compiled ahead of time from `imports/argo-crd-schemas.json`
 *   into `imports/argo-crd-validators/` (lib/schema/standalone.ts; a kind's is loaded when first met);
 * - core kinds against the Kubernetes v1.33 OpenAPI schema compiled into `kubernetes-models`.
 *
 * Unknown fields: a CRD's structural schema makes every object with `properties` closed, and
 * the API server silently prunes a field it does not declare (unless
 * `x-kubernetes-preserve-unknown-fields`). A pruned field is a setting that never takes
 * effect, so here an undeclared field in an Argo object is an error. The Kubernetes OpenAPI
 * schema of core kinds does not declare its objects closed, so `kubernetes-models` checks
 * types, required fields and formats there, not unknown fields.
 */

/** What the object was validated against. */
export enum SchemaSource {
  /** an Argo CRD pinned in cdk8s.yaml */
  CRD = 'crd',
  /** the Kubernetes OpenAPI schema (kubernetes-models) */
  KUBERNETES = 'kubernetes',
  /** prometheus-operator's schemas (@kubernetes-models/prometheus-operator) */
  PROMETHEUS_OPERATOR = 'prometheus-operator',
  /** nothing: the kind has no known schema */
  NONE = 'none',
}

/** One way an object breaks its schema. */
export interface SchemaViolation {
  /** the field, e.g. `spec.strategy.canary.steps[1].bogus` (empty for the object itself) */
  readonly path: string;
  /** what is wrong with it */
  readonly message: string;
}

/** The outcome of validating one object. */
export interface SchemaResult {
  readonly source: SchemaSource;
  /** the schema's name, e.g. `Argo Rollouts v1.8.3 Rollout` or `Kubernetes v1.33 apps/v1 DaemonSet` */
  readonly schema: string;
  readonly violations: readonly SchemaViolation[];
}

/** The Kubernetes release the core schemas of kubernetes-models 4.5.1 were generated from. */
export const KUBERNETES_SCHEMA_RELEASE = 'Kubernetes v1.33';

/**
 * A copy of a CRD schema in which every object that declares `properties` (or nothing at all)
 * and does not preserve unknown fields is closed, so what the API server would prune is
 * reported. The root `metadata` stays open: the API server validates ObjectMeta itself.
 */
export function closeStructuralSchema(schema: Record<string, unknown>, isRoot = true): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'properties' && v && typeof v === 'object') {
      out.properties = Object.fromEntries(Object.entries(v as Record<string, Record<string, unknown>>)
        .map(([name, sub]) => [name, isRoot && name === 'metadata' ? sub : closeStructuralSchema(sub, false)]));
    } else if ((k === 'items' || k === 'additionalProperties') && v && typeof v === 'object') {
      out[k] = closeStructuralSchema(v as Record<string, unknown>, false);
    } else if ((k === 'anyOf' || k === 'allOf' || k === 'oneOf') && Array.isArray(v)) {
      out[k] = v.map((sub) => closeStructuralSchema(sub, false));
    } else {
      out[k] = v;
    }
  }
  const open = schema['x-kubernetes-preserve-unknown-fields'] === true || schema.additionalProperties !== undefined;
  if (schema.type === 'object' && !open) out.additionalProperties = false;
  return out;
}

/** Subschemas that differ only in their place: the ApplicationSet repeats the Application template in every generator. */
const SHARED_MIN_CHARS = 200;

/**
 * The same schema with every subschema that occurs more than once (and is not tiny) moved to
 * `definitions` and referenced, so ajv compiles it once instead of once per occurrence.
 */
export function shareRepeatedSubschemas(schema: Record<string, unknown>): Record<string, unknown> {
  const counts = new Map<string, number>();
  const keyOf = new WeakMap<object, string>();
  const children = (node: Record<string, unknown>): Record<string, unknown>[] => [
    ...Object.values((node.properties ?? {}) as Record<string, Record<string, unknown>>),
    ...['items', 'additionalProperties'].map((k) => node[k]).filter((v): v is Record<string, unknown> => !!v && typeof v === 'object'),
    ...['anyOf', 'allOf', 'oneOf'].flatMap((k) => (Array.isArray(node[k]) ? node[k] as Record<string, unknown>[] : [])),
  ];
  const count = (node: Record<string, unknown>) => {
    const key = JSON.stringify(node);
    keyOf.set(node, key);
    counts.set(key, (counts.get(key) ?? 0) + 1);
    children(node).forEach(count);
  };
  count(schema);
  const definitions: Record<string, unknown> = {};
  const names = new Map<string, string>();
  const rewrite = (node: Record<string, unknown>, top: boolean): Record<string, unknown> => {
    const key = keyOf.get(node)!;
    if (!top && key.length >= SHARED_MIN_CHARS && counts.get(key)! > 1) {
      let name = names.get(key);
      if (!name) {
        name = `s${names.size}`;
        names.set(key, name);
        definitions[name] = rewrite(node, true);
      }
      return { $ref: `#/definitions/${name}` };
    }
    const out: Record<string, unknown> = { ...node };
    if (node.properties) {
      out.properties = Object.fromEntries(Object.entries(node.properties as Record<string, Record<string, unknown>>).map(([k, v]) => [k, rewrite(v, false)]));
    }
    for (const k of ['items', 'additionalProperties']) {
      if (node[k] && typeof node[k] === 'object') out[k] = rewrite(node[k] as Record<string, unknown>, false);
    }
    for (const k of ['anyOf', 'allOf', 'oneOf']) {
      if (Array.isArray(node[k])) out[k] = (node[k] as Record<string, unknown>[]).map((v) => rewrite(v, false));
    }
    return out;
  };
  const root = rewrite(schema, true);
  return names.size > 0 ? { ...root, definitions } : root;
}

/** A validator generated by ajv's standalone code: true when valid, else its `errors`. */
interface CompiledValidator {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}

/** An entry of imports/argo-crd-validators/index.json (see lib/schema/standalone.ts, which writes it). */
interface CrdValidatorSlot {
  readonly kind: string;
  readonly release: string;
  readonly file: string;
  validate?: CompiledValidator;
}

let crdSlots: Map<string, CrdValidatorSlot> | undefined;

/** The compiled validator of a CRD kind (its module is loaded on first use). */
function crdValidator(apiVersion: string, kind: string) {
  if (!crdSlots) {
    const dir = join(projectRoot(), CRD_VALIDATOR_DIR);
    const index = JSON.parse(readFileSync(join(dir, CRD_VALIDATOR_INDEX), 'utf8')) as { validators: (CrdValidatorSlot & { group: string; version: string })[] };
    crdSlots = new Map(index.validators.map((v) => [`${v.group}/${v.version}/${v.kind}`, { kind: v.kind, release: v.release, file: join(dir, v.file) }]));
  }
  const slot = crdSlots.get(`${apiVersion}/${kind}`);
  if (!slot) return undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  slot.validate ??= require(slot.file) as CompiledValidator;
  return { release: slot.release, validate: slot.validate };
}

type KubernetesModel = new (data: unknown) => { validate(): void };

/* eslint-disable @typescript-eslint/no-require-imports */
/**
 * The core kinds most folders hold, required by name so that a command's bundle holds them and
 * their schemas (cli/transpile.js): loading one through node's loader took 60 to 170 small
 * modules (a ConfigMap 62, a DaemonSet 171).
 * Any other kind is required by its path when it is first met.
 */
export const BUNDLED_CORE_KINDS: Record<string, () => Record<string, unknown>> = {
  'v1/ConfigMap': () => require('kubernetes-models/v1/ConfigMap'),
  'v1/Namespace': () => require('kubernetes-models/v1/Namespace'),
  'v1/Secret': () => require('kubernetes-models/v1/Secret'),
  'v1/Service': () => require('kubernetes-models/v1/Service'),
  'v1/ServiceAccount': () => require('kubernetes-models/v1/ServiceAccount'),
  'apps/v1/DaemonSet': () => require('kubernetes-models/apps/v1/DaemonSet'),
  'apps/v1/Deployment': () => require('kubernetes-models/apps/v1/Deployment'),
  'apps/v1/StatefulSet': () => require('kubernetes-models/apps/v1/StatefulSet'),
  'networking.k8s.io/v1/NetworkPolicy': () => require('kubernetes-models/networking.k8s.io/v1/NetworkPolicy'),
  'rbac.authorization.k8s.io/v1/ClusterRole': () => require('kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole'),
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': () => require('kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding'),
  'rbac.authorization.k8s.io/v1/Role': () => require('kubernetes-models/rbac.authorization.k8s.io/v1/Role'),
  'rbac.authorization.k8s.io/v1/RoleBinding': () => require('kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding'),
};
/* eslint-enable @typescript-eslint/no-require-imports */
const coreModels = new Map<string, KubernetesModel | null>();

/** The kubernetes-models class of a core kind, e.g. `kubernetes-models/apps/v1/DaemonSet`. */
function coreModel(apiVersion: string, kind: string): KubernetesModel | undefined {
  const key = `${apiVersion}/${kind}`;
  if (!coreModels.has(key)) {
    let model: KubernetesModel | null = null;
    if (/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion) && /^[A-Z][A-Za-z0-9]*$/.test(kind) && !apiVersion.includes('argoproj.io') && !apiVersion.startsWith('monitoring.coreos.com/')) {
      try {
        const bundled = BUNDLED_CORE_KINDS[key];
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        model = ((bundled ? bundled() : require(`kubernetes-models/${apiVersion}/${kind}`)) as Record<string, KubernetesModel>)[kind] ?? null;
      } catch {
        model = null;
      }
    }
    coreModels.set(key, model);
  }
  return coreModels.get(key) ?? undefined;
}

/**
 * The schemas of prometheus-operator's kinds: @kubernetes-models/prometheus-operator 4.4.4, the
 * last release of that package a CommonJS program can require (5 and 6 are ES modules only). Its
 * schemas are generated from an older operator than kube-prometheus-stack 88.5.3 runs (their
 * fields match about v0.65: no `keep_firing_for`), and like kubernetes-models' they check types,
 * required fields, enums and patterns but not unknown fields. Every field the constructs write is
 * in both.
 */
export const PROMETHEUS_OPERATOR_SCHEMA_RELEASE = 'prometheus-operator (@kubernetes-models/prometheus-operator 4.4.4)';

/**
 * The prometheus-operator kinds validated, loaded when first met (a runtime require, outside the
 * commands' bundles: the package's validators need a WebAssembly regex engine beside them).
 */
const PROMETHEUS_OPERATOR_KINDS = new Set(['monitoring.coreos.com/v1/PrometheusRule', 'monitoring.coreos.com/v1/PodMonitor', 'monitoring.coreos.com/v1/ServiceMonitor', 'monitoring.coreos.com/v1alpha1/AlertmanagerConfig']);

function operatorModel(apiVersion: string, kind: string): KubernetesModel | undefined {
  if (!PROMETHEUS_OPERATOR_KINDS.has(`${apiVersion}/${kind}`)) return undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require(`@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`) as Record<string, KubernetesModel>)[kind];
}

/** Validates one object against the schema of its kind. */
export function validateSchema(object: Manifest): SchemaResult {
  const { apiVersion, kind } = object;
  // Objects handed over in memory (the API, not the loader) may hold anything: judge them, do not crash.
  const notStrings = (['apiVersion', 'kind'] as const).filter((field) => typeof object[field] !== 'string');
  if (notStrings.length > 0) {
    return {
      source: SchemaSource.KUBERNETES,
      schema: `${KUBERNETES_SCHEMA_RELEASE} object`,
      violations: notStrings.map((field) => ({ path: field, message: `must be a string, got ${describeValue(object[field])}` })),
    };
  }
  const crd = crdValidator(apiVersion, kind);
  if (crd) {
    const ok = crd.validate(object);
    return { source: SchemaSource.CRD, schema: `${crd.release} ${kind}`, violations: ok ? [] : violationsOf(crd.validate.errors ?? [], object) };
  }
  const operatorKind = operatorModel(apiVersion, kind);
  const model = operatorKind ?? coreModel(apiVersion, kind);
  const source = operatorKind ? SchemaSource.PROMETHEUS_OPERATOR : SchemaSource.KUBERNETES;
  const schema = operatorKind ? `${PROMETHEUS_OPERATOR_SCHEMA_RELEASE} ${apiVersion} ${kind}` : `${KUBERNETES_SCHEMA_RELEASE} ${apiVersion} ${kind}`;
  if (model) {
    try {
      new model(object).validate();
      return { source, schema, violations: [] };
    } catch (e) {
      const errors = (e as { errors?: ErrorObject[] }).errors;
      if (!errors) throw e;
      return { source, schema, violations: violationsOf(errors, object) };
    }
  }
  return { source: SchemaSource.NONE, schema: `${apiVersion} ${kind}`, violations: [] };
}

/** The violations as `path: message` lines, for tests and messages. */
export function schemaProblems(object: Manifest): string[] {
  return validateSchema(object).violations.map(formatViolation);
}

/** `path: message`, or the message alone for the object itself. */
export function formatViolation(v: SchemaViolation): string {
  return v.path ? `${v.path}: ${v.message}` : v.message;
}

/** A JSON pointer (`/spec/steps/1/x`) as a field path (`spec.steps[1].x`). */
export function fieldPath(pointer: string, ...extra: string[]): string {
  const parts = [...pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~')), ...extra];
  return parts.reduce((path, part) => {
    if (/^\d+$/.test(part)) return `${path}[${part}]`;
    if (/^[A-Za-z_$][\w$-]*$/.test(part)) return path ? `${path}.${part}` : part;
    return `${path}['${part}']`;
  }, '');
}

/** The value a JSON pointer points at. */
function valueAt(object: unknown, pointer: string): unknown {
  return pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((v, part) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined), object);
}

function describeValue(v: unknown): string {
  if (typeof v === 'string') return `string ${JSON.stringify(v)}`;
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

/** ajv errors as violations; an `anyOf` (int-or-string) is reported once, not per branch. */
function violationsOf(errors: readonly ErrorObject[], object: unknown): SchemaViolation[] {
  const anyOfs = errors.filter((e) => e.keyword === 'anyOf');
  const out: SchemaViolation[] = [];
  for (const e of errors) {
    if (anyOfs.some((a) => e.schemaPath.startsWith(`${a.schemaPath}/`) && e.instancePath.startsWith(a.instancePath))) continue;
    const value = valueAt(object, e.instancePath);
    const got = value === undefined ? '' : `, got ${describeValue(value)}`;
    switch (e.keyword) {
      case 'additionalProperties': {
        const field = (e.params as { additionalProperty: string }).additionalProperty;
        out.push({ path: fieldPath(e.instancePath, field), message: 'unknown field: the schema does not declare it (the API server would drop it silently); remove it or fix its name' });
        break;
      }
      case 'required':
        out.push({ path: fieldPath(e.instancePath, (e.params as { missingProperty: string }).missingProperty), message: 'required field is missing' });
        break;
      case 'type':
        out.push({ path: fieldPath(e.instancePath), message: `must be ${(e.params as { type: string }).type}${got}` });
        break;
      case 'anyOf':
        out.push({ path: fieldPath(e.instancePath), message: `must be an integer or a string${got}` });
        break;
      default:
        out.push({ path: fieldPath(e.instancePath), message: `${e.message ?? e.keyword}${got}` });
    }
  }
  return out;
}
