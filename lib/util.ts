import { Chart, Duration, Size } from 'cdk8s';
import { IConstruct } from 'constructs';

/** A container image: a repository and a version tag, a content digest, or both. */
export interface Image {
  /** the repository, e.g. `jaegertracing/example-hotrod` */
  readonly repository: string;
  /** the tag, e.g. `1.76.0`; not `latest` @default - none: give a digest */
  readonly tag?: string;
  /** the content digest, e.g. `sha256:0123...`; pins the image whatever its tag later points at @default - none: give a tag */
  readonly digest?: string;
}

const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const IMAGE_DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$/;
const IMAGE_REPOSITORY = /^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The tag that follows whatever was pushed last: a release would not change the manifest, and a rollback would not restore anything. */
const MOVING_TAG = 'latest';

/**
 * `repository:tag`, `repository@digest` or `repository:tag@digest`, after checking each part;
 * `construct` names who was given it, for the message. A missing or empty tag without a digest,
 * and the tag `latest`, are errors: the manifest must say which image runs.
 */
export function imageRef(image: Image, construct: string): string {
  if (!IMAGE_REPOSITORY.test(image.repository)) {
    throw new Error(`${construct}: image repository '${image.repository}' is not a valid repository name; use lowercase path components such as 'jaegertracing/example-hotrod'`);
  }
  if (image.tag === undefined && image.digest === undefined) {
    throw new Error(`${construct}: image '${image.repository}' has no tag and no digest; give the version to deploy, e.g. tag '1.0.0' or digest 'sha256:...' (a release changes it)`);
  }
  if (image.tag !== undefined) {
    if (image.tag === '') {
      throw new Error(`${construct}: image '${image.repository}' has an empty tag; give the version to deploy, e.g. tag '1.0.0', or a digest ('sha256:...')`);
    }
    if (image.tag.toLowerCase() === MOVING_TAG) {
      throw new Error(`${construct}: image tag '${image.tag}' of '${image.repository}' follows whatever was pushed last, so a release would not change the manifest and a rollback `
        + `would not restore the previous image; give a version tag such as '1.76.0', or a digest ('${image.repository}@sha256:...')`);
    }
    if (!IMAGE_TAG.test(image.tag)) {
      throw new Error(`${construct}: image tag '${image.tag}' is not a valid tag; use letters, digits, '_', '.' and '-' (at most 128), e.g. '1.76.0'`);
    }
  }
  if (image.digest !== undefined && !IMAGE_DIGEST.test(image.digest)) {
    throw new Error(`${construct}: image digest '${image.digest}' is not a digest; write it as 'sha256:' and the 64 hex digits of the image's manifest`);
  }
  return `${image.repository}${image.tag !== undefined ? `:${image.tag}` : ''}${image.digest !== undefined ? `@${image.digest}` : ''}`;
}

/** Throws unless `value` is a DNS-1123 label (what Kubernetes requires of Service names and namespaces). */
export function validateName(construct: string, prop: string, value: string): void {
  if (!DNS_LABEL.test(value) || value.length > 63) {
    throw new Error(`${construct}: ${prop} '${value}' is not a valid Kubernetes name; use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit`);
  }
}

/** Throws unless `value` is an integer in [min, max]. */
export function validateInteger(construct: string, prop: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer between ${min} and ${max}`;
    throw new Error(`${construct}: ${prop} must be ${range}, got ${value}`);
  }
}

/** Throws unless `value` is a port number. */
export function validatePort(construct: string, prop: string, value: number): void {
  validateInteger(construct, prop, value, 1, 65535);
}

/** The namespace an object lands in: its own, or its chart's. */
export function namespaceOf(obj: { metadata: { namespace?: string } } & IConstruct): string {
  const ns = obj.metadata.namespace ?? Chart.of(obj).namespace;
  if (!ns) {
    throw new Error(`${obj.node.path} has no namespace; give its chart a namespace (new Chart(app, id, { namespace }))`);
  }
  return ns;
}

/** The in-cluster DNS name of a Service. */
export function clusterDns(service: { name: string; metadata: { namespace?: string } } & IConstruct): string {
  return `${service.name}.${namespaceOf(service)}.svc.cluster.local`;
}

/** GOMEMLIMIT at 80% of the memory limit, so the Go runtime collects before the kernel kills. */
export function goMemLimit(memory: Size): string {
  return `${Math.floor(memory.toMebibytes() * 0.8)}MiB`;
}

/** A duration as Argo Rollouts writes it (`90s`), which must be whole seconds. */
export function argoDuration(construct: string, prop: string, d: Duration): string {
  // integral: false, so a fractional Duration.millis(0.8) gets this message, not cdk8s's
  const ms = d.toMilliseconds({ integral: false });
  if (!Number.isInteger(ms / 1000) || ms < 0) {
    throw new Error(`${construct}: ${prop} must be a non-negative whole number of seconds, got ${ms}ms`);
  }
  return `${ms / 1000}s`;
}

/** A duration as PromQL writes it, in its largest exact unit (`2m`, `90s`). */
export function promDuration(d: Duration): string {
  const ms = d.toMilliseconds();
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** Seconds of a Go/Argo duration string (`90s`, `1m30s`, `500ms`); throws on anything else. */
export function parseDurationSeconds(text: string): number {
  const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) {
    throw new Error(`'${text}' is not a duration; write e.g. '90s', '1m' or '500ms'`);
  }
  return parts.reduce((sum, p) => sum + Number(p[1]) * units[p[2]], 0);
}
