import { ARG_PLACEHOLDER_SOURCE, LabelMatcher, PromqlQuery, SelectorUse } from '../analysis/promql';
import { LoadedManifest } from '../manifests';
import { AnalysisUse, analysisUses, ArgValue, argValues, findTemplate, PrometheusMetric, prometheusMetrics } from '../model/analyses';
import { list, Report } from './define';
import { DeliveryModel } from '../model/model';
import { OTEL_ENV, OTLP_ENDPOINT_VARS } from '../platform/otel';
import { SeriesCatalog, SeriesPlace, SeriesPlaces } from '../model/series';
import { Severity } from './types';

/** The rule this file checks. */
export const SERIES_NOT_FOR_CANARY = 'gates/series-not-for-canary';

/** How many producers or namespaces a message names before it says how many more there are. */
const SHOWN = 4;

/** At most {@link SHOWN} items, then how many more (of `total`, when only the first ones are given). */
function some(items: readonly string[], total = items.length): string {
  return total <= SHOWN ? list(items) : `${items.slice(0, SHOWN).join(', ')} and ${total - SHOWN} more`;
}

/** The first {@link SHOWN} items of a set, and how many it has. */
function someOf(items: ReadonlySet<string>): string {
  const first: string[] = [];
  for (const item of items) {
    if (first.length === SHOWN) break;
    first.push(item);
  }
  return some(first, items.size);
}

/** A matcher value with the arguments of one analysis substituted, or undefined when one is not known before the run. */
function resolve(value: string, args: ReadonlyMap<string, ArgValue>): { value: string; used: ArgValue[] } | undefined {
  const used: ArgValue[] = [];
  let missing = false;
  const out = value.replace(new RegExp(ARG_PLACEHOLDER_SOURCE, 'g'), (_all, name: string) => {
    const arg = args.get(name);
    if (!arg) missing = true;
    else used.push(arg);
    return arg?.value ?? '';
  });
  return missing ? undefined : { value: out, used };
}

/** A gate's selector as one analysis of one Rollout runs it. */
interface GateRun {
  readonly catalog: SeriesCatalog;
  readonly use: AnalysisUse;
  readonly template: LoadedManifest;
  readonly templateName: string;
  readonly metric: PrometheusMetric;
  readonly selector: SelectorUse & { readonly metric: string };
  readonly args: ReadonlyMap<string, ArgValue>;
}

/**
 * The namespace matcher of a selector, if it selects the Rollout's own namespace: `=` on a label
 * that carries the producing pods' namespace on that series, or any `=` whose value is the
 * Rollout's namespace passed by `fieldRef: metadata.namespace`.
 */
function namespaceMatcher(run: GateRun): { matcher: LabelMatcher; how: string } | undefined {
  const labels = run.catalog.places.namespaceLabels(run.selector.metric);
  for (const matcher of run.selector.matchers.filter((m) => m.op === '=')) {
    const resolved = resolve(matcher.value, run.args);
    if (!resolved || resolved.value !== run.use.namespace) continue;
    const fromRollout = resolved.used.some((a) => a.rolloutNamespace);
    if (!labels.has(matcher.label) && !fromRollout) continue;
    const how = resolved.used.length > 0 ? `${matcher.value} from ${list([...new Set(resolved.used.map((a) => a.from))])}` : 'as written';
    return { matcher, how };
  }
  return undefined;
}

/** Summaries for messages, each computed once: a rule with many findings stays linear. */
class Summaries {
  private readonly inNamespace = new Map<string, string>();
  private readonly ofMetric = new Map<string, string>();
  private readonly spansIn = new Map<string, SeriesPlace | undefined>();
  private readonly sorted = new Map<SeriesPlace, string[]>();
  private readonly regexResults = new Map<SeriesPlace, Map<string, boolean>>();

  constructor(private readonly places: SeriesPlaces) {}

