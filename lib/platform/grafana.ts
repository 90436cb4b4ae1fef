/**
 * The label of the sidecar of Grafana's chart that loads dashboards from ConfigMaps: `grafana_dashboard`,
 * value "1" as kube-prometheus-stack sets it (grafana-community/helm-charts charts/grafana/values.yaml
 * @ grafana-12.11.1 `sidecar.dashboards.label`; prometheus-community/helm-charts
 * charts/kube-prometheus-stack/values.yaml @ kube-prometheus-stack-88.5.3 `grafana.sidecar.dashboards`).
 */
export const GRAFANA_DASHBOARD_LABEL = { grafana_dashboard: '1' } as const;
