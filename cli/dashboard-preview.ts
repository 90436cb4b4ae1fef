import { writeFileSync } from 'fs';
import { Delivery } from '../lib/app/delivery';
import { serviceSeries } from '../lib/constructs/slo-alerts';
import { dashboardQuery } from '../lib/constructs/canary-dashboard';
import { AppLoadError, DEFAULT_APP_FILE, loadApp } from './app-loader';

/*
 * `node cli/run.js cli/dashboard-preview [--app FILE] [--environment NAME] [--service NAME] --out FILE.html`:
 * a static HTML picture of an environment's canary dashboard, laid out by its panels' gridPos, with
 * each panel's queries drawn as made-up series (a canary and a stable line per query, as a
 * healthy-then-failing canary would look) and its thresholds and bounds as the constants they are.
 * No Grafana runs: it shows what the dashboard holds, for the README's picture
 * (chromium --headless --screenshot=docs/canary-dashboard.png FILE.html).
 */

type Target = { expr: string; legendFormat?: string };
type Panel = { type: string; title: string; gridPos: { x: number; y: number; w: number; h: number }; targets?: Target[]; fieldConfig?: { defaults?: { unit?: string } } };

const W = 60;
const H = 34;
const COLORS = ['#73bf69', '#f2cc0c', '#5794f2', '#ff9830', '#b877d9', '#8ab8ff'];

/** A made-up series: a smooth line, rising for the canary after two thirds when it fails. */
function series(seed: number, canary: boolean, failing: boolean, base: number): number[] {
  return Array.from({ length: 60 }, (_, i) => {
    const wobble = Math.sin((i + seed * 7) / 5) * 0.08 + Math.sin((i + seed * 3) / 2.3) * 0.04;
    const rise = canary && failing && i > 40 ? (i - 40) / 12 : 0;
    return Math.max(0, base * (1 + wobble + rise));
  });
}

function panelSvg(p: Panel, keys: readonly string[]): string {
  // only the chosen service's queries return data: those reading its own series
  const targets = (p.targets ?? []).filter((t) => keys.some((k) => t.expr.includes(k)));
  const constants = targets.filter((t) => /^-?[\d.]+ and on\(\)/.test(t.expr)).map((t) => ({ value: Number(t.expr.split(' ')[0]), label: t.legendFormat ?? '' }));
  const queries = targets.filter((t) => !/^-?[\d.]+ and on\(\)/.test(t.expr));
  const mine = queries.slice(0, 3);
  const top = Math.max(1, ...constants.map((c) => Math.abs(c.value) * 1.4));
  const lines: { points: number[]; label: string; color: string; dash?: boolean }[] = [];
  mine.forEach((t, i) => {
    const base = top * (p.title.startsWith('Gate statistics') ? 0.15 : 0.35);
    const failing = !p.title.startsWith('Request rate');
    lines.push({ points: series(i, false, failing, base), label: `${(t.legendFormat ?? '').replace(/\{\{[^}]+\}\}/g, 'stable 5d8f7c9b4')}`, color: COLORS[(2 * i) % COLORS.length] });
    lines.push({ points: series(i + 1, true, failing, base), label: `${(t.legendFormat ?? '').replace(/\{\{[^}]+\}\}/g, 'canary 7c9d8f6b5')}`, color: COLORS[(2 * i + 1) % COLORS.length] });
  });
  for (const c of constants) lines.push({ points: Array(60).fill(c.value), label: c.label, color: '#f2495c', dash: true });
  const min = Math.min(0, ...lines.flatMap((l) => l.points));
  const max = Math.max(top, ...lines.flatMap((l) => l.points));
  const width = p.gridPos.w * W - 24;
  const height = p.gridPos.h * H - 80;
  const y = (v: number) => height - ((v - min) / (max - min || 1)) * height;
  const paths = lines.map((l) => `<polyline fill="none" stroke="${l.color}" stroke-width="2"${l.dash ? ' stroke-dasharray="8 6"' : ''} points="${l.points.map((v, i) => `${(i / 59) * width},${y(v).toFixed(1)}`).join(' ')}"/>`).join('');
  const legend = lines.slice(0, 8).map((l) => `<span><i style="background:${l.color}"></i>${escape(l.label)}</span>`).join('');
  return `<svg width="${width}" height="${height}">${paths}</svg><div class="legend">${legend}</div>`;
}

