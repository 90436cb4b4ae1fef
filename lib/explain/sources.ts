import { SeriesEstimate } from '../analysis/cardinality';
import { seriesEstimateOf } from '../model/cardinality';
import { ARRIVAL_CONFIDENCE, deriveTiming, DerivedTiming, poissonMeanFor, SeriesPath } from '../analysis/evidence';
import { effectiveCount, MetricSchedule } from '../analysis/schedule';
import { GateModel } from '../model/analyses';
import { analysisStepOf, CanaryModel, canaries, exportDelayOf, gatePathOf } from '../model/rollouts';
import { Collector } from '../model/collectors';
import { GateDesign, GateKind } from '../model/gates';
import { BinomialSprt } from '../analysis/sequential';
import { asArr, asObj, asStr, DeliveryModel, PathPattern, PodTemplate } from '../model/model';
import { ingressOf } from '../model/network-policies';
import { parseOtlpEndpoint } from '../model/otlp';
import { podsAtWeight } from '../platform/argo';
import { ListenerProtocol, spanmetricsFlushSeconds } from '../platform/collector-config';
import { OTLP_ENDPOINT_VARS } from '../platform/otel';
import { DEFAULT_METHOD } from '../platform/image-facts';

/*
 * What `explain` draws and tells of one rollout, read from the model of a delivery: the same
 * reader for a folder of hand-written YAML and for the objects an app just synthesized, with the
 * model's rules of what is connected (where an OTLP endpoint leads, which Service a generator
 * calls, which collector's spanmetrics a gate reads).
 */

/** A gate as `explain` shows it. */
export interface ExplainedGate extends MetricSchedule {
  readonly name: string;
  readonly kind?: GateKind;
  readonly successCondition: string;
  readonly failureCondition: string;
  /** where its series come from, when it reads the canary's own */
  readonly path?: SeriesPath;
}

/** A sequential gate's design, and what it means in requests and seconds at the expected canary rate. */
export interface ExplainedDesign {
  readonly gate: string;
  readonly kind?: GateKind;
  readonly design: GateDesign;
  /** the canary user requests to a verdict, on average, for a canary at good and at bad (looking after every request) */
  readonly requestsAtGood: number;
  readonly requestsAtBad: number;
  /** the requests by which all but HORIZON_RESIDUAL of canaries at good or bad are decided */
  readonly horizonRequests: number;
}

/** A step of the canary strategy, with the pods it runs. */
export interface ExplainedStep {
  /** `setWeight 50` or `analysis hotrod-analysis` */
  readonly label: string;
  readonly weight: number;
  readonly canaryPods: number;
  readonly stablePods: number;
  readonly isAnalysis: boolean;
}

/** Who may open connections to one container port of some pods, as their NetworkPolicies say. */
export interface ExplainedAdmission {
  /** the pods, e.g. `DaemonSet collector (namespace otel)` */
  readonly pods: string;
  /** the port, e.g. `4318 (otlp-http)` */
  readonly port: string;
  /** who may connect: `anyone (no NetworkPolicy selects these pods)`, the sources of the rules that admit it, or none */
  readonly from: readonly string[];
  /** the policies that admit it */
  readonly policies: readonly string[];
}

