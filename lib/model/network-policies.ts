import { asArr, asNum, asObj, asStr, asStrMap, DeliveryModel, Obj, ObjectRef, PodTemplate } from './model';
import { DEFAULT_POLICY_PROTOCOL, NAMESPACE_NAME_LABEL } from '../platform/network-policy';

/*
 * What the NetworkPolicies of a set of manifests admit into a pod template's pods
 * (kubernetes/api networking/v1 types.go @ v0.33.0): a pod is isolated for ingress once a policy
 * of its namespace selects it with `Ingress` among its policyTypes (the default when none are
 * written); then only what some rule of such a policy admits may connect, and always its own node.
 * A rule admits a connection when a `from` peer and a `ports` entry match; no `from` is every
 * source, no `ports` every port.
 */

/** Who a rule admits, in words, and whether that is every pod of the cluster. */
export interface AdmittedSource {
  /** e.g. `namespaces hotrod, shop`, `pods {app=web} in namespace otel`, `anywhere` */
  readonly text: string;
  /** every pod of every namespace (and, with no `from`, every other source too) */
  readonly everywhere: boolean;
}

/** One ingress rule of a policy that selects the pods. */
export interface IngressAdmission {
  /** the NetworkPolicy */
  readonly policy: ObjectRef;
  /** the ports as written (numbers, container port names, or `from-to` ranges); empty: every port */
  readonly ports: readonly string[];
  /** whether the rule admits a container port of the pods */
  admits(port: { readonly name?: string; readonly containerPort: number }): boolean;
  readonly sources: readonly AdmittedSource[];
}

/** The ingress of a pod template's pods. */
export interface PodIngress {
  /** whether some policy isolates them; if not, anything may connect */
  readonly isolated: boolean;
  /** the rules of the policies that select them */
  readonly admissions: readonly IngressAdmission[];
}

const CACHE = new WeakMap<PodTemplate, PodIngress>();

/** The ingress of a pod template's pods, as the NetworkPolicies of its namespace shape it. */
export function ingressOf(model: DeliveryModel, pod: PodTemplate): PodIngress {
  let found = CACHE.get(pod);
  if (!found) {
    found = readIngress(model, pod);
    CACHE.set(pod, found);
  }
  return found;
}

/** Whether anything in the cluster may connect to a container port of the pods: no isolation, or a rule that admits every pod there. */
export function openToEverywhere(ingress: PodIngress, port: { readonly name?: string; readonly containerPort: number }): boolean {
  return !ingress.isolated || ingress.admissions.some((a) => a.admits(port) && a.sources.some((s) => s.everywhere));
}

function readIngress(model: DeliveryModel, pod: PodTemplate): PodIngress {
  const admissions: IngressAdmission[] = [];
  let isolated = false;
  for (const m of model.ofKind('NetworkPolicy')) {
    if (model.namespaceOf(m) !== pod.namespace) continue;
    const spec = asObj(m.object.spec);
    if (!selects(asObj(spec.podSelector), pod.labels)) continue;
    const types = asArr(spec.policyTypes);
    if (types.length > 0 && !types.includes('Ingress')) continue;
    isolated = true;
    for (const rule of asArr(spec.ingress).map(asObj)) {
      const ports = asArr(rule.ports).map(asObj).filter((p) => (asStr(p.protocol) ?? DEFAULT_POLICY_PROTOCOL) === DEFAULT_POLICY_PROTOCOL);
      const anyPort = asArr(rule.ports).length === 0;
      const from = asArr(rule.from).map(asObj);
      admissions.push({
        policy: model.refOf(m),
        ports: ports.map((p) => (asNum(p.endPort) !== undefined ? `${String(p.port)}-${String(p.endPort)}` : String(p.port ?? 'every port'))),
        admits: (port) => anyPort || ports.some((p) => portMatches(p, port)),
        sources: from.length === 0 ? [{ text: 'anywhere', everywhere: true }] : from.map((peer) => describePeer(peer, pod.namespace)),
      });
    }
  }
  return { isolated, admissions };
}

