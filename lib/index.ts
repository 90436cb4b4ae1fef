/*
 * The public API: what a user composes a delivery with, and the entry points of the tools. Every
 * name here is a reviewed decision (__tests__/api.test.ts lists them); helpers stay in their
 * modules.
 */

// The composition root and the app file's definition
export { Delivery } from './app/delivery';
export type { AlertingSpec, DeliveredService, DeliveryProps, EnvironmentSpec, GateThresholds, NotificationSpec, PlatformCharts, ServiceGates, ServiceSpec } from './app/delivery';
export { deliveryApp, DeliveryApp } from './app/delivery-app';
export type { AppDefinition, DeliveryAppProps, DescribedApp } from './app/delivery-app';
export { CONFIG_FILE, repositorySettings } from './app/repository-config';
export type { RepositorySettings } from './app/repository-config';
export { runSynth } from './app/run-synth';
export type { RunSynthOptions, SynthOutput } from './app/run-synth';

// The constructs
export { SpanmetricsPipeline } from './constructs/spanmetrics-pipeline';
export type { SpanmetricsPipelineProps, PodIdentityAttributes } from './constructs/spanmetrics-pipeline';
export { OtelCollectorDaemonSet } from './constructs/otel-collector-daemon-set';
export type { OtelCollectorDaemonSetProps } from './constructs/otel-collector-daemon-set';
export { CanaryRollout, CanaryStep } from './constructs/canary-rollout';
export type { CanaryRolloutProps, RequestsMetric } from './constructs/canary-rollout';
export { CanaryAnalysis, GATE_DEFAULTS, GateSpec } from './constructs/canary-analysis';
export type { CanaryAnalysisOptions, CanaryAnalysisProps, CustomGateOptions, ErrorRatioGateOptions, Gate, GateOptions, GateQueryContext, GateTiming, LatencyGateOptions } from './constructs/canary-analysis';
export { ThreeGateAnalysis } from './constructs/three-gate-analysis';
export type { ThreeGateAnalysisOptions, ThreeGateAnalysisProps } from './constructs/three-gate-analysis';
export { TrafficGenerator } from './constructs/traffic-generator';
export type { TrafficGeneratorProps } from './constructs/traffic-generator';
export { DeliveryApplicationSet } from './constructs/delivery-application-set';
export type { DeliveryApplicationSetProps } from './constructs/delivery-application-set';
export { RequestSource } from './constructs/workload';
export { AlertReceiver, AlertRouting } from './constructs/alert-routing';
export type { AlertRoutingProps, SecretKey, TeamReceivers } from './constructs/alert-routing';
export { CollectorAlerts, SloAlerts } from './constructs/slo-alerts';
export type { CollectorAlertsProps, SloAlertsProps } from './constructs/slo-alerts';
export { PrometheusChartValues } from './constructs/prometheus-chart-values';
export { CanaryDashboard } from './constructs/canary-dashboard';
export type { CanaryDashboardProps, DashboardService } from './constructs/canary-dashboard';
export { NotificationService, RolloutNotifications, TraceSearch } from './constructs/rollout-notifications';
export type { RolloutNotificationsProps } from './constructs/rollout-notifications';
export type { TailSamplingOptions } from './constructs/spanmetrics-pipeline';
export type { RequestCounter, WorkloadEndpoint, WorkloadMetrics, WorkloadProps, WorkloadTelemetry } from './constructs/workload';
export { PodIdentity } from './constructs/interfaces';
export type { CanaryRequests, IAnalysis, IAnalysisTarget, ICollector, ISpanmetricsPipeline, IStepsTarget, ITrafficTarget, Matchers } from './constructs/interfaces';

// The vocabulary every tool reads gates with
export { Direction, GateKind } from './model/gates';
export { SeriesPath } from './analysis/evidence';

// The systems around: the Prometheus setups, the collector configuration model, image facts
export { PodScrape, PROMETHEUS_PRESETS, PrometheusBackend, RuleDelivery } from './platform/metrics-backend';
export { AlertSeverity, SloKind, SRE_WORKBOOK_WINDOWS } from './platform/slo';
export type { SloObjectives } from './platform/slo';
export type { PrometheusBackendProps } from './platform/metrics-backend';
export { BatchProcessor, CollectorConfig, TailSamplingProcessor, DebugExporter, DebugVerbosity, ExporterTls, HealthCheckExtension, HistogramUnit, ListenerProtocol, MemoryLimiterProcessor, OtlpExporter, OtlpReceiver, PrometheusExporter, Signal, SpanmetricsConnector } from './platform/collector-config';
export type { BindAddress, Listener, PipelineDefinition, SpanmetricsSeries, TlsFiles, TlsSecretKeys, TlsSecretMount } from './platform/collector-config';
export { ImageCatalogue } from './platform/image-facts';
export { PodSecurityLevel } from './platform/pod-security';
export type { ImageFacts, InternalCall, ServedEndpoint, TypicalLatency } from './platform/image-facts';

// Presets
export { hotrodWorkload } from './presets/hotrod-workload';
export type { HotrodWorkloadOptions } from './presets/hotrod-workload';
export { PRESET_IMAGES } from './presets/images';

// The tools: the model every tool reads, validate's rules, the rehearsal, explain
export { DeliveryModel, modelOf } from './model/model';
export type { ModelOptions } from './model/model';
export { loadFolder } from './manifests';
export type { LoadedManifest, LoadFolderOptions, Manifest } from './manifests';
export { formatFinding, Severity } from './rules/types';
export type { Finding, RuleOptions } from './rules/types';
export { runRules } from './rules/engine';
export { targetsFromManifests, targetsFromModel } from './rehearsal/from-model';
export { prepareRehearsal, runScenarios } from './rehearsal/rehearse';
export type { ScenarioResult, TrialOptions } from './rehearsal/rehearse';
export { PrometheusEngine } from './rehearsal/prometheus-engine';
export { formatResults, toReport } from './rehearsal/report';
export { explainModel } from './explain/sources';
export type { RolloutExplanation } from './explain/sources';
export { explainMarkdown } from './explain/markdown';
export type { RehearsalReport } from './rehearsal/report';
