import { loopRequestsPerSecond } from '../platform/traffic-loop';
import { asArr, Container, DeliveryModel, ObjectRef, PodTemplate, ServiceInfo, urlsIn } from './model';
import { envOf } from './otlp';

/** A workload that keeps requests flowing to a Service: a curl loop, as the traffic generator runs it or one written like it. */
export interface TrafficGeneratorModel {
  readonly pod: PodTemplate;
  readonly container: Container;
  readonly ref: ObjectRef;
  /** the URL the requests go to, before the path */
  readonly url: string;
  /** the Services that URL names (of the manifests) */
  readonly targets: readonly ServiceInfo[];
  /** the request paths, sent in turn */
  readonly paths: readonly string[];
  /** the time the loop sleeps between two rounds, in seconds */
  readonly sleepSeconds: number;
  /** the requests a round starts: one per path of a `for` loop's round, or one per curl call of a loop that calls each URL in turn */
  readonly perRound: number;
  /**
   * the request rate it keeps: a `for` loop that starts each request in the background and
   * sleeps after each, the traffic generator's, keeps one per sleep and its overhead; a loop that
   * calls each URL and then sleeps keeps at most its calls per sleep (their answer time is not known)
   */
  readonly requestsPerSecond: number;
}

const GENERATORS = new WeakMap<DeliveryModel, TrafficGeneratorModel[]>();

/**
 * The traffic generators of the manifests: containers whose command runs curl in a loop with
 * `sleep SECONDS` against a URL (in the script or its env) that names a Service of the manifests,
 * either `for path in 'a' 'b'; do curl "$URL$path" ...; sleep` (the traffic generator's) or a
 * list of curl calls each with its URL (as hand-written generators often are). Read once per model.
 */
export function trafficGenerators(model: DeliveryModel): readonly TrafficGeneratorModel[] {
  let out = GENERATORS.get(model);
  if (out) return out;
  out = [];
  for (const pod of model.pods) {
    for (const container of pod.containers) {
      const script = [...asArr(container.raw.command), ...asArr(container.raw.args)].filter((x): x is string => typeof x === 'string').join('\n');
      if (!/\bcurl\b/.test(script)) continue;
      const loop = /for\s+\w+\s+in\s+([^;\n]+);/.exec(script);
      const sleep = /\bsleep\s+([0-9.]+)/.exec(script);
      if (!sleep || !(Number(sleep[1]) > 0)) continue;
      const sleepSeconds = Number(sleep[1]);
      const env = envOf(container.raw, pod.namespace);
      if (!loop) {
        // a curl call per URL: the calls that name a Service of the manifests
        const calls = script.split('\n').filter((l) => /\bcurl\b/.test(l)).flatMap((l) => urlsIn(l))
          .map((url) => ({ url, target: model.resolveHost(url.host, pod.namespace)?.service })).filter((c) => c.target);
        if (calls.length === 0) continue;
        const pathOf = (url: string) => url.replace(/^https?:\/\/[^/]+/, '') || '/';
        out.push({
          pod, container, ref: pod.ref, url: calls[0].url.url.replace(/^(https?:\/\/[^/]+).*$/, '$1'), targets: [...new Set(calls.map((c) => c.target!))],
          paths: calls.map((c) => pathOf(c.url.url)), sleepSeconds, perRound: calls.length, requestsPerSecond: calls.length / sleepSeconds,
        });
        continue;
      }
      for (const url of [...urlsIn(script), ...[...env.values()].flatMap(urlsIn)]) {
        const target = model.resolveHost(url.host, pod.namespace)?.service;
        if (!target) continue;
        out.push({
          pod, container, ref: pod.ref, url: url.url, targets: [target],
          paths: [...loop[1].matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3] ?? ''),
          sleepSeconds, perRound: 1, requestsPerSecond: loopRequestsPerSecond(sleepSeconds),
        });
        break;
      }
    }
  }
  GENERATORS.set(model, out);
  return out;
}

/** The traffic generators that send to a Service selecting this pod template. */
export function generatorsOf(model: DeliveryModel, pod: PodTemplate): TrafficGeneratorModel[] {
  const services = new Set(model.servicesSelecting(pod));
  return trafficGenerators(model).filter((g) => g.targets.some((t) => services.has(t)));
}