  /** What the manifests produce for the pods of a namespace: the series names, and the spans' service names. */
  public producedIn(namespace: string): string {
    let text = this.inNamespace.get(namespace);
    if (text === undefined) {
      const produced = [...this.places.producedIn(namespace)].sort(([a], [b]) => a.localeCompare(b));
      const groups = new Map<string, string[]>();
      for (const [name, place] of produced) {
        const key = !place.spans ? '' : place.services ? `spans of service ${some(this.services(place))}` : 'spans of services the manifests do not name';
        groups.set(key, [...(groups.get(key) ?? []), name]);
      }
      text = produced.length === 0 ? `for namespace ${namespace} they produce no series these rules know of`
        : `for namespace ${namespace} they produce ${[...groups].map(([key, names]) => `${names.join(', ')}${key ? ` (${key})` : ''}`).join('; ')}`;
      this.inNamespace.set(namespace, text);
    }
    return text;
  }

  /** Where the manifests produce a series name, and by which producers. */
  public producedWhere(metric: string): string {
    let text = this.ofMetric.get(metric);
    if (text === undefined) {
      const where = this.places.namespacesOf(metric);
      const sources = where.slice(0, SHOWN).flatMap((ns) => [...this.places.placeOf(metric, ns)?.sources ?? []]);
      text = where.length > 0 ? `the manifests produce ${metric} only for namespace ${some(where)} (${some(sources)}${where.length > SHOWN ? ', ...' : ''})`
        : `no pod of the manifests exports spans to the collector that produces ${metric}`;
      this.ofMetric.set(metric, text);
    }
    return text;
  }

  /** A spanmetrics series of a namespace with known service names, for fix hints. */
  public spansOf(namespace: string): SeriesPlace | undefined {
    if (!this.spansIn.has(namespace)) {
      this.spansIn.set(namespace, [...this.places.producedIn(namespace).values()].find((p) => p.spans && p.calls && p.services && p.services.size > 0));
    }
    return this.spansIn.get(namespace);
  }

  /** The service names of a place, sorted. */
  public services(place: SeriesPlace): string[] {
    let sorted = this.sorted.get(place);
    if (!sorted) this.sorted.set(place, sorted = [...place.services ?? []].sort());
    return sorted;
  }

  /**
   * Whether a `service_name` matcher leaves any of the place's services: a set lookup for `=` and
   * for a regex of plain alternatives (`a|b`), else the regex tried once per place.
   */
  public matchesAny(matcher: LabelMatcher, place: SeriesPlace): boolean {
    const services = place.services!;
    if (matcher.op === '=') return services.has(matcher.value);
    if (/^[\w\-/|]*$/.test(matcher.value)) return matcher.value.split('|').some((v) => services.has(v));
    let results = this.regexResults.get(place);
    if (!results) this.regexResults.set(place, results = new Map());
    let result = results.get(matcher.value);
    if (result === undefined) {
      try {
        const re = new RegExp(`^(?:${matcher.value})$`);
        result = [...services].some((s) => re.test(s));
      } catch {
        result = true; // an unreadable regex: do not claim it matches nothing
      }
      results.set(matcher.value, result);
    }
    return result;
  }
}

/** A spanmetrics gate for a service of a namespace, for fix hints. */
function spanmetricsExample(places: SeriesPlaces, place: SeriesPlace, service: string, namespaceArg: string): string {
  const calls = place.calls ?? '';
  const serviceLabel = [...places.serviceLabels(calls)][0] ?? 'service_name';
  const namespaceLabel = [...place.namespaceLabels][0];
  return `${calls}{${serviceLabel}="${service}"${namespaceLabel ? `, ${namespaceLabel}="${namespaceArg}"` : ''}, ...}`;
}

/** The opening of a finding: which Rollout, which analysis, which template, gate and metric. */
function whose(run: GateRun): string {
  return `Rollout ${run.use.namespace}/${run.use.ref.name} runs ${run.template.object.kind} '${run.templateName}' (${run.use.field}), whose gate '${run.metric.name}' selects ${run.selector.metric}`;
}

/** How to fix a gate on a series that is not produced for the Rollout's namespace. */
function notProducedFix(run: GateRun, summaries: Summaries, namespaceArg: string): string {
  const places = run.catalog.places;
  const spans = summaries.spansOf(run.use.namespace);
  const make = places.isSpanmetrics(run.selector.metric)
    ? `or make the canary's pods export their spans to the collector that produces ${run.selector.metric} (${OTLP_ENDPOINT_VARS[1]})`
    : `or make the service serve and expose ${run.selector.metric} and have Prometheus scrape it`;
  if (spans) {
    const service = summaries.services(spans)[0];
    return `gate on spanmetrics of service '${service}' (${spanmetricsExample(places, spans, service, namespaceArg)}), ${make}`;
  }
  return `gate on a series the canary's pods produce, ${make}`;
}

