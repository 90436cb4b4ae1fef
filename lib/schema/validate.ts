import type { ErrorObject } from 'ajv';
import { readFileSync } from 'fs';
import { join } from 'path';
import { Manifest } from '../manifests';
import { CRD_VALIDATOR_DIR, CRD_VALIDATOR_INDEX, projectRoot } from './crd-schema-file';

/**
 * Validates plain Kubernetes objects against the schema of their kind:
 * - Argo kinds, prometheus-operator's monitors and rules and Flagger's Canary against the
 *   `openAPIV3Schema` of the pinned CRDs (Argo Rollouts v1.8.3, Argo CD v3.2.0, prometheus-operator
 *   v0.93.0, Flagger v1.44.0), with the validators compiled ahead of time from `imports/argo-crd-schemas.json`
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
    } else if (k === 'format' && typeof v === 'string' && !CHECKED_FORMATS.includes(v)) {
      // a format the validators here do not check (the API server checks some, ignores unknown ones): left out
    } else if (k === 'pattern' && typeof v === 'string') {
      const pattern = jsPattern(v);
      if (pattern !== undefined) out[k] = pattern;
    } else {
      out[k] = v;
    }
  }
  const open = schema['x-kubernetes-preserve-unknown-fields'] === true || schema.additionalProperties !== undefined;
  if (schema.type === 'object' && !open) out.additionalProperties = false;
  return out;
}

/** The formats the compiled validators check (lib/schema/standalone.ts FORMATS_SOURCE). */
const CHECKED_FORMATS = ['int32', 'int64', 'date-time'];

/**
 * A CRD `pattern` (Go RE2, as the API server checks it) as a JavaScript pattern with the same
 * meaning, or undefined when there is none here: RE2's leading case-insensitive flag `(?i)`
 * becomes a class of both cases for each letter (prometheus-operator's `(?i)(abort|warn)?`); a
 * pattern JavaScript still cannot compile is left out, so that field's format is not checked.
 */
export function jsPattern(goPattern: string): string | undefined {
  let pattern = goPattern;
  if (pattern.startsWith('(?i)')) {
    let out = '';
    let inClass = false;
    for (let i = 4; i < pattern.length; i++) {
      const c = pattern[i];
      if (c === '\\') { out += pattern.slice(i, i + 2); i++; continue; }
      if (c === '[') inClass = true;
      else if (c === ']') inClass = false;
      out += !inClass && /[a-zA-Z]/.test(c) ? `[${c.toLowerCase()}${c.toUpperCase()}]` : c;
    }
    pattern = out;
  }
  try {
    new RegExp(pattern, 'u');
    return pattern;
  } catch {
    return undefined;
  }
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
    if (/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion) && /^[A-Z][A-Za-z0-9]*$/.test(kind) && !apiVersion.includes('argoproj.io')) {
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
  const model = coreModel(apiVersion, kind);
  const schema = `${KUBERNETES_SCHEMA_RELEASE} ${apiVersion} ${kind}`;
  if (model) {
    try {
      new model(object).validate();
      return { source: SchemaSource.KUBERNETES, schema, violations: [] };
    } catch (e) {
      const errors = (e as { errors?: ErrorObject[] }).errors;
      if (!errors) throw e;
      return { source: SchemaSource.KUBERNETES, schema, violations: violationsOf(errors, object) };
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

/**
 * ajv errors as violations; an `anyOf` (int-or-string) or `oneOf` (Flagger's analysis) is reported
 * once, not per branch. An unknown field beside a missing required field or a failed `oneOf` of
 * the same object is most likely a misspelling of it: one violation says both.
 */
function violationsOf(errors: readonly ErrorObject[], object: unknown): SchemaViolation[] {
  const all = branchViolationsOf(errors, object);
  const unknown = all.filter((v) => v.message.startsWith('unknown field'));
  const parentOf = (path: string) => path.replace(/(\.[^.[]+|\['[^']*'\]|\[\d+\])$/, '');
  const folded = new Set<SchemaViolation>();
  const out = all.map((v) => {
    if (!v.message.startsWith('unknown field')) return v;
    const parent = parentOf(v.path);
    const missing = all.filter((w) => w !== v && (w.message === 'required field is missing' || w.message.startsWith('must match')) && parentOf(w.path) === parent && !folded.has(w));
    const alternatives = all.filter((w) => w.path === parent && w.message.startsWith('must match'));
    for (const w of [...missing, ...alternatives]) folded.add(w);
    const required = missing.filter((w) => w.message === 'required field is missing').map((w) => `'${w.path.slice(parent.length).replace(/^\./, '')}'`);
    if (required.length === 0 && alternatives.length === 0) return v;
    return { path: v.path, message: `${v.message}; a misspelling of ${required.length > 0 ? `required ${[...new Set(required)].join(' or ')}, which is missing` : `a field the schema's alternatives for ${parent || 'the object'} need`}?` };
  });
  return unknown.length === 0 ? all : out.filter((v) => !folded.has(v));
}

function branchViolationsOf(errors: readonly ErrorObject[], object: unknown): SchemaViolation[] {
  const anyOfs = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
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
      case 'oneOf':
        out.push({ path: fieldPath(e.instancePath), message: "must match exactly one of the schema's alternatives" });
        break;
      default:
        out.push({ path: fieldPath(e.instancePath), message: `${e.message ?? e.keyword}${got}` });
    }
  }
  return out;
}
