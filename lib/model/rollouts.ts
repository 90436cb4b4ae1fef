import { SeriesPath } from '../analysis/evidence';
import { readPromql } from '../analysis/promql';
import { LoadedManifest } from '../manifests';
import { ROLLOUTS_POD_TEMPLATE_HASH_LABEL } from '../platform/argo';
import { BATCH_PROCESSOR_DEFAULT_TIMEOUT } from '../platform/collector-config';
import { ImageFacts } from '../platform/image-facts';
import { OTEL_ENV, OTEL_SDK_DEFAULT_EXPORT_DELAY, OTLP_ENDPOINT_VARS } from '../platform/otel';
import { AnalysisModel, analysisOf, AnalysisUse, analysisUses, findTemplate } from './analyses';
import { Collector, collectorsOf } from './collectors';
import { asArr, asNum, asObj, Container, DeliveryModel, ObjectRef, PodTemplate, ServiceInfo } from './model';
import { envOf } from './otlp';
import { scrapesOf } from './series';
import { spanSources } from './span-sources';
import { generatorsOf, TrafficGeneratorModel } from './traffic';

/** A step of a Rollout's canary strategy, with the weight in force while it runs. */
export interface CanaryStepModel {
  /** 1-based position */
  readonly index: number;
  /** the weight in force during the step */
  readonly weight: number;
  /** the weight a setWeight step sets */
  readonly setWeight?: number;
  /** the analysis an analysis step runs */
  readonly analysis?: AnalysisUse;
}

/** A Rollout as the tools see it: its pods, what it runs, where its telemetry goes, what judges it and what calls it. */
export interface CanaryModel {
  readonly manifest: LoadedManifest;
  readonly ref: ObjectRef;
  /** `namespace/name` */
  readonly id: string;
  readonly name: string;
  readonly namespace: string;
  /** spec.replicas (Argo Rollouts' default 1 when unset) */
  readonly replicas: number;
  readonly steps: readonly CanaryStepModel[];
  readonly pod: PodTemplate;
  /** the pod template's labels, without the pod-template hash Argo Rollouts adds */
  readonly podLabels: Readonly<Record<string, string>>;
  /** the container that reports the telemetry: the one with an OTLP endpoint, else the first */
  readonly container: Container;
  /** its environment as the kubelet gives it (see envOf) */
  readonly env: ReadonlyMap<string, string>;
  /** what the catalogue knows of its image */
  readonly facts?: ImageFacts;
  /** the Services that select its pods */
  readonly services: readonly ServiceInfo[];
  /** the traffic generators that call those Services */
  readonly generators: readonly TrafficGeneratorModel[];
  /** where Prometheus scrapes its pods (port and path), when it does */
  readonly scrape?: { readonly port: { readonly name?: string; readonly number: number }; readonly path: string };
  /**
   * the collectors its spans reach: the ones its OTLP endpoint leads to, or, when the manifests do
   * not show where they go, the only collector with a spanmetrics connector
   */
  readonly collectors: readonly Collector[];
}

/** The first analysis step of a canary, with the analyses (templates found in the manifests) it runs. */
export interface AnalysisStepModel {
  readonly step: CanaryStepModel;
  readonly use: AnalysisUse;
  readonly analyses: readonly AnalysisModel[];
  /** the templates it names that the manifests do not have */
  readonly missing: readonly string[];
}

const CANARIES = new WeakMap<DeliveryModel, CanaryModel[]>();

