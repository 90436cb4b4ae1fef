import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { CanaryRollout } from './canary-rollout';
import { CURL_IMAGE } from './image-facts';
import { Image, imageRef, validateName } from './util';

/** Properties of a {@link TrafficGenerator}. */
export interface TrafficGeneratorProps {
  /** the rollout whose Service receives the requests */
  readonly target: CanaryRollout;
  /** the request paths, sent in turn @default - '/', '/dispatch?customer=123', '567', '392', '731' */
  readonly paths?: string[];
  /** the pause after each request @default Duration.millis(500) */
  readonly pause?: Duration;
  /** the longest a request may take before curl gives up @default Duration.seconds(2) */
  readonly requestTimeout?: Duration;
  /** the name of the Deployment @default 'traffic-generator' */
  readonly name?: string;
  /** the image; it needs `sh` and `curl` @default - curlimages/curl:8.11.1 */
  readonly image?: Image;
  /** the numeric uid to run as: curlimages/curl runs as the non-numeric `curl_user` (uid 100) @default 100 */
  readonly runAsUser?: number;
  /** CPU request and limit @default kplus.Cpu.millis(20) */
  readonly cpu?: kplus.Cpu;
  /** memory request and limit @default Size.mebibytes(32) */
  readonly memory?: Size;
}

const C = 'TrafficGenerator';

/**
 * A Deployment that keeps requests flowing to HotROD, so the canary is judged on real
 * traffic and an idle canary is never promoted.
 *
 * Synth fails when the slowest request rate it can produce, split over the pods at the
 * rollout's first analysis weight, leaves the canary below the traffic gate's minimum.
 */
export class TrafficGenerator extends Construct {
  /** the Deployment */
  public readonly deployment: kplus.Deployment;
  /** the URL the requests go to */
  public readonly targetUrl: string;
  /** the request paths */
  public readonly paths: readonly string[];
  /** the pause after each request */
  public readonly pause: Duration;
  /** the request timeout */
  public readonly requestTimeout: Duration;

  constructor(scope: Construct, id: string, props: TrafficGeneratorProps) {
    super(scope, id);
    const name = props.name ?? 'traffic-generator';
    validateName(C, 'name', name);
    this.paths = props.paths ?? ['/', '/dispatch?customer=123', '/dispatch?customer=567', '/dispatch?customer=392', '/dispatch?customer=731'];
    if (this.paths.length === 0) {
      throw new Error(`${C}: paths is empty; give at least one path such as '/'`);
    }
    for (const p of this.paths) {
      if (!/^\/[^\s'"`$\\]*$/.test(p)) {
        throw new Error(`${C}: path '${p}' must start with '/' and contain no spaces, quotes, '$' or '\\'`);
      }
    }
    this.pause = props.pause ?? Duration.millis(500);
    this.requestTimeout = props.requestTimeout ?? Duration.seconds(2);
    for (const [prop, d] of [['pause', this.pause], ['requestTimeout', this.requestTimeout]] as const) {
      if (d.toMilliseconds() <= 0 || !Number.isInteger(d.toMilliseconds())) {
        throw new Error(`${C}: ${prop} must be a positive whole number of milliseconds, got ${d.toMilliseconds()}ms`);
      }
    }
    this.targetUrl = props.target.url;
    const cpu = props.cpu ?? kplus.Cpu.millis(20);
    const memory = props.memory ?? Size.mebibytes(32);
    const runAsUser = props.runAsUser ?? CURL_IMAGE.user.uid;
    const labels = { app: name };

    this.deployment = new kplus.Deployment(this, 'Resource', {
      metadata: { name, labels },
      replicas: 1,
      select: false,
      podMetadata: { labels },
      securityContext: { ensureNonRoot: true, user: runAsUser },
      containers: [{
        name,
        image: imageRef(props.image ?? { repository: CURL_IMAGE.repository, tag: '8.11.1' }),
        imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
        command: ['/bin/sh', '-c', this.script()],
        envVariables: { TARGET_URL: kplus.EnvValue.fromValue(this.targetUrl) },
        resources: { cpu: { request: cpu, limit: cpu }, memory: { request: memory, limit: memory } },
        securityContext: { ensureNonRoot: true, user: runAsUser, readOnlyRootFilesystem: true },
      }],
    });
    this.deployment.select(kplus.LabelSelector.of({ labels }));

    const target = props.target;
    this.node.addValidation({ validate: () => this.checkCanaryRate(target) });
  }

  /** The slowest request rate the loop produces: every request taking its full timeout. */
  public get minRequestsPerSecond(): number {
    return 1000 / (this.pause.toMilliseconds() + this.requestTimeout.toMilliseconds());
  }

  private script(): string {
    const seconds = (d: Duration) => String(d.toMilliseconds() / 1000);
    return [
      'while true; do',
      `  for path in ${this.paths.map((p) => `'${p}'`).join(' ')}; do`,
      `    curl -s -o /dev/null --max-time ${seconds(this.requestTimeout)} "$TARGET_URL$path" || true`,
      `    sleep ${seconds(this.pause)}`,
      '  done',
      'done',
      '',
    ].join('\n');
  }

  private checkCanaryRate(target: CanaryRollout): string[] {
    const [first] = target.analysisSteps();
    if (!first || first.analysis.minRequestsPerSecond === undefined) return [];
    const pods = target.podsAtWeight(first.weight);
    const canaryRate = (this.minRequestsPerSecond * pods.canary) / (pods.canary + pods.stable);
    if (canaryRate >= first.analysis.minRequestsPerSecond) return [];
    const rate = (n: number) => Number(n.toPrecision(3));
    return [`traffic generator sends at least ${rate(this.minRequestsPerSecond)} req/s (pause ${this.pause.toMilliseconds()}ms + timeout ${this.requestTimeout.toMilliseconds()}ms per request); `
      + `at the first analysis weight (${first.weight}%: ${pods.canary} canary of ${pods.canary + pods.stable} pods) the canary gets ${rate(canaryRate)} req/s, `
      + `below the traffic gate's minRequestsPerSecond ${first.analysis.minRequestsPerSecond} of '${first.analysis.templateName}'; `
      + 'shorten pause or requestTimeout, raise the first canary weight, or lower minRequestsPerSecond'];
  }
}
