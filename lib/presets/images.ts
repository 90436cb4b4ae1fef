import { COLLECTOR_IMAGE, CURL_IMAGE, ImageFacts } from '../platform/image-facts';
import { HOTROD_IMAGE } from './hotrod';

/** The images of this stack: the one table of facts about them. */
export const KNOWN_IMAGES: readonly ImageFacts[] = [HOTROD_IMAGE, CURL_IMAGE, COLLECTOR_IMAGE];

/** The facts of an image reference (`docker.io/jaegertracing/example-hotrod:1.76.0@sha256:...`), if it is a known image. */
export function imageFacts(image: string): ImageFacts | undefined {
  const withoutDigest = image.split('@')[0];
  const lastSlash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.indexOf(':', lastSlash + 1);
  let repository = colon < 0 ? withoutDigest : withoutDigest.slice(0, colon);
  repository = repository.replace(/^(docker\.io|index\.docker\.io|registry-1\.docker\.io)\//, '');
  return KNOWN_IMAGES.find((f) => f.repository === repository);
}