/** One rollout with an analysis, and the parts around it, as plain data. */
export interface RolloutExplanation {
  /** `namespace/name` */
  readonly id: string;
  readonly name: string;
  readonly namespace: string;
  /** the image the rollout runs */
  readonly image: string;
  readonly replicas: number;
  /** the spanmetrics series its service adds at the collector, estimated, when its endpoints are known */
  readonly spanmetricsSeries?: SeriesEstimate;
  readonly steps: readonly ExplainedStep[];
  /** the 1-based position of the analysis step */
  readonly analysisStep: number;
  /** the weight while the analysis runs */
  readonly analysisWeight: number;
  /** the weights the steps after the analysis set */
  readonly promoteWeights: readonly number[];
  /** the Service in front of its pods */
  readonly service?: { readonly name: string; readonly port: number; readonly url: string };
  /** the traffic generator that calls it */
  readonly generator?: {
    readonly name: string; readonly kind: string; readonly namespace: string; readonly port: number; readonly paths: readonly string[];
    /** the requests it starts each `everySeconds` */
    readonly perRound: number;
    readonly everySeconds: number;
  };
  /** where it sends its spans */
  readonly otlp?: { readonly protocol: string; readonly port: number; readonly url: string };
  /** the collector its spans reach, with the components on the gates' path */
  readonly collector?: {
    readonly kind: string;
    readonly name: string;
    readonly namespace: string;
    readonly receiver: { readonly id: string; readonly ports: string };
    readonly connector: { readonly id: string; readonly series: string };
    readonly exporter: { readonly id: string; readonly port: number; readonly path: string };
    readonly tracesExporter?: { readonly id: string; readonly endpoint: string };
  };
  /** how Prometheus scrapes its pods, and the request counter it reads there */
  readonly podScrape?: { readonly port: number; readonly path: string; readonly counter?: string };
  /** the Prometheus the gates ask, and its setup */
  readonly prometheus: { readonly name: string; readonly address: string };
  readonly templateName: string;
  readonly gates: readonly ExplainedGate[];
  /** the user requests each gate needs before it judges (the traffic gate's threshold), when a gate says */
  readonly evidenceRequests?: number;
  /** the sequential gates' designs, when the template states them */
  readonly designs: readonly ExplainedDesign[];
  /** the canary user request rate the design expects (its annotation), else the one the traffic generator gives */
  readonly canaryRequestsPerSecond?: number;
  /** the derivation of the first moment the evidence can be in Prometheus, per series path */
  readonly derivations: readonly { readonly gates: readonly string[]; readonly derivation: DerivedTiming; readonly horizon?: DerivedTiming }[];
  /** who may connect to the collector's and the rollout's pods, port by port (connections from a pod's own node always may) */
  readonly admissions: readonly ExplainedAdmission[];
  /** the ApplicationSets of the delivery, with the Applications they make */
  readonly appSets: readonly { readonly name: string; readonly namespace: string; readonly apps: readonly { readonly name: string; readonly path: string; readonly namespace: string }[] }[];
}

/** Every rollout of the model that runs an analysis, explained; a rollout whose analysis templates are missing is left out. */
export function explainModel(model: DeliveryModel): RolloutExplanation[] {
  const appSets = applicationSets(model);
  return canaries(model).flatMap((c) => {
    const e = explainCanary(model, c);
    return e ? [{ ...e, appSets }] : [];
  });
}

