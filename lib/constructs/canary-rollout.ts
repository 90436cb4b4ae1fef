import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { Rollout, RolloutSpecStrategyCanarySteps, RolloutSpecTemplateSpecContainers } from '../../imports/argo-rollout-argoproj.io';
import { SeriesPath } from '../analysis/evidence';
import { arg, CANARY_HASH_ARG, NAMESPACE_ARG, podsAtWeight, ROLLOUTS_POD_TEMPLATE_HASH_LABEL } from '../platform/argo';
import { SPAN_KIND_SERVER, SPANMETRICS_STATUS } from '../platform/collector-config';
import { DEFAULT_METHOD, HealthyProfile, ImageFacts, imageRepository, PROFILE_QUANTILES, ProfileQuantile, ServedEndpoint } from '../platform/image-facts';
import { PrometheusBackend } from '../platform/metrics-backend';
import { OTEL_ENV, OTEL_SDK_DEFAULT_EXPORT_DELAY, OtlpProtocol } from '../platform/otel';
import { SCRAPE_DEFAULT_PATH } from '../platform/prometheus-naming';
import { CanaryAnalysis, CanaryAnalysisOptions } from './canary-analysis';
import { CanaryRequests, IAnalysis, IAnalysisTarget, ICollector, ISpanmetricsPipeline, ITrafficTarget, Matchers, PodIdentity } from './interfaces';
import { IngressSource, PodIngressPolicy } from './pod-ingress-policy';
import { RESTRICTED_CONTAINER } from './security-context';
import { ThreeGateAnalysis, ThreeGateAnalysisOptions } from './three-gate-analysis';
import { parseImage, renderContainer, RequestCounter, RequestSource, WorkloadHealth, WorkloadProps, WorkloadTelemetry } from './workload';
import { clusterDns, Image, imageRef, namespaceOf, validateInteger, validateName, validatePort } from '../util';

/** The pod-level security context: the container's user, group, non-root requirement and seccomp profile, for every container of the pod. */
function podSecurityContext(container: kplus.k8s.Container): Record<string, unknown> {
  const sc = container.securityContext ?? {};
  return Object.fromEntries(Object.entries({ runAsNonRoot: sc.runAsNonRoot, runAsUser: sc.runAsUser, runAsGroup: sc.runAsGroup, seccompProfile: sc.seccompProfile })
    .filter(([, v]) => v !== undefined));
}


/** A request counter as it reaches Prometheus: its labels after the scrape. */
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

  /** Runs the rollout's analysis (the first `addAnalysis` made), or the given one, and waits for its verdict. */
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
  /** the collector the service sends its traces to (over OTLP/HTTP) */
  readonly collector: ICollector;
  /**
   * the Prometheus that scrapes the pods and that the gates query
   * @default - the collector's, else PrometheusBackend.communityChart()
   */
  readonly prometheus?: PrometheusBackend;
  /** the service: its image, ports, probes, resources, and where its requests are counted */
  readonly workload: WorkloadProps;
  /** the name of the Rollout and the Service @default - the last path component of the image repository */
  readonly name?: string;
  /** the number of pods @default 2 */
  readonly replicas?: number;
  /** old ReplicaSets kept for rollback @default 3 */
  readonly revisionHistoryLimit?: number;
  /** the port of the Service in front of the pods @default - the serving container port */
  readonly servicePort?: number;
  /** the canary steps @default - setWeight 50, analysis, setWeight 100 */
  readonly steps?: CanaryStep[];
}

const C = 'CanaryRollout';

/** The default resources of a workload: requests equal to limits (Guaranteed QoS). */
const DEFAULT_RESOURCES: kplus.ContainerResources = {
  cpu: { request: kplus.Cpu.millis(100), limit: kplus.Cpu.millis(100) },
  memory: { request: Size.mebibytes(128), limit: Size.mebibytes(128) },
};

/**
 * A service as an Argo Rollouts canary, with the Service in front of it.
 *
 * The container comes from the workload (rendered by cdk8s-plus); the rollout adds what the
 * pipeline needs: the OTLP endpoint from the collector's Service, and `OTEL_RESOURCE_ATTRIBUTES`
 * with the pipeline's pod identity keys, so the canary's spans can be told from the stable's.
 */
