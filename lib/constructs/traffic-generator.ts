import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { ITrafficTarget } from './interfaces';
import { PodIngressPolicy } from './pod-ingress-policy';
import { CURL_IMAGE, DEFAULT_METHOD, servesUrl } from '../platform/image-facts';
import { restrictedContainerSecurity } from './security-context';
import { LOOP_OVERHEAD_MS, loopRequestsPerSecond } from '../platform/traffic-loop';
import { Image, imageRef, validateInteger, validateName } from '../util';

/** One request the generator sends, in turn with the others. */
export interface TrafficRequest {
  /** the path and query, e.g. `/checkout?cart=1` */
  readonly path: string;
  /** the HTTP method @default 'GET' */
  readonly method?: string;
  /** the body @default - none */
  readonly body?: string;
  /** the headers @default - none */
  readonly headers?: Readonly<Record<string, string>>;
}

/** Properties of a {@link TrafficGenerator}. */
export interface TrafficGeneratorProps {
  /** the rollout whose Service receives the requests (a CanaryRollout) */
  readonly target: ITrafficTarget;
  /** the request URLs (path and query), sent in turn as GETs @default - the requests of the rollout's user endpoints (see {@link requests}) */
  readonly paths?: string[];
  /**
   * the requests, sent in turn, with their method, body and headers
   * @default - each URL of each of the rollout's user endpoints, with the endpoint's method, body and headers
   */
  readonly requests?: TrafficRequest[];
  /** the requests per second to send, in place of requestInterval @default - derived (see requestInterval) */
  readonly requestsPerSecond?: number;
  /**
   * The time between two requests; requests start on this beat whether or not earlier ones have
   * answered, so a slow canary does not slow the load.
   * @default - derived: the user request rate the analysis needs from the canary, at the first analysis weight
   */
  readonly requestInterval?: Duration;
  /** the longest a request may take before curl gives up @default Duration.seconds(2) */
  readonly requestTimeout?: Duration;
  /** the name of the Deployment @default 'traffic-generator' */
  readonly name?: string;
  /** the image; it needs `sh`, `sleep` and `curl` @default - curlimages/curl:8.11.1 */
  readonly image?: Image;
  /** the numeric uid to run as: curlimages/curl runs as the non-numeric `curl_user` (uid 100) @default 100 */
  readonly runAsUser?: number;
  /** the numeric gid to run as: curlimages/curl's `curl_group` @default 101 */
  readonly runAsGroup?: number;
  /** CPU request and limit @default - enough for the request rate (see {@link CURL_CPU_MS_PER_REQUEST}), at least 20m */
  readonly cpu?: kplus.Cpu;
  /** memory request and limit @default Size.mebibytes(32) */
  readonly memory?: Size;
}

const C = 'TrafficGenerator';

/** Where a generator that sends more than GETs reads its requests: one curl config file per request. */
export const REQUESTS_DIR = '/etc/traffic-generator';
/** The file name ending of a request's curl config file. */
export const REQUEST_FILE_SUFFIX = '.curl';

/** A string as curl's config file quotes it: in double quotes, with backslash, quote, newline, tab and return escaped (curl src/tool_parsecfg.c unslashquote @ curl-8_11_1). */
function curlQuoted(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/\r/g, '\\r')}"`;
}

/** A request as a curl config file: its URL, method, headers and body. */
function curlConfig(targetUrl: string, r: TrafficRequest): string {
  return [
    `url = ${curlQuoted(targetUrl + r.path)}`,
    `request = ${curlQuoted(r.method ?? DEFAULT_METHOD)}`,
    ...Object.entries(r.headers ?? {}).map(([k, v]) => `header = ${curlQuoted(`${k}: ${v}`)}`),
    ...(r.body === undefined ? [] : [`data-binary = ${curlQuoted(r.body)}`]),
    '',
  ].join('\n');
}

