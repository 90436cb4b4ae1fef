/**
 * Go's `regexp.MatchString(pattern, name)` as Argo Rollouts v1.8.3 matches a run's dry-run rules
 * against its metric names (utils/analysis/helpers.go GetDryRunMetrics): the pattern may match
 * anywhere in the name (`rate` matches `error-rate`), and a pattern Go cannot compile matches
 * nothing, its error ignored (so `*` alone matches nothing).
 *
 * Go's syntax (RE2) and JavaScript's agree on plain patterns: ASCII letters, digits and `-_ /:`,
 * `.`, `* + ?` (lazy too), `|`, groups `( )` and `(?: )`, simple classes `[a-z]` `[^x]`, anchors
 * `^ $`, escaped punctuation and `\d \w \s \b` with their upper-case forms. Anything else
 * (counted repetitions `{n,m}`, flags `(?i)`, named groups, look-arounds, back-references, POSIX
 * and Unicode classes, `\A \z \Q`, an empty class `[]`, non-ASCII) differs or may differ between
 * them: it is refused with an error, never guessed.
 */

const PLAIN = /^(?:[A-Za-z0-9\-_ /:.*+?|()[\]^$]|\\[^A-Za-z0-9]|\\[dDwWsSbB])*$/;

/** Thrown for a pattern whose meaning in Go this module does not know. */
export class GoRegexpUnsupportedError extends Error {
  constructor(public readonly pattern: string, what: string) {
    super(`${what} '${pattern}' uses Go regexp syntax the tools cannot model (it may differ from JavaScript's): `
      + 'write it with letters, digits, - _ . * + ? | ( ) [ ] ^ $ and escaped punctuation only');
    this.name = 'GoRegexpUnsupportedError';
  }
}

/** The names `pattern` matches, as Go's regexp.MatchString would; `what` names the pattern in the error for one the module cannot model. */
export function goRegexpMatcher(pattern: string, what: string): (name: string) => boolean {
  if (!PLAIN.test(pattern) || /\(\?(?!:)/.test(pattern) || /\[\^?\]/.test(pattern)) throw new GoRegexpUnsupportedError(pattern, what);
  let re: RegExp;
  try {
    re = new RegExp(pattern);
  } catch {
    return () => false; // Go cannot compile it either: MatchString returns an error, which Argo ignores
  }
  return (name) => re.test(name);
}
