import { App, Chart, Names } from 'cdk8s';
import { LoadedManifest, Manifest } from '../manifests';

/** The folder cdk8s writes a chart to in FOLDER_PER_CHART_FILE_PER_RESOURCE output (cdk8s app.js SimpleChartFolderNamer @ 2.70.106). */
export function chartFolder(chart: Chart): string {
  return Names.toDnsLabel(chart);
}

/** The file cdk8s writes an object of a chart to, relative to the output folder (cdk8s app.js, FOLDER_PER_CHART_FILE_PER_RESOURCE @ 2.70.106). */
export function manifestFile(folder: string, object: Manifest, extension: string): string {
  return `${folder}/${`${object.kind}.${object.metadata?.name}`.replace(/[^0-9a-zA-Z-_.]/g, '')}${extension}`;
}

/** Orders files as a folder is read (lib/manifests.ts yamlFilesUnder: each level's names by localeCompare). */
function byFolderOrder(a: string, b: string): number {
  const [x, y] = [a.split('/'), b.split('/')];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const c = x[i].localeCompare(y[i]);
    if (c !== 0) return c;
  }
  return x.length - y.length;
}

/**
 * The objects an app synthesizes, validated as `app.synth()` validates them, each with the file a
 * synth would write it to, in the order a folder of them is read, without writing anything: what
 * the tools read an app with, so an app and its synthesized folder read alike.
 */
export function synthesizeInMemory(app: App): LoadedManifest[] {
  // synthYaml() validates the whole app (and resolves dependencies between charts) as synth() does.
  app.synthYaml();
  return app.charts.flatMap((chart) => (chart.toJson() as Manifest[]).map((object) => ({ object, file: manifestFile(chartFolder(chart), object, app.outputFileExtension) })))
    .sort((a, b) => byFolderOrder(a.file, b.file));
}
