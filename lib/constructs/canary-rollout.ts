import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { Rollout, RolloutSpecStrategyCanarySteps, RolloutSpecTemplateSpecContainersReadinessProbeTcpSocketPort } from '../../imports/argo-rollout-argoproj.io';
import { AnalysisArgument, podsAtWeight, ROLLOUTS_POD_TEMPLATE_HASH_LABEL } from '../platform/argo';
import { ServedEndpoint } from '../platform/image-facts';
import { HOTROD_ENDPOINTS, HOTROD_EXPORT_DELAY_MS, HOTROD_IMAGE, HOTROD_REQUESTS_METRIC } from '../presets/hotrod';
import { PrometheusBackend } from '../platform/metrics-backend';
import { OtelCollectorDaemonSet } from './otel-collector-daemon-set';
import { PodIdentity } from './spanmetrics-pipeline';
import { clusterDns, Image, imageRef, namespaceOf, validateInteger, validateName, validatePort } from '../util';


/** An analysis a rollout step can run. */
export interface IAnalysis {
  /** the AnalysisTemplate's name */
  readonly templateName: string;
  /** the arguments the template declares, with their sources */
  readonly args: readonly AnalysisArgument[];
  /** the user request rate the canary must get at the analysis weight for the analysis to have its evidence in time, if it needs one */
  readonly requiredCanaryRequestsPerSecond?: number;
}

/** Where a service's requests are counted: its own counter, scraped from its pods, as Prometheus names it. */
export interface RequestsMetric {
  /** the counter */
  readonly name: string;
  /** the label that carries the endpoint (span name), after the scrape (`exported_endpoint` when the scrape sets `endpoint` itself) */
  readonly endpointLabel: string;
  /** the label that marks failed requests, after the scrape, and its value on them */
  readonly errorLabel: string;
  readonly errorValue: string;
  /** the label that carries the pod's `rollouts-pod-template-hash` */
  readonly hashLabel: string;
}

/** A step of the canary strategy. */
export class CanaryStep {
  /** Sends this share of pods (no traffic router: of replicas) to the canary. */
  public static setWeight(percent: number): CanaryStep {
    validateInteger('CanaryStep.setWeight', 'percent', percent, 0, 100);
    return new CanaryStep(percent, undefined);
  }

  /** Runs the analysis attached with `CanaryRollout.useAnalysis()` (or the given one) and waits for its verdict. */
  public static analysis(analysis?: IAnalysis): CanaryStep {
    return new CanaryStep(undefined, { analysis });
  }

  private constructor(
    /** the weight this step sets, if it is a setWeight step */
    public readonly weight: number | undefined,
    private readonly analysisRef: { analysis?: IAnalysis } | undefined,
  ) {}

  /** `setWeight 50` or `analysis`, for messages. */
  public describe(): string {
    return this.weight !== undefined ? `setWeight ${this.weight}` : 'analysis';
  }

  /** Whether this step runs an analysis. */
  public get isAnalysis(): boolean {
    return this.analysisRef !== undefined;
  }

  /** @internal */
  public _render(attached: IAnalysis | undefined): RolloutSpecStrategyCanarySteps {
    if (this.weight !== undefined) return { setWeight: this.weight };
    const analysis = this.analysisRef?.analysis ?? attached;
    if (!analysis) throw new Error('unreachable: validated before rendering');
    return {
      analysis: {
        templates: [{ templateName: analysis.templateName }],
        args: analysis.args.map((a) => ({ name: a.name, valueFrom: { ...a.valueFrom } })),
      },
    };
  }

  /** @internal */
  public _analysis(attached: IAnalysis | undefined): IAnalysis | undefined {
    return this.analysisRef ? (this.analysisRef.analysis ?? attached) : undefined;
  }
}

/** Properties of a {@link CanaryRollout}. */
export interface CanaryRolloutProps {
  /** the collector HotROD sends its traces to (over OTLP/HTTP) */
  readonly collector: OtelCollectorDaemonSet;
  /** the HotROD image tag: the value to change for a release @default '1.76.0' */
  readonly imageTag?: string;
  /** the HotROD image repository @default 'jaegertracing/example-hotrod' */
  readonly imageRepository?: string;
  /** the name of the Rollout and the Service @default 'hotrod' */
  readonly name?: string;
  /** the number of pods @default 2 */
  readonly replicas?: number;
  /** old ReplicaSets kept for rollback @default 3 */
  readonly revisionHistoryLimit?: number;
  /** the port of the Service in front of HotROD @default - HotROD's frontend port, 8080 */
  readonly servicePort?: number;
  /** the canary steps @default - setWeight 50, analysis, setWeight 100 */
  readonly steps?: CanaryStep[];
  /** CPU request and limit (a Kubernetes quantity) @default '100m' */
  readonly cpu?: string;
  /** memory request and limit (a Kubernetes quantity) @default '100M' */
  readonly memory?: string;
  /** the numeric uid to run as: the image is `FROM scratch` with no USER, i.e. root @default 10001 */
  readonly runAsUser?: number;
}

const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$/;

