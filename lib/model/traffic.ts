import { loopRequestsPerSecond } from '../platform/traffic-loop';
import { DEFAULT_METHOD } from '../platform/image-facts';
import { asArr, asObj, asStr, Container, DeliveryModel, ObjectRef, PodTemplate, ServiceInfo, urlsIn } from './model';
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
  /** the requests, sent in turn: their path and method (a loop over paths sends GETs) */
  readonly requests: readonly { readonly path: string; readonly method: string }[];
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
        const paths = calls.map((c) => pathOf(c.url.url));
        out.push({
          pod, container, ref: pod.ref, url: calls[0].url.url.replace(/^(https?:\/\/[^/]+).*$/, '$1'), targets: [...new Set(calls.map((c) => c.target!))],
          paths, requests: paths.map((path) => ({ path, method: DEFAULT_METHOD })), sleepSeconds, perRound: calls.length, requestsPerSecond: calls.length / sleepSeconds,
        });
        continue;
      }
      const items = [...loop[1].matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3] ?? '');
      // a loop over curl config files (`--config "DIR/$item.curl"`), one request each: read them from the ConfigMap mounted there
      const config = /--config\s+"?([^"\s$]+)\/\$\{?\w+\}?([^"\s]*)"?/.exec(script);
      const files = config ? mountedFiles(model, pod, container, config[1]) : undefined;
      const requests = files ? items.flatMap((item) => {
        const text = files.get(`${item}${config![2]}`);
        const url = text && /^\s*url\s*[=:]\s*"([^"]*)"/m.exec(text)?.[1];
        return url ? [{ url, method: /^\s*request\s*[=:]\s*"([^"]*)"/m.exec(text!)?.[1] ?? DEFAULT_METHOD }] : [];
      }) : undefined;
      const urls = requests ? requests.flatMap((r) => urlsIn(r.url)) : [...urlsIn(script), ...[...env.values()].flatMap(urlsIn)];
      for (const url of urls) {
        const target = model.resolveHost(url.host, pod.namespace)?.service;
        if (!target) continue;
        const base = url.url.replace(/^(https?:\/\/[^/]+).*$/, '$1');
        const sent = requests ? requests.map((r) => ({ path: r.url.slice(base.length) || '/', method: r.method })) : items.map((path) => ({ path, method: DEFAULT_METHOD }));
        out.push({
          pod, container, ref: pod.ref, url: requests ? base : url.url, targets: [target],
          paths: sent.map((r) => r.path), requests: sent,
          sleepSeconds, perRound: 1, requestsPerSecond: loopRequestsPerSecond(sleepSeconds),
        });
        break;
      }
    }
  }
  GENERATORS.set(model, out);
  return out;
}

/** The files of the ConfigMap a container mounts at `dir` (by file name), if it mounts one there. */
function mountedFiles(model: DeliveryModel, pod: PodTemplate, container: Container, dir: string): Map<string, string> | undefined {
  const mount = asArr(container.raw.volumeMounts).map(asObj).find((m) => asStr(m.mountPath)?.replace(/\/+$/, '') === dir.replace(/\/+$/, ''));
  const volume = mount && asArr(pod.spec.volumes).map(asObj).find((v) => v.name === mount.name);
  const name = volume && asStr(asObj(volume.configMap).name);
  const configMap = name && model.ofKind('ConfigMap').find((m) => m.object.metadata?.name === name && model.namespaceOf(m) === pod.namespace);
  if (!configMap) return undefined;
  return new Map(Object.entries(asObj(configMap.object.data)).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** The traffic generators that send to a Service selecting this pod template. */
export function generatorsOf(model: DeliveryModel, pod: PodTemplate): TrafficGeneratorModel[] {
  const services = new Set(model.servicesSelecting(pod));
  return trafficGenerators(model).filter((g) => g.targets.some((t) => services.has(t)));
}