export class CanaryRollout extends Construct implements IAnalysisTarget, ITrafficTarget {
  /** the Rollout */
  public readonly rollout: Rollout;
  /** the Service in front of stable and canary pods */
  public readonly service: kplus.Service;
  /**
   * The NetworkPolicy of the pods: the serving port from anywhere (users arrive through ingress
   * controllers, load balancers and other namespaces), the metrics port from Prometheus's
   * namespace, every other port closed to other pods.
   */
  public readonly ingressPolicy: PodIngressPolicy;
  /** the image the rollout deploys */
  public readonly image: Image;
  /** the number of pods */
  public readonly replicas: number;
  /** the canary steps */
  public readonly steps: readonly CanaryStep[];
  /** the Service port */
  public readonly servicePort: number;
  /** the container port the Service sends user requests to */
  public readonly servingPort: { readonly name: string; readonly number: number };
  /** the OTLP endpoint the service exports to */
  public readonly otlpEndpoint: string;
  /** the pod labels the Service selects */
  public readonly podLabels: Readonly<Record<string, string>>;
  /** the Prometheus that scrapes the pods and that the gates query */
  public readonly prometheus: PrometheusBackend;
  /** the spanmetrics the service's spans become */
  public readonly pipeline: ISpanmetricsPipeline;
  /** the collector the service sends its traces to */
  public readonly collector: ICollector;
  /** the service's request counter as the service names it (before a scrape may rename its labels), when its requests are counted by a counter */
  public readonly requestCounter?: RequestCounter;
  /** the service's request counter as it reaches Prometheus, when its requests are counted by a counter */
  public readonly requestsMetric?: RequestsMetric;
  /** the series the gates count the canary's user requests in */
  public readonly requests: CanaryRequests;
  /** the matchers of the canary's user request spans in the spanmetrics series (the latency gates read them) */
  public readonly canarySpans: Matchers;
  /** every endpoint the service serves, with its service name */
  public readonly endpoints: readonly ServedEndpoint[];
  /** the endpoints users call: what the gates count and the traffic generator sends */
  public readonly userEndpoints: readonly ServedEndpoint[];
  /** the `service.name` of the service's spans, unless it names its services itself */
  public readonly serviceName: string;
  /** where the pods serve Prometheus metrics, if they do */
  public readonly metricsPort?: { readonly name: string; readonly number: number; readonly path: string };
  /** the longest a finished span waits in the app's SDK before it is exported, in ms */
  public readonly exportDelayMs: number;
  /** the export delay the workload states, if it states one */
  private readonly statedExportDelayMs?: number;
  /** how the service behaves when healthy, if the workload says */
  private readonly healthy?: HealthyProfile;
  /** the analyses addAnalysis made, the first run by `CanaryStep.analysis()` */
  private readonly analyses: CanaryAnalysis[] = [];
  /** what the workload says of its image beyond its props (a preset's facts) */
  private readonly statedImageFacts?: ImageFacts;

