import { ApiObject, Duration } from 'cdk8s';
import { Construct } from 'constructs';
import { sanitizeLabelName, SCRAPE_DEFAULT_PATH, scrapeAnnotations, TARGET_LABELS } from './prometheus-naming';

/** How Prometheus finds the pods it scrapes. */
export enum PodScrape {
  /** a `kubernetes-pods` job that keeps pods annotated `prometheus.io/scrape: "true"` */
  ANNOTATIONS = 'annotations',
  /** prometheus-operator `PodMonitor` objects, one per scraped workload */
  POD_MONITOR = 'pod-monitor',
}

/** Properties of a {@link PrometheusBackend}. */
export interface PrometheusBackendProps {
  /** a short name for messages, e.g. 'prometheus-community chart 29.1.0' */
  readonly name: string;
  /** the URL the gates query, e.g. 'http://prometheus-server.prometheus.svc.cluster.local' */
  readonly address: string;
  /**
   * The namespace Prometheus's pods run in: the NetworkPolicies admit scrapes of the collector's
   * and the apps' metrics ports from it, and from no other namespace.
   * @default - the namespace `address` names when it is a cluster Service name (`<service>.<namespace>.svc[.cluster.local]`)
   */
  readonly namespace?: string;
  /** the scrape interval of the pod scrape */
  readonly scrapeInterval: Duration;
  /**
   * The longest a new pod waits before Prometheus has it as a scrape target (service discovery
   * plus the discovery and scrape managers' update throttles); its first scrape then comes at a
   * phase in [0, scrapeInterval).
   */
  readonly discoveryDelay: Duration;
  /** how pods are selected for scraping */
  readonly podScrape: PodScrape;
  /** the label the pod scrape sets to the pod's namespace */
  readonly namespaceLabel: string;
  /** the label the pod scrape sets to the pod's name */
  readonly podLabel: string;
  /** the other labels the pod scrape sets on every series (besides `job`, `instance` and pod labels) */
  readonly extraTargetLabels?: readonly ExtraTargetLabel[];
  /** whether every pod label becomes a series label (`labelmap`); otherwise only the ones asked for (`podTargetLabels`) */
  readonly copiesPodLabels: boolean;
  /** whether labels the target exposes win over the scrape's own (`honor_labels: true`); otherwise clashing exposed labels become `exported_<name>` */
  readonly honorLabels: boolean;
  /** the `job` label of pod scrapes; a function of the PodMonitor for operator-managed jobs @default - 'kubernetes-pods' */
  readonly jobLabel?: string;
  /** labels a PodMonitor needs for the Prometheus to select it (POD_MONITOR only) @default - none */
  readonly podMonitorLabels?: Readonly<Record<string, string>>;
  /**
   * How alerting and recording rules reach this Prometheus, and routes reach its Alertmanager.
   * @default - RuleDelivery.PROMETHEUS_RULE when pods are scraped through PodMonitors (an operator runs), else RuleDelivery.CHART_VALUES
   */
  readonly ruleDelivery?: RuleDelivery;
  /** labels a PrometheusRule needs for the Prometheus to select it (PROMETHEUS_RULE only) @default - podMonitorLabels */
  readonly ruleLabels?: Readonly<Record<string, string>>;
}

/** How rules reach a Prometheus (and routes its Alertmanager). */
export enum RuleDelivery {
  /**
   * prometheus-operator objects: a `PrometheusRule` per rule set and an `AlertmanagerConfig` per
   * namespace, in the folders Argo CD deploys.
   */
  PROMETHEUS_RULE = 'prometheus-rule',
  /**
   * The prometheus-community chart's values: its server loads rules only from files of its own
   * ConfigMap, which `serverFiles` fills (charts/prometheus/templates/cm.yaml, and
   * `serverFiles."prometheus.yml".rule_files` lists `/etc/config/alerting_rules.yml`, in
   * prometheus-community/helm-charts charts/prometheus/values.yaml @ prometheus-29.1.0), and its
   * Alertmanager subchart takes its whole configuration from `alertmanager.config`. So the rules
   * and routes are written to a values file beside the app folders, for the chart's install.
   */
  CHART_VALUES = 'chart-values',
}

