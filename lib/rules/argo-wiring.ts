import { ARG_PLACEHOLDER_SOURCE, withoutComments } from '../analysis/promql';
import { LoadedManifest } from '../manifests';
import { analysisUses, argValues, findTemplate, TEMPLATE_KINDS } from '../model/analyses';
import { operatorServices } from '../model/collectors';
import { defineRules, list } from './define';
import { asArr, asObj, asStr, CLUSTER_DOMAIN, Obj, urlsIn } from '../model/model';
import { prometheusInstallOf } from '../platform/prometheus-installs';
import { Severity } from './types';

/**
 * Argo wiring that only shows across objects: ApplicationSets that would make two
 * Applications of one name, gates of one analysis that ask different Prometheus servers,
 * and Services named through analysis arguments.
 */

/**
 * Generators that can yield more than one element: a list with several elements, git
 * directories or files (patterns), clusters, and the ones that combine or discover
 * (argoproj/argo-cd applicationset/generators/*.go @ v3.2.0).
 */
function yieldsSeveral(generator: Obj): string | undefined {
  const list = asObj(generator.list);
  if (asArr(list.elements).length > 1) return `a list generator with ${asArr(list.elements).length} elements`;
  const git = asObj(generator.git);
  const dirs = asArr(git.directories).map(asObj).filter((d) => d.exclude !== true);
  const files = asArr(git.files).map(asObj);
  if (dirs.length > 1 || dirs.some((d) => (asStr(d.path) ?? '').includes('*'))) return 'a git directories generator over several folders';
  if (files.length > 0) return 'a git files generator';
  for (const kind of ['clusters', 'matrix', 'merge', 'pullRequest', 'scmProvider', 'clusterDecisionResource', 'plugin']) {
    if (generator[kind] !== undefined) return `a ${kind} generator`;
  }
  return undefined;
}

/** A `*.svc.cluster.local` host in a text whose name or namespace is an analysis argument. */
const SPLICED_HOST = new RegExp(`(?<name>(?:[a-z0-9-]|${ARG_PLACEHOLDER_SOURCE})+)\\.(?<ns>(?:[a-z0-9-]|${ARG_PLACEHOLDER_SOURCE})+)\\.${CLUSTER_DOMAIN.replace(/\./g, '\\.')}`, 'g');

/** A URL's host as `name.namespace` (cluster suffixes dropped) and port, to compare two addresses of one Service. */
function hostKey(address: string): string | undefined {
  const url = urlsIn(address)[0];
  return url && `${url.host.replace(/\.svc(\.cluster\.local)?$/, '')}:${url.port}`;
}