  constructor(scope: Construct, id: string, props: CanaryRolloutProps) {
    super(scope, id);
    const workload = props.workload;
    this.image = parseImage(workload.image, `${C}: workload.image`);
    const image = imageRef(this.image, `${C}: workload.image`);
    const name = props.name ?? this.image.repository.split('/').pop()!;
    validateName(C, 'name', name);
    this.replicas = props.replicas ?? 2;
    validateInteger(C, 'replicas', this.replicas, 1);
    const revisionHistoryLimit = props.revisionHistoryLimit ?? 3;
    validateInteger(C, 'revisionHistoryLimit', revisionHistoryLimit, 0);
    this.servingPort = this.resolveServingPort(workload);
    this.servicePort = props.servicePort ?? this.servingPort.number;
    validatePort(C, 'servicePort', this.servicePort);
    this.steps = props.steps ?? [CanaryStep.setWeight(50), CanaryStep.analysis(), CanaryStep.setWeight(100)];
    this.podLabels = { app: name };
    const collectorPrometheus = props.collector.prometheus;
    if (props.prometheus && collectorPrometheus && props.prometheus !== collectorPrometheus && props.prometheus.name !== collectorPrometheus.name) {
      throw new Error(`${C}: prometheus is '${props.prometheus.name}', but the collector's spanmetrics are scraped by '${collectorPrometheus.name}'; `
        + 'the gates read both from one Prometheus: give the rollout and the collector the same PrometheusBackend');
    }
    this.prometheus = props.prometheus ?? collectorPrometheus ?? PrometheusBackend.communityChart();
    this.pipeline = props.collector.pipeline;
    this.collector = props.collector;
    this.otlpEndpoint = props.collector.otlpHttpEndpoint;

    this.statedImageFacts = workload.imageFacts;
    const telemetry = workload.telemetry ?? {};
    this.serviceName = telemetry.serviceName ?? name;
    this.endpoints = this.resolveEndpoints(workload, telemetry);
    this.userEndpoints = this.endpoints.filter((e) => e.caller === 'user');
    this.statedExportDelayMs = telemetry.exportDelay?.toMilliseconds({ integral: false });
    this.healthy = healthyProfile(props.workload.healthy);
    this.exportDelayMs = this.statedExportDelayMs ?? OTEL_SDK_DEFAULT_EXPORT_DELAY.toMilliseconds();
    if (!(this.exportDelayMs >= 0)) throw new Error(`${C}: workload.telemetry.exportDelay must not be negative, got ${this.exportDelayMs}ms`);

    if (workload.metrics) {
      const port = workload.ports.find((p) => p.name === workload.metrics!.port);
      if (!port) {
        throw new Error(`${C}: workload.metrics.port '${workload.metrics.port}' is not one of the workload's ports (${workload.ports.map((p) => p.name).join(', ')}); name the port that serves /metrics`);
      }
      this.metricsPort = { name: port.name!, number: port.number, path: workload.metrics.path ?? SCRAPE_DEFAULT_PATH };
    }
    // The gates select the canary by this pod label, so a PodMonitor must copy it.
    const podTargetLabels = [ROLLOUTS_POD_TEMPLATE_HASH_LABEL];
    const targetLabels = this.prometheus.targetLabels([...Object.keys(this.podLabels), ROLLOUTS_POD_TEMPLATE_HASH_LABEL], podTargetLabels);
    const scrapeAnnotations = this.metricsPort
      ? this.prometheus.scrape(this, { name, selector: this.podLabels, port: { name: this.metricsPort.name, number: this.metricsPort.number }, path: this.metricsPort.path, podTargetLabels })
      : {};

    this.canarySpans = this.spanMatchers();
    const source = workload.requests ?? RequestSource.spanmetrics();
    const resolved = this.resolveRequests(source, targetLabels);
    this.requestCounter = source.counter;
    this.requestsMetric = resolved.metric;
    this.requests = resolved.requests;

    const own = this.telemetryEnv(telemetry);
    const clash = Object.keys(workload.envVariables ?? {}).find((k) => k in own);
    if (clash) {
      throw new Error(`${C}: workload.envVariables sets ${clash}, which the rollout sets itself from the collector and the pipeline; remove it from envVariables`);
    }
    const container = this.renderContainer(name, image, workload, { ...own, ...workload.envVariables });

    this.rollout = this.renderRollout(name, revisionHistoryLimit, scrapeAnnotations, container);
    this.service = this.renderService(name);
    this.ingressPolicy = new PodIngressPolicy(this, 'Ingress', { name, selector: this.podLabels });
    this.ingressPolicy.admit([this.servingPort], IngressSource.anywhere());
    if (this.metricsPort) this.ingressPolicy.admit([this.metricsPort], IngressSource.namespaces(this.prometheus.scrapeNamespace(`${C} '${name}'`)));
    props.collector.admitTelemetryFrom?.(this.namespace);
    this.node.addValidation({ validate: () => this.stepProblems(name) });
  }

  /**
   * Makes an analysis of this rollout's canary, beside the rollout (same scope), with the given
   * gates; the first one made is the one `CanaryStep.analysis()` steps run. Returns it.
   */
  public addAnalysis(options: CanaryAnalysisOptions = {}, id = 'Analysis'): CanaryAnalysis {
    return this.keep(new CanaryAnalysis(this.node.scope!, id, { ...options, target: this }));
  }

  /**
   * Makes the three-gate analysis (traffic, error ratio, p95 latency) of this rollout's canary,
   * beside the rollout; the first analysis made is the one `CanaryStep.analysis()` steps run. Returns it.
   */
  public addThreeGateAnalysis(options: ThreeGateAnalysisOptions = {}, id = 'Gates'): ThreeGateAnalysis {
    return this.keep(new ThreeGateAnalysis(this.node.scope!, id, { ...options, target: this }));
  }

