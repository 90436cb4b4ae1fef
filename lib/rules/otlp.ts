import { ListenerProtocol } from '../platform/collector-config';
import { OTLP_ENDPOINT_VARS, OTLP_PROTOCOL_VARS, OtlpProtocol, SPEC_DEFAULT_OTLP_PROTOCOL } from '../platform/otel';
import { CollectorListener, collectorsOf, operatorServices } from '../model/collectors';
import { asArr, asObj, isLoopback, PodTemplate, resolvePort, ServiceInfo } from '../model/model';
import { collectorWiring, envOf, HOST_IP_HOST, parseOtlpEndpoint, POD_IP_HOST } from '../model/otlp';
import { defineRules, list } from './define';
import { Severity } from './types';

/** The receiver protocol each SDK protocol needs. */
const SDK_PROTOCOLS: Record<string, ListenerProtocol> = {
  [OtlpProtocol.GRPC]: ListenerProtocol.OTLP_GRPC,
  [OtlpProtocol.HTTP_PROTOBUF]: ListenerProtocol.OTLP_HTTP,
  [OtlpProtocol.HTTP_JSON]: ListenerProtocol.OTLP_HTTP,
};

/** What an endpoint reaches: the listeners there, and how, for messages. */
interface Reached {
  readonly via: string;
  readonly listeners: readonly CollectorListener[];
  /** OTLP listeners anywhere on the path (for hints) */
  readonly otlp: readonly CollectorListener[];
  /** the Service, when reached through one */
  readonly service?: ServiceInfo;
  readonly containers?: PodTemplate['containers'];
  /** the root causes in the collectors reached that leave the port without a listener */
  readonly causedBy?: readonly string[];
}

const isOtlp = (l: CollectorListener) => l.protocol === ListenerProtocol.OTLP_GRPC || l.protocol === ListenerProtocol.OTLP_HTTP;

/**
 * An app's OTLP endpoint reaches an OTLP receiver of the protocol its SDK speaks: the URL,
 * with `$(VAR)` expanded as the kubelet does, names a Service of the manifests on one of its
 * ports whose target is a collector listener of the right protocol; or the pod itself
 * (`localhost`, the pod IP: a sidecar collector); or the node (`status.hostIP`: a collector's hostPort).
 */
