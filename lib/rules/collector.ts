import { Signal } from '../platform/collector-config';
import { collectorsOf, COMPONENT_SECTIONS, OTLP_DEFAULT_PORTS, COMPONENT_TYPE, componentType, CONNECTOR_SIGNALS, PIPELINE_SIGNALS } from '../model/collectors';
import { defineRules, list } from './define';
import { Severity } from './types';

/**
 * What makes OpenTelemetry Collector v0.142 refuse to start (it crash-loops), checked
 * on every collector configuration found in a ConfigMap, plus configured components it
 * silently never builds.
 */
export const COLLECTOR_RULES = defineRules({
  'collector/no-receivers': 'a collector configuration configures at least one receiver',
  'collector/no-exporters': 'a collector configuration configures at least one exporter',
  'collector/no-pipelines': 'a collector configuration has at least one pipeline',
  'collector/pipeline-no-receiver': 'every pipeline has a receiver',
  'collector/pipeline-no-exporter': 'every pipeline has an exporter',
  'collector/unconfigured-component': 'every component a pipeline or service.extensions names is configured',
  'collector/connector-unpaired': 'a connector is the exporter of one pipeline and the receiver of another, with a signal pair it supports',
  'collector/invalid-component-id': 'component ids are type[/name] with type ^[a-zA-Z][0-9a-zA-Z_]{0,62}$',
  'collector/invalid-pipeline-id': 'pipeline ids are signal[/name] with a known signal',
  'collector/ambiguous-id': 'no connector shares its id with a receiver or an exporter',
  'collector/unused-component': 'configured components are used (the collector silently does not build unused ones)',
}, (model, report) => {
  for (const collector of collectorsOf(model)) {
    const c = collector.config;
    const ref = collector.ref;
    const key = `config key '${collector.found.key}'`;
    const E = Severity.ERROR;

    // What a missing OTLP receiver leaves unserved: its default ports (otlpreceiver: grpc 4317, http 4318), where Services and apps point.
    const otlpPorts = OTLP_DEFAULT_PORTS.map((p) => collector.causeKey(`port:${p}`));
    if (c.ids('receivers').length === 0) {
      report('collector/no-receivers', E, ref, `${key} configures no receiver; the collector exits with 'no receiver configuration specified in config'`,
        "configure the receiver the apps send to, e.g. receivers: {otlp: {protocols: {http: {endpoint: '0.0.0.0:4318'}}}}, and list it in the traces pipeline's receivers",
        { causes: [collector.causeKey('receivers'), ...otlpPorts] });
    }
    if (c.ids('exporters').length === 0) {
      report('collector/no-exporters', E, ref, `${key} configures no exporter; the collector exits with 'no exporter configuration specified in config'`,
        'configure where telemetry goes, e.g. exporters: {prometheus: {endpoint: "0.0.0.0:8889"}}, and list it in a pipeline\'s exporters');
    }
    if (c.pipelines.length === 0) {
      report('collector/no-pipelines', E, ref, `${key} has no service.pipelines; the collector exits with 'service must have at least one pipeline'`,
        'add service.pipelines, e.g. traces: {receivers: [otlp], exporters: [otlp, spanmetrics]} and metrics: {receivers: [spanmetrics], exporters: [prometheus]}');
    }

    const receiverSide = new Set([...c.ids('receivers'), ...c.ids('connectors')]);
    const exporterSide = new Set([...c.ids('exporters'), ...c.ids('connectors')]);
    for (const p of c.pipelines) {
      if (!PIPELINE_SIGNALS.includes(p.signal) || /\/$/.test(p.id)) {
        report('collector/invalid-pipeline-id', E, ref, `${key}: pipeline id '${p.id}' is not signal[/name] with signal one of ${list(PIPELINE_SIGNALS)}`,
          `rename the pipeline, e.g. '${Signal.METRICS}/${p.id.replace(/[^a-zA-Z0-9_]/g, '_') || 'name'}'`);
      }
      if (p.receivers.length === 0) {
        report('collector/pipeline-no-receiver', E, ref, `${key}: pipeline '${p.id}' has no receiver; the collector exits with 'must have at least one receiver'`,
          `list where '${p.id}' data comes from in service.pipelines.${p.id}.receivers (configured: ${list(receiverSide)})`);
      }
      if (p.exporters.length === 0) {
        report('collector/pipeline-no-exporter', E, ref, `${key}: pipeline '${p.id}' has no exporter; the collector exits with 'must have at least one exporter'`,
          `list where '${p.id}' data goes in service.pipelines.${p.id}.exporters (configured: ${list(exporterSide)})`);
      }
      const check = (role: string, ids: readonly string[], configured: Set<string>, sections: string) => {
        for (const id of ids.filter((x) => !configured.has(x))) {
          const otlp = role === 'receiver' && componentType(id) === 'otlp';
          report('collector/unconfigured-component', E, ref, `${key}: pipeline '${p.id}' lists ${role} '${id}', which is not configured under ${sections} (configured: ${list(configured)}); the collector refuses to start`,
            `configure '${id}' under ${sections.split(' or ')[0]} or remove it from service.pipelines.${p.id}.${role}s`,
            { causes: otlp ? otlpPorts : [], causedBy: role === 'receiver' ? [collector.causeKey('receivers')] : [] });
        }
      };
      check('receiver', p.receivers, receiverSide, 'receivers or connectors');
      check('processor', p.processors, new Set(c.ids('processors')), 'processors');
      check('exporter', p.exporters, exporterSide, 'exporters or connectors');
    }
    const extensions = new Set(c.ids('extensions'));
    for (const id of c.serviceExtensions.filter((x) => !extensions.has(x))) {
      report('collector/unconfigured-component', E, ref, `${key}: service.extensions lists '${id}', which is not configured under extensions (configured: ${list(extensions)}); the collector refuses to start`,
        `configure '${id}' under extensions (e.g. health_check: {endpoint: '0.0.0.0:13133'}) or remove it from service.extensions`);
    }

    for (const id of c.ids('connectors')) {
      const asExporter = c.pipelines.filter((p) => p.exporters.includes(id)).map((p) => p.signal);
      const asReceiver = c.pipelines.filter((p) => p.receivers.includes(id)).map((p) => p.signal);
      if (asExporter.length === 0 && asReceiver.length === 0) continue;
      const pairs = CONNECTOR_SIGNALS[componentType(id)];
      const ok = pairs
        ? pairs.some(([from, to]) => asExporter.includes(from) && asReceiver.includes(to))
        : asExporter.length > 0 && asReceiver.length > 0;
      if (ok) continue;
      const supported = pairs ? list(pairs.map(([a, b]) => `${a} -> ${b}`)) : 'any exporter side -> receiver side';
      const [from, to] = pairs?.[0] ?? ['a', 'another'];
      report('collector/connector-unpaired', E, ref,
        `${key}: connector '${id}' is an exporter in [${asExporter.join(', ')}] and a receiver in [${asReceiver.join(', ')}]; it supports ${supported}, `
        + `so the collector refuses to start (e.g. 'connector "${id}" used as exporter in [${asExporter.join(', ')}] pipeline but not used in any supported receiver pipeline')`,
        `add '${id}' to the exporters of a ${from} pipeline and to the receivers of a ${to} pipeline (e.g. metrics: {receivers: [${id}], exporters: [prometheus]})`,
        { causes: componentType(id) === 'spanmetrics' ? [collector.causeKey('spanmetrics-export')] : [] });
    }

    for (const section of COMPONENT_SECTIONS) {
      for (const id of c.ids(section)) {
        const slash = id.indexOf('/');
        const type = slash < 0 ? id : id.slice(0, slash);
        if (!COMPONENT_TYPE.test(type) || (slash >= 0 && id.length === slash + 1)) {
          report('collector/invalid-component-id', E, ref, `${key}: ${section} id '${id}' is not type[/name] with type matching ${COMPONENT_TYPE.source}; the collector refuses to start`,
            `use the component's real type (letters, digits, '_'), e.g. '${type.replace(/[^0-9a-zA-Z_]/g, '_').replace(/^[^a-zA-Z]*/, '') || 'otlp'}${slash >= 0 ? '/name' : ''}', and the same id in the pipelines`);
        }
      }
    }
    for (const id of c.ids('connectors')) {
      for (const other of ['receivers', 'exporters'] as const) {
        if (c.ids(other).includes(id)) {
          report('collector/ambiguous-id', E, ref, `${key}: '${id}' is both a connector and one of the ${other}; the collector exits with 'ambiguous ID'`,
            `give one of them a name, e.g. rename the connector to '${id}/connector' and use that id in the pipelines`);
        }
      }
    }
    for (const section of COMPONENT_SECTIONS) {
      const used = c.used(section);
      for (const id of c.ids(section).filter((x) => !used.has(x))) {
        const where = section === 'extensions' ? 'service.extensions' : 'any pipeline';
        report('collector/unused-component', Severity.WARNING, ref, `${key}: ${section} '${id}' is configured but not listed in ${where}, so the collector never builds it`,
          `list '${id}' in ${where} or delete its configuration`);
      }
    }
  }
});