function explainCanary(model: DeliveryModel, c: CanaryModel): Omit<RolloutExplanation, 'appSets'> | undefined {
  const step = analysisStepOf(model, c);
  if (!step || step.analyses.length === 0) return undefined;
  const collector = c.collectors.find((x) => x.exportedSpanmetrics().length > 0) ?? c.collectors[0];
  // timed: gates with plain timings, a spec Argo accepts and a count (one without runs until the run ends)
  const timed = (g: GateModel): g is GateModel & { schedule: MetricSchedule } => !!g.schedule && !g.specProblem && effectiveCount(g.schedule) !== undefined;
  const gates = step.analyses.flatMap((a) => a.gates).flatMap((g): ExplainedGate[] => (timed(g) ? [{
    name: g.name,
    kind: g.kind,
    successCondition: g.successCondition ?? '',
    failureCondition: g.failureCondition ?? '',
    path: gatePathOf(c, collector, g.query),
    ...g.schedule,
  }] : []));
  const traffic = step.analyses.flatMap((a) => a.gates).find((g) => g.kind === GateKind.TRAFFIC);
  const analysisDesign = step.analyses.find((a) => a.design)?.design;
  const designs = gates.flatMap((g): ExplainedDesign[] => {
    const design = analysisDesign?.gates?.[g.name];
    return design ? [{ gate: g.name, kind: g.kind, design, ...designRequests(design) }] : [];
  });
  const evidenceRequests = traffic?.threshold?.value;
  // a design with a rate: when a canary's first request, and its horizon's requests, are in Prometheus (requests
  // reach a pod at random: 99.9 % of canaries at the rate have them by then); without, the evidence time
  const rate = analysisDesign?.canaryRequestsPerSecond;
  const arrival = (requests: number) => (rate ? poissonMeanFor(requests, ARRIVAL_CONFIDENCE) / rate : undefined);
  const evidenceSeconds = arrival(1) ?? analysisDesign?.evidenceSeconds ?? 0;
  const horizonSeconds = designs.length > 0 ? arrival(Math.ceil(Math.max(...designs.map((d) => d.horizonRequests)))) : undefined;
  const exported = collector?.exportedSpanmetrics()[0];
  const timing = {
    backend: model.prometheus,
    flushSeconds: exported && collector ? spanmetricsFlushSeconds(collector.config.configOf('connectors', exported.connectorId)) : 0,
    exportDelaySeconds: exportDelayOf(c, collector).ms / 1000,
  };
  const derivations = Object.values(SeriesPath).map((path) => ({
    gates: gates.filter((g) => g.path === path).map((g) => g.name),
    derivation: deriveTiming(path, timing, evidenceSeconds),
    horizon: horizonSeconds === undefined ? undefined : deriveTiming(path, timing, horizonSeconds),
  })).filter((d) => d.gates.length > 0);
  const steps = c.steps.map((s): ExplainedStep => {
    const pods = podsAtWeight(c.replicas, s.weight);
    return {
      label: s.analysis ? `analysis ${s.analysis.templates.map((t) => t.name).join(', ')}` : `setWeight ${s.setWeight}`,
      weight: s.weight, canaryPods: pods.canary, stablePods: pods.stable, isAnalysis: s.analysis !== undefined,
    };
  });
  const generator = c.generators[0];
  const service = (generator?.targets ?? c.services)[0] ?? c.services[0];
  const servicePort = service?.ports[0]?.port;
  const counter = c.facts?.metrics?.series.find((s) => s.spanNameLabel && s.failed)?.name;
  return {
    id: c.id,
    name: c.name,
    namespace: c.namespace,
    image: c.container.image,
    replicas: c.replicas,
    spanmetricsSeries: seriesEstimateOf(c),
    steps,
    analysisStep: step.step.index,
    analysisWeight: step.step.weight,
    promoteWeights: c.steps.filter((s) => s.index > step.step.index && s.setWeight !== undefined).map((s) => s.setWeight!),
    service: service && servicePort !== undefined ? { name: service.name, port: servicePort, url: `http://${service.name}.${service.namespace}.svc.cluster.local:${servicePort}` } : undefined,
    generator: generator && {
      name: generator.ref.name ?? '', kind: generator.ref.kind, namespace: generator.pod.namespace,
      port: Number(new URL(generator.url).port || 80), paths: generator.requests.map((r) => (r.method === DEFAULT_METHOD ? r.path : `${r.method} ${r.path}`)), perRound: generator.perRound, everySeconds: generator.sleepSeconds,
    },
    otlp: otlpOf(c, collector),
    collector: collector && collectorOf(collector),
    podScrape: c.scrape && { port: c.scrape.port.number, path: c.scrape.path, counter },
    prometheus: { name: model.prometheus.name, address: step.analyses.flatMap((a) => a.gates).find((g) => g.address)?.address ?? model.prometheus.address },
    templateName: step.analyses.map((a) => a.name).join(', '),
    gates,
    evidenceRequests,
    designs,
    canaryRequestsPerSecond: analysisDesign?.canaryRequestsPerSecond
      ?? (generator ? (generator.perRound / generator.sleepSeconds) * (podsAtWeight(c.replicas, step.step.weight).canary / c.replicas) : undefined),
    derivations,
    admissions: [...(collector?.pods[0] ? admissionsOf(model, collector.pods[0].pod) : []), ...admissionsOf(model, c.pod)],
  };
}

/**
 * The requests a design needs, on average at good and at bad, and by its horizon: its test's
 * trials, in canary requests (a test on failures of canary and stable takes the requests between
 * two failures per trial).
 */
export function designRequests(design: GateDesign): Pick<ExplainedDesign, 'requestsAtGood' | 'requestsAtBad' | 'horizonRequests'> {
  const test = BinomialSprt.of(design);
  const v = design.vsStable;
  const perTrial = v ? 1 / (v.stableErrorRatio * (v.goodFactor + (1 - v.canaryShare) / v.canaryShare)) : 1;
  return {
    requestsAtGood: test.expectedRequests(design.good) * perTrial,
    requestsAtBad: test.expectedRequests(design.bad) * perTrial,
    horizonRequests: test.horizonRequests() * perTrial,
  };
}

/** Who may connect to each declared container port of a pod template's pods. */
function admissionsOf(model: DeliveryModel, pod: PodTemplate): ExplainedAdmission[] {
  const ingress = ingressOf(model, pod);
  const pods = `${pod.ref.kind} ${pod.ref.name ?? ''} (namespace ${pod.namespace})`;
  return pod.containers.flatMap((c) => c.ports).map((port) => {
    const rules = ingress.admissions.filter((a) => a.admits(port));
    return {
      pods,
      port: `${port.containerPort}${port.name ? ` (${port.name})` : ''}`,
      from: ingress.isolated ? [...new Set(rules.flatMap((a) => a.sources.map((s) => s.text)))] : ['anyone (no NetworkPolicy selects these pods)'],
      policies: [...new Set(rules.map((a) => `NetworkPolicy ${a.policy.namespace ?? ''}/${a.policy.name ?? ''}`))],
    };
  });
}

