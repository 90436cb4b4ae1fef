import { operatorServices } from '../model/collectors';
import { defineRules, list } from './define';
import { asArr, urlsIn } from '../model/model';
import { envOf } from '../model/otlp';
import { OTLP_ENDPOINT_VARS } from '../platform/otel';
import { prometheusInstallOf } from '../platform/prometheus-installs';
import { Severity } from './types';

/** `app=hotrod, tier=web`, for messages. */
function labelsText(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(', ');
}

/**
 * Services reach pods, and the URLs containers call reach Services: a selector matches the
 * pod labels of a workload in its namespace, a named targetPort is a container port of those
 * pods, and a URL in a container's command, args or env that names a cluster Service names
 * one the manifests define, on one of its ports.
 */
export const SERVICE_RULES = defineRules({
  'services/selector-no-match': "a Service's selector matches the pod labels of a workload in its namespace",
  'services/unknown-target-port': "a Service's named targetPort is a container port of the pods it selects",
  'services/unknown-url-target': "a cluster URL in a container's command, args or env names an existing Service and one of its ports",
}, (model, report) => {
  const E = Severity.ERROR;
  for (const service of model.services) {
    if (!service.selector) continue;
    const selected = model.podsSelectedBy(service);
    if (selected.length === 0) {
      const candidates = model.podsIn(service.namespace);
      // No workload at all in the folder (a kustomize base of Services that the overlays' workloads join): nothing to judge.
      if (model.pods.length === 0 && model.experimentPods.length === 0) continue;
      report('services/selector-no-match', E, service.ref,
        `selector {${labelsText(service.selector)}} matches no pod template in namespace ${service.namespace} `
        + `(pod labels there: ${list(candidates.map((p) => `${p.ref.kind}/${p.ref.name} {${labelsText(p.labels)}}`))}); the Service has no endpoints`,
        'make the selector a subset of the pod template labels of the workload it fronts');
      continue;
    }
    const containers = selected.flatMap((p) => p.containers);
    for (const sp of service.ports) {
      if (typeof sp.targetPort !== 'string') continue;
      if (!containers.some((c) => c.ports.some((p) => p.name === sp.targetPort))) {
        report('services/unknown-target-port', E, service.ref,
          `port ${sp.port} targets the container port named '${sp.targetPort}', which no container of ${list(selected.map((p) => `${p.ref.kind}/${p.ref.name}`))} declares (names: ${list(containers.flatMap((c) => c.ports.flatMap((p) => p.name ?? [])))})`,
          'use one of the declared port names or the port number');
      }
    }
  }

  const presetHost = urlsIn(model.prometheus.address)[0]?.host.split('.').slice(0, 2).join('.');
  for (const pod of model.pods) {
    for (const container of pod.containers) {
      const env = envOf(container.raw, pod.namespace);
      const texts = [
        ...asArr(container.raw.command).filter((x): x is string => typeof x === 'string').map((t) => ({ where: 'command', t })),
        ...asArr(container.raw.args).filter((x): x is string => typeof x === 'string').map((t) => ({ where: 'args', t })),
        // OTLP endpoints get the protocol-aware otlp/* rules instead.
        ...[...env].filter(([k]) => !(OTLP_ENDPOINT_VARS as readonly string[]).includes(k)).map(([k, t]) => ({ where: `env ${k}`, t })),
      ];
      for (const { where, t } of texts) {
        for (const url of urlsIn(t)) {
          const target = model.resolveHost(url.host, pod.namespace);
          if (!target || (!target.service && operatorServices(model).has(`${target.namespace}/${target.name}`))) continue;
          // a Prometheus a mesh installs, or the one the --prometheus preset names: outside the folder by design
          if (!target.service && (prometheusInstallOf(target.namespace, target.name) || presetHost === `${target.name}.${target.namespace}`)) continue;
          const what = `container '${container.name}' ${where} calls '${url.url}'`;
          if (!target.service) {
            const there = model.servicesIn(target.namespace).map((s) => s.name);
            report('services/unknown-url-target', E, pod.ref, `${what}, but namespace ${target.namespace} has no Service '${target.name}' (Services: ${list(there)})`,
              `use http://NAME.${target.namespace}.svc.cluster.local:PORT with NAME one of ${list(there)}`);
          } else if (!target.service.ports.some((p) => p.port === url.port)) {
            report('services/unknown-url-target', E, pod.ref, `${what}, but Service ${target.namespace}/${target.name} has no port ${url.port} (ports: ${list(target.service.ports.map((p) => p.port))})`,
              `use one of the Service's ports in the URL, e.g. ${url.scheme}://${url.host}:${target.service.ports[0]?.port ?? 'PORT'}`);
          }
        }
      }
    }
  }
});