export const ARGO_WIRING_RULES = defineRules({
  'appset/duplicate-application-name': "an ApplicationSet whose generator yields several elements names each Application from a generator parameter",
  'gates/prometheus-mismatch': 'the Prometheus gates of one template, and of the templates one Rollout runs, query the same Prometheus server',
  'gates/unknown-spliced-service': "a Service named through a Rollout's analysis argument in a query or web provider URL (`{{args.x}}.ns.svc.cluster.local`) exists",
}, (model, report) => {
  const E = Severity.ERROR;
  for (const appSet of model.ofKind('ApplicationSet')) {
    const spec = asObj(appSet.object.spec);
    const name = asStr(asObj(asObj(spec.template).metadata).name);
    if (name === undefined || name.includes('{{')) continue;
    const several = asArr(spec.generators).map(asObj).map(yieldsSeveral).find((x) => x !== undefined);
    if (!several) continue;
    report('appset/duplicate-application-name', E, model.refOf(appSet),
      `template.metadata.name is '${name}', which uses no generator parameter, but ${several} yields several elements: every element makes an Application named '${name}' and the ApplicationSet controller refuses the duplicates`,
      `name each Application after its element, e.g. '{{path.basename}}' (git), '{{name}}-${name}' (clusters) or '{{.name}}' with goTemplate`);
  }

  const addresses = (template: LoadedManifest) =>
    asArr(asObj(template.object.spec).metrics).map(asObj).flatMap((m) => {
      const address = asStr(asObj(asObj(m.provider).prometheus).address);
      return address === undefined ? [] : [{ metric: asStr(m.name) ?? '', address: address.replace(/\/+$/, '') }];
    });
  // The Prometheus a gate should ask is the one the setup names: a Service of the folder, the
  // --prometheus preset's, or one a mesh installs; a count of gates decides only when none is known.
  // only a preset asked for (--prometheus, or the app's environment): the default, or one guessed from the folder, is no evidence
  const presetHost = model.options.prometheus && !model.options.prometheusGuessed ? hostKey(model.prometheus.address) : undefined;
  const known = (address: string, namespace: string): string | undefined => {
    const url = urlsIn(address)[0];
    if (!url) return undefined;
    if (presetHost !== undefined && hostKey(address) === presetHost) return `the ${model.prometheus.name} preset's`;
    const target = model.resolveHost(url.host, namespace);
    if (target?.service) return `Service ${target.namespace}/${target.name} of the folder`;
    const [name, ns] = url.host.split('.');
    const install = ns ? prometheusInstallOf(ns, name) : undefined;
    return install ? `${install.install}` : undefined;
  };
  const reported = new Set<unknown>();
  for (const template of model.ofKind(...TEMPLATE_KINDS)) {
    const gates = addresses(template);
    const hosts = [...new Set(gates.map((g) => g.address))];
    if (hosts.length < 2) continue;
    reported.add(template);
    const namespace = model.namespaceOf(template);
    const count = (h: string) => gates.filter((g) => g.address === h).length;
    const knownHosts = hosts.filter((h) => known(h, namespace));
    const usual = knownHosts.length === 1 ? knownHosts[0] : hosts.reduce((a, b) => (count(b) > count(a) ? b : a));
    const why = knownHosts.length === 1 ? ` (${known(usual, namespace)} Prometheus)` : '';
    const decided = knownHosts.length === 1 || hosts.filter((h) => count(h) === count(usual)).length === 1;
    for (const odd of gates.filter((g) => g.address !== usual)) {
      report('gates/prometheus-mismatch', E, model.refOf(template),
        `gate '${odd.metric}' queries Prometheus at '${odd.address}', but the template's other gates query '${usual}'${why}; one of them judges series from another Prometheus (or one that does not exist)`,
        decided ? `point gate '${odd.metric}' at '${usual}'` : `point every gate at the Prometheus that scrapes these apps (${list(hosts.map((h) => `'${h}'`))} differ)`);
    }
  }
  const usesByRollout = new Map<unknown, ReturnType<typeof analysisUses>>();
  for (const use of analysisUses(model)) usesByRollout.set(use.rollout, [...(usesByRollout.get(use.rollout) ?? []), use]);
  for (const uses of usesByRollout.values()) {
    const byHost = new Map<string, string[]>();
    for (const use of uses) {
      for (const t of use.templates) {
        const template = findTemplate(model, use, t);
        if (!template || reported.has(template)) continue;
        for (const g of addresses(template)) byHost.set(g.address, [...new Set([...(byHost.get(g.address) ?? []), t.name])]);
      }
    }
    if (byHost.size < 2) continue;
    const [usual, ...others] = [...byHost.keys()].sort((a, b) => byHost.get(b)!.length - byHost.get(a)!.length);
    report('gates/prometheus-mismatch', E, uses[0].ref,
      `the templates this Rollout runs query different Prometheus servers: ${[usual, ...others].map((h) => `'${h}' (${list(byHost.get(h)!)})`).join(' and ')}`,
      `point ${list(others.flatMap((h) => byHost.get(h)!))} at '${usual}'`);
  }

  const splicedReported = new Set<string>();
  for (const use of analysisUses(model)) {
    for (const t of use.templates) {
      const template = findTemplate(model, use, t);
      if (!template) continue;
      // values as Argo resolves them: passed literally, from the Rollout's fields (valueFrom.fieldRef), or the template's defaults
      const values = argValues(use, template);
      for (const m of asArr(asObj(template.object.spec).metrics).map(asObj)) {
        const provider = asObj(m.provider);
        const query = asStr(asObj(provider.prometheus).query);
        const texts = [query === undefined ? undefined : withoutComments(query), asStr(asObj(provider.web).url)].filter((x): x is string => x !== undefined);
        for (const text of texts) {
          for (const hit of text.matchAll(SPLICED_HOST)) {
            const { name, ns } = hit.groups!;
            if (!/\{\{/.test(name + ns)) continue;
            let unresolved = false;
            const resolve = (s: string) => s.replace(new RegExp(ARG_PLACEHOLDER_SOURCE, 'g'), (_all, arg: string) => {
              const v = values.get(arg)?.value;
              if (v === undefined) unresolved = true;
              return v ?? '';
            });
            const host = `${resolve(name)}.${resolve(ns)}.${CLUSTER_DOMAIN}`;
            if (unresolved) continue;
            const target = model.resolveHost(host, use.namespace);
            if (!target || target.service || operatorServices(model).has(`${target.namespace}/${target.name}`)) continue;
            // the same name twice in one gate (numerator and denominator) is one finding
            const once = `${use.ref.namespace}/${use.ref.name}|${use.field}|${t.name}|${asStr(m.name) ?? ''}|${host}`;
            if (splicedReported.has(once)) continue;
            splicedReported.add(once);
            report('gates/unknown-spliced-service', E, use.ref,
              `${use.field} runs template '${t.name}', whose gate '${asStr(m.name) ?? ''}' names '${hit[0]}', which with the arguments passed is '${host}'; namespace ${target.namespace} has no Service '${target.name}' (Services: ${list(model.servicesIn(target.namespace).map((s) => s.name))})`,
              `pass the name of an existing Service in ${use.field}.args, or create Service ${target.namespace}/${target.name}`);
          }
        }
      }
    }
  }
});
