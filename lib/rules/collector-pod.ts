import { SCRAPE_ANNOTATIONS, SCRAPE_DEFAULT_PATH } from '../platform/prometheus-naming';
import { collectorsOf, CollectorListener, componentType, isLoopback } from '../model/collectors';
import { defineRules, list } from './define';
import { asObj, asStr, resolvePort } from '../model/model';
import { Severity } from './types';

/** The probe fields of a container. */
const PROBES = ['livenessProbe', 'readinessProbe', 'startupProbe'] as const;

/** `4318 (otlp receiver)`, for messages. */
function describeListener(l: CollectorListener): string {
  return `${l.port} (${l.componentId}${l.section === 'receivers' ? ` ${l.protocol}` : ''})`;
}

/**
 * The collector's pod agrees with its configuration: components others reach bind a
 * reachable address; container ports, Service ports, probes and scrape annotations name
 * ports where a configured component listens.
 */
export const COLLECTOR_POD_RULES = defineRules({
  'collector/localhost-endpoint': 'receivers, the prometheus exporter and health_check bind 0.0.0.0 or the pod IP, not localhost (the default since v0.104)',
  'collector/container-ports': 'the collector container declares the ports its components listen on, and no port nothing listens on',
  'collector/service-port-mismatch': 'a Service in front of collector pods targets ports where a component listens',
  'collector/probe-mismatch': 'collector probes hit an enabled health_check extension on its port and path',
  'collector/scrape-port-mismatch': 'the prometheus.io/port and path annotations name the prometheus exporter endpoint',
}, (model, report) => {
  const E = Severity.ERROR;
  for (const collector of collectorsOf(model)) {
    const key = `config key '${collector.found.key}'`;
    const config = `ConfigMap ${collector.ref.namespace}/${collector.ref.name} (key '${collector.found.key}')`;
    const listeners = collector.config.listeners();
    const bound = listeners.filter((l) => l.port !== undefined);
    const boundList = list(bound.map(describeListener));

    // A sidecar's receivers serve the app beside it over localhost; a Service that reaches them is checked below.
    const sidecar = collector.pods.length > 0 && collector.pods.every((p) => p.pod.containers.some((c) => !p.containers.includes(c)));
    for (const l of listeners.filter((x) => x.external && x.known && isLoopback(x.host) && !(sidecar && x.section === 'receivers'))) {
      const what = l.written === undefined ? `${l.field} is not set, so ${l.componentId} binds ${l.host}:${l.port ?? '?'} (the default since v0.104)` : `${l.field} is '${l.written}'`;
      report('collector/localhost-endpoint', E, collector.ref, `${key}: ${what}; other pods (apps, Prometheus, the kubelet's probes) cannot reach it`,
        `set ${l.field} to '0.0.0.0:${l.port ?? 'PORT'}' (or '\${env:MY_POD_IP}:${l.port ?? 'PORT'}' with MY_POD_IP from status.podIP)`,
        { causes: [collector.causeKey(`localhost:${l.port}`)] });
    }

    const health = listeners.filter((l) => l.section === 'extensions' && componentType(l.componentId) === 'health_check');
    const configuredHealth = collector.config.ids('extensions').filter((id) => componentType(id) === 'health_check');

    for (const { pod, containers } of collector.pods) {
      for (const container of containers) {
        const where = `container '${container.name}'`;
        for (const p of container.ports) {
          if (!bound.some((l) => l.port === p.containerPort)) {
            // Only a Service or a scrape that reaches the port makes it a failure; those rules say so.
            report('collector/container-ports', Severity.WARNING, pod.ref, `${where} declares port ${p.name ? `'${p.name}' ` : ''}${p.containerPort}, but no component of ${config} listens there (listening: ${boundList})`,
              `give the component meant to serve ${p.containerPort} (a receiver, the prometheus exporter, health_check) that port and use it, or change the containerPort to where it listens`,
              { causedBy: [collector.causeKey(`port:${p.containerPort}`)] });
          }
        }
        for (const l of bound.filter((x) => x.external && !container.ports.some((p) => p.containerPort === x.port))) {
          report('collector/container-ports', Severity.WARNING, pod.ref, `${where} does not declare port ${describeListener(l)} that ${config} listens on`,
            `add {containerPort: ${l.port}} to ${where}'s ports so Services and readers of the manifest see it`);
        }

        for (const probeField of PROBES) {
          const probe = asObj(container.raw[probeField]);
          const httpGet = asObj(probe.httpGet);
          if (Object.keys(httpGet).length === 0) continue;
          const rawPort = String(httpGet.port);
          const port = resolvePort(rawPort, [container]);
          const path = asStr(httpGet.path) ?? '/';
          const probeText = `${where} ${probeField} GET ${path} :${rawPort}`;
          if (configuredHealth.length === 0) {
            report('collector/probe-mismatch', E, pod.ref, `${probeText} needs the health_check extension, but ${config} configures none; the pod never becomes ready`,
              `add extensions: {health_check: {endpoint: '0.0.0.0:${port ?? 'PORT'}'}} and list health_check in service.extensions`);
          } else if (health.length === 0) {
            report('collector/probe-mismatch', E, pod.ref, `${probeText} needs the health_check extension, which ${config} configures but does not list in service.extensions (listed: ${list(collector.config.serviceExtensions)}), so it never runs`,
              `add ${configuredHealth[0]} to service.extensions`);
          } else if (!health.some((h) => h.port === port)) {
            report('collector/probe-mismatch', E, pod.ref, `${probeText} hits port ${port ?? `'${rawPort}' (no such container port)`}, but health_check listens on ${list(health.map((h) => h.port ?? '?'))}`,
              `point the probe at port ${health[0].port} or move health_check's endpoint to ${port}`);
          } else if (!health.some((h) => h.port === port && h.path === path)) {
            report('collector/probe-mismatch', E, pod.ref, `${probeText} asks for path '${path}', but health_check answers on '${health.find((h) => h.port === port)?.path}'`,
              `set the probe's path to '${health.find((h) => h.port === port)?.path}'`);
          }
        }
      }

      const scraped = pod.annotations[SCRAPE_ANNOTATIONS.scrape] === 'true';
      const metricsListeners = listeners.filter((l) => l.section === 'exporters' && componentType(l.componentId) === 'prometheus');
      if (!scraped) continue;
      const annotatedPort = pod.annotations[SCRAPE_ANNOTATIONS.port];
      const annotatedPath = pod.annotations[SCRAPE_ANNOTATIONS.path] ?? SCRAPE_DEFAULT_PATH;
      if (metricsListeners.length === 0) {
        report('collector/scrape-port-mismatch', E, pod.ref, `the pod is scraped (${SCRAPE_ANNOTATIONS.port}: ${annotatedPort ?? '(every port)'}), but ${config} has no prometheus exporter in a pipeline, so Prometheus finds no metrics`,
          `add exporters: {prometheus: {endpoint: '0.0.0.0:${annotatedPort ?? 'PORT'}'}} and list it in the metrics pipeline's exporters`,
          { causes: [collector.causeKey('prometheus-export'), ...(annotatedPort ? [collector.causeKey(`port:${annotatedPort}`)] : [])] });
        continue;
      }
      const served = metricsListeners.find((l) => annotatedPort === undefined || String(l.port) === annotatedPort);
      if (!served) {
        report('collector/scrape-port-mismatch', E, pod.ref, `${SCRAPE_ANNOTATIONS.port} is '${annotatedPort}', but the prometheus exporter of ${config} serves on ${list(metricsListeners.map((l) => l.port ?? '?'))}`,
          `set ${SCRAPE_ANNOTATIONS.port} to "${metricsListeners[0].port}" (or move the exporter's endpoint to ${annotatedPort})`);
      } else if (served.path !== annotatedPath) {
        report('collector/scrape-port-mismatch', E, pod.ref, `${SCRAPE_ANNOTATIONS.path} is '${annotatedPath}', but the prometheus exporter serves '${served.path}'`,
          `set ${SCRAPE_ANNOTATIONS.path} to '${served.path}'`);
      }
    }

    const collectorPods = new Set(collector.pods.map((p) => p.pod));
    for (const service of new Set(collector.pods.flatMap((p) => model.servicesSelecting(p.pod)))) {
      const selected = model.podsSelectedBy(service).filter((p) => collectorPods.has(p));
      if (selected.length === 0) continue;
      const running = collector.pods.filter((p) => selected.includes(p.pod));
      const containers = running.flatMap((p) => p.pod.containers);
      // A port of another container of the pod (the app beside a collector sidecar) is not the collector's.
      const others = running.flatMap((p) => p.pod.containers.filter((c) => !p.containers.includes(c)));
      for (const sp of service.ports) {
        const target = resolvePort(sp.targetPort, containers);
        if (target !== undefined && others.some((c) => c.ports.some((p) => p.containerPort === target))) continue;
        const portText = `port ${sp.name ? `'${sp.name}' ` : ''}${sp.port} -> targetPort ${sp.targetPort}`;
        // An unknown port name is reported by services/unknown-target-port.
        const reached = bound.filter((l) => l.port === target);
        if (target !== undefined && reached.length === 0) {
          report('collector/service-port-mismatch', E, service.ref, `${portText}: no component of ${config} listens on ${target} (listening: ${boundList})`,
            `set targetPort to the port of the component this Service should reach, one of ${list(bound.filter((l) => l.external).map(describeListener))}`,
            // a port nothing listens on: the container port declared for it follows from the same cause
            { causes: [collector.causeKey(`port:${target}`)], causedBy: [collector.causeKey(`port:${target}`)] });
        } else if (reached.length > 0 && reached.every((l) => isLoopback(l.host))) {
          const l = reached[0];
          report('collector/service-port-mismatch', E, service.ref, `${portText} reaches ${l.componentId}, which binds ${l.host}:${l.port} (${l.written === undefined ? `${l.field} is not set` : `${l.field} is '${l.written}'`}), so connections through the Service are refused`,
            `bind ${l.field.replace(/\[\]/g, '')} to '0.0.0.0:${l.port}', or remove the port from the Service`, { causedBy: [collector.causeKey(`localhost:${l.port}`)] });
        }
      }
    }
  }
});
