import { readFileSync } from 'fs';
import { join } from 'path';
import * as api from '../lib';

/*
 * The public API, listed: a name added to or removed from lib/index.ts changes this list, so the
 * change is a reviewed diff. Helpers stay in their modules.
 */

/** What a user composes with and runs, at run time. */
const VALUES = [
  // production signals: SLO alerts, routing, the dashboard, verdict notifications, tail sampling
  'AlertReceiver', 'AlertRouting', 'AlertSeverity', 'CanaryDashboard', 'CollectorAlerts', 'NotificationService', 'PrometheusChartValues', 'RolloutNotifications',
  'RuleDelivery', 'SloAlerts', 'SloKind', 'SRE_WORKBOOK_WINDOWS', 'TailSamplingProcessor', 'TraceSearch',
  // the composition root and the app file's definition
  'CONFIG_FILE', 'Delivery', 'DeliveryApp', 'deliveryApp', 'repositorySettings', 'runSynth',
  // the constructs
  'CanaryAnalysis', 'CanaryRollout', 'CanaryStep', 'DeliveryApplicationSet', 'GATE_DEFAULTS', 'GateSpec', 'OtelCollectorDaemonSet', 'PodIdentity',
  'RequestSource', 'SpanmetricsPipeline', 'ThreeGateAnalysis', 'TrafficGenerator',
  // the vocabulary
  'Direction', 'GateKind', 'SeriesPath',
  // the systems around
  'BatchProcessor', 'CollectorConfig', 'DebugExporter', 'DebugVerbosity', 'ExporterTls', 'HealthCheckExtension', 'HistogramUnit', 'ImageCatalogue', 'ListenerProtocol',
  'MemoryLimiterProcessor', 'OtlpExporter', 'OtlpReceiver', 'PodScrape', 'PodSecurityLevel', 'PROMETHEUS_PRESETS', 'PrometheusBackend', 'PrometheusExporter', 'Signal',
  'SpanmetricsConnector',
  // presets
  'hotrodWorkload', 'PRESET_IMAGES',
  // the tools
  'DeliveryModel', 'explainMarkdown', 'explainModel', 'formatFinding', 'formatResults', 'loadFolder', 'modelOf', 'prepareRehearsal', 'PrometheusEngine',
  'runRules', 'runScenarios', 'Severity', 'targetsFromManifests', 'targetsFromModel', 'toReport',
];

/** The types that come with them. */
const TYPES = [
  'AlertingSpec', 'AlertRoutingProps', 'CanaryDashboardProps', 'CollectorAlertsProps', 'DashboardService', 'NotificationSpec', 'RolloutNotificationsProps', 'SecretKey',
  'SloAlertsProps', 'SloObjectives', 'TailSamplingOptions', 'TeamReceivers',
  'AppDefinition', 'BindAddress', 'CanaryAnalysisOptions', 'CanaryAnalysisProps', 'CanaryRequests', 'CanaryRolloutProps', 'CustomGateOptions', 'DeliveredService',
  'DeliveryAppProps', 'DeliveryApplicationSetProps', 'DeliveryProps', 'DescribedApp', 'EnvironmentSpec', 'ErrorRatioGateOptions', 'Finding', 'Gate', 'GateOptions',
  'GateQueryContext', 'GateThresholds', 'GateTiming', 'HotrodWorkloadOptions', 'IAnalysis', 'IAnalysisTarget', 'ICollector', 'ImageFacts', 'InternalCall',
  'ISpanmetricsPipeline', 'IStepsTarget', 'ITrafficTarget', 'LatencyGateOptions', 'Listener', 'LoadedManifest', 'LoadFolderOptions', 'Manifest', 'Matchers',
  'ModelOptions', 'OtelCollectorDaemonSetProps', 'PipelineDefinition', 'PlatformCharts', 'PodIdentityAttributes', 'PrometheusBackendProps', 'RehearsalReport',
  'RepositorySettings', 'RequestCounter', 'RequestsMetric', 'RolloutExplanation', 'RuleOptions', 'RunSynthOptions', 'ScenarioResult', 'ServedEndpoint', 'ServiceGates',
  'ServiceSpec', 'SpanmetricsPipelineProps', 'SpanmetricsSeries', 'SynthOutput', 'ThreeGateAnalysisOptions', 'ThreeGateAnalysisProps', 'TrafficGeneratorProps',
  'TlsFiles', 'TlsSecretKeys', 'TlsSecretMount', 'TrialOptions', 'TypicalLatency', 'WorkloadEndpoint', 'WorkloadMetrics', 'WorkloadProps', 'WorkloadTelemetry',
];

const sorted = (names: readonly string[]) => [...names].sort((a, b) => a.localeCompare(b));

describe('the public API (lib/index.ts)', () => {
  test('exports exactly the listed values', () => {
    expect(sorted(Object.keys(api))).toEqual(sorted(VALUES));
  });

  test('exports exactly the listed types', () => {
    const index = readFileSync(join(__dirname, '..', 'lib', 'index.ts'), 'utf8');
    const types = [...index.matchAll(/export type \{([^}]*)\}/g)].flatMap((m) => m[1].split(',').map((n) => n.trim()).filter(Boolean));
    expect(sorted(types)).toEqual(sorted(TYPES));
  });

  test('nothing internal: no name of an @internal declaration, none starting with _', () => {
    expect(VALUES.filter((n) => n.startsWith('_'))).toEqual([]);
    // the gate rendering types are @internal (lib/constructs/canary-analysis.ts)
    expect([...VALUES, ...TYPES].filter((n) => ['GateRenderContext', 'RenderedParts'].includes(n))).toEqual([]);
  });
});
