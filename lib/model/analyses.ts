import { conditionShape, parseCondition, ResultComparison } from '../analysis/condition';
import { withoutComments } from '../analysis/promql';
import { MetricReadError, MetricSchedule, MetricSpec, MetricSpecProblem, readMetricSchedule, readMetricSpec, validateMetricSpec } from '../analysis/schedule';
import { LoadedManifest } from '../manifests';
import { AnalysisDesign, analysisDesignOf, AnnotationProblem, GateKind, gateKindsOf } from './gates';
import { asArr, asObj, asStr, DeliveryModel, Obj, ObjectRef } from './model';

/** An argument a Rollout passes to an analysis. */
export interface PassedArg {
  readonly name: string;
  /** the literal value, if given */
  readonly value?: string;
  /** where Argo Rollouts takes the value from, if given */
  readonly valueFrom?: Obj;
}

/** An analysis a Rollout runs: a canary step, background analysis, or a blue-green pre/post promotion analysis. */
export interface AnalysisUse {
  readonly rollout: LoadedManifest;
  readonly ref: ObjectRef;
  readonly namespace: string;
  /** where in the Rollout, e.g. `strategy.canary.steps[1].analysis` */
  readonly field: string;
  /** whether it judges a canary */
  readonly canary: boolean;
  readonly templates: readonly { readonly name: string; readonly clusterScope: boolean }[];
  readonly args: readonly PassedArg[];
  /** its own dry-run rules (`dryRun[].metricName`), which Argo puts before the templates' */
  readonly dryRun: readonly string[];
}

/** A template argument. */
export interface DeclaredArg {
  readonly name: string;
  /** whether the template gives it a value (`value` or `valueFrom`) */
  readonly hasDefault: boolean;
}

/** The analyses every Rollout runs. */
export function analysisUses(model: DeliveryModel): AnalysisUse[] {
  const out: AnalysisUse[] = [];
  for (const rollout of model.ofKind('Rollout')) {
    const strategy = asObj(asObj(rollout.object.spec).strategy);
    const canary = asObj(strategy.canary);
    const blueGreen = asObj(strategy.blueGreen);
    const found: [string, boolean, unknown][] = [
      ...asArr(canary.steps).map((s, i): [string, boolean, unknown] => [`strategy.canary.steps[${i}].analysis`, true, asObj(s).analysis]),
      ['strategy.canary.analysis', true, canary.analysis],
      ['strategy.blueGreen.prePromotionAnalysis', false, blueGreen.prePromotionAnalysis],
      ['strategy.blueGreen.postPromotionAnalysis', false, blueGreen.postPromotionAnalysis],
    ];
    for (const [field, isCanary, raw] of found) {
      if (raw === undefined) continue;
      const analysis = asObj(raw);
      out.push({
        rollout,
        ref: model.refOf(rollout),
        namespace: model.namespaceOf(rollout),
        field,
        canary: isCanary,
        templates: asArr(analysis.templates).map(asObj).map((t) => ({ name: asStr(t.templateName) ?? '', clusterScope: t.clusterScope === true })),
        args: asArr(analysis.args).map(asObj).map((a) => ({ name: asStr(a.name) ?? '', value: asStr(a.value), valueFrom: a.valueFrom === undefined ? undefined : asObj(a.valueFrom) })),
        dryRun: dryRunRules(analysis),
      });
    }
  }
  return out;
}

/** The AnalysisTemplate (same namespace) or ClusterAnalysisTemplate a use names. */
export function findTemplate(model: DeliveryModel, use: AnalysisUse, template: AnalysisUse['templates'][number]): LoadedManifest | undefined {
  return templateIndex(model).get(template.clusterScope ? `ClusterAnalysisTemplate//${template.name}` : `AnalysisTemplate/${use.namespace}/${template.name}`);
}

const TEMPLATE_INDEX = new WeakMap<DeliveryModel, Map<string, LoadedManifest>>();

/** Templates by `kind/namespace/name` (cluster-scoped ones with an empty namespace), the first of each key. */
function templateIndex(model: DeliveryModel): Map<string, LoadedManifest> {
  let index = TEMPLATE_INDEX.get(model);
  if (!index) {
    index = new Map();
    for (const m of model.ofKind('AnalysisTemplate')) {
      const key = `AnalysisTemplate/${model.namespaceOf(m)}/${m.object.metadata?.name}`;
      if (!index.has(key)) index.set(key, m);
    }
    for (const m of model.ofKind('ClusterAnalysisTemplate')) {
      const key = `ClusterAnalysisTemplate//${m.object.metadata?.name}`;
      if (!index.has(key)) index.set(key, m);
    }
    TEMPLATE_INDEX.set(model, index);
  }
  return index;
}

