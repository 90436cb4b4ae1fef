import { readPromql, substitutePlaceholders } from '../lib/analysis/promql';

describe('reading gate queries', () => {
  test('placeholders become same-length dummies that parse in any position', () => {
    const query = 'sum(rate(x{ns="{{args.namespace}}"}[{{ args.window }}])) > {{args.min}}';
    const dummy = substitutePlaceholders(query);
    expect(dummy).toHaveLength(query.length);
    expect(dummy).toBe('sum(rate(x{ns="xxxxxxxxxxxxxxxxxx"}[1                ])) > 1           ');
    const read = readPromql(query);
    expect(read.error).toBeUndefined();
    expect(read.args).toEqual(['namespace', 'window', 'min']);
    expect(read.selectors[0].matchers).toEqual([{ label: 'ns', op: '=', value: '{{args.namespace}}' }]);
  });

  test('a syntax error is placed in the query as written, past placeholders and line breaks', () => {
    const query = 'sum(rate(x{ns="{{args.namespace}}"}[2m]))\n/ sum(rate(x[2m])) by';
    expect(readPromql(query).error).toEqual({ offset: query.length, line: 2, column: 22, near: 'end of query' });
    expect(readPromql('x{a="b"}}').error).toMatchObject({ line: 1, column: 9, near: '}' });
  });

  test('selectors carry metric, matchers and enclosing functions; groupings their scope', () => {
    const read = readPromql('histogram_quantile(0.95, sum by (le) (rate(d_bucket{a="1", "b.c"=~"2"}[2m]))) / on (job) up');
    expect(read.selectors).toEqual([
      { metric: 'd_bucket', matchers: [{ label: 'a', op: '=', value: '1' }, { label: 'b.c', op: '=~', value: '2' }], enclosing: ['rate', 'sum', 'histogram_quantile'], offset: 43 },
      { metric: 'up', matchers: [], enclosing: [], offset: 89 },
    ]);
    expect(read.groupings.map((g) => [g.labels, g.selectors.map((s) => s.metric)])).toEqual([[['le'], ['d_bucket']], [['job'], ['d_bucket', 'up']]]);
    expect(readPromql('{__name__="up", job="x"}').selectors[0]).toMatchObject({ metric: 'up', matchers: [{ label: 'job', op: '=', value: 'x' }] });
  });
});
