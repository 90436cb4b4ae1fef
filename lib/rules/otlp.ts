import { ListenerProtocol } from '../collector-config';
import { collectorsOf } from './collector-model';
import { defineRules, list } from './define';
import { asArr, asObj, asStr, resolvePort } from './model';
import { Severity } from './types';

/** The environment variables that set where an OTel SDK sends traces, most specific first. */
export const OTLP_ENDPOINT_VARS = ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT'] as const;

/** The environment variables that set the OTLP protocol, most specific first. */
export const OTLP_PROTOCOL_VARS = ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL'] as const;

/** The SDK's protocol when none is set. */
const DEFAULT_OTLP_PROTOCOL = 'http/protobuf';

/** The receiver protocol each SDK protocol needs. */
const SDK_PROTOCOLS: Record<string, ListenerProtocol> = {
  'grpc': ListenerProtocol.OTLP_GRPC,
  'http/protobuf': ListenerProtocol.OTLP_HTTP,
  'http/json': ListenerProtocol.OTLP_HTTP,
};

/** The plain env values of a container. */
export function envOf(container: Record<string, unknown>): Map<string, string> {
  return new Map(asArr(container.env).map(asObj).flatMap((e) => {
    const name = asStr(e.name);
    const value = asStr(e.value);
    return name !== undefined && value !== undefined ? [[name, value] as const] : [];
  }));
}

/**
 * An app's OTLP endpoint reaches an OTLP receiver of the protocol its SDK speaks: the URL
 * names a Service of the manifests, on one of its ports, whose target is a collector
 * listener of the right protocol.
 */
export const OTLP_RULES = defineRules({
  'otlp/unknown-service': "an OTLP endpoint's host is a Service the manifests define",
  'otlp/unknown-port': "an OTLP endpoint's port is a port of that Service",
  'otlp/no-receiver': 'the Service port reaches an OTLP receiver of a collector',
  'otlp/protocol-mismatch': "the receiver reached speaks the SDK's protocol (OTLP/HTTP for the default http/protobuf, OTLP/gRPC for grpc)",
}, (model, report) => {
  const E = Severity.ERROR;
  const collectors = collectorsOf(model);
  for (const pod of model.pods) {
    for (const container of pod.containers) {
      const env = envOf(container.raw);
      const variable = OTLP_ENDPOINT_VARS.find((v) => env.has(v));
      if (!variable) continue;
      const value = env.get(variable)!;
      const protocolVar = OTLP_PROTOCOL_VARS.find((v) => env.has(v));
      const sdkProtocol = protocolVar ? env.get(protocolVar)! : DEFAULT_OTLP_PROTOCOL;
      const wanted = SDK_PROTOCOLS[sdkProtocol];
      const m = /^(?:(https?):\/\/)?([^/:\s]+)(?::(\d+))?/.exec(value);
      if (!m || !wanted || (!m[1] && !m[3])) continue;
      const port = m[3] ? Number(m[3]) : m[1] === 'https' ? 443 : 80;
      const what = `container '${container.name}' ${variable}='${value}'`;
      const protocolText = protocolVar ? `${protocolVar}=${sdkProtocol}` : `no OTEL_EXPORTER_OTLP_PROTOCOL, so the SDK default ${sdkProtocol}`;
      const target = model.resolveHost(m[2], pod.namespace);
      if (!target) continue;
      const service = target.service;
      if (!service) {
        const inNamespace = model.services.filter((s) => s.namespace === target.namespace).map((s) => s.name);
        report('otlp/unknown-service', E, pod.ref, `${what} names Service ${target.namespace}/${target.name}, which the manifests do not define (Services in ${target.namespace}: ${list(inNamespace)})`,
          `point ${variable} at the collector's Service, e.g. http://NAME.${target.namespace}.svc.cluster.local:PORT with NAME one of ${list(inNamespace)}`);
        continue;
      }
      const servicePort = service.ports.find((p) => p.port === port);
      if (!servicePort) {
        report('otlp/unknown-port', E, pod.ref, `${what} uses port ${port}, but Service ${service.namespace}/${service.name} has ports ${list(service.ports.map((p) => `${p.port}${p.name ? ` (${p.name})` : ''}`))}`,
          `use the Service port of the OTLP receiver for ${sdkProtocol} in ${variable}`);
        continue;
      }
      const selected = new Set(model.podsSelectedBy(service));
      if (selected.size === 0) continue; // the Service rules report a selector that matches nothing
      const reached = collectors.filter((c) => c.pods.some((p) => selected.has(p.pod)));
      const containers = [...selected].flatMap((p) => p.containers);
      const targetPort = resolvePort(servicePort.targetPort, containers);
      const listeners = reached.flatMap((c) => c.config.listeners()).filter((l) => l.protocol === ListenerProtocol.OTLP_GRPC || l.protocol === ListenerProtocol.OTLP_HTTP);
      const atTarget = listeners.filter((l) => l.port === targetPort);
      const via = `Service ${service.namespace}/${service.name} port ${port} -> targetPort ${servicePort.targetPort}`;
      if (atTarget.length === 0) {
        const why = reached.length === 0 ? 'the pods it selects run no collector configuration of these manifests' : `no OTLP receiver listens on ${targetPort ?? servicePort.targetPort} (OTLP receivers: ${list(listeners.map((l) => `${l.port} ${l.protocol}`))})`;
        report('otlp/no-receiver', E, pod.ref, `${what} goes through ${via}, but ${why}`,
          `point ${variable} at a Service port whose targetPort is an OTLP receiver for ${sdkProtocol}`);
      } else if (!atTarget.some((l) => l.protocol === wanted)) {
        const right = listeners.find((l) => l.protocol === wanted);
        const rightPort = right && service.ports.find((p) => resolvePort(p.targetPort, containers) === right.port);
        report('otlp/protocol-mismatch', E, pod.ref, `${what} with ${protocolText} needs ${wanted}, but ${via} reaches the ${atTarget[0].componentId} receiver's ${atTarget[0].protocol} endpoint`,
          rightPort ? `use port ${rightPort.port} in ${variable}` : `enable ${wanted} on the collector's otlp receiver and expose it on the Service, or set ${OTLP_PROTOCOL_VARS[1]} to match`);
      }
    }
  }
});
