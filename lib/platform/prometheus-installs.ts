/**
 * Prometheus servers that a mesh or an add-on installs beside the manifests a folder holds, at
 * fixed names: a URL to one of them names a Service of that install, not a missing one of the
 * folder. Each is the address flagger's own overlays and docs use for that install
 * (fluxcd/flagger kustomize/{istio,linkerd,appmesh} and docs/gitbook @ 15bd6ad5).
 */
export interface PrometheusInstall {
  /** the Service's name */
  readonly service: string;
  readonly namespace: string;
  readonly port: number;
  /** what installs it, for messages */
  readonly install: string;
}

export const KNOWN_PROMETHEUS_INSTALLS: readonly PrometheusInstall[] = [
  // istio/istio samples/addons/prometheus.yaml (release-1.18 to 1.27): Service prometheus, port 9090
  { service: 'prometheus', namespace: 'istio-system', port: 9090, install: "Istio's Prometheus add-on (samples/addons/prometheus.yaml)" },
  // linkerd/linkerd2 viz extension (`linkerd viz install`): Service prometheus, port 9090
  { service: 'prometheus', namespace: 'linkerd-viz', port: 9090, install: "Linkerd viz's Prometheus" },
  // aws/eks-charts appmesh-prometheus, released into appmesh-system
  { service: 'appmesh-prometheus', namespace: 'appmesh-system', port: 9090, install: 'the appmesh-prometheus chart' },
];

/** The install that provides a Service, if a known one does. */
export function prometheusInstallOf(namespace: string, service: string): PrometheusInstall | undefined {
  return KNOWN_PROMETHEUS_INSTALLS.find((i) => i.namespace === namespace && i.service === service);
}