/** What a workload asks of the pod scrape. */
export interface ScrapeRequest {
  /** the name of the PodMonitor, when one is made */
  readonly name: string;
  /** the labels that select the workload's pods */
  readonly selector: Readonly<Record<string, string>>;
  /** the container port serving the metrics */
  readonly port: { readonly name: string; readonly number: number };
  /** the metrics path @default '/metrics' */
  readonly path?: string;
  /** pod labels the gates select on, which must become series labels */
  readonly podTargetLabels?: readonly string[];
}

/** A label a pod scrape may set besides job, instance, namespace and pod: the pod's node, its container, the port's name. */
export type ExtraTargetLabel = 'node' | 'container' | 'endpoint';

/**
 * The labels prometheus-operator sets on the targets of a PodMonitor besides namespace, pod, job
 * and instance: the container and the port's name (prometheus-operator pkg/prometheus/promcfg.go
 * @ v0.93.0, generatePodMonitorConfig); kube-prometheus-stack 88.5.3 bundles that operator line.
 */
export const POD_MONITOR_TARGET_LABELS: readonly ExtraTargetLabel[] = ['container', 'endpoint'];

/** What a scraped pod is, for the values of the labels its scrape sets. */
export interface ScrapedPod {
  readonly namespace: string;
  readonly pod: string;
  readonly node: string;
  readonly container: string;
  /** the scraped container port */
  readonly port: { readonly name: string; readonly number: number };
  /** the workload (the PodMonitor's name, for operator-managed job labels) */
  readonly workload: string;
  readonly podLabels: Readonly<Record<string, string>>;
  /** the pod labels a PodMonitor copies */
  readonly podTargetLabels?: readonly string[];
}

/**
 * The Prometheus the gates query, and how it scrapes pods: one typed source for every scrape
 * fact (interval, discovery delay, target labels, label honouring) that the gates, the rules,
 * `explain` and the rehearsal need. These facts differ per environment, so each preset names
 * the upstream file it comes from; {@link PrometheusBackend.custom} takes any other setup.
 */
export class PrometheusBackend {
  /**
   * The prometheus-community `prometheus` chart with its default values: a 1m scrape, pods
   * scraped by their `prometheus.io/*` annotations (job `kubernetes-pods`, `honor_labels: true`,
   * labels `namespace`, `pod`, `node` and every pod label).
   */
  public static communityChart(overrides: Partial<PrometheusBackendProps> = {}): PrometheusBackend {
    // The chart puts every object in the release's namespace (prometheus-community/helm-charts
    // charts/prometheus/templates/_helpers.tpl "prometheus.namespace" @ prometheus-29.1.0:
    // forceNamespace, default .Release.Namespace), so the namespace is the install's choice; SPEC's
    // environment and the seed's install it as release `prometheus` in namespace `prometheus`
    // (dynatrace-oss/open-ecosystem-challenges lib/prometheus/init.sh @ f50e399), whose server
    // Service is `prometheus-server`.
    const namespace = overrides.namespace ?? 'prometheus';
    return new PrometheusBackend({
      name: 'prometheus-community chart 29.1.0',
      address: `http://prometheus-server.${namespace}.svc.cluster.local`,
      namespace,
      // prometheus-community/helm-charts charts/prometheus/values.yaml @ prometheus-29.1.0:
      // server.global.scrape_interval: 1m
      scrapeInterval: Duration.minutes(1),
      discoveryDelay: PROMETHEUS_DISCOVERY_DELAY,
      podScrape: PodScrape.ANNOTATIONS,
      // same file, serverFiles.prometheus.yml job kubernetes-pods: honor_labels: true,
      // labelmap __meta_kubernetes_pod_label_(.+), target labels namespace, pod, node
      namespaceLabel: 'namespace',
      podLabel: 'pod',
      extraTargetLabels: ['node'],
      copiesPodLabels: true,
      honorLabels: true,
      jobLabel: 'kubernetes-pods',
      ...overrides,
    });
  }

