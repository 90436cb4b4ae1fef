import { createHash } from 'crypto';
import { Lazy, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { Listener, ListenerProtocol } from '../platform/collector-config';
import { COLLECTOR_IMAGE } from '../platform/image-facts';
import { PrometheusBackend } from '../platform/metrics-backend';
import { restrictedContainerSecurity } from './security-context';
import { ICollector } from './interfaces';
import { AdmittedPort, IngressSource, PodIngressPolicy } from './pod-ingress-policy';
import { SpanmetricsPipeline } from './spanmetrics-pipeline';
import { clusterDns, goMemLimit, Image, imageRef, validateName } from '../util';

/** Properties of an {@link OtelCollectorDaemonSet}. */
export interface OtelCollectorDaemonSetProps {
  /** the pipeline whose configuration the collector runs */
  readonly pipeline: SpanmetricsPipeline;
  /** the name of the ConfigMap, DaemonSet and Service @default 'collector' */
  readonly name?: string;
  /** the collector image; the contrib distribution is needed for the prometheus exporter @default - otel/opentelemetry-collector-contrib:0.142.0 */
  readonly image?: Image;
  /** CPU request and limit @default kplus.Cpu.millis(100) */
  readonly cpu?: kplus.Cpu;
  /** memory request and limit; GOMEMLIMIT is set to 80% of it @default Size.mebibytes(128) */
  readonly memory?: Size;
  /** the Prometheus that scrapes the collector's spanmetrics @default PrometheusBackend.communityChart() */
  readonly prometheus?: PrometheusBackend;
}

/** The key of the collector configuration in the ConfigMap. */
export const COLLECTOR_CONFIG_KEY = 'collector-config.yaml';

/** Where the ConfigMap is mounted in the collector container. */
const CONFIG_DIR = '/conf';

/** The annotation on the pod template that carries the hash of the rendered configuration. */
export const CONFIG_HASH_ANNOTATION = 'checksum/collector-config';


/**
 * The OpenTelemetry Collector as a DaemonSet, with its ConfigMap and Service.
 *
 * Container ports, Service ports, probes and the Prometheus scrape annotations are read
 * off the pipeline, and the pod template carries a hash of the rendered configuration so
 * that a configuration change rolls the pods on the next sync. The configuration and its hash
 * are rendered at synth, so pipelines added to `pipeline.config` later reach the collector; a
 * later pipeline that binds a port the pod does not declare fails the synth.
 */
export class OtelCollectorDaemonSet extends Construct implements ICollector {
  /** the pipeline the collector runs */
  public readonly pipeline: SpanmetricsPipeline;
  /** the ConfigMap holding the configuration */
  public readonly configMap: kplus.ConfigMap;
  /** the DaemonSet */
  public readonly daemonSet: kplus.DaemonSet;
  /** the Service other pods send telemetry to */
  public readonly service: kplus.Service;
  /** the Prometheus that scrapes the collector's spanmetrics */
  public readonly prometheus: PrometheusBackend;
  /**
   * The NetworkPolicy of the collector's pods: the ports of its Service (the OTLP receivers) only
   * from the namespaces {@link admitTelemetryFrom} admits, the prometheus exporter only from
   * Prometheus's namespace, nothing else.
   */
  public readonly ingressPolicy: PodIngressPolicy;
  /** the ports apps send telemetry to: the Service's */
  private readonly telemetryPorts: readonly AdmittedPort[];

  constructor(scope: Construct, id: string, props: OtelCollectorDaemonSetProps) {
    super(scope, id);
    const name = props.name ?? 'collector';
    validateName('OtelCollectorDaemonSet', 'name', name);
    this.pipeline = props.pipeline;
    const image = props.image ?? { repository: COLLECTOR_IMAGE.repository, tag: '0.142.0' };
    const memory = props.memory ?? Size.mebibytes(128);
    const cpu = props.cpu ?? kplus.Cpu.millis(100);
    const labels = { app: name };
    this.prometheus = props.prometheus ?? PrometheusBackend.communityChart();

    this.configMap = new kplus.ConfigMap(this, 'Config', {
      metadata: { name: `${name}-config`, labels },
      data: { [COLLECTOR_CONFIG_KEY]: Lazy.any({ produce: () => this.pipeline.toYaml() }) },
    });

    const listeners = this.pipeline.listeners();
    const metrics = this.pipeline.prometheusExporter;
    const metricsListener = listeners.find((l) => l.port === metrics.bind.port)!;
    const scrapeAnnotations = this.prometheus.scrape(this, {
      name, selector: labels, port: { name: metricsListener.name, number: metrics.bind.port }, path: metrics.path,
    });
    const health = this.pipeline.healthCheck;
    // The Secrets the exporters read TLS files from, mounted read-only where their configuration looks.
    const tlsSecrets = this.pipeline.tlsSecrets();
    const tlsMounts = tlsSecrets.map((s, i) => ({
      path: s.mountPath,
      volume: kplus.Volume.fromSecret(this, `TlsVolume${i}`, kplus.Secret.fromSecretName(this, `TlsSecret${i}`, s.secretName), { name: `tls-${i}` }),
      readOnly: true,
    }));
    this.daemonSet = new kplus.DaemonSet(this, 'Resource', {
      metadata: { name, labels },
      select: false,
      podMetadata: {
        labels,
        annotations: {
          ...scrapeAnnotations,
          [CONFIG_HASH_ANNOTATION]: Lazy.any({ produce: () => this.configHash }),
        },
      },
      securityContext: { ensureNonRoot: true, user: COLLECTOR_IMAGE.user.uid, group: COLLECTOR_IMAGE.user.gid },
      containers: [{
        name,
        image: imageRef(image, 'OtelCollectorDaemonSet'),
        imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
        args: [`--config=${CONFIG_DIR}/${COLLECTOR_CONFIG_KEY}`],
        ports: listeners.map((l) => ({ name: l.name, number: l.port, protocol: kplus.Protocol.TCP })),
        envVariables: { GOMEMLIMIT: kplus.EnvValue.fromValue(goMemLimit(memory)) },
        resources: {
          cpu: { request: cpu, limit: cpu },
          memory: { request: memory, limit: memory },
        },
        securityContext: restrictedContainerSecurity(COLLECTOR_IMAGE.user.uid, COLLECTOR_IMAGE.user.gid),
        liveness: kplus.Probe.fromHttpGet(health.path, { port: health.bind.port }),
        readiness: kplus.Probe.fromHttpGet(health.path, { port: health.bind.port }),
        volumeMounts: [{
          path: CONFIG_DIR,
          volume: kplus.Volume.fromConfigMap(this, 'ConfigVolume', this.configMap, { name: 'config' }),
          readOnly: true,
        }, ...tlsMounts],
      }],
    });
    this.daemonSet.select(kplus.LabelSelector.of({ labels }));

    // Who may connect: the apps that send telemetry (admitted as they are wired to the collector),
    // and Prometheus to the exporter. The health_check port needs no rule: the kubelet probes from
    // the pod's own node, which a NetworkPolicy never blocks.
    this.ingressPolicy = new PodIngressPolicy(this, 'Ingress', { name, selector: labels });
    this.telemetryPorts = listeners.filter((l) => l.servedToOtherPods).map((l) => ({ name: l.name, number: l.port }));
    if (this.telemetryPorts.length > 0) this.ingressPolicy.admit(this.telemetryPorts, IngressSource.namespaces());
    this.ingressPolicy.admit([{ name: metricsListener.name, number: metrics.bind.port }], IngressSource.namespaces(this.prometheus.scrapeNamespace(`OtelCollectorDaemonSet '${name}'`)));

    this.service = new kplus.Service(this, 'Service', {
      metadata: { name, labels },
      ports: listeners.filter((l) => l.servedToOtherPods).map((l) => ({
        name: l.name,
        port: l.port,
        targetPort: l.port,
        protocol: kplus.Protocol.TCP,
      })),
    });
    for (const [k, v] of Object.entries(labels)) this.service.selectLabel(k, v);

    const ports = listeners.map((l) => `${l.name}:${l.port}`);
    this.node.addValidation({
      validate: () => {
        const added = this.pipeline.listeners().filter((l) => !ports.includes(`${l.name}:${l.port}`));
        const unmounted = this.pipeline.tlsSecrets().filter((s) => !tlsSecrets.some((m) => m.secretName === s.secretName));
        return [
          ...(added.length === 0 ? [] : [`OtelCollectorDaemonSet '${name}': the pipeline binds ${added.map((l) => `${l.name} ${l.port}`).join(', ')}, added after the collector `
            + 'was built, so its pod and Service do not expose them; add pipelines to the SpanmetricsPipeline before creating the OtelCollectorDaemonSet']),
          ...(unmounted.length === 0 ? [] : [`OtelCollectorDaemonSet '${name}': an exporter reads TLS files from Secret ${unmounted.map((s) => `'${s.secretName}'`).join(', ')}, `
            + 'added after the collector was built, so its pod does not mount it; add pipelines to the SpanmetricsPipeline before creating the OtelCollectorDaemonSet']),
        ];
      },
    });
  }

  /**
   * Admits the pods of a namespace to the collector's Service ports (its OTLP receivers); every
   * other namespace's spans are refused, so no pod can pose as a canary to the gates. A
   * CanaryRollout wired to this collector admits its own namespace.
   */
  public admitTelemetryFrom(namespace: string): void {
    if (this.telemetryPorts.length > 0) this.ingressPolicy.admit(this.telemetryPorts, IngressSource.namespaces(namespace));
  }

  /** The sha256 of the configuration as synthesized: a change rolls the pods. */
  public get configHash(): string {
    return createHash('sha256').update(this.pipeline.toYaml()).digest('hex');
  }

  /** The in-cluster URL an OTLP/HTTP exporter sends to, e.g. `http://collector.otel.svc.cluster.local:4318`. */
  public get otlpHttpEndpoint(): string {
    return `http://${clusterDns(this.service)}:${this.servicePort(ListenerProtocol.OTLP_HTTP).port}`;
  }

  /** The in-cluster `host:port` an OTLP/gRPC exporter sends to. */
  public get otlpGrpcEndpoint(): string {
    return `${clusterDns(this.service)}:${this.servicePort(ListenerProtocol.OTLP_GRPC).port}`;
  }

  /** The listener the Service exposes for a protocol. */
  public servicePort(protocol: ListenerProtocol): Listener {
    const listener = this.pipeline.listeners().find((l) => l.protocol === protocol && l.servedToOtherPods);
    if (!listener) {
      throw new Error(`collector '${this.service.name}' serves no ${protocol} receiver; enable it in the SpanmetricsPipeline`);
    }
    return listener;
  }
}
