import { LabelMatcher, placeholderArgs, readPromql, SelectorUse } from '../analysis/promql';

/**
 * Which of the model's series a set of queries can read.
 *
 * A series that no vector selector of any query matches cannot change any query's answer, so
 * the rehearsal need not write it: for HotROD's gates that leaves out the internal spans, the
 * `/metrics` scrapes and the `_sum` series, 60 % of the text promtool backfilled.
 *
 * The filter keeps a series whenever it cannot be sure a selector misses it (a superset is
 * always safe): a matcher whose value holds an Argo `{{args.x}}` placeholder matches any value
 * (the trials give it different values), a regular expression outside the plain subset below
 * matches anything, and a query that does not parse keeps every series.
 */

/** Decides whether a series (metric name and labels) is written. */
export type SeriesFilter = (name: string, labels: Readonly<Record<string, string>>) => boolean;

/**
 * Regular expressions whose meaning is the same in RE2 (Prometheus) and in JavaScript: literals,
 * `.`, `|`, groups, the quantifiers `* + ?` and escaped punctuation. Prometheus anchors them at
 * both ends; whether `.` matches a newline depends on its version (prometheus/prometheus
 * model/labels/regexp.go: `"^(?:" + v + ")$"` @ v2.42.0, the rehearsal's; `"^(?s:" + ... + ")$"`
 * @ v3.11.1, chart 29.1.0's). So `=~` is tested with `.` matching newlines and `!~` without:
 * each keeps every series either version would match.
 */
const PLAIN_REGEX = /^(?:[A-Za-z0-9_/:|.*+?() -]|\\[.^$*+?()[\]{}|\\/-])*$/;

/** A matcher as a test on a label value, or undefined when it may match any value. */
function valueTest(m: LabelMatcher): ((value: string) => boolean) | undefined {
  if (placeholderArgs(m.value).length > 0) return undefined;
  switch (m.op) {
    case '=': return (v) => v === m.value;
    case '!=': return (v) => v !== m.value;
    case '=~':
    case '!~': {
      if (!PLAIN_REGEX.test(m.value)) return undefined;
      let re: RegExp;
      try {
        re = new RegExp(`^(?:${m.value})$`, m.op === '=~' ? 's' : '');
      } catch {
        return undefined;
      }
      return m.op === '=~' ? (v) => re.test(v) : (v) => !re.test(v);
    }
    default: return undefined;
  }
}

/** The labels whose values can change a selector's answer: those it matches with a test. */
function decisiveLabels(s: SelectorUse): string[] {
  return s.matchers.filter((m) => valueTest(m) !== undefined).map((m) => m.label);
}

/** A selector as a test on a series. */
function selectorTest(s: SelectorUse): SeriesFilter {
  const tests = s.matchers.flatMap((m) => {
    const test = valueTest(m);
    // an absent label reads as the empty value, as in Prometheus
    return test ? [(labels: Readonly<Record<string, string>>) => test(labels[m.label] ?? '')] : [];
  });
  return (name, labels) => (s.metric === undefined || s.metric === name) && tests.every((t) => t(labels));
}

/**
 * The series the queries can read; `undefined` when that is every series (a query that does not
 * parse, or none at all to go by).
 */
export function seriesReadBy(queries: readonly string[]): SeriesFilter | undefined {
  if (queries.length === 0) return undefined;
  const selectors: SeriesFilter[] = [];
  const decisive = new Set<string>();
  for (const q of queries) {
    const read = readPromql(q);
    if (read.error) return undefined;
    selectors.push(...read.selectors.map(selectorTest));
    for (const sel of read.selectors) for (const l of decisiveLabels(sel)) decisive.add(l);
  }
  // The answer depends only on the name and the decisive labels' values: the rehearsal asks for
  // thousands of series that differ only in others (the pod, the trial's hash), so it is kept.
  const labels = [...decisive];
  const answers = new Map<string, boolean>();
  return (name, series) => {
    const key = `${name}\u0000${labels.map((l) => series[l] ?? '').join('\u0000')}`;
    let answer = answers.get(key);
    if (answer === undefined) answers.set(key, answer = selectors.some((s) => s(name, series)));
    return answer;
  };
}