function portMatches(p: Obj, port: { readonly name?: string; readonly containerPort: number }): boolean {
  if (p.port === undefined) return true;
  const number = asNum(p.port);
  if (number === undefined) return typeof p.port === 'string' && p.port === port.name;
  const end = asNum(p.endPort) ?? number;
  return port.containerPort >= number && port.containerPort <= end;
}

/** Whether a label selector (matchLabels and matchExpressions) selects these labels; an empty selector selects everything. */
export function selects(selector: Obj, labels: Readonly<Record<string, string>>): boolean {
  const matchLabels = asStrMap(selector.matchLabels);
  if (!Object.entries(matchLabels).every(([k, v]) => labels[k] === v)) return false;
  return asArr(selector.matchExpressions).map(asObj).every((e) => {
    const key = asStr(e.key) ?? '';
    const values = asArr(e.values).filter((v): v is string => typeof v === 'string');
    switch (e.operator) {
      case 'In': return key in labels && values.includes(labels[key]);
      case 'NotIn': return !(key in labels) || !values.includes(labels[key]);
      case 'Exists': return key in labels;
      case 'DoesNotExist': return !(key in labels);
      default: return false;
    }
  });
}

/** The namespace names a selector picks by the name label, if that is all it selects on. */
function namespaceNames(selector: Obj): string[] | undefined {
  const labels = asStrMap(selector.matchLabels);
  const expressions = asArr(selector.matchExpressions).map(asObj);
  if (Object.keys(labels).length === 1 && labels[NAMESPACE_NAME_LABEL] !== undefined && expressions.length === 0) return [labels[NAMESPACE_NAME_LABEL]];
  if (Object.keys(labels).length === 0 && expressions.length === 1 && expressions[0].key === NAMESPACE_NAME_LABEL && expressions[0].operator === 'In') {
    return asArr(expressions[0].values).filter((v): v is string => typeof v === 'string');
  }
  return undefined;
}

function labelsText(selector: Obj): string {
  const parts = [
    ...Object.entries(asStrMap(selector.matchLabels)).map(([k, v]) => `${k}=${v}`),
    ...asArr(selector.matchExpressions).map(asObj).map((e) => `${asStr(e.key) ?? ''} ${asStr(e.operator) ?? ''} ${asArr(e.values).join(',')}`.trim()),
  ];
  return `{${parts.join(', ')}}`;
}

function describePeer(peer: Obj, policyNamespace: string): AdmittedSource {
  const ipBlock = asObj(peer.ipBlock);
  if (peer.ipBlock !== undefined) {
    const cidr = asStr(ipBlock.cidr) ?? '?';
    const except = asArr(ipBlock.except).filter((x): x is string => typeof x === 'string');
    return { text: `ipBlock ${cidr}${except.length > 0 ? ` except ${except.join(', ')}` : ''}`, everywhere: cidr === '0.0.0.0/0' || cidr === '::/0' };
  }
  const hasNs = peer.namespaceSelector !== undefined;
  const hasPods = peer.podSelector !== undefined;
  const ns = asObj(peer.namespaceSelector);
  const pods = asObj(peer.podSelector);
  const allPods = !hasPods || (Object.keys(asStrMap(pods.matchLabels)).length === 0 && asArr(pods.matchExpressions).length === 0);
  const names = namespaceNames(ns);
  const allNamespaces = hasNs && Object.keys(asStrMap(ns.matchLabels)).length === 0 && asArr(ns.matchExpressions).length === 0;
  const where = !hasNs ? `namespace ${policyNamespace}`
    : allNamespaces ? 'every namespace'
      : names ? `${names.length === 1 ? 'namespace' : 'namespaces'} ${names.join(', ')}` : `namespaces ${labelsText(ns)}`;
  return { text: allPods ? (hasNs ? where : `every pod of ${where}`) : `pods ${labelsText(pods)} in ${where}`, everywhere: allNamespaces && allPods };
}