/**
 * CPU one curl request costs (fork, exec, TLS-less HTTP GET), with room to spare: measured at 11.3 ms
 * per request on this project's 2-core machine (200 sequential requests to a loopback server).
 */
export const CURL_CPU_MS_PER_REQUEST = 12;

/** The highest share of an endpoint's capacity the load may take: queues at a mutex grow quickly past half load. */
export const MAX_UTILIZATION = 0.5;

/**
 * A Deployment that keeps user requests flowing to the rollout's Service, so the canary is
 * judged on real traffic and an idle canary is never promoted.
 *
 * Its rate is derived from the analysis: the canary must serve the gates' evidence within their
 * evidence time at the first analysis weight. Synth fails, with the numbers, when the rate it
 * sends cannot give the canary that, or would load a pod past the capacity its image allows.
 */
export class TrafficGenerator extends Construct {
  /** the Deployment */
  public readonly deployment: kplus.Deployment;
  /** the NetworkPolicy of its pods: they serve nothing, so nothing may connect to them */
  public readonly ingressPolicy: PodIngressPolicy;
  /** the URL the requests go to */
  public readonly targetUrl: string;
  /** the request paths */
  public readonly paths: readonly string[];
  /** the requests, sent in turn */
  public readonly requests: readonly TrafficRequest[];
  /** the time between two request starts */
  public readonly requestInterval: Duration;
  /** the request timeout */
  public readonly requestTimeout: Duration;