/** The arguments a template declares. */
export function declaredArgs(template: LoadedManifest): DeclaredArg[] {
  return asArr(asObj(template.object.spec).args).map(asObj).map((a) => ({
    name: asStr(a.name) ?? '',
    hasDefault: a.value !== undefined || a.valueFrom !== undefined,
  }));
}

/** The value an argument has in an analysis a Rollout runs, and where it comes from, for messages. */
export interface ArgValue {
  readonly value: string;
  /** e.g. `fieldRef metadata.namespace`, `value in strategy.canary.steps[1].analysis.args`, `the template's default` */
  readonly from: string;
  /** whether it is the Rollout's own namespace, passed by `fieldRef: metadata.namespace` */
  readonly rolloutNamespace: boolean;
}

/**
 * The arguments whose values are known before the Rollout runs: passed as a literal `value`,
 * passed from the Rollout's `metadata.namespace` or `metadata.name` (`valueFrom.fieldRef`), or a
 * literal default of the template. Others (a pod-template hash, a secret, a label) are absent.
 */
export function argValues(use: AnalysisUse, template: LoadedManifest): Map<string, ArgValue> {
  const out = new Map<string, ArgValue>();
  for (const a of asArr(asObj(template.object.spec).args).map(asObj)) {
    const name = asStr(a.name);
    const value = asStr(a.value);
    if (name !== undefined && value !== undefined) out.set(name, { value, from: "the template's default", rolloutNamespace: false });
  }
  for (const a of use.args) {
    out.delete(a.name);
    const field = asStr(asObj(a.valueFrom?.fieldRef).fieldPath);
    if (a.value !== undefined) out.set(a.name, { value: a.value, from: `value in ${use.field}.args`, rolloutNamespace: false });
    else if (field === 'metadata.namespace') out.set(a.name, { value: use.namespace, from: 'fieldRef metadata.namespace', rolloutNamespace: true });
    else if (field === 'metadata.name') out.set(a.name, { value: use.ref.name ?? '', from: 'fieldRef metadata.name', rolloutNamespace: false });
    else if (field !== undefined) {
      // fieldpath.ExtractFieldPathAsString on the Rollout (utils/analysis/factory.go BuildArgumentsForRolloutAnalysisRun @ v1.8.3): metadata.labels['k'], metadata.annotations['k']
      const m = /^metadata\.(labels|annotations)\['([^']+)'\]$/.exec(field);
      const value = m ? asStr(asObj(asObj(use.rollout.object.metadata)[m[1]])[m[2]]) : undefined;
      if (value !== undefined) out.set(a.name, { value, from: `fieldRef ${field}`, rolloutNamespace: false });
    }
  }
  return out;
}

/** A metric of a template that queries Prometheus. */
export interface PrometheusMetric {
  readonly name: string;
  readonly query: string;
  readonly successCondition?: string;
  readonly failureCondition?: string;
}

/** The Prometheus metrics of an (Cluster)AnalysisTemplate. */
export function prometheusMetrics(template: LoadedManifest): PrometheusMetric[] {
  return asArr(asObj(template.object.spec).metrics).map(asObj).flatMap((m) => {
    const query = asStr(asObj(asObj(m.provider).prometheus).query);
    if (query === undefined) return [];
    return [{ name: asStr(m.name) ?? '', query, successCondition: asStr(m.successCondition), failureCondition: asStr(m.failureCondition) }];
  });
}

/** The kinds of analysis templates. */
export const TEMPLATE_KINDS = ['AnalysisTemplate', 'ClusterAnalysisTemplate'];

/** The dry-run rules (`dryRun[].metricName`) of an analysis or a template spec. */
function dryRunRules(spec: Obj): string[] {
  return asArr(spec.dryRun).map(asObj).map((d) => asStr(d.metricName) ?? '');
}

/**
 * The metrics of a template as Argo Rollouts validates them, in template order: a spec, or why a
 * field cannot be read before Argo substitutes arguments.
 */
export function metricSpecs(template: LoadedManifest): (MetricSpec | MetricReadError)[] {
  return asArr(asObj(template.object.spec).metrics).map(asObj).map((m) => {
    try {
      return readMetricSpec(m);
    } catch (e) {
      if (e instanceof MetricReadError) return e;
      throw e;
    }
  });
}

