import { App } from 'cdk8s';
import { Construct } from 'constructs';

/**
 * A file a synth writes beside the app folders that is not a Kubernetes object (a Helm values
 * file for a chart installed outside Argo CD). Its content is produced at synth, so later
 * additions reach it. The synth writes every one of an app into its output folder, after the
 * manifests; no Argo CD Application lists its path.
 */
export abstract class OutputFile extends Construct {
  /** The output files of an app, in the order they were made. */
  public static of(app: App): OutputFile[] {
    return app.node.findAll().filter((c): c is OutputFile => c instanceof OutputFile);
  }

  /** the path, relative to the app's output folder */
  public readonly path: string;

  protected constructor(scope: Construct, id: string, path: string) {
    super(scope, id);
    if (!/^[a-z0-9][-a-z0-9_.]*\.values\.yaml$/.test(path)) {
      throw new Error(`OutputFile: path '${path}' must be a file name ending in .values.yaml (the loader reads such files as Helm values, not manifests)`);
    }
    this.path = path;
  }

  /** The file's content. */
  public abstract render(): string;
}