  constructor(scope: Construct, id: string, props: TrafficGeneratorProps) {
    super(scope, id);
    const name = props.name ?? 'traffic-generator';
    validateName(C, 'name', name);
    const target = props.target;
    if (props.paths && props.requests) throw new Error(`${C}: give paths or requests, not both`);
    this.requests = props.requests ?? (props.paths ? props.paths.map((path) => ({ path }))
      : target.userEndpoints.flatMap((e) => (e.urls ?? []).map((path) => ({ path, method: e.method, body: e.body, headers: e.headers }))));
    this.paths = this.requests.map((r) => r.path);
    if (this.paths.length === 0) {
      throw new Error(`${C}: paths is empty; give at least one path such as '/'`);
    }
    for (const p of this.paths) {
      if (!/^\/[^\s'"`$\\]*$/.test(p)) {
        throw new Error(`${C}: path '${p}' must start with '/' and contain no spaces, quotes, '$' or '\\'`);
      }
    }
    for (const r of this.requests) {
      if (r.method !== undefined && !/^[A-Z]+$/.test(r.method)) throw new Error(`${C}: method '${r.method}' of request '${r.path}' is not an HTTP method; write it in capitals, e.g. 'POST'`);
    }
    if (props.requestsPerSecond !== undefined && props.requestInterval !== undefined) throw new Error(`${C}: give requestInterval or requestsPerSecond, not both`);
    if (props.requestsPerSecond !== undefined && !(props.requestsPerSecond > 0 && props.requestsPerSecond <= 1000 / (1 + LOOP_OVERHEAD_MS))) {
      throw new Error(`${C}: requestsPerSecond must be a positive rate the loop can keep (at most ${Math.floor(1000 / (1 + LOOP_OVERHEAD_MS))}), got ${props.requestsPerSecond}`);
    }
    this.requestTimeout = props.requestTimeout ?? Duration.seconds(2);
    this.requestInterval = props.requestInterval
      ?? (props.requestsPerSecond !== undefined ? Duration.millis(Math.max(1, Math.floor(1000 / props.requestsPerSecond - LOOP_OVERHEAD_MS))) : this.derivedInterval(target));
    for (const [prop, d] of [['requestInterval', this.requestInterval], ['requestTimeout', this.requestTimeout]] as const) {
      const ms = d.toMilliseconds({ integral: false });
      if (ms <= 0 || !Number.isInteger(ms)) {
        throw new Error(`${C}: ${prop} must be a positive whole number of milliseconds, got ${ms}ms`);
      }
    }
    this.targetUrl = target.url;
    const cpu = props.cpu ?? kplus.Cpu.millis(Math.max(20, Math.ceil((this.requestsPerSecond * CURL_CPU_MS_PER_REQUEST * 2) / 10) * 10));
    const memory = props.memory ?? Size.mebibytes(32);
    const runAsUser = props.runAsUser ?? CURL_IMAGE.user.uid;
    const runAsGroup = props.runAsGroup ?? CURL_IMAGE.user.gid;
    validateInteger(C, 'runAsUser', runAsUser, 1);
    validateInteger(C, 'runAsGroup', runAsGroup, 1);
    const labels = { app: name };
    // requests that are more than GETs: one curl config file each (curl's `--config` syntax), so a body
    // or a header never passes through the shell
    const configs = this.plain() ? undefined : new kplus.ConfigMap(this, 'Requests', {
      metadata: { name: `${name}-requests`, labels },
      data: Object.fromEntries(this.requests.map((r, i) => [`${i}${REQUEST_FILE_SUFFIX}`, curlConfig(this.targetUrl, r)])),
    });

    this.deployment = new kplus.Deployment(this, 'Resource', {
      metadata: { name, labels },
      replicas: 1,
      select: false,
      podMetadata: { labels },
      securityContext: { ensureNonRoot: true, user: runAsUser, group: runAsGroup },
      containers: [{
        name,
        image: imageRef(props.image ?? { repository: CURL_IMAGE.repository, tag: '8.11.1' }, 'TrafficGenerator'),
        imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
        command: ['/bin/sh', '-c', this.script()],
        envVariables: { TARGET_URL: kplus.EnvValue.fromValue(this.targetUrl) },
        resources: { cpu: { request: cpu, limit: cpu }, memory: { request: memory, limit: memory } },
        securityContext: restrictedContainerSecurity(runAsUser, runAsGroup),
        volumeMounts: configs ? [{ path: REQUESTS_DIR, volume: kplus.Volume.fromConfigMap(this, 'RequestsVolume', configs, { name: 'requests' }), readOnly: true }] : [],
      }],
    });
    this.deployment.select(kplus.LabelSelector.of({ labels }));
    this.ingressPolicy = new PodIngressPolicy(this, 'Ingress', { name, selector: labels });

    this.node.addValidation({ validate: () => [...this.checkCanaryRate(target), ...this.checkCapacity(target)] });
  }

  /** The request rate the loop keeps, allowing for its own overhead per request. */
  public get requestsPerSecond(): number {
    return loopRequestsPerSecond(this.requestInterval.toMilliseconds() / 1000);
  }

  /** The interval that gives the canary the analysis's required rate at the first analysis weight. */
  private derivedInterval(target: ITrafficTarget): Duration {
    const [first] = target.analysisSteps();
    const required = first?.analysis.requiredCanaryRequestsPerSecond;
    if (!first || required === undefined) {
      throw new Error(`${C}: rollout '${target.name}' runs no analysis that states the request rate it needs, so the request rate cannot be derived; `
        + 'add the analysis first (rollout.addThreeGateAnalysis() or rollout.addAnalysis()) or give requestInterval');
    }
    const pods = target.podsAtWeight(first.weight);
    const total = (required * (pods.canary + pods.stable)) / pods.canary;
    return Duration.millis(Math.floor(1000 / total - LOOP_OVERHEAD_MS));
  }

  /** Whether every request is a plain GET, which the loop sends by path. */
  private plain(): boolean {
    return this.requests.every((r) => (r.method ?? DEFAULT_METHOD) === DEFAULT_METHOD && r.body === undefined && Object.keys(r.headers ?? {}).length === 0);
  }

  private script(): string {
    const seconds = (d: Duration) => String(d.toMilliseconds() / 1000);
    // Requests run in the background so the next one starts on the beat, however slow the answer.
    // Each is reaped once it is certainly over (curl gives up after the timeout): the shell keeps
    // the last PIDs in "$@" and waits for the oldest, which never blocks and bounds the zombies.
    const inFlight = Math.ceil((this.requestTimeout.toMilliseconds() + 1000) / this.requestInterval.toMilliseconds());
    const plain = this.plain();
    return [
      'set --',
      'while true; do',
      plain ? `  for path in ${this.paths.map((p) => `'${p}'`).join(' ')}; do` : `  for request in ${this.requests.map((_, i) => i).join(' ')}; do`,
      plain ? `    curl -s -o /dev/null --max-time ${seconds(this.requestTimeout)} "$TARGET_URL$path" &`
        : `    curl -s -o /dev/null --max-time ${seconds(this.requestTimeout)} --config "${REQUESTS_DIR}/$request${REQUEST_FILE_SUFFIX}" &`,
      '    set -- "$@" $!',
      `    if [ $# -gt ${inFlight} ]; then wait "$1"; shift; fi`,
      `    sleep ${seconds(this.requestInterval)}`,
      '  done',
      'done',
      '',
    ].join('\n');
  }

  private checkCanaryRate(target: ITrafficTarget): string[] {
    const [first] = target.analysisSteps();
    const required = first?.analysis.requiredCanaryRequestsPerSecond;
    if (!first || required === undefined) return [];
    const pods = target.podsAtWeight(first.weight);
    const canaryRate = (this.requestsPerSecond * pods.canary) / (pods.canary + pods.stable);
    if (canaryRate >= required - 1e-9) return [];
    const rate = (n: number) => Number(n.toPrecision(3));
    return [`traffic generator sends ${rate(this.requestsPerSecond)} req/s (one every ${this.requestInterval.toMilliseconds()}ms + ${LOOP_OVERHEAD_MS}ms loop overhead); `
      + `at the first analysis weight (${first.weight}%: ${pods.canary} canary of ${pods.canary + pods.stable} pods) the canary gets ${rate(canaryRate)} req/s, `
      + `but '${first.analysis.templateName}' needs ${rate(required)} req/s to gather its evidence in time; `
      + `send at least ${rate((required * (pods.canary + pods.stable)) / pods.canary)} req/s (requestsPerSecond, in a Delivery ServiceSpec.trafficGenerator: { requestsPerSecond }; `
      + `or requestInterval at most ${Math.floor((1000 * pods.canary) / ((pods.canary + pods.stable) * required) - LOOP_OVERHEAD_MS)}ms), raise the first canary weight (the rollout's steps), `
      + 'or give the gates a longer evidenceTime (ServiceSpec.gates.evidenceTime)'];
  }

  private checkCapacity(target: ITrafficTarget): string[] {
    const out: string[] = [];
    const pods = Math.max(...target.analysisSteps().map((s) => target.podsAtWeight(s.weight)).map((p) => p.canary + p.stable), target.replicas);
    for (const endpoint of target.userEndpoints) {
      if (endpoint.capacityPerSecond === undefined) continue;
      const share = this.requests.filter((r) => servesUrl(endpoint, r.path, r.method)).length / this.requests.length;
      const perPod = (this.requestsPerSecond * share) / pods;
      if (perPod <= MAX_UTILIZATION * endpoint.capacityPerSecond) continue;
      const rate = (n: number) => Number(n.toPrecision(3));
      out.push(`traffic generator sends ${rate(perPod)} req/s of ${endpoint.spanName} to each of ${pods} pods, more than ${MAX_UTILIZATION * 100}% of the `
        + `${rate(endpoint.capacityPerSecond)} req/s one pod can serve there; healthy pods would queue and look slow: send less (requestsPerSecond; in a Delivery ServiceSpec.trafficGenerator: { requestsPerSecond }), `
        + 'add replicas (ServiceSpec.replicas), or lengthen the gates\' evidenceTime (ServiceSpec.gates.evidenceTime) so they need fewer requests a second');
    }
    return out;
  }
}
