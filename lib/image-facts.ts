import { HOTROD_REQUESTS_METRIC } from './canary-rollout';

/** What an image does that its manifests cannot show. */
export interface ImageFacts {
  /** the repository, without registry host or tag */
  readonly repository: string;
  /** the user the image runs as when the pod does not set runAsUser */
  readonly user: {
    /** the USER of the image, as the kubelet sees it */
    readonly name: string;
    /** its uid */
    readonly uid: number;
    /** why, in a few words */
    readonly why: string;
  };
  /** the Prometheus metrics the image serves */
  readonly metrics?: {
    /** the container port that serves them */
    readonly port: number;
    /** the path */
    readonly path: string;
    /** each series name with the labels the app puts on it */
    readonly series: readonly { readonly name: string; readonly labels: readonly string[] }[];
  };
}

/** The images of this stack: the one table of facts about them. */
export const KNOWN_IMAGES: readonly ImageFacts[] = [
  {
    repository: 'jaegertracing/example-hotrod',
    user: { name: 'root', uid: 0, why: 'FROM scratch with no USER' },
    metrics: {
      port: 8080,
      path: '/metrics',
      series: [{ name: HOTROD_REQUESTS_METRIC.name, labels: ['endpoint', HOTROD_REQUESTS_METRIC.errorLabel] }],
    },
  },
  { repository: 'curlimages/curl', user: { name: 'curl_user', uid: 100, why: 'USER curl_user, a name, not a uid' } },
  { repository: 'otel/opentelemetry-collector-contrib', user: { name: '10001', uid: 10001, why: 'USER 10001:10001' } },
];

/** The facts of an image reference (`docker.io/jaegertracing/example-hotrod:1.76.0@sha256:...`), if it is a known image. */
export function imageFacts(image: string): ImageFacts | undefined {
  const withoutDigest = image.split('@')[0];
  const lastSlash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.indexOf(':', lastSlash + 1);
  let repository = colon < 0 ? withoutDigest : withoutDigest.slice(0, colon);
  repository = repository.replace(/^(docker\.io|index\.docker\.io|registry-1\.docker\.io)\//, '');
  return KNOWN_IMAGES.find((f) => f.repository === repository);
}