  /**
   * The seed challenge's environment: the same chart with the challenge repository's values
   * (dynatrace-oss/open-ecosystem-challenges lib/prometheus/standalone-values.yaml): a 10 s scrape.
   */
  public static challengeEnvironment(overrides: Partial<PrometheusBackendProps> = {}): PrometheusBackend {
    return PrometheusBackend.communityChart({
      name: 'seed challenge environment',
      scrapeInterval: Duration.seconds(10),
      ...overrides,
    });
  }

  /**
   * kube-prometheus-stack with its default values: Prometheus managed by prometheus-operator, a
   * 30 s scrape, pods scraped through PodMonitor objects labelled with the release name,
   * `honorLabels: false`, labels `namespace`, `pod`, `container`, `endpoint` and only the pod
   * labels a PodMonitor lists in `podTargetLabels`.
   */
  public static kubePrometheusStack(overrides: Partial<PrometheusBackendProps> = {}): PrometheusBackend {
    // The chart's Prometheus resource (so its pods) is in namespaceOverride, default the release's
    // namespace (charts/kube-prometheus-stack/templates/_helpers.tpl "kube-prometheus-stack.namespace"
    // @ kube-prometheus-stack-88.5.3): the install's choice; this preset's is `monitoring`.
    const namespace = overrides.namespace ?? 'monitoring';
    return new PrometheusBackend({
      name: 'kube-prometheus-stack',
      // the chart's Prometheus Service `<fullname>-prometheus` (templates/prometheus/service.yaml
      // @ kube-prometheus-stack-88.5.3), port 9090; the release named kube-prometheus-stack
      address: `http://kube-prometheus-stack-prometheus.${namespace}.svc.cluster.local:9090`,
      namespace,
      // prometheus-operator pkg/prometheus/promcfg.go @ v0.93.0: a monitor without an interval gets
      // the Prometheus resource's scrapeInterval, whose default is 30s (DefaultScrapeInterval)
      scrapeInterval: Duration.seconds(30),
      discoveryDelay: PROMETHEUS_DISCOVERY_DELAY,
      podScrape: PodScrape.POD_MONITOR,
      namespaceLabel: 'namespace',
      podLabel: 'pod',
      extraTargetLabels: POD_MONITOR_TARGET_LABELS,
      copiesPodLabels: false,
      honorLabels: false,
      // prometheus-community/helm-charts charts/kube-prometheus-stack/values.yaml @ kube-prometheus-stack-88.5.3:
      // podMonitorSelectorNilUsesHelmValues: true selects monitors labelled release: <release name>
      podMonitorLabels: { release: 'kube-prometheus-stack' },
      // same file, prometheus.prometheusSpec.ruleSelectorNilUsesHelmValues: true: the Prometheus
      // resource selects PrometheusRules labelled release: <release name> (templates/prometheus/prometheus.yaml)
      ruleDelivery: RuleDelivery.PROMETHEUS_RULE,
      ruleLabels: { release: 'kube-prometheus-stack' },
      ...overrides,
    });
  }

  /** Any other Prometheus, described fact by fact. */
  public static custom(props: PrometheusBackendProps): PrometheusBackend {
    return new PrometheusBackend(props);
  }

  /** a short name for messages */
  public readonly name: string;
  /** the URL the gates query */
  public readonly address: string;
  /** the namespace Prometheus's pods run in, when known (see {@link scrapeNamespace}) */
  public readonly namespace?: string;
  /** the scrape interval */
  public readonly scrapeInterval: Duration;
  /** the longest a new pod waits before it is a scrape target */
  public readonly discoveryDelay: Duration;
  /** how pods are selected for scraping */
  public readonly podScrape: PodScrape;
  /** the label carrying a pod's namespace */
  public readonly namespaceLabel: string;
  /** the label carrying a pod's name */
  public readonly podLabel: string;
  /** whether every pod label becomes a series label */
  public readonly copiesPodLabels: boolean;
  /** whether exposed labels win over the scrape's */
  public readonly honorLabels: boolean;
  /** labels a PodMonitor needs to be selected */
  public readonly podMonitorLabels: Readonly<Record<string, string>>;
  /** how rules reach this Prometheus and routes its Alertmanager */
  public readonly ruleDelivery: RuleDelivery;
  /** labels a PrometheusRule needs to be selected */
  public readonly ruleLabels: Readonly<Record<string, string>>;
  private readonly props: PrometheusBackendProps;

