import { asArr, asObj, asStr, asStrMap, DeliveryModel, PathPattern } from './model';
import { parseEnforceLevel, POD_SECURITY_ENFORCE_LABEL, PodSecurityLevel } from '../platform/pod-security';

/** The Pod Security level a namespace enforces, and what says so. */
export interface NamespaceEnforcement {
  readonly level: PodSecurityLevel;
  /** the evidence, for messages, e.g. `Namespace hotrod` or `ApplicationSet hotrod managedNamespaceMetadata` */
  readonly from: string;
}

const CACHE = new WeakMap<DeliveryModel, ReadonlyMap<string, NamespaceEnforcement>>();

/**
 * The namespaces whose Pod Security enforce level the manifests set: a Namespace object's
 * `pod-security.kubernetes.io/enforce` label, or the same label in the `managedNamespaceMetadata`
 * of an Argo CD Application or ApplicationSet that creates the namespace (`CreateNamespace=true`;
 * without it the metadata is not applied). A Namespace object wins over Argo CD's metadata.
 */
export function namespaceEnforcement(model: DeliveryModel): ReadonlyMap<string, NamespaceEnforcement> {
  let found = CACHE.get(model);
  if (!found) {
    found = readEnforcement(model);
    CACHE.set(model, found);
  }
  return found;
}

function readEnforcement(model: DeliveryModel): Map<string, NamespaceEnforcement> {
  const out = new Map<string, NamespaceEnforcement>();
  const argo = (spec: Record<string, unknown>) => {
    const syncPolicy = asObj(spec.syncPolicy);
    const creates = asArr(syncPolicy.syncOptions).some((o) => o === 'CreateNamespace=true');
    return creates ? asStr(asStrMap(asObj(syncPolicy.managedNamespaceMetadata).labels)[POD_SECURITY_ENFORCE_LABEL]) : undefined;
  };
  for (const m of model.ofKind('Application')) {
    const spec = asObj(m.object.spec);
    const value = argo(spec);
    const namespace = asStr(asObj(spec.destination).namespace);
    if (value !== undefined && namespace) out.set(namespace, { level: parseEnforceLevel(value), from: `Application ${m.object.metadata?.name ?? ''} managedNamespaceMetadata` });
  }
  for (const m of model.ofKind('ApplicationSet')) {
    const spec = asObj(m.object.spec);
    const templateSpec = asObj(asObj(spec.template).spec);
    const value = argo(templateSpec);
    if (value === undefined) continue;
    const from = { level: parseEnforceLevel(value), from: `ApplicationSet ${m.object.metadata?.name ?? ''} managedNamespaceMetadata` };
    const written = asStr(asObj(templateSpec.destination).namespace) ?? '';
    if (written !== '' && !written.includes('{{')) {
      out.set(written, from);
      continue;
    }
    if (!/^\{\{\s*\.?path\.basename\s*\}\}$/.test(written)) continue;
    // One namespace per generated folder: the basename of each directory, or of each folder of the
    // manifests a pattern matches.
    const folders = [...new Set(model.manifests.flatMap((x) => (x.file?.includes('/') ? [x.file.slice(0, x.file.lastIndexOf('/'))] : [])))];
    for (const d of asArr(spec.generators).flatMap((g) => asArr(asObj(asObj(g).git).directories)).map(asObj)) {
      const path = asStr(d.path);
      if (!path || d.exclude === true) continue;
      const basenames = path.includes('*') ? folders.filter((f) => new PathPattern(path).test(f)) : [path];
      for (const b of basenames) out.set(b.split('/').pop()!, from);
    }
  }
  for (const m of model.ofKind('Namespace')) {
    const value = asStrMap(m.object.metadata?.labels)[POD_SECURITY_ENFORCE_LABEL];
    const name = m.object.metadata?.name;
    if (value !== undefined && name) out.set(name, { level: parseEnforceLevel(value), from: `Namespace ${name} label` });
  }
  return out;
}