/** Every Rollout of the manifests, read once per model. */
export function canaries(model: DeliveryModel): readonly CanaryModel[] {
  let out = CANARIES.get(model);
  if (out) return out;
  const uses = analysisUses(model);
  const sources = spanSources(model);
  const spanmetricsCollectors = collectorsOf(model).filter((c) => c.config.ids('connectors').some((id) => id === 'spanmetrics' || id.startsWith('spanmetrics/')));
  out = model.ofKind('Rollout').flatMap((manifest): CanaryModel[] => {
    const pod = model.pods.find((p) => p.owner === manifest);
    if (!pod) return [];
    const spec = asObj(manifest.object.spec);
    const canary = asObj(asObj(spec.strategy).canary);
    let weight = 0;
    const steps = asArr(canary.steps).map(asObj).map((s, i): CanaryStepModel => {
      const setWeight = asNum(s.setWeight);
      if (setWeight !== undefined) weight = setWeight;
      const analysis = s.analysis === undefined ? undefined : uses.find((u) => u.rollout === manifest && u.field === `strategy.canary.steps[${i}].analysis`);
      return { index: i + 1, weight, setWeight, analysis };
    });
    const container = pod.containers.find((c) => OTLP_ENDPOINT_VARS.some((v) => envOf(c.raw, pod.namespace).has(v))) ?? pod.containers[0];
    if (!container) return [];
    const podLabels = { ...pod.labels };
    delete podLabels[ROLLOUTS_POD_TEMPLATE_HASH_LABEL];
    const scrape = scrapesOf(model, pod)[0];
    const reached = [...sources.byCollector].filter(([, list]) => list.some((s) => s.pod === pod && s.container === container)).map(([c]) => c);
    return [{
      manifest,
      ref: pod.ref,
      id: `${pod.namespace}/${pod.ref.name ?? ''}`,
      name: pod.ref.name ?? '',
      namespace: pod.namespace,
      replicas: asNum(spec.replicas) ?? 1,
      steps,
      pod,
      podLabels,
      container,
      env: envOf(container.raw, pod.namespace),
      facts: model.imageFacts(container.image),
      services: model.servicesSelecting(pod),
      generators: generatorsOf(model, pod),
      scrape: scrape && {
        port: { name: pod.containers.flatMap((c) => c.ports).find((p) => p.containerPort === scrape.port)?.name, number: scrape.port },
        path: scrape.path,
      },
      collectors: reached.length > 0 ? reached : spanmetricsCollectors.length === 1 ? spanmetricsCollectors : [],
    }];
  });
  CANARIES.set(model, out);
  return out;
}

/** The first analysis step of a canary's steps, with the templates it runs; undefined when it has none. */
export function analysisStepOf(model: DeliveryModel, canary: CanaryModel): AnalysisStepModel | undefined {
  const step = canary.steps.find((s) => s.analysis);
  if (!step) return undefined;
  const use = step.analysis!;
  const found = use.templates.map((t) => ({ t, template: findTemplate(model, use, t) }));
  return {
    step,
    use,
    analyses: found.flatMap((f) => (f.template ? [analysisOf(f.template)] : [])),
    missing: found.filter((f) => !f.template).map((f) => f.t.name),
  };
}

/**
 * The longest a finished span of the canary waits before its collector's spanmetrics connector
 * sees it, in ms: the app's SDK delay (what the image sets in code, which wins over the
 * environment; else OTEL_BSP_SCHEDULE_DELAY; else the SDK default) plus the batch processor's
 * timeout when the collector batches. `problem` says why OTEL_BSP_SCHEDULE_DELAY cannot be read.
 */
export function exportDelayOf(canary: CanaryModel, collector: Collector | undefined): { readonly ms: number; readonly problem?: string } {
  const batches = collector?.config.ids('processors').some((id) => id === 'batch' || id.startsWith('batch/')) ?? false;
  const batch = batches ? BATCH_PROCESSOR_DEFAULT_TIMEOUT.toMilliseconds() : 0;
  if (canary.facts?.exportDelayMs !== undefined) return { ms: canary.facts.exportDelayMs + batch };
  const text = canary.env.get(OTEL_ENV.batchScheduleDelay);
  if (text === undefined || text === '') return { ms: OTEL_SDK_DEFAULT_EXPORT_DELAY.toMilliseconds() + batch };
  const ms = Number(text);
  if (!Number.isFinite(ms) || ms < 0) {
    return { ms: OTEL_SDK_DEFAULT_EXPORT_DELAY.toMilliseconds() + batch, problem: `${OTEL_ENV.batchScheduleDelay} is '${text}', not a number of milliseconds; write e.g. '1000'` };
  }
  return { ms: ms + batch };
}

/**
 * Where a gate's series come from, which fixes when they can first hold evidence: spanmetrics
 * when it reads a series of the canary's collector's connector, the pods' own scrape when it reads
 * a series the canary's image serves; undefined when it reads neither.
 */
export function gatePathOf(canary: CanaryModel, collector: Collector | undefined, query: string): SeriesPath | undefined {
  const read = readPromql(query);
  const metrics = new Set(read.selectors.flatMap((s) => s.metric ?? []));
  const spanmetrics = (collector?.exportedSpanmetrics() ?? []).flatMap((e) => [e.series.calls, e.series.durationBucket, e.series.durationCount, e.series.durationSum]);
  if (spanmetrics.some((m) => metrics.has(m))) return SeriesPath.SPANMETRICS;
  if ((canary.facts?.metrics?.series ?? []).some((s) => metrics.has(s.name))) return SeriesPath.POD_SCRAPE;
  return undefined;
}
