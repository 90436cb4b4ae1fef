import { Duration } from 'cdk8s';
import { ImageCatalogue, PRESET_IMAGES } from '../lib';
import { HOTROD_IMAGE } from '../lib/presets/hotrod';
import { imageRepository } from '../lib/platform/image-facts';
import { CHECKOUT, fixtureDelivery, HOTROD, rolloutStack } from './helpers';

/*
 * The facts themselves (a port, a delay, a span name) are read in the upstream source at the
 * pinned version and cited where they are set (lib/presets/hotrod.ts, lib/platform/*). These tests
 * check what the code does with them: how they travel to the tools, and what is derived from them.
 */

describe('image facts', () => {
  test('a rollout hands the tools what its workload declares; a preset adds what the props cannot say', () => {
    const { delivery } = fixtureDelivery({ services: [HOTROD, CHECKOUT] });
    const hotrod = delivery.service('hotrod').rollout.imageFacts();
    // from the preset: who the image runs as, the protocol its SDK speaks
    expect(hotrod.user).toEqual(HOTROD_IMAGE.user);
    expect(hotrod.otlpProtocol).toBe(HOTROD_IMAGE.otlpProtocol);
    // from the workload: its endpoints, the counter on its metrics port, the span of Prometheus's scrapes
    expect(hotrod.endpoints!.filter((e) => e.caller === 'user').map((e) => e.spanName)).toEqual(['/', '/dispatch']);
    expect(hotrod.metrics).toEqual({ port: 8080, path: '/metrics', series: [expect.objectContaining({ name: 'hotrod_requests_total', spanNameLabel: 'endpoint' })] });
    expect(hotrod.scrapeSpanName).toBe('/metrics');
    expect(hotrod.exportDelayMs).toBe(1000);
    // a service of one's own: only what its workload says; it is not scraped, and its SDK's delay is the environment's
    const checkout = delivery.service('checkout').rollout.imageFacts();
    expect(checkout).toEqual({ repository: 'ghcr.io/acme/checkout', endpoints: expect.any(Array) });
    // the delivery reads its YAML with both, over the platform's own images
    const images = delivery.modelOptions().images!;
    expect(images.factsOf('jaegertracing/example-hotrod:1.76.0')?.user?.uid).toBe(0);
    expect(images.factsOf('ghcr.io/acme/checkout:2.3.0')?.endpoints).toHaveLength(2);
    expect(images.factsOf('curlimages/curl:8.11.1')?.user?.name).toBe('curl_user');
  });

  test('a catalogue finds an image by repository, whatever its registry host, tag or digest; a later registration replaces an earlier one', () => {
    expect(imageRepository('docker.io/jaegertracing/example-hotrod:1.76.0@sha256:abc')).toBe('jaegertracing/example-hotrod');
    expect(imageRepository('ghcr.io/acme/checkout')).toBe('ghcr.io/acme/checkout');
    expect(imageRepository('localhost:5000/acme/checkout:2')).toBe('localhost:5000/acme/checkout');
    expect(PRESET_IMAGES.factsOf('index.docker.io/jaegertracing/example-hotrod@sha256:abc')).toBe(HOTROD_IMAGE);
    expect(ImageCatalogue.of().factsOf('jaegertracing/example-hotrod:1.76.0')).toBeUndefined();
    const mine = { repository: 'jaegertracing/example-hotrod', exportDelayMs: 250 };
    expect(PRESET_IMAGES.with(mine).factsOf('jaegertracing/example-hotrod:1.77.0')).toBe(mine);
  });

  test('the export delay the gates wait for is the app\'s own plus the batch processor\'s, when the pipeline batches', () => {
    const { pipeline, rollout } = rolloutStack();
    expect(pipeline.exportDelayMs(rollout.exportDelayMs)).toBe(rollout.exportDelayMs + 200);
    expect(rolloutStack({ pipeline: { productionProcessors: false } }).pipeline.exportDelayMs(1000)).toBe(1000);
    expect(pipeline.flushInterval).toEqual(Duration.seconds(15));
  });

  test('the traffic generator sends exactly the user endpoints\' URLs, the gates select exactly their span names', () => {
    const { rollout, analysis } = rolloutStack();
    expect(rollout.userEndpoints.map((e) => e.spanName)).toEqual(['/', '/dispatch']);
    expect(analysis.gates[0].query).toContain('endpoint=~"/|/dispatch"');
    expect(analysis.gates[0].query).not.toContain('/metrics');
  });
});