  private keep<T extends CanaryAnalysis>(analysis: T): T {
    this.analyses.push(analysis);
    return analysis;
  }

  /** The rollout's name: of the Rollout and its Service. */
  public get name(): string {
    return this.rollout.name;
  }

  /**
   * What an image catalogue should know of this workload's image, for the tools that read the
   * synthesized YAML (rules, rehearsal, explain): its endpoints with their internal calls and
   * latencies, its request counter and metrics port, the span of Prometheus's scrapes, and the
   * export delay it states. The manifests show none of it.
   */
  public imageFacts(): ImageFacts {
    const counter = this.requestCounter;
    const scrapes = this.endpoints.find((e) => e.caller === 'prometheus');
    return {
      ...this.statedImageFacts,
      repository: imageRepository(this.image.repository),
      endpoints: this.endpoints,
      ...(this.healthy ? { healthy: this.healthy } : {}),
      ...(scrapes && this.metricsPort ? { scrapeSpanName: scrapes.spanName } : {}),
      ...(this.statedExportDelayMs !== undefined ? { exportDelayMs: this.statedExportDelayMs } : {}),
      ...(this.metricsPort ? {
        metrics: {
          port: this.metricsPort.number,
          path: this.metricsPort.path,
          series: counter ? [{
            name: counter.name,
            labels: [counter.endpointLabel, counter.errorLabel],
            spanNameLabel: counter.endpointLabel,
            failed: { label: counter.errorLabel, value: counter.errorValue },
          }] : [],
        },
      } : {}),
    };
  }

  /** The namespace the rollout runs in. */
  public get namespace(): string {
    return namespaceOf(this.rollout);
  }

  /** The in-cluster URL of the Service, e.g. `http://hotrod.hotrod.svc.cluster.local:8080`. */
  public get url(): string {
    return `http://${clusterDns(this.service)}:${this.servicePort}`;
  }

  /** The analyses the steps run, with the weight in force when each starts. */
  public analysisSteps(): { readonly weight: number; readonly analysis: IAnalysis }[] {
    let weight = 0;
    const out: { weight: number; analysis: IAnalysis }[] = [];
    for (const step of this.steps) {
      if (step.weight !== undefined) weight = step.weight;
      const analysis = step._analysis(this.analyses[0]);
      if (analysis) out.push({ weight, analysis });
    }
    return out;
  }

  /** The share of the Service's user requests the canary serves while its first analysis runs: its pods' share at that weight (half when no step runs one yet). */
  public get canaryRequestShare(): number {
    const [first] = this.analysisSteps();
    const pods = this.podsAtWeight(first?.weight ?? 50);
    return pods.canary / (pods.canary + pods.stable);
  }

  /**
   * The canary and stable pod counts at a weight, as Argo Rollouts sets them without a traffic
   * router (see {@link podsAtWeight}).
   */
  public podsAtWeight(weight: number): { readonly canary: number; readonly stable: number } {
    return podsAtWeight(this.replicas, weight);
  }
  /** Where the gates count the canary's user requests: the service's counter as the scrape names its labels, or its spanmetrics calls. */
  private resolveRequests(source: RequestSource, targetLabels: readonly string[]): { metric?: RequestsMetric; requests: CanaryRequests } {
    if (!source.counter) {
      const statusLabel = this.pipeline.series.intrinsicLabels[3];
      return { requests: { path: SeriesPath.SPANMETRICS, metric: this.pipeline.series.calls, matchers: this.canarySpans, failed: { [statusLabel]: SPANMETRICS_STATUS.error } } };
    }
    const counter = source.counter;
    if (!this.metricsPort) {
      throw new Error(`${C}: workload.requests counts requests with the counter '${counter.name}', but the workload declares no metrics port, so it is never scraped; `
        + "set workload.metrics (e.g. { port: 'http', path: '/metrics' }) or count requests with RequestSource.spanmetrics()");
    }
    const metric: RequestsMetric = {
      name: counter.name,
      endpointLabel: this.prometheus.exposedLabel(counter.endpointLabel, targetLabels),
      errorLabel: this.prometheus.exposedLabel(counter.errorLabel, targetLabels),
      errorValue: counter.errorValue,
      hashLabel: this.prometheus.podLabelAsSeriesLabel(ROLLOUTS_POD_TEMPLATE_HASH_LABEL),
    };
    return {
      metric,
      requests: {
        path: SeriesPath.POD_SCRAPE,
        metric: counter.name,
        matchers: {
          [this.prometheus.namespaceLabel]: arg(NAMESPACE_ARG),
          [metric.hashLabel]: arg(CANARY_HASH_ARG),
          [metric.endpointLabel]: this.userEndpoints.map((e) => e.spanName),
        },
        failed: { [metric.errorLabel]: counter.errorValue },
      },
    };
  }