/**
 * HotROD as an Argo Rollouts canary, with the Service in front of it.
 *
 * The OTLP endpoint comes from the collector's Service and OTLP/HTTP port, and the
 * `OTEL_RESOURCE_ATTRIBUTES` keys from the pipeline's pod identity dimensions.
 */
export class CanaryRollout extends Construct {
  /** the Rollout */
  public readonly rollout: Rollout;
  /** the Service in front of stable and canary pods */
  public readonly service: kplus.Service;
  /** the image the rollout deploys */
  public readonly image: Image;
  /** the number of pods */
  public readonly replicas: number;
  /** the canary steps */
  public readonly steps: readonly CanaryStep[];
  /** the Service port (it targets HotROD's frontend port) */
  public readonly servicePort: number;
  /** the OTLP endpoint HotROD exports to */
  public readonly otlpEndpoint: string;
  /** the pod labels the Service selects */
  public readonly podLabels: Readonly<Record<string, string>>;
  /** the Prometheus that scrapes the pods and that the gates query (the collector's) */
  public readonly prometheus: PrometheusBackend;
  /** HotROD's request counter, as it reaches Prometheus */
  public readonly requestsMetric: RequestsMetric;
  /** the endpoints users call: what the gates count and the traffic generator sends */
  public readonly userEndpoints: readonly ServedEndpoint[];
  /** the longest a finished span waits in the app's SDK before it is exported, in ms */
  public readonly exportDelayMs: number;
  private attachedAnalysis?: IAnalysis;

  constructor(scope: Construct, id: string, props: CanaryRolloutProps) {
    super(scope, id);
    const name = props.name ?? 'hotrod';
    validateName('CanaryRollout', 'name', name);
    this.image = { repository: props.imageRepository ?? HOTROD_IMAGE.repository, tag: props.imageTag ?? '1.76.0' };
    const image = imageRef(this.image, 'CanaryRollout');
    this.replicas = props.replicas ?? 2;
    validateInteger('CanaryRollout', 'replicas', this.replicas, 1);
    const revisionHistoryLimit = props.revisionHistoryLimit ?? 3;
    validateInteger('CanaryRollout', 'revisionHistoryLimit', revisionHistoryLimit, 0);
    // HotROD's ports are fixed by the image; only the Service's own port is a choice.
    const ports = HOTROD_IMAGE.ports;
    this.servicePort = props.servicePort ?? ports.frontend;
    validatePort('CanaryRollout', 'servicePort', this.servicePort);
    const cpu = props.cpu ?? '100m';
    const memory = props.memory ?? '100M';
    for (const [k, v] of [['cpu', cpu], ['memory', memory]]) {
      if (!QUANTITY.test(v)) {
        throw new Error(`CanaryRollout: ${k} '${v}' is not a Kubernetes quantity; use e.g. '100m' for CPU or '100M' / '128Mi' for memory`);
      }
    }
    const runAsUser = props.runAsUser ?? 10001;
    validateInteger('CanaryRollout', 'runAsUser', runAsUser, 1);
    this.steps = props.steps ?? [CanaryStep.setWeight(50), CanaryStep.analysis(), CanaryStep.setWeight(100)];
    this.podLabels = { app: name };
    this.prometheus = props.collector.prometheus;
    this.userEndpoints = (Object.values(HOTROD_ENDPOINTS) as ServedEndpoint[]).filter((e) => e.caller === 'user');
    this.exportDelayMs = HOTROD_EXPORT_DELAY_MS;
    // The gates select the canary by this pod label, so a PodMonitor must copy it.
    const podTargetLabels = [ROLLOUTS_POD_TEMPLATE_HASH_LABEL];
    const targetLabels = this.prometheus.targetLabels([...Object.keys(this.podLabels), ROLLOUTS_POD_TEMPLATE_HASH_LABEL], podTargetLabels);
    this.requestsMetric = {
      name: HOTROD_REQUESTS_METRIC.name,
      endpointLabel: this.prometheus.exposedLabel(HOTROD_REQUESTS_METRIC.endpointLabel, targetLabels),
      errorLabel: this.prometheus.exposedLabel(HOTROD_REQUESTS_METRIC.errorLabel, targetLabels),
      errorValue: HOTROD_REQUESTS_METRIC.errorValue,
      hashLabel: this.prometheus.podLabelAsSeriesLabel(ROLLOUTS_POD_TEMPLATE_HASH_LABEL),
    };
    const scrapeAnnotations = this.prometheus.scrape(this, {
      name,
      selector: this.podLabels,
      port: { name: 'frontend', number: HOTROD_IMAGE.metrics.port },
      path: HOTROD_IMAGE.metrics.path,
      podTargetLabels,
    });

    const pipeline = props.collector.pipeline;
    this.otlpEndpoint = props.collector.otlpHttpEndpoint;
    const identity = pipeline.podIdentity;
    const resourceAttributes = [
      `${identity[PodIdentity.POD_NAME]}=$(POD_NAME)`,
      `${identity[PodIdentity.NAMESPACE]}=$(POD_NAMESPACE)`,
      `${identity[PodIdentity.POD_TEMPLATE_HASH]}=$(POD_HASH)`,
    ].join(',');

    const self = this;
    this.rollout = new Rollout(this, 'Resource', {
      metadata: { name, labels: { ...this.podLabels } },
      spec: {
        replicas: this.replicas,
        revisionHistoryLimit,
        selector: { matchLabels: { ...this.podLabels } },
        template: {
          metadata: {
            labels: { ...this.podLabels },
            annotations: scrapeAnnotations,
          },
          spec: {
            automountServiceAccountToken: false,
            securityContext: { runAsNonRoot: true, runAsUser, runAsGroup: runAsUser },
            containers: [{
              name,
              image,
              imagePullPolicy: 'IfNotPresent',
              args: ['all'],
              ports: [
                { name: 'frontend', containerPort: ports.frontend, protocol: 'TCP' },
                { name: 'customer', containerPort: ports.customer, protocol: 'TCP' },
                { name: 'route', containerPort: ports.route, protocol: 'TCP' },
              ],
              env: [
                { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: this.otlpEndpoint },
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                { name: 'POD_HASH', valueFrom: { fieldRef: { fieldPath: `metadata.labels['${ROLLOUTS_POD_TEMPLATE_HASH_LABEL}']` } } },
                { name: 'OTEL_RESOURCE_ATTRIBUTES', value: resourceAttributes },
              ],
              resources: { requests: { cpu, memory }, limits: { cpu, memory } },
              securityContext: {
                runAsNonRoot: true,
                runAsUser,
                runAsGroup: runAsUser,
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                privileged: false,
                capabilities: { drop: ['ALL'] },
              },
              // A TCP probe: an HTTP probe on the frontend would be counted in hotrod_requests_total
              // (0.1 req/s at the default period) and pass the traffic gate for an idle canary.
              readinessProbe: { tcpSocket: { port: RolloutSpecTemplateSpecContainersReadinessProbeTcpSocketPort.fromNumber(ports.frontend) } },
            }],
          },
        },
        strategy: {
          canary: {
            // A getter, so an analysis attached after construction still reaches the output.
            get steps() {
              return self.steps.map((s) => s._render(self.attachedAnalysis));
            },
          },
        },
      },
    });

    this.service = new kplus.Service(this, 'Service', {
      metadata: { name, labels: { ...this.podLabels } },
      ports: [{ name: 'frontend', port: this.servicePort, targetPort: ports.frontend, protocol: kplus.Protocol.TCP }],
    });
    for (const [k, v] of Object.entries(this.podLabels)) this.service.selectLabel(k, v);

    this.node.addValidation({
      validate: () => {
        const problems: string[] = [];
        if (this.steps.some((s) => s.isAnalysis && !s._analysis(this.attachedAnalysis))) {
          problems.push(`CanaryRollout: rollout '${name}' has an analysis step but no analysis; call rollout.useAnalysis(gates) or pass CanaryStep.analysis(gates)`);
        }
        // An attached analysis that no step runs judges nothing: the canary would be promoted ungated.
        const attached = this.attachedAnalysis;
        if (attached && !this.steps.some((s) => s._analysis(attached) === attached)) {
          problems.push(`CanaryRollout: rollout '${name}' uses analysis '${attached.templateName}', but none of its steps (${this.steps.map((s) => s.describe()).join(', ')}) runs it, `
            + 'so every canary would be promoted without a gate; add CanaryStep.analysis() to steps after the first setWeight');
        }
        return problems;
      },
    });
  }

