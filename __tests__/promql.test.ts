import { cannotBeEmpty, readPromql, substitutePlaceholders, withoutComments } from '../lib/analysis/promql';

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

describe('queries that cannot be empty', () => {
  // result[0] needs no len(result) guard on these; arithmetic between never-empty label-free sides stays never empty
  test.each([
    ['(sum(rate(a[5m])) or vector(0)) / (sum(rate(b[5m])) or vector(1))', true],
    ['# comment\nsum(rate(a[1m])) or vector(0)', true],
    ['sum(rate(a[1m])) or vector(0) # tail', true],
    ['sum(rate(a{x="{{args.y}}"}[1m]))', false],
    ['sum(rate(a[1m])) / sum(rate(b[1m]))', false],
    ['(sum(rate(a[1m])) or vector(0)) / sum(rate(b[1m]))', false],
    ['(rate(a[1m]) or vector(0)) / (rate(b[1m]) or vector(1))', false],
    ['sum(rate(a[1m])) > bool 0 or vector(0)', true],
    ['(sum(a) or vector(0)) > 1', false],
    ['(sum(a) or vector(0)) > bool 1', true],
    ['scalar(sum(a))', true],
    ['1 - (sum(a) or vector(0))', true],
    ['vector(1) and sum(a)', false],
    ['sum(sum(a) or vector(0))', true],
    ['abs(sum(a) or vector(0))', true],
    ['(sum(a) or vector(0)) / on() (sum by (x) (b) or vector(1))', false],
  ])('%s -> %s', (q, want) => expect(cannotBeEmpty(q)).toBe(want));

  test('comments are blanked, offsets kept', () => {
    expect(withoutComments('# a "b"\nsum(x{l="#1"}) # c')).toBe('       \nsum(x{l="#1"})    ');
  });
});