  /**
   * The environment that sends the service's spans to the collector, named and marked with the
   * pipeline's pod identity (so the canary's spans can be told from the stable's).
   */
  private telemetryEnv(telemetry: WorkloadTelemetry): Record<string, kplus.EnvValue> {
    const identity = this.pipeline.podIdentity;
    const resourceAttributes = [
      `${identity[PodIdentity.POD_NAME]}=$(POD_NAME)`,
      `${identity[PodIdentity.NAMESPACE]}=$(POD_NAMESPACE)`,
      `${identity[PodIdentity.POD_TEMPLATE_HASH]}=$(POD_HASH)`,
    ].join(',');
    return {
      [OTEL_ENV.endpoint]: kplus.EnvValue.fromValue(this.otlpEndpoint),
      // the collector's OTLP/HTTP endpoint takes it
      [OTEL_ENV.protocol]: kplus.EnvValue.fromValue(OtlpProtocol.HTTP_PROTOBUF),
      ...(telemetry.namesItsServices ? {} : { [OTEL_ENV.serviceName]: kplus.EnvValue.fromValue(this.serviceName) }),
      POD_NAME: kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.POD_NAME),
      POD_NAMESPACE: kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.POD_NAMESPACE),
      POD_HASH: kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.POD_LABEL, { key: ROLLOUTS_POD_TEMPLATE_HASH_LABEL }),
      [OTEL_ENV.resourceAttributes]: kplus.EnvValue.fromValue(resourceAttributes),
    };
  }

  /** The Rollout: the pod template around the container, and the canary steps (rendered at synth, so a later addAnalysis reaches them). */
  private renderRollout(name: string, revisionHistoryLimit: number, scrapeAnnotations: Record<string, string>, container: kplus.k8s.Container): Rollout {
    const self = this;
    return new Rollout(this, 'Resource', {
      metadata: { name, labels: { ...this.podLabels } },
      spec: {
        replicas: this.replicas,
        revisionHistoryLimit,
        selector: { matchLabels: { ...this.podLabels } },
        template: {
          metadata: { labels: { ...this.podLabels }, annotations: scrapeAnnotations },
          spec: {
            automountServiceAccountToken: false,
            securityContext: podSecurityContext(container),
            // The container as cdk8s-plus renders it: its k8s classes carry IntOrString and
            // Quantity values the way this import's classes do, so the import renders them.
            containers: [container as unknown as RolloutSpecTemplateSpecContainers],
          },
        },
        strategy: {
          canary: {
            // A getter, so an analysis added after construction still reaches the output.
            get steps() {
              return self.steps.map((s) => s._render(self.analyses[0]));
            },
          },
        },
      },
    });
  }

  /** The Service in front of stable and canary pods, on the serving port. */
  private renderService(name: string): kplus.Service {
    const service = new kplus.Service(this, 'Service', {
      metadata: { name, labels: { ...this.podLabels } },
      ports: [{ name: this.servingPort.name, port: this.servicePort, targetPort: this.servingPort.number, protocol: kplus.Protocol.TCP }],
    });
    for (const [k, v] of Object.entries(this.podLabels)) service.selectLabel(k, v);
    return service;
  }

  private resolveServingPort(workload: WorkloadProps): { name: string; number: number } {
    if (workload.ports.length === 0) throw new Error(`${C}: workload.ports is empty; give the port the service listens on, e.g. [{ name: 'http', number: 8080 }]`);
    const names = new Set<string>();
    workload.ports.forEach((p, i) => {
      if (!p.name) throw new Error(`${C}: workload.ports[${i}] (${p.number}) has no name; name every port (the Service, the scrape and the probes refer to ports by name)`);
      validatePort(C, `workload.ports[${i}].number`, p.number);
      if (names.has(p.name)) throw new Error(`${C}: workload.ports has two ports named '${p.name}'; give each its own name`);
      names.add(p.name);
    });
    const serving = workload.servingPort === undefined ? workload.ports[0] : workload.ports.find((p) => p.name === workload.servingPort);
    if (!serving) {
      throw new Error(`${C}: workload.servingPort '${workload.servingPort}' is not one of the workload's ports (${[...names].join(', ')})`);
    }
    return { name: serving.name!, number: serving.number };
  }

  private resolveEndpoints(workload: WorkloadProps, telemetry: WorkloadTelemetry): ServedEndpoint[] {
    const endpoints = workload.endpoints.map((e, i) => {
      if (!e.service && telemetry.namesItsServices) {
        throw new Error(`${C}: workload.endpoints[${i}] ('${e.spanName}') has no service, and the app names its services itself (telemetry.namesItsServices); say which service serves it`);
      }
      if (e.caller === 'user' && !(e.urls && e.urls.length > 0)) {
        throw new Error(`${C}: workload.endpoints[${i}] ('${e.spanName}') is called by users but has no urls; give the request URLs that reach it, e.g. ['/checkout']`);
      }
      checkRequest(`${C}: workload.endpoints[${i}] ('${e.spanName}')`, e);
      // HTTP servers name a span `{method} {route}` (OpenTelemetry semantic conventions, http spans)
      const named = /^([A-Z]+) \//.exec(e.spanName)?.[1];
      if (e.caller === 'user' && named !== undefined && named !== (e.method ?? DEFAULT_METHOD)) {
        throw new Error(`${C}: workload.endpoints[${i}] ('${e.spanName}') is named as a server names ${named} requests, but the traffic generator would send `
          + `${e.method ?? `${DEFAULT_METHOD} (method is not set)`}, whose spans carry another name; set method: '${named}'`);
      }
      return { ...e, service: e.service ?? this.serviceName };
    });
    endpoints.forEach((e, i) => (e.calls ?? []).forEach((call, k) => {
      const where = `${C}: workload.endpoints[${i}].calls[${k}]`;
      if (!endpoints.some((x) => x.spanName === call.spanName && x !== e)) {
        throw new Error(`${where} names span '${call.spanName}', which is none of the workload's other endpoints (${endpoints.filter((x) => x !== e).map((x) => x.spanName).join(', ') || 'none'}); `
          + `declare it, e.g. { spanName: '${call.spanName}', caller: 'internal' }`);
      }
      if (!(call.perRequest > 0) || !Number.isFinite(call.perRequest)) {
        throw new Error(`${where}.perRequest must be a positive number of spans per request, got ${call.perRequest}`);
      }
    }));
    if (!endpoints.some((e) => e.caller === 'user')) {
      throw new Error(`${C}: workload.endpoints has no endpoint with caller 'user'; the gates count the canary's user requests, so name at least one `
        + "(e.g. { spanName: 'GET /checkout', caller: 'user', urls: ['/checkout'] })");
    }
    return endpoints;
  }

  /** The spanmetrics matchers of the canary's user request spans: its SERVER spans of the user endpoints, in its namespace, of the canary's ReplicaSet. */
  private spanMatchers(): Matchers {
    const series = this.pipeline.series;
    const [serviceLabel, spanNameLabel, spanKindLabel] = series.intrinsicLabels;
    const services = [...new Set(this.userEndpoints.map((e) => e.service))];
    return {
      [serviceLabel]: services.length === 1 ? services[0] : services,
      [spanKindLabel]: SPAN_KIND_SERVER,
      [spanNameLabel]: this.userEndpoints.map((e) => e.spanName),
      [this.pipeline.dimensionLabel(PodIdentity.NAMESPACE)]: arg(NAMESPACE_ARG),
      [this.pipeline.dimensionLabel(PodIdentity.POD_TEMPLATE_HASH)]: arg(CANARY_HASH_ARG),
    };
  }

  private renderContainer(name: string, image: string, workload: WorkloadProps, env: Record<string, kplus.EnvValue>): kplus.k8s.Container {
    const container = renderContainer({
      name,
      image,
      imagePullPolicy: workload.imagePullPolicy ?? kplus.ImagePullPolicy.IF_NOT_PRESENT,
      args: workload.args,
      command: workload.command,
      ports: workload.ports.map((p) => ({ ...p, protocol: p.protocol ?? kplus.Protocol.TCP })),
      envVariables: env,
      // A TCP probe by default: an HTTP probe on the serving port is a request many apps count
      // (and trace), which would pass the traffic gate for an idle canary.
      readiness: workload.readiness ?? kplus.Probe.fromTcpSocket({ port: this.servingPort.number }),
      liveness: workload.liveness,
      resources: workload.resources ?? DEFAULT_RESOURCES,
      // the restricted Pod Security level, unless the workload says otherwise
      securityContext: { ...RESTRICTED_CONTAINER, ...workload.securityContext },
    });
    // This import types resource quantities as plain values, not Quantity objects.
    const plain = (m?: Record<string, kplus.k8s.Quantity>) => (m ? Object.fromEntries(Object.entries(m).map(([k, q]) => [k, q.value])) : undefined);
    const resources = container.resources;
    return { ...container, resources: resources && ({ limits: plain(resources.limits), requests: plain(resources.requests) } as unknown as kplus.k8s.ResourceRequirements) };
  }

  private stepProblems(name: string): string[] {
    const problems: string[] = [];
    if (this.steps.some((s) => s.isAnalysis && !s._analysis(this.analyses[0]))) {
      problems.push(`${C}: rollout '${name}' has an analysis step but no analysis; call rollout.addThreeGateAnalysis() or rollout.addAnalysis({ gates }), or pass CanaryStep.analysis(analysis)`);
    }
    // An analysis that no step runs judges nothing: the canary would be promoted ungated.
    for (const analysis of this.analyses.filter((a) => !this.steps.some((s) => s._analysis(this.analyses[0]) === a))) {
      problems.push(`${C}: rollout '${name}' has analysis '${analysis.templateName}', but none of its steps (${this.steps.map((s) => s.describe()).join(', ')}) runs it, `
        + `so every canary would be promoted without it; add CanaryStep.analysis(${analysis === this.analyses[0] ? '' : 'analysis'}) to steps after the first setWeight`);
    }
    return problems;
  }

}