/** The canary's OTLP endpoint and the protocol of the receiver listener it reaches. */
function otlpOf(c: CanaryModel, collector: Collector | undefined): RolloutExplanation['otlp'] {
  const variable = OTLP_ENDPOINT_VARS.find((v) => c.env.has(v));
  const url = variable && c.env.get(variable);
  const endpoint = url ? parseOtlpEndpoint(url) : undefined;
  if (!url || !endpoint) return undefined;
  const otlp = collector?.config.listeners().filter((l) => l.protocol === ListenerProtocol.OTLP_HTTP || l.protocol === ListenerProtocol.OTLP_GRPC) ?? [];
  const reached = otlp.find((l) => l.port === endpoint.port) ?? otlp[0];
  return { protocol: reached?.protocol === ListenerProtocol.OTLP_GRPC ? 'OTLP/gRPC' : 'OTLP/HTTP', port: endpoint.port, url };
}

/** The collector's workload and the components on the gates' path: the receiver feeding spanmetrics, the connector, the prometheus exporter. */
function collectorOf(collector: Collector): RolloutExplanation['collector'] {
  const exported = collector.exportedSpanmetrics()[0];
  if (!exported) return undefined;
  const c = collector.config;
  const feeding = c.pipelines.filter((p) => p.exporters.includes(exported.connectorId));
  const receiverId = feeding.flatMap((p) => p.receivers)[0] ?? '';
  const listeners = c.listeners().filter((l) => l.componentId === receiverId);
  const ports = listeners.map((l) => `${l.protocol === ListenerProtocol.OTLP_HTTP ? 'OTLP/HTTP' : l.protocol === ListenerProtocol.OTLP_GRPC ? 'OTLP/gRPC' : l.protocol} :${l.port}`);
  const tracesExporterId = feeding.flatMap((p) => p.exporters).find((id) => id === 'otlp' || id.startsWith('otlp/'));
  const pod = collector.pods[0]?.pod;
  return {
    kind: pod?.ref.kind ?? collector.ref.kind,
    name: pod?.ref.name ?? collector.ref.name ?? '',
    namespace: pod?.namespace ?? collector.ref.namespace ?? '',
    receiver: { id: receiverId, ports: ports.join(', ') },
    connector: { id: exported.connectorId, series: exported.series.durationBucket },
    exporter: { id: exported.exporterId, port: exported.port ?? 0, path: '/metrics' },
    tracesExporter: tracesExporterId ? { id: tracesExporterId, endpoint: asStr(c.configOf('exporters', tracesExporterId).endpoint) ?? '' } : undefined,
  };
}

/** The ApplicationSets of the model with the Applications their git directories generator makes. */
function applicationSets(model: DeliveryModel): RolloutExplanation['appSets'] {
  return model.ofKind('ApplicationSet').map((m) => {
    const spec = asObj(m.object.spec);
    const template = asObj(spec.template);
    const nameTemplate = asStr(asObj(template.metadata).name) ?? '';
    const namespaceTemplate = asStr(asObj(asObj(template.spec).destination).namespace) ?? '';
    const basename = (text: string, path: string) => text.replace(/\{\{\s*\.?path\.basename\s*\}\}/g, path.split('/').pop()!).replace(/\{\{\s*\.?path(\.path)?\s*\}\}/g, path);
    const dirs = asArr(spec.generators).flatMap((g) => asArr(asObj(asObj(g).git).directories)).map(asObj)
      .filter((d) => d.exclude !== true).flatMap((d) => asStr(d.path) ?? []);
    // A pattern (`manifests/*`) names the folders of the manifests it matches; the folder read is
    // aligned with the repository's end (see PathPattern).
    const folders = [...new Set(model.manifests.flatMap((x) => (x.file && x.file.includes('/') ? [x.file.slice(0, x.file.lastIndexOf('/'))] : [])))].sort();
    const paths = dirs.flatMap((d) => {
      if (!d.includes('*')) return [d];
      const pattern = new PathPattern(d);
      const base = d.slice(0, d.indexOf('*')).replace(/\/[^/]*$/, '');
      return folders.filter((f) => pattern.test(f)).map((f) => `${base}/${f.split('/').pop()}`);
    });
    return {
      name: m.object.metadata?.name ?? '',
      namespace: model.namespaceOf(m),
      apps: paths.map((path) => ({ name: basename(nameTemplate, path), path, namespace: basename(namespaceTemplate, path) })),
    };
  });
}