/** Records a finding once per key, building its text only then. */
type Once = (key: string, finding: () => { message: string; fix: string }) => void;

/**
 * Gates that cannot return anything for the canary they judge: for each analysis a Rollout runs,
 * a gate's selector that reads the Rollout's namespace (through its arguments) on a series the
 * manifests produce, but not for pods of that namespace (HotROD's counter gated for another app),
 * or with a literal span service name no pod of that namespace exports. Lookups are by namespace
 * and name, and message parts are built once, so the check is linear in the objects.
 */
export function checkSeriesForCanary(model: DeliveryModel, catalog: SeriesCatalog, read: (query: string) => PromqlQuery, report: Report<typeof SERIES_NOT_FOR_CANARY>): void {
  const reported = new Set<string>();
  const summaries = new Summaries(catalog.places);
  for (const use of analysisUses(model)) {
    for (const t of use.templates) {
      const template = findTemplate(model, use, t);
      if (!template) continue; // rollout/unknown-template
      const args = argValues(use, template);
      for (const metric of prometheusMetrics(template)) {
        const query = read(metric.query);
        if (query.error) continue; // gates/promql-syntax
        const gateKey = `${use.namespace}/${use.ref.name}|${template.object.kind}/${t.name}|${metric.name}`;
        const once: Once = (key, finding) => {
          if (reported.has(`${gateKey}|${key}`)) return;
          reported.add(`${gateKey}|${key}`);
          const { message, fix } = finding();
          // the same wrong series in several gates of one run is one root cause: the later gates fold under the first
          const root = `canary-series:${use.namespace}/${use.ref.name}|${template.object.kind}/${t.name}|${key}`;
          report(SERIES_NOT_FOR_CANARY, Severity.ERROR, use.ref, message, fix, { causes: [root], causedBy: [root] });
        };
        for (const selector of query.selectors) {
          if (!selector.metric || !catalog.series.has(selector.metric) || catalog.places.unplaced(selector.metric)) continue;
          judge({ catalog, use, template, templateName: t.name, metric, selector: selector as GateRun['selector'], args }, summaries, once);
        }
      }
    }
  }
}

/** Judges one selector of one run: the series for the Rollout's namespace, then its span service names. */
function judge(run: GateRun, summaries: Summaries, once: Once): void {
  const found = namespaceMatcher(run);
  if (!found) return; // without a namespace matcher, the query's series may be any pod's
  const { matcher, how } = found;
  const namespace = run.use.namespace;
  const metric = run.selector.metric;
  const places = run.catalog.places;
  const place = places.placeOf(metric, namespace);
  if (!place) {
    once(`namespace ${metric}`, () => ({
      message: `${whose(run)}{${matcher.label}="${namespace}"} (${how}), but ${summaries.producedWhere(metric)}; ${summaries.producedIn(namespace)}: the query returns nothing for this canary`,
      fix: notProducedFix(run, summaries, matcher.value),
    }));
    return;
  }
  if (!place.services) return; // any service name may be there
  const serviceLabels = places.serviceLabels(metric);
  const placeholder = new RegExp(ARG_PLACEHOLDER_SOURCE);
  for (const m of run.selector.matchers.filter((x) => serviceLabels.has(x.label) && (x.op === '=' || x.op === '=~') && !placeholder.test(x.value))) {
    if (summaries.matchesAny(m, place)) continue;
    once(`service ${m.op}${m.value}`, () => {
      const known = summaries.services(place);
      return {
        message: `${whose(run)}{${m.label}${m.op}"${m.value}", ${matcher.label}="${namespace}"} (${how}), but the pods of namespace ${namespace} export spans only as service ${some(known)} `
          + `(${someOf(place.sources)}); ${summaries.producedIn(namespace)}: the query returns nothing for this canary`,
        fix: `select ${m.label}="${known[0]}"${known.length > 1 ? ` (or another of ${some(known)})` : ''}, or, if '${m.value}' is the canary's service, `
          + `name its spans so (${OTEL_ENV.serviceName}=${m.value.split('|')[0]} on its container)`,
      };
    });
  }
}