  /** Makes `analysis` the one that `CanaryStep.analysis()` steps run; returns it. */
  public useAnalysis<T extends IAnalysis>(analysis: T): T {
    if (this.attachedAnalysis && this.attachedAnalysis !== analysis) {
      throw new Error(`rollout '${this.rollout.name}' already uses analysis '${this.attachedAnalysis.templateName}'; pass CanaryStep.analysis(x) per step to run several`);
    }
    this.attachedAnalysis = analysis;
    return analysis;
  }

  /** The namespace the rollout runs in. */
  public get namespace(): string {
    return namespaceOf(this.rollout);
  }

  /** The in-cluster URL of the HotROD frontend, e.g. `http://hotrod.hotrod.svc.cluster.local:8080`. */
  public get url(): string {
    return `http://${clusterDns(this.service)}:${this.servicePort}`;
  }

  /** The analyses the steps run, with the weight in force when each starts. */
  public analysisSteps(): { readonly weight: number; readonly analysis: IAnalysis }[] {
    let weight = 0;
    const out: { weight: number; analysis: IAnalysis }[] = [];
    for (const step of this.steps) {
      if (step.weight !== undefined) weight = step.weight;
      const analysis = step._analysis(this.attachedAnalysis);
      if (analysis) out.push({ weight, analysis });
    }
    return out;
  }

  /**
   * The canary and stable pod counts at a weight, as Argo Rollouts sets them without a traffic
   * router (see {@link podsAtWeight}).
   */
  public podsAtWeight(weight: number): { readonly canary: number; readonly stable: number } {
    return podsAtWeight(this.replicas, weight);
  }
}