function escape(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]!));
}

/** The preview of a dashboard JSON model, for one service. */
export function previewHtml(dashboard: { title: string; panels: Panel[]; templating: { list: { name: string; label?: string; query?: string }[] } }, service: string, keys: readonly string[]): string {
  const vars = dashboard.templating.list.map((v) => `<span class="var">${escape(v.label ?? v.name)} <b>${escape(v.name === 'service' ? service : v.name === 'datasource' ? 'Prometheus' : v.name === 'canary' ? '7c9d8f6b5' : v.name === 'stable' ? '5d8f7c9b4' : '')}</b></span>`).join('');
  const panels = dashboard.panels.map((p) => {
    const style = `left:${p.gridPos.x * W}px;top:${p.gridPos.y * H + 60}px;width:${p.gridPos.w * W - 8}px;height:${p.gridPos.h * H - 8}px`;
    if (p.type === 'row') return `<div class="row" style="left:0;top:${p.gridPos.y * H + 60}px">${escape(p.title)}</div>`;
    return `<div class="panel" style="${style}"><div class="title">${escape(p.title)}</div>${panelSvg(p, keys)}</div>`;
  }).join('\n');
  const bottom = Math.max(...dashboard.panels.map((p) => (p.gridPos.y + p.gridPos.h) * H)) + 80;
  return `<!doctype html><html><head><meta charset="utf-8"><style>
body{margin:0;background:#111217;color:#ccccdc;font:13px DejaVu Sans,sans-serif;width:${24 * W}px;height:${bottom}px;position:relative}
.top{position:absolute;left:8px;top:8px;right:8px;height:40px;display:flex;gap:16px;align-items:center}
.top h1{font-size:18px;margin:0 24px 0 0;color:#fff}.var{background:#22252b;padding:4px 8px;border-radius:2px}
.panel{position:absolute;background:#181b1f;border:1px solid #2c3235;border-radius:2px;padding:8px;box-sizing:border-box}
.title{font-weight:bold;color:#fff;margin-bottom:6px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.row{position:absolute;font-weight:bold;font-size:15px;color:#fff;padding:6px 8px}
.legend{display:flex;flex-wrap:wrap;gap:4px 12px;font-size:11px;margin-top:4px}.legend i{display:inline-block;width:12px;height:3px;margin-right:4px;vertical-align:middle}
</style></head><body><div class="top"><h1>${escape(dashboard.title)}</h1>${vars}<span>(a static preview of the generated dashboard: made-up data, the queries' thresholds as generated)</span></div>
${panels}</body></html>`;
}

async function main(argv: string[]): Promise<number> {
  const opt = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  const out = opt('--out');
  if (!out) {
    console.error('usage: node cli/run.js cli/dashboard-preview [--app FILE] [--environment NAME] [--service NAME] --out FILE.html');
    return 2;
  }
  try {
    const app = await loadApp(opt('--app') ?? DEFAULT_APP_FILE);
    const deliveries = app.describe().flatMap((d) => d.deliveries as Delivery[]);
    const env = opt('--environment');
    const delivery = deliveries.find((d) => env === undefined || d.environment.name === env);
    if (!delivery) throw new AppLoadError(`no environment '${env}'; there are ${deliveries.map((d) => d.environment.name).join(', ')}`);
    const service = delivery.service(opt('--service') ?? delivery.services[0].name);
    const series = serviceSeries(service.rollout, '$service');
    const keys = [series.requests, series.spanCount.replace(service.rollout.pipeline.series.durationCount, service.rollout.pipeline.series.durationBucket), `namespace="${service.rollout.namespace}"`,
      ...service.analysis.gates.map((g) => dashboardQuery(g.query))];
    writeFileSync(out, previewHtml(JSON.parse(JSON.stringify(delivery.dashboard.dashboard)), service.name, keys));
    console.log(`wrote ${out}: ${delivery.dashboard.dashboard.title}, service ${service.name}`);
    return 0;
  } catch (e) {
    console.error(`dashboard-preview: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

if (require.main === module) void main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
