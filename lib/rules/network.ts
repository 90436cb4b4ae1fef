import { collectorsOf, isLoopback } from '../model/collectors';
import { ingressOf, openToEverywhere } from '../model/network-policies';
import { ListenerProtocol } from '../platform/collector-config';
import { NAMESPACE_NAME_LABEL } from '../platform/network-policy';
import { defineRules, list } from './define';
import { Severity } from './types';

/**
 * Who may send the collector spans: the latency gates select the canary's spans by attributes the
 * pods report about themselves, so a pod that can reach an OTLP receiver can send spans that look
 * like a canary's and sway a gate. A receiver that every pod of the cluster can reach is a warning.
 */
export const NETWORK_RULES = defineRules({
  'network/otlp-open-to-all': "a collector's OTLP receivers admit only some namespaces (a NetworkPolicy selects its pods), not every pod of the cluster",
}, (model, report) => {
  for (const collector of collectorsOf(model)) {
    const otlp = collector.config.listeners().filter((l) => (l.protocol === ListenerProtocol.OTLP_GRPC || l.protocol === ListenerProtocol.OTLP_HTTP)
      && l.port !== undefined && !isLoopback(l.host));
    for (const { pod, containers } of collector.pods) {
      const ingress = ingressOf(model, pod);
      const ports = containers.flatMap((c) => c.ports).filter((p) => otlp.some((l) => l.port === p.containerPort));
      const open = ports.filter((p) => openToEverywhere(ingress, p));
      if (open.length === 0) continue;
      const why = ingress.isolated
        ? `a rule of ${list([...new Set(ingress.admissions.filter((a) => open.some((p) => a.admits(p)) && a.sources.some((s) => s.everywhere)).map((a) => `NetworkPolicy ${a.policy.name ?? ''}`))])} admits every pod to them`
        : `no NetworkPolicy selects its pods (labels ${list(Object.entries(pod.labels).map(([k, v]) => `${k}=${v}`))})`;
      report('network/otlp-open-to-all', Severity.WARNING, pod.ref,
        `the OTLP receivers on ${list(open.map((p) => p.containerPort))} accept spans from every pod of the cluster: ${why}; any pod can send spans that look like a canary's and sway its gates`,
        `add a NetworkPolicy in namespace ${pod.namespace} that selects the collector's pods and admits ports ${list(open.map((p) => p.containerPort))} only from the namespaces of the apps that export to it `
        + `(namespaceSelector on ${NAMESPACE_NAME_LABEL}), and Prometheus's namespace to the metrics port`);
    }
  }
});
