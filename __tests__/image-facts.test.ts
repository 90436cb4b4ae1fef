import {
  BATCH_PROCESSOR_DEFAULT_TIMEOUT,
  HOTROD_DISPATCH_CAPACITY_PER_SECOND,
  HOTROD_ENDPOINTS,
  HOTROD_EXPORT_DELAY_MS,
  HOTROD_REQUESTS_METRIC,
  HOTROD_ROUTES_PER_DISPATCH,
  SPANMETRICS_DEFAULT_FLUSH_INTERVAL,
  SPANMETRICS_FLUSH_INTERVAL,
} from '../lib';
import { wiredStack } from './helpers';

describe('the upstream facts the gates rest on, each from its source at the pinned version', () => {
  test('HotROD v1.76.0: its counter counts server spans by span name; the mux patterns are the span names (pkg/tracing/rpcmetrics, services/frontend/server.go)', () => {
    expect(HOTROD_REQUESTS_METRIC).toEqual({ name: 'hotrod_requests_total', endpointLabel: 'endpoint', errorLabel: 'error', errorValue: 'true' });
    expect(Object.values(HOTROD_ENDPOINTS).map((e) => [e.spanName, e.service, e.caller])).toEqual([
      ['/', 'frontend', 'user'],
      ['/dispatch', 'frontend', 'user'],
      ['/metrics', 'frontend', 'prometheus'],
      ['/customer', 'customer', 'internal'],
      ['driver.DriverService/FindNearest', 'driver', 'internal'],
      ['/route', 'route', 'internal'],
    ]);
    expect(HOTROD_ROUTES_PER_DISPATCH).toBe(10);
    // pkg/tracing/init.go: sdktrace.WithBatchTimeout(1000*time.Millisecond)
    expect(HOTROD_EXPORT_DELAY_MS).toBe(1000);
    // services/config/config.go: MySQLGetDelay 300ms under a process-wide mutex
    expect(HOTROD_DISPATCH_CAPACITY_PER_SECOND).toBeCloseTo(3.333, 3);
  });

  test('the collector v0.142: spanmetrics flushes every 60 s unless told, the batch processor holds data up to 200 ms; this stack flushes every 15 s', () => {
    expect(SPANMETRICS_DEFAULT_FLUSH_INTERVAL.toSeconds()).toBe(60);
    expect(BATCH_PROCESSOR_DEFAULT_TIMEOUT.toMilliseconds()).toBe(200);
    expect(SPANMETRICS_FLUSH_INTERVAL.toSeconds()).toBe(15);
    const { pipeline, rollout } = wiredStack();
    expect(pipeline.spanmetrics.toConfig().metrics_flush_interval).toBe('15s');
    expect(pipeline.exportDelayMs(rollout.exportDelayMs)).toBe(1200);
    expect(wiredStack({ pipeline: { productionProcessors: false } }).pipeline.exportDelayMs(1000)).toBe(1000);
  });

  test('the traffic generator sends exactly the user endpoints\' URLs, the gates select exactly their span names', () => {
    const { rollout, gates } = wiredStack();
    expect(rollout.userEndpoints.map((e) => e.spanName)).toEqual(['/', '/dispatch']);
    expect(gates.gates[0].query).toContain('endpoint=~"/|/dispatch"');
    expect(gates.gates[0].query).not.toContain('/metrics');
  });
});