  private constructor(props: PrometheusBackendProps) {
    const where = `PrometheusBackend '${props.name}'`;
    if (!/^https?:\/\/[^\s/]+(:\d+)?(\/\S*)?$/.test(props.address)) {
      throw new Error(`${where}: address '${props.address}' is not an http(s) URL; use e.g. 'http://prometheus-server.prometheus.svc.cluster.local'`);
    }
    const interval = props.scrapeInterval.toMilliseconds({ integral: false });
    if (!Number.isInteger(interval / 1000) || interval < 1000) {
      throw new Error(`${where}: scrapeInterval must be a whole number of seconds, at least 1s, got ${interval}ms`);
    }
    const discovery = props.discoveryDelay.toMilliseconds({ integral: false });
    if (!Number.isInteger(discovery / 1000) || discovery < 0) {
      throw new Error(`${where}: discoveryDelay must be a whole number of seconds, got ${discovery}ms`);
    }
    for (const [prop, label] of [['namespaceLabel', props.namespaceLabel], ['podLabel', props.podLabel]] as const) {
      if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(label)) {
        throw new Error(`${where}: ${prop} '${label}' is not a Prometheus label name; use letters, digits and '_'`);
      }
    }
    const addressed = /^https?:\/\/[^./:]+\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(\.cluster\.local)?(:\d+)?(\/|$)/.exec(props.address)?.[1];
    if (props.namespace !== undefined) {
      if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(props.namespace) || props.namespace.length > 63) {
        throw new Error(`${where}: namespace '${props.namespace}' is not a valid namespace name; use at most 63 lowercase letters, digits and '-'`);
      }
      if (addressed !== undefined && addressed !== props.namespace) {
        throw new Error(`${where}: namespace is '${props.namespace}', but address '${props.address}' is a Service in namespace '${addressed}'; `
          + 'give the namespace Prometheus runs in, or an address in it (one of them is wrong)');
      }
    }
    this.props = props;
    this.name = props.name;
    this.address = props.address;
    this.namespace = props.namespace ?? addressed;
    this.scrapeInterval = props.scrapeInterval;
    this.discoveryDelay = props.discoveryDelay;
    this.podScrape = props.podScrape;
    this.namespaceLabel = props.namespaceLabel;
    this.podLabel = props.podLabel;
    this.copiesPodLabels = props.copiesPodLabels;
    this.honorLabels = props.honorLabels;
    this.podMonitorLabels = props.podMonitorLabels ?? {};
    this.ruleDelivery = props.ruleDelivery ?? (props.podScrape === PodScrape.POD_MONITOR ? RuleDelivery.PROMETHEUS_RULE : RuleDelivery.CHART_VALUES);
    this.ruleLabels = props.ruleLabels ?? this.podMonitorLabels;
  }

  /**
   * The namespace Prometheus scrapes from, for a NetworkPolicy that admits it; throws, naming
   * `construct`, when neither `namespace` nor the address says.
   */
  public scrapeNamespace(construct: string): string {
    if (this.namespace === undefined) {
      throw new Error(`${construct}: PrometheusBackend '${this.name}' has address '${this.address}', which names no namespace of the cluster, `
        + "so the NetworkPolicies cannot admit its scrapes; give the PrometheusBackend a namespace (e.g. PrometheusBackend.custom({ ..., namespace: 'monitoring' }))");
    }
    return this.namespace;
  }

  /** The scrape interval in seconds. */
  public get scrapeSeconds(): number {
    return this.scrapeInterval.toSeconds();
  }

  /** The discovery delay in seconds. */
  public get discoverySeconds(): number {
    return this.discoveryDelay.toSeconds();
  }

  /** The series label a pod label becomes (`rollouts-pod-template-hash` -> `rollouts_pod_template_hash`). */
  public podLabelAsSeriesLabel(podLabel: string): string {
    return sanitizeLabelName(podLabel);
  }

  /** The labels the pod scrape sets on every series of a pod with these labels (pod labels included as the scrape copies them). */
  public targetLabels(podLabels: readonly string[], podTargetLabels: readonly string[] = []): string[] {
    const copied = this.copiesPodLabels ? podLabels : podLabels.filter((l) => podTargetLabels.includes(l));
    return [...TARGET_LABELS, this.namespaceLabel, this.podLabel, ...(this.props.extraTargetLabels ?? []), ...copied.map(sanitizeLabelName)];
  }

  /** The labels, with their values, the pod scrape sets on every series of a pod (the rehearsal writes them). */
  public targetLabelValues(p: ScrapedPod): Record<string, string> {
    const extra: Record<ExtraTargetLabel, string> = { node: p.node, container: p.container, endpoint: p.port.name };
    const [job, instance] = TARGET_LABELS;
    const out: Record<string, string> = { [job]: this.jobOf(p.namespace, p.workload), [instance]: `${p.pod}:${p.port.number}`, [this.namespaceLabel]: p.namespace, [this.podLabel]: p.pod };
    for (const l of this.props.extraTargetLabels ?? []) out[l] = extra[l];
    for (const [k, v] of Object.entries(p.podLabels)) {
      if (this.copiesPodLabels || (p.podTargetLabels ?? []).includes(k)) out[sanitizeLabelName(k)] = v;
    }
    return out;
  }

  /**
   * The name an exposed label has in Prometheus: itself, or `exported_<name>` when the scrape sets a
   * label of that name and does not honour the target's labels.
   */
  public exposedLabel(name: string, targetLabels: readonly string[]): string {
    return !this.honorLabels && targetLabels.includes(name) ? `exported_${name}` : name;
  }

  /** The `job` label of a pod scrape (`<namespace>/<PodMonitor>` for operator-managed jobs). */
  public jobOf(namespace: string, monitorName: string): string {
    return this.props.jobLabel ?? `${namespace}/${monitorName}`;
  }

  /**
   * Makes Prometheus scrape a workload: returns the pod annotations it needs (annotation-driven
   * scrape), or adds a PodMonitor to `scope` and returns none.
   */
  public scrape(scope: Construct, request: ScrapeRequest): Record<string, string> {
    const path = request.path ?? SCRAPE_DEFAULT_PATH;
    if (this.podScrape === PodScrape.ANNOTATIONS) return scrapeAnnotations(request.port.number, path);
    new ApiObject(scope, 'PodMonitor', {
      apiVersion: `${PROMETHEUS_OPERATOR_GROUP}/v1`,
      kind: 'PodMonitor',
      metadata: { name: request.name, labels: { ...this.podMonitorLabels } },
      spec: {
        selector: { matchLabels: { ...request.selector } },
        podMetricsEndpoints: [{ port: request.port.name, path }],
        ...(request.podTargetLabels && request.podTargetLabels.length > 0 ? { podTargetLabels: [...request.podTargetLabels] } : {}),
      },
    });
    return {};
  }
}

/**
 * The longest a new pod waits to become a scrape target: Kubernetes service discovery is a
 * watch (no refresh interval), but the discovery manager passes updates on at most every 5 s
 * (prometheus/prometheus discovery/manager.go, updatert) and the scrape manager applies them at
 * most every 5 s (scrape/manager.go, reloader ticker), both @ v3.11.1 (what chart 29.1.0 runs)
 * and @ v2.42.0 (Debian's, the rehearsal's).
 */
export const PROMETHEUS_DISCOVERY_DELAY = Duration.seconds(10);

/** prometheus-operator's API group, of its PodMonitor and ServiceMonitor kinds. */
export const PROMETHEUS_OPERATOR_GROUP = 'monitoring.coreos.com';

/** The presets by the name the command line uses. */
export const PROMETHEUS_PRESETS: Readonly<Record<string, () => PrometheusBackend>> = {
  'community-chart': () => PrometheusBackend.communityChart(),
  'challenge': () => PrometheusBackend.challengeEnvironment(),
  'kube-prometheus-stack': () => PrometheusBackend.kubePrometheusStack(),
};
