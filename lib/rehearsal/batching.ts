import { QueryAnswer, RawAnswer } from './prometheus-engine';

/**
 * Many trials ask the same Prometheus at the same moment: every trial of a scenario starts its
 * AnalysisRun at the same time, so their looks fall on the same instants. One HTTP request per
 * look and trial made the rehearsal's cost its round trips; this sends the queries asked for one
 * instant together, as one PromQL expression that tags each query's answer with a label of its
 * own and joins them with `or`:
 *
 *   label_replace((q0), "rehearsal_query", "0", "", "") or label_replace((q1), "rehearsal_query", "1", "", "") or ...
 *
 * Each part is evaluated as it would be alone; the label keeps the parts' series apart (`or`
 * keeps every series of its right side whose labels the left side lacks, and no two parts share
 * the label's value), and each answer is its part's series in the order they came. A part whose
 * answer is not an instant vector (a scalar) or that fails makes the whole expression fail: then
 * each query of the batch is asked alone, and a query that failed that way is asked alone from
 * then on.
 */

/** Anything that answers instant queries at a Unix time, with the labels of each series. */
export interface RawQueryEngine {
  query(expr: string, time: number): Promise<QueryAnswer>;
  /** the same query, answered as Prometheus sends it: the result type and each series with its labels */
  queryRaw(expr: string, time: number): Promise<RawAnswer>;
}

/** The label a batch tags each part's series with. */
export const BATCH_LABEL = 'rehearsal_query';

/**
 * The most queries one batch carries. Prometheus joins `or` sides in time that grows with the left
 * side, so a batch's cost per query grows past a few dozen: measured on Prometheus 2.42 with the
 * error-rate gate's query, 2 ms alone, 0.6 ms each in batches of 5 to 20, 0.9 at 40, 2.1 at 200.
 */
const MAX_BATCH = 20;

interface Pending {
  readonly expr: string;
  readonly resolve: (answer: QueryAnswer) => void;
  readonly reject: (error: unknown) => void;
}

/** Batches the instant queries asked for the same time in the same turn of the event loop. */
export class BatchingEngine {
  /** queries asked alone, since a batch with them failed */
  private readonly alone = new Set<string>();
  private readonly waiting = new Map<number, Pending[]>();
  private scheduled = false;
  /** HTTP requests sent, and queries answered, for the report */
  public requests = 0;
  public queries = 0;

  constructor(private readonly engine: RawQueryEngine) {}

  public query(expr: string, time: number): Promise<QueryAnswer> {
    this.queries++;
    if (this.alone.has(expr)) {
      this.requests++;
      return this.engine.query(expr, time);
    }
    return new Promise((resolve, reject) => {
      let list = this.waiting.get(time);
      if (!list) this.waiting.set(time, list = []);
      list.push({ expr, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batches = [...this.waiting];
    this.waiting.clear();
    for (const [time, pending] of batches) {
      for (let i = 0; i < pending.length; i += MAX_BATCH) void this.send(time, pending.slice(i, i + MAX_BATCH));
    }
  }

  private async send(time: number, batch: readonly Pending[]): Promise<void> {
    try {
      if (batch.length === 1) {
        this.requests++;
        batch[0].resolve(await this.engine.query(batch[0].expr, time));
        return;
      }
      const expr = batch.map((p, i) => `label_replace((\n${p.expr}\n), "${BATCH_LABEL}", "${i}", "", "")`).join('\nor\n');
      this.requests++;
      const raw = await this.engine.queryRaw(expr, time);
      if (raw.error !== undefined || raw.resultType !== 'vector') {
        // one of the parts cannot be batched (or failed): ask each alone, and remember the ones that failed
        await Promise.all(batch.map(async (p) => {
          this.requests++;
          const answer = await this.engine.query(p.expr, time);
          if (answer.error !== undefined || !Array.isArray(answer.result)) this.alone.add(p.expr);
          p.resolve(answer);
        }));
        return;
      }
      const parts: number[][] = batch.map(() => []);
      for (const s of raw.result as { metric: Record<string, string>; value: [number, string] }[]) {
        const i = Number(s.metric[BATCH_LABEL]);
        if (Number.isInteger(i) && parts[i]) parts[i].push(Number(s.value[1]));
      }
      batch.forEach((p, i) => p.resolve({ result: parts[i] }));
    } catch (e) {
      for (const p of batch) p.reject(e);
    }
  }
}