/**
 * An endpoint's request as the traffic generator sends it: a method of RFC 9110's token characters
 * (upper case by convention), header names of token characters, values and a body without
 * control characters but tab and newline.
 */
function checkRequest(where: string, e: Pick<ServedEndpoint, 'method' | 'body' | 'headers'>): void {
  if (e.method !== undefined && !/^[A-Z]+$/.test(e.method)) {
    throw new Error(`${where}: method '${e.method}' is not an HTTP method; write it in capitals, e.g. 'POST'`);
  }
  for (const [name, value] of Object.entries(e.headers ?? {})) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new Error(`${where}: header name '${name}' is not an HTTP token; use letters, digits and '-'`);
    if (/[\x00-\x1f\x7f]/.test(value)) throw new Error(`${where}: the value of header '${name}' holds a control character`);
  }
  if (e.body !== undefined && /[\x00-\x08\x0b-\x1f\x7f]/.test(e.body)) throw new Error(`${where}: body holds a control character (tab and newline are allowed)`);
}

/** A workload's stated health as facts of its image (latencies in ms), checked: ratios in [0, 1), latencies positive and growing with the quantile. */
function healthyProfile(health: WorkloadHealth | undefined): HealthyProfile | undefined {
  if (!health) return undefined;
  const where = `${C}: workload.healthy`;
  if (health.errorRatio !== undefined && !(health.errorRatio >= 0 && health.errorRatio < 1)) {
    throw new Error(`${where}.errorRatio must be a share in [0, 1), got ${health.errorRatio} (for 0.5% write 0.005)`);
  }
  const latencyMs: Record<string, number> = Object.fromEntries(Object.entries(health.latency ?? {}).map(([q, d]) => [q, (d as Duration).toMilliseconds({ integral: false })]));
  const ordered = (Object.keys(PROFILE_QUANTILES) as ProfileQuantile[]).filter((q) => latencyMs[q] !== undefined);
  ordered.forEach((q, i) => {
    if (!(latencyMs[q] > 0)) throw new Error(`${where}.latency.${q} must be a positive latency, got ${latencyMs[q]}ms`);
    if (i > 0 && !(latencyMs[q] >= latencyMs[ordered[i - 1]])) {
      throw new Error(`${where}.latency.${q} (${latencyMs[q]}ms) is below ${ordered[i - 1]} (${latencyMs[ordered[i - 1]]}ms); a higher quantile is never faster`);
    }
  });
  return { ...(health.errorRatio !== undefined ? { errorRatio: health.errorRatio } : {}), ...(ordered.length > 0 ? { latencyMs } : {}) };
}
