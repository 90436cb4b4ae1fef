import { Collector, CollectorListener, collectorsOf } from './collectors';
import { asArr, asObj, asStr, DeliveryModel, PodTemplate } from './model';

/*
 * Where an app's OTLP endpoint points, read as the kubelet and the SDKs read it.
 */

/** The host an env value has when it comes from the pod's IP (downward API `status.podIP`). */
export const POD_IP_HOST = '{status.podIP}';
/** The host an env value has when it comes from the node's IP (downward API `status.hostIP`): a hostPort. */
export const HOST_IP_HOST = '{status.hostIP}';

/**
 * The env values of a container as the kubelet gives them to the process: `$(VAR)` expanded
 * from entries defined before it (`$$` escapes), downward-API `status.podIP`/`status.hostIP` as
 * {@link POD_IP_HOST}/{@link HOST_IP_HOST}, `metadata.namespace` as the pod's namespace.
 */
export function envOf(container: Record<string, unknown>, namespace?: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const e of asArr(container.env).map(asObj)) {
    const name = asStr(e.name);
    if (name === undefined) continue;
    const value = asStr(e.value);
    if (value !== undefined) {
      env.set(name, value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (all, ref?: string) => (ref === undefined ? '$' : env.get(ref) ?? all)));
      continue;
    }
    const field = asStr(asObj(asObj(e.valueFrom).fieldRef).fieldPath);
    const fromField: Record<string, string | undefined> = { 'status.podIP': POD_IP_HOST, 'status.hostIP': HOST_IP_HOST, 'metadata.namespace': namespace };
    const resolved = field === undefined ? undefined : fromField[field];
    if (resolved !== undefined) env.set(name, resolved);
  }
  return env;
}

/** An OTLP endpoint as an SDK reads it: the host (a name, an address, or {@link POD_IP_HOST}/{@link HOST_IP_HOST}) and port. */
export interface OtlpEndpoint {
  readonly host: string;
  readonly port: number;
}

/** The host and port of an OTLP endpoint URL (`http://host:4318`, `host:4317`); undefined when it names neither a scheme nor a port. */
export function parseOtlpEndpoint(value: string): OtlpEndpoint | undefined {
  const m = /^(?:(https?):\/\/)?(\{[^}]+\}|\[[^\]]+\]|[^/:\s]+)(?::(\d+))?/.exec(value);
  if (!m || (!m[1] && !m[3])) return undefined;
  return { host: m[2], port: m[3] ? Number(m[3]) : m[1] === 'https' ? 443 : 80 };
}

/** Which collectors run in which pod, and which collector listeners each declared hostPort reaches. */
export interface CollectorWiring {
  readonly collectorsOfPod: ReadonlyMap<PodTemplate, readonly Collector[]>;
  readonly hostPorts: ReadonlyMap<number, { readonly listeners: readonly CollectorListener[]; readonly collectors: readonly Collector[]; readonly where: string }>;
}

const WIRINGS = new WeakMap<DeliveryModel, CollectorWiring>();

/** The collectors of each pod and of each hostPort, read once per model. */
export function collectorWiring(model: DeliveryModel): CollectorWiring {
  let wiring = WIRINGS.get(model);
  if (wiring) return wiring;
  const collectorsOfPod = new Map<PodTemplate, Collector[]>();
  const hostPorts = new Map<number, { listeners: CollectorListener[]; collectors: Collector[]; where: string }>();
  for (const c of collectorsOf(model)) {
    for (const { pod, containers } of c.pods) {
      collectorsOfPod.set(pod, [...(collectorsOfPod.get(pod) ?? []), c]);
      for (const port of containers.flatMap((x) => asArr(x.raw.ports).map(asObj))) {
        const hostPort = typeof port.hostPort === 'number' ? port.hostPort : undefined;
        if (hostPort === undefined) continue;
        const entry = hostPorts.get(hostPort) ?? { listeners: [], collectors: [], where: `hostPort ${hostPort} of ${pod.ref.kind} ${pod.namespace}/${pod.ref.name}` };
        entry.listeners.push(...c.config.listeners().filter((l) => l.port === port.containerPort));
        if (!entry.collectors.includes(c)) entry.collectors.push(c);
        hostPorts.set(hostPort, entry);
      }
    }
  }
  wiring = { collectorsOfPod, hostPorts };
  WIRINGS.set(model, wiring);
  return wiring;
}