export const OTLP_RULES = defineRules({
  'otlp/unknown-service': "an OTLP endpoint's host is a Service the manifests define",
  'otlp/unknown-port': "an OTLP endpoint's port is a port of that Service",
  'otlp/no-receiver': 'the Service port, the sidecar or the hostPort reaches an OTLP receiver of a collector',
  'otlp/protocol-mismatch': "the receiver reached speaks the SDK's protocol, when OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL or the image's facts say which (many SDKs choose gRPC in code, so the spec's default proves nothing)",
}, (model, report) => {
  const E = Severity.ERROR;
  const collectors = collectorsOf(model);
  if (collectors.length === 0) return; // nothing in the folder receives OTLP: nothing to judge
  const { collectorsOfPod, hostPorts } = collectorWiring(model);

  for (const pod of model.pods) {
    for (const container of pod.containers) {
      const env = envOf(container.raw, pod.namespace);
      const variable = OTLP_ENDPOINT_VARS.find((v) => env.has(v));
      if (!variable) continue;
      const value = env.get(variable)!;
      const protocolVar = OTLP_PROTOCOL_VARS.find((v) => env.has(v));
      const imageProtocol = model.imageFacts(container.image)?.otlpProtocol;
      const sdkProtocol = protocolVar ? env.get(protocolVar)! : imageProtocol ?? SPEC_DEFAULT_OTLP_PROTOCOL;
      const wanted = SDK_PROTOCOLS[sdkProtocol];
      const endpoint = parseOtlpEndpoint(value);
      if (!endpoint || !wanted) continue;
      const { host, port } = endpoint;
      const written = asArr(container.raw.env).map(asObj).find((e) => e.name === variable)?.value;
      const what = `container '${container.name}' ${variable}='${value}'${typeof written === 'string' && written !== value ? ` (written '${written}')` : ''}`;
      const protocolText = protocolVar ? `${protocolVar}=${sdkProtocol}` : `no OTEL_EXPORTER_OTLP_PROTOCOL, and ${container.image} exports ${sdkProtocol}`;

      let reached: Reached;
      if (isLoopback(host) || host === POD_IP_HOST) {
        const own = collectorsOfPod.get(pod) ?? [];
        const listeners = own.flatMap((c) => c.config.listeners());
        if (own.length === 0) {
          report('otlp/no-receiver', Severity.WARNING, pod.ref, `${what} sends to its own pod, but no container of ${pod.ref.kind} ${pod.namespace}/${pod.ref.name} runs a collector configuration of these manifests`,
            `add a collector sidecar, or point ${variable} at the collector's Service (http://NAME.NAMESPACE.svc.cluster.local:PORT) or at $(NODE_IP) with a DaemonSet hostPort`);
          continue;
        }
        reached = { via: `the pod's own collector (${host === POD_IP_HOST ? 'status.podIP' : host}:${port})`, listeners: listeners.filter((l) => l.port === port), otlp: listeners.filter(isOtlp) };
      } else if (host === HOST_IP_HOST) {
        const at = hostPorts.get(port);
        if (!at) {
          report('otlp/no-receiver', E, pod.ref, `${what} sends to the node (status.hostIP) on port ${port}, but no collector pod of these manifests declares hostPort ${port} (hostPorts: ${list([...hostPorts.keys()])})`,
            `add hostPort: ${port} to the collector DaemonSet's OTLP container port, or use one of the declared hostPorts`);
          continue;
        }
        reached = { via: at.where, listeners: at.listeners, otlp: [...hostPorts.values()].flatMap((h) => h.listeners).filter(isOtlp) };
      } else {
        const target = model.resolveHost(host, pod.namespace);
        if (!target) continue;
        const operated = target.service ? undefined : operatorServices(model).get(`${target.namespace}/${target.name}`);
        const service = target.service;
        if (operated) {
          const listeners = operated.config.listeners();
          const name = `Service ${target.namespace}/${target.name} (made by the operator for OpenTelemetryCollector ${operated.ref.name})`;
          const atPort = listeners.filter((l) => l.port === port);
          if (atPort.length === 0) {
            report('otlp/unknown-port', E, pod.ref, `${what} uses port ${port}, but ${name} exposes only its receivers' ports (${list(listeners.filter((l) => l.section === 'receivers').map((l) => `${l.port} ${l.protocol}`))})`,
              `use the port of the OTLP receiver for ${sdkProtocol} in ${variable}`);
            continue;
          }
          reached = { via: `${name} port ${port}`, listeners: atPort, otlp: listeners.filter(isOtlp) };
        } else if (!service) {
          const inNamespace = model.servicesIn(target.namespace).map((s) => s.name);
          report('otlp/unknown-service', E, pod.ref, `${what} names Service ${target.namespace}/${target.name}, which the manifests do not define (Services in ${target.namespace}: ${list(inNamespace)})`,
            `point ${variable} at the collector's Service, e.g. http://NAME.${target.namespace}.svc.cluster.local:PORT with NAME one of ${list(inNamespace)}`);
          continue;
        } else {
          const servicePort = service.ports.find((p) => p.port === port);
          if (!servicePort) {
            report('otlp/unknown-port', E, pod.ref, `${what} uses port ${port}, but Service ${service.namespace}/${service.name} has ports ${list(service.ports.map((p) => `${p.port}${p.name ? ` (${p.name})` : ''}`))}`,
              `use the Service port of the OTLP receiver for ${sdkProtocol} in ${variable}`);
            continue;
          }
          const via = `Service ${service.namespace}/${service.name} port ${port} -> targetPort ${servicePort.targetPort}`;
          const selected = model.podsSelectedBy(service);
          if (selected.length === 0) continue; // the Service rules report a selector that matches nothing
          const reachedCollectors = [...new Set(selected.flatMap((p) => collectorsOfPod.get(p) ?? []))];
          if (reachedCollectors.length === 0) {
            report('otlp/no-receiver', E, pod.ref, `${what} goes through ${via}, but the pods it selects run no collector configuration of these manifests`,
              `point ${variable} at a Service port whose targetPort is an OTLP receiver for ${sdkProtocol}`);
            continue;
          }
          const containers = selected.flatMap((p) => p.containers);
          const targetPort = resolvePort(servicePort.targetPort, containers);
          const listeners = reachedCollectors.flatMap((c) => c.config.listeners());
          reached = {
            via, listeners: listeners.filter((l) => l.port === targetPort), otlp: listeners.filter(isOtlp), service, containers,
            causedBy: reachedCollectors.flatMap((c) => [c.causeKey('receivers'), ...(targetPort === undefined ? [] : [c.causeKey(`port:${targetPort}`)])]),
          };
        }
      }

      const atTarget = reached.listeners.filter(isOtlp);
      if (atTarget.length === 0) {
        report('otlp/no-receiver', E, pod.ref, `${what} goes through ${reached.via}, but no OTLP receiver listens there (OTLP receivers: ${list(reached.otlp.map((l) => `${l.port} ${l.protocol}`))})`,
          `point ${variable} at the port of an OTLP receiver for ${sdkProtocol}`, { causedBy: reached.causedBy });
      } else if ((protocolVar !== undefined || imageProtocol !== undefined) && !atTarget.some((l) => l.protocol === wanted)) {
        const right = reached.otlp.find((l) => l.protocol === wanted);
        const rightPort = right && (reached.service
          ? reached.service.ports.find((p) => resolvePort(p.targetPort, reached!.containers ?? []) === right.port)?.port
          : right.port);
        report('otlp/protocol-mismatch', E, pod.ref, `${what} with ${protocolText} needs ${wanted}, but ${reached.via} reaches the ${atTarget[0].componentId} receiver's ${atTarget[0].protocol} endpoint`,
          rightPort ? `use port ${rightPort} in ${variable}` : `enable ${wanted} on the collector's otlp receiver and expose it, or set ${OTLP_PROTOCOL_VARS[1]} to match`);
      }
    }
  }
});