/**
 * The schedule of a metric of a template, or undefined when its timing is not plain values (e.g.
 * an argument) or Argo Rollouts refuses its spec (the gates/invalid-metric-spec rule reports it).
 */
export function metricSchedule(template: LoadedManifest, metricName: string): MetricSchedule | undefined {
  const index = asArr(asObj(template.object.spec).metrics).map(asObj).findIndex((x) => x.name === metricName);
  const spec = index < 0 ? undefined : metricSpecs(template)[index];
  if (!spec || spec instanceof MetricReadError || validateMetricSpec(spec, index)) return undefined;
  try {
    return readMetricSchedule(asArr(asObj(template.object.spec).metrics).map(asObj)[index]);
  } catch {
    return undefined;
  }
}

/** One gate: a Prometheus metric of an (Cluster)AnalysisTemplate, read as the tools need it. */
export interface GateModel extends PrometheusMetric {
  /** the Prometheus the gate asks, as written (trailing slashes dropped) */
  readonly address?: string;
  /** its schedule and limits with Argo Rollouts' defaults; undefined when a timing is not a plain value */
  readonly schedule?: MetricSchedule;
  /** why the schedule cannot be read, when it cannot */
  readonly scheduleProblem?: string;
  /** why Argo Rollouts refuses the metric's spec (factory.go ValidateMetric), when it does */
  readonly specProblem?: MetricSpecProblem;
  /** what it checks, from the template's kinds annotation; undefined when the template does not say */
  readonly kind?: GateKind;
  /** the quantile `histogram_quantile(q, ...)` reads, when the query has a literal one */
  readonly quantile?: number;
  /** the first comparison of `result[0]` with a number in its success condition (else its failure condition) */
  readonly threshold?: ResultComparison;
  /** why the conditions cannot be read, when they cannot */
  readonly conditionProblem?: string;
}

/** An analysis template read as the tools need it: its gates, and what its annotations say. */
export interface AnalysisModel {
  readonly template: LoadedManifest;
  readonly name: string;
  readonly gates: readonly GateModel[];
  /** the design its annotation states, if any */
  readonly design?: AnalysisDesign;
  /** a kinds annotation that cannot be read */
  readonly annotationProblem?: AnnotationProblem;
  /** the metrics that ask another provider than Prometheus (web, job, ...) */
  readonly otherMetrics: readonly string[];
  /** the template's dry-run rules (`spec.dryRun[].metricName`) */
  readonly dryRun: readonly string[];
}

const ANALYSES = new WeakMap<LoadedManifest, AnalysisModel>();

/** A template's gates and annotations, read once. */
export function analysisOf(template: LoadedManifest): AnalysisModel {
  let analysis = ANALYSES.get(template);
  if (!analysis) {
    const { kinds, problem } = gateKindsOf(template.object);
    const metrics = asArr(asObj(template.object.spec).metrics).map(asObj);
    const specs = metricSpecs(template);
    const gates = prometheusMetrics(template).map((metric): GateModel => {
      const index = metrics.findIndex((m) => m.name === metric.name);
      const raw = metrics[index] ?? {};
      const spec = specs[index];
      const specProblem = spec === undefined || spec instanceof MetricReadError ? undefined : validateMetricSpec(spec, index);
      let schedule: MetricSchedule | undefined;
      let scheduleProblem: string | undefined;
      try {
        schedule = readMetricSchedule(raw);
      } catch (e) {
        scheduleProblem = (e as Error).message;
      }
      let threshold: ResultComparison | undefined;
      let conditionProblem: string | undefined;
      const condition = metric.successCondition ?? metric.failureCondition;
      try {
        threshold = condition ? conditionShape(parseCondition(condition)).comparisons[0] : undefined;
      } catch (e) {
        conditionProblem = (e as Error).message;
      }
      const address = asStr(asObj(asObj(raw.provider).prometheus).address)?.replace(/\/+$/, '');
      const q = /histogram_quantile\s*\(\s*([0-9.]+)\s*,/.exec(withoutComments(metric.query));
      return { ...metric, address, schedule, scheduleProblem, specProblem, kind: kinds[metric.name], quantile: q ? Number(q[1]) : undefined, threshold, conditionProblem };
    });
    const otherMetrics = metrics.map((m) => asStr(m.name) ?? '').filter((n) => !gates.some((g) => g.name === n));
    analysis = {
      template, name: template.object.metadata?.name ?? '', gates, design: analysisDesignOf(template.object), annotationProblem: problem, otherMetrics,
      dryRun: dryRunRules(asObj(template.object.spec)),
    };
    ANALYSES.set(template, analysis);
  }
  return analysis;
}
