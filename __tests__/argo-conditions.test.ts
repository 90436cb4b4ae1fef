import {
  ConditionEvaluationError, ConditionResult, ConditionSyntaxError, evaluateCondition, measurementPhase, MeasurementPhase, parseCondition,
} from '../lib/analysis/condition';

/*
 * Argo Rollouts v1.8.3 evaluates success and failure conditions with expr v1.15.5
 * (utils/evaluate/evaluate.go EvaluateResult, EvalCondition). Each case cites where it comes
 * from: an upstream test (file and test name @ v1.8.3), or the lab of the research note
 * (/work/notes/argo-rollouts-v1.8.3.md §2.2): a program built against expr v1.15.5 with Argo's
 * condition environment, whose output each [lab] row states.
 *
 * Results: a vector is an array of sample values, a scalar a number, nil `null`; upstream tests
 * also hand over a bool, a string or a Go int (`1n`).
 */

const E = (message: string) => ({ error: message });
type Expected = boolean | { error: string };

/** What a condition gives for a result: true/false, or the error Argo records (Error measurement). */
function outcome(condition: string, result: ConditionResult): Expected {
  try {
    return evaluateCondition(parseCondition(condition), result, condition);
  } catch (e) {
    if (e instanceof ConditionEvaluationError) return E(e.message);
    if (e instanceof ConditionSyntaxError && e.kind === 'invalid') return E(e.exprMessage);
    throw e;
  }
}

describe('EvaluateResult: the phase of a measurement from its two conditions', () => {
  // argoproj/argo-rollouts utils/evaluate/evaluate_test.go @ v1.8.3 (the value is `true` in each)
  test.each([
    ['TestEvaluateResultWithSuccess', 'true', 'false', MeasurementPhase.SUCCESSFUL],
    ['TestEvaluateResultWithFailure', 'true', 'true', MeasurementPhase.FAILED],
    ['TestEvaluateResultInconclusive', 'false', 'false', MeasurementPhase.INCONCLUSIVE],
    ['TestEvaluateResultNoSuccessConditionAndNotFailing', '', 'false', MeasurementPhase.SUCCESSFUL],
    ['TestEvaluateResultNoFailureConditionAndNotSuccessful', 'false', '', MeasurementPhase.FAILED],
    ['TestEvaluateResultNoFailureConditionAndNoSuccessCondition', '', '', MeasurementPhase.SUCCESSFUL],
    ['TestEvaluateResultWithErrorOnSuccessCondition', 'a == true', 'true', MeasurementPhase.ERROR],
    ['TestEvaluateResultWithErrorOnFailureCondition', 'true', 'a == true', MeasurementPhase.ERROR],
  ])('%s', (_test, successCondition, failureCondition, phase) => {
    expect(measurementPhase({ successCondition, failureCondition }, true).phase).toBe(phase);
  });

  test('an error in the success condition hides one in the failure condition; a blank condition is set and does not parse', () => {
    // [lab] / evaluate.go EvaluateResult: success first; an empty string is "no condition", spaces are not
    expect(measurementPhase({ successCondition: 'a == true', failureCondition: 'b' }, true)).toEqual({ phase: MeasurementPhase.ERROR, error: 'unknown name a' });
    expect(measurementPhase({ successCondition: '  ' }, [1])).toEqual({ phase: MeasurementPhase.ERROR, error: 'unexpected token EOF' });
  });
});

describe('EvalCondition: upstream cases', () => {
  // argoproj/argo-rollouts utils/evaluate/evaluate_test.go @ v1.8.3, the test named in each row
  test.each<[string, ConditionResult, string, Expected]>([
    ['TestEvaluateConditionWithSuccess', true, 'result == true', true],
    ['TestEvaluateConditionWithFailure', true, 'result == false', false],
    ['TestErrorWithNonBoolReturn', true, '1', E('expected bool, but got int')],
    ['TestErrorWithInvalidReference', true, 'invalidVariable', E('unknown name invalidVariable')],
    // adapted: upstream hands over a nested map, which the model does not read; the closure-brace form it tests, on a vector
    ['TestEvaluateArray', [2, 2], 'all(result, {# > 1})', true],
    ['TestEvaluateInOperator', [2, 2], '2 in result', true],
    ['TestEvaluateFloat64', 5, 'result > 1', true],
    ['TestEvaluateAsIntPanic', '1.1', 'asInt(result) == 1.1', E('strconv.ParseInt: parsing "1.1": invalid syntax')],
    ['TestEvaluateAsInt', '1', 'asInt(result) == 1', true],
    ['TestEvaluateAsInt', 1n, 'asInt(result) == 1', true],
    ['TestEvaluateAsInt', 1.123, 'asInt(result) == 1', true],
    ['TestEvaluateAsFloatError', 'NotANum', 'asFloat(result) == 1.1', E('strconv.ParseFloat: parsing "NotANum": invalid syntax')],
    ['TestEvaluateAsFloatError', '1.1', 'asFloat(result) == "1.1"', E('invalid operation: == (mismatched types float64 and string)')],
    ['TestEvaluateAsFloat', '1.1', 'asFloat(result) == 1.1', true],
    ['TestEvaluateAsFloat', '1.1', 'asFloat(result) >= 1.1', true],
    ['TestEvaluateAsFloat', '1.1', 'asFloat(result) <= 1.1', true],
    ['TestEvaluateAsFloat', 1.1, 'asFloat(result) == 1.1', true],
    ['TestEvaluateAsFloat', 1n, 'asFloat(result) == 1', true],
    ['TestEvaluateAsFloat', 1n, 'asFloat(result) >= 1', true],
    // helper unit tests, through conditions
    ['TestAsInt', null, "asInt('1') == 1", true],
    ['TestAsInt', null, "asInt('notint') == 1", E('strconv.ParseInt: parsing "notint": invalid syntax')],
    ['TestAsFloat', null, "asFloat('1.1') == 1.1", true],
    ['TestAsFloat', null, "asFloat('notfloat') == 1", E('strconv.ParseFloat: parsing "notfloat": invalid syntax')],
    ['TestIsInf', Infinity, 'isInf(result)', true],
    ['TestIsInf', 0, 'isInf(result)', false],
    ['TestDefaultFunc', null, 'default(result, 2) == 2', true],
    ['TestDefaultFunc', 1, 'default(result, 2) == 1', true],
    ['TestIsNil', null, 'isNil(result)', true],
    ['TestIsNil', 1, 'isNil(result)', false],
    ['TestIsNil', 1n, 'isNil(result)', false],
    ['TestIsNil', false, 'isNil(result)', false],
  ])('%s: %p with %s', (_test, result, condition, expected) => {
    expect(outcome(condition, result)).toEqual(expected);
  });

  test('TestEvaluateInvalidStruct: a method of a bool is a compile error', () => {
    // argoproj/argo-rollouts utils/evaluate/evaluate_test.go TestEvaluateInvalidStruct @ v1.8.3 (upstream asserts an error)
    expect(measurementPhase({ successCondition: "result.Name() == 'hi'" }, true).phase).toBe(MeasurementPhase.ERROR);
  });

  test('Prometheus results (metricproviders/prometheus/prometheus_test.go @ v1.8.3)', () => {
    // TestProcessNaNResponse: inconclusive, success, failure
    expect(measurementPhase({ successCondition: 'result >= 0.9', failureCondition: 'result < 0.9' }, NaN).phase).toBe(MeasurementPhase.INCONCLUSIVE);
    expect(measurementPhase({ successCondition: 'result >= 0.9 || isNaN(result)' }, NaN).phase).toBe(MeasurementPhase.SUCCESSFUL);
    expect(measurementPhase({ successCondition: 'result >= 0.9' }, NaN).phase).toBe(MeasurementPhase.FAILED);
    // TestProcessInfResponse
    expect(measurementPhase({ successCondition: 'result >= 0.9' }, Infinity).phase).toBe(MeasurementPhase.SUCCESSFUL);
    expect(measurementPhase({ failureCondition: 'isInf(result)' }, Infinity).phase).toBe(MeasurementPhase.FAILED);
    // TestProcessVectorResponse, TestProcessScalarResponse, TestRunSuccessfullyWithRangeQuery (the matrix flattened)
    expect(measurementPhase({ successCondition: '10 in result', failureCondition: 'len(result) != 2' }, [10, 11]).phase).toBe(MeasurementPhase.SUCCESSFUL);
    expect(measurementPhase({ successCondition: 'result == 10', failureCondition: 'result != 10' }, 10).phase).toBe(MeasurementPhase.SUCCESSFUL);
    expect(measurementPhase({ successCondition: 'all(result, # > 10)', failureCondition: 'all(result, # < 10)' }, [11, 12, 13, 14]).phase).toBe(MeasurementPhase.SUCCESSFUL);
  });
});

/**
 * [lab] rows: (condition, result) -> value or Argo's error text, each verified against expr
 * v1.15.5 with Argo Rollouts v1.8.3's environment in the research note's lab (§2.2).
 */
const LAB: [condition: string, result: ConditionResult, expected: Expected][] = [
  // plain comparisons and numbers
  ['result[0] > 0.9', [0.95], true],
  ['result[0] > 0.9', [0.5], false],
  ['result[0] > 0.9', [0.95, 0.5], true],
  ['result[0] > 0.9', [NaN], false],
  ['result[0] >= 0.9', [Infinity], true],
  ['result > 0.9', 0.95, true],
  ['result >= 0.9', NaN, false],
  ['result == result', NaN, false],
  ['result[0] == 1', [1], true],
  ['1 == 1.0', [], true],
  ['result[0] != result[0]', [NaN], true],
  ['3 / 2 == 1.5', [], true],
  ['7 / 2 == 3', [], false],
  ['result[0] > 1 / 0', [0.95], false],
  ['0 / 0 == 0', [], false],
  ['result[0] * 100 >= 95', [0.95], true],
  ['-result[0] < 0', [0.95], true],
  ['result[0] ** 2 > 0.8', [0.95], true],
  ['result[0] ^ 2 > 0.8', [0.95], true],
  ['result[0] > 9e-1', [0.95], true],
  ['result[ 0 ] > .9', [0.95], true],
  ['result[0] > 1_0', [0.95], false],
  ['result[-1] > 0.9', [0.95, 0.5], false],
  // C7, C8, C11: type errors with Go's type names, found before running
  ['result > 0.9', [0.95], E('invalid operation: > (mismatched types []float64 and float64)')],
  ['result == 0.95', [0.95], E('invalid operation: == (mismatched types []float64 and float64)')],
  ['result[0] == true', [0.95], E('invalid operation: == (mismatched types float64 and bool)')],
  ["result[0] > 'a'", [0.95], E('invalid operation: > (mismatched types float64 and string)')],
  ['result[0] > 0.9', 0.95, E('type float64[int] is undefined')],
  ['result[0] > 0.9', null, E('type <nil>[int] is undefined')],
  ['result[1.0] > 0', [0.95, 0.5], E('array elements can only be selected using an integer (got float64)')],
  ['result[0.5] > 0', [0.95, 0.5], E('array elements can only be selected using an integer (got float64)')],
  ['1', [], E('expected bool, but got int')],
  ['result', [0.95], E('expected bool, but got []float64')],
  ['result[0]', [0.95], E('expected bool, but got float64')],
  ['foo(result)', [0.95], E('unknown name foo')],
  ['result[0] > 0.9 ||', [0.95], E('unexpected token EOF')],
  // C1: the index error text
  ['result[0] > 0.9', [], E('reflect: slice index out of range')],
  ['result[1] > 0.9', [0.95], E('reflect: slice index out of range')],
  ['result[-1] > 0.9', [], E('reflect: slice index out of range')],
  ['isNaN(result[0])', [], E('reflect: slice index out of range')],
  ['first(result) > 0.9', [], E('invalid operation: <nil> > float64')],
  ['len(result) == 0', [], true],
  ['len(result) == 0', 0.95, E('invalid argument for len (type float64)')],
  ['len(result) == 0', null, E('invalid argument for len (type %!s(<nil>))')],
  ['len(result)', [], E('expected bool, but got int')],
  // guards and short-circuiting
  ['len(result) == 0 || result[0] > 0.9', [], true],
  ['len(result) == 0 || result[0] > 0.9', [0.5], false],
  ['len(result) > 0 && result[0] > 0.9', [], false],
  ['len(result) > 0 && result[0] > 0.9', [0.95], true],
  ['true || result[0] > 0.9', [], true],
  ['false && result[0] > 0.9', [], false],
  ['result[0] > 0.9 || result[5] > 1', [0.95], true],
  ['false || result[0] > 0.9', [], E('reflect: slice index out of range')],
  ['!true || result[0] > 0.9', [], E('reflect: slice index out of range')],
  ['result[0] > 0.9 && true', [], E('reflect: slice index out of range')],
  ['result[0] > 0.9 || false', [], E('reflect: slice index out of range')],
  // C4: constant folding of literal booleans and integer ==
  ['result[0] > 0.9 || true', [], true],
  ['result[0] > 0.9 or true', [], true],
  ['result[0] > 0.9 && false', [], false],
  ['result[0] > 0.9 and false', [], false],
  ['result[0] > 0.9 || 1 == 1', [], true],
  ['result[0] > 0.9 || 1.0 == 1.0', [], E('reflect: slice index out of range')],
  ['(1 > 0) || result[0] > 0.9', [], true],
  // C5: type errors on every branch, even one short-circuiting would skip
  ['true || result > 1', [], E('invalid operation: > (mismatched types []float64 and int)')],
  ['len(result) == 0 || result > 1', [], E('invalid operation: > (mismatched types []float64 and int)')],
  ['len(result) > 0 && isNaN(result)', [], E('cannot use []float64 as argument (type float64) to call isNaN ')],
  ['len(result) == 0 || result[0] % 2 == 0', [], E('invalid operation: % (mismatched types float64 and int)')],
  ['result > 1 || true', [0.95], E('invalid operation: > (mismatched types []float64 and int)')],
  ['result[0] || true', [1], E('invalid operation: || (mismatched types float64 and bool)')],
  ['not result[0] > 0.9', [0.95], E('invalid operation: not (mismatched type float64)')],
  ['!result', [0.95], E('invalid operation: ! (mismatched type []float64)')],
  ['result[0] > 0.9 ? true : false', [0.95], true],
  ['result[0] > 0.9 ? true : false', [], E('reflect: slice index out of range')],
  // C6, C9: % on integers only
  ['7 % 2 == 1', [], true],
  ['len(result) % 2 == 1', [1], true],
  ['result[0] % 2 == 0', [4], E('invalid operation: % (mismatched types float64 and int)')],
  ['7.5 % 2 == 1', [], E('invalid operation: % (mismatched types float64 and int)')],
  ['asInt(result[0]) % 2 == 0', [4], true],
  ['asInt(result[0]) % 2 == 0', [4.9], true],
  ['1 % 0 == 0', [], E('integer divide by zero')],
  // isNaN / isInf
  ['isNaN(result)', NaN, true],
  ['isNaN(result)', 0.95, false],
  ['isNaN(result)', [NaN], E('cannot use []float64 as argument (type float64) to call isNaN ')],
  ['isNaN(result[0])', [NaN], true],
  ['isNaN(result[0]) || result[0] > 0.9', [NaN], true],
  ['isInf(result[0])', [Infinity], true],
  ['isInf(result[0])', [0.5], false],
  ['isInf(result)', Infinity, true],
  ['isNaN(1)', [], false],
  ['isNaN(0/0)', [], true],
  ['isInf(-1/0)', [], true],
  // C2, C3: isNil and default look at the measurement, not at their first argument
  ['isNil(result)', [], false],
  ['isNil(result)', null, true],
  ['isNil(result)', 0.95, false],
  ['isNil(42)', [], false],
  ['isNil(42)', null, true],
  ['isNil()', [], E('not enough arguments to call isNil')],
  ['isNil(result) || result[0] > 0.9', [], E('reflect: slice index out of range')],
  ['isNil(result) || result[0] > 0.9', null, E('type <nil>[int] is undefined')],
  ['isNil(result) || len(result) == 0', null, E('invalid argument for len (type %!s(<nil>))')],
  ['result == nil', [], false],
  ['result == nil', null, true],
  ['default(result, 0) == 0', [], false],
  ['default(result, 0) == 0', null, true],
  ['default(result, 0.5) >= 0.9', null, false],
  ['default(result, 0.5) >= 0.9', 0.95, true],
  ['default(result, 1) > 0.9', [0.95], E('invalid operation: []float64 > float64')],
  ['default(42, 7) == 7', null, true],
  ['default(42, 7) == 7', 0.95, false],
  ['default(result[0], 0) >= 0.9', [], E('reflect: slice index out of range')],
  ['default(result[0], 0) >= 0.9', [0.95], E('invalid operation: []float64 >= float64')],
  ['default(result, [0.5])[0] > 0.4', null, true],
  ['default(result, [0.5])[0] > 0.4', [0.95], true],
  ['default(result, [0.5])[0] > 0.4', [], E('reflect: slice index out of range')],
  // asInt / asFloat
  ['asInt(result) == 0', 0.95, true],
  ['asInt(result[0]) == 0', [0.95], true],
  ['asFloat(result[0]) == 0.95', [0.95], true],
  ['asFloat(result) == 0.95', [0.95], E('asFloat() not supported on []float64 [0.95]')],
  ['len(result) == 0 || asFloat(result) > 1', [], true],
  ['len(result) == 0 || asFloat(result) > 1', [1], E('asFloat() not supported on []float64 [1]')],
  // C10: predicates with #, both closure forms
  ['all(result, # > 0.9)', [], true],
  ['all(result, # > 0.9)', [0.95], true],
  ['all(result, # > 0.9)', [0.5], false],
  ['all(result, # > 0.9)', [0.95, 0.5], false],
  ['all(result, {# > 0.9})', [0.95], true],
  ['any(result, # > 0.9)', [], false],
  ['any(result, # > 0.9)', [0.95], true],
  ['any(result, # > 0.9)', [0.5], false],
  ['any(result, # > 0.9)', [0.95, 0.5], true],
  ['none(result, # < 0.9)', [], true],
  ['none(result, # < 0.9)', [0.95, 0.5], false],
  ['one(result, # > 0.9)', [0.95, 0.5], true],
  ['len(filter(result, # > 0.9)) == 1', [0.95, 0.5], true],
  ['count(result, # > 0.9) == 1', [0.95, 0.5], true],
  ['map(result, # * 2)[0] > 1', [0.95], true],
  ['all(result, # >= 0.9) && len(result) > 0', [], false],
  ['all(result, # > 0.9)', null, E('builtin all takes only array (got <nil>)')],
  ['all(result, .x > 0)', [1], E('type float64[string] is undefined')],
  ['sum(result) > 1', [0.95, 0.5], true],
  ['sum(result) > 1', [], false],
  ['mean(result) > 0.9', [0.95], true],
  ['abs(result[0]) > 0.9', [0.95], true],
  ['max(result[0], 0.5) > 0.9', [0.95], true],
  ['last(result) > 0.9', [0.95, 0.5], false],
  // C10: in, with numeric equality
  ['0.95 in result', [0.95, 0.5], true],
  ['0.95 in result', [], false],
  ['1 in result', [1], true],
  ['2.0 in result', [2], true],
  ['nil in result', [2], false],
  ["'2' in result", [2], E('cannot use string as type float64 in array')],
  ['0.95 in result', 0.95, E('invalid operation: in (mismatched types float64 and float64)')],
  ['0.95 in result', null, E('invalid operation: in (mismatched types float64 and <nil>)')],
  ['result[0] in [0.95, 1]', [0.95], true],
  ['1 in [1.0, 2.0]', [], true],
  ['result[0] in [1, 2]', [1], true],
];

describe('EvalCondition: cases verified against expr v1.15.5 (research note §2.2 [lab])', () => {
  test.each(LAB)('%s with %p', (condition, result, expected) => {
    expect(outcome(condition, result)).toEqual(expected);
  });
});

describe('what the model does not evaluate, it says', () => {
  test.each([
    ['let x = 1; x == 1', "'let'"],
    ['result[0] ?? 1 > 0', "the operator '??'"],
    ["'a' matches 'a'", "the operator 'matches'"],
    ['result[1:] == []', 'slices a[i:j]'],
    ["upper('a') == 'A'", "the builtin 'upper'"],
    ['{a: 1}.a == 1', 'map literals'],
  ])('%s: %s', (condition, what) => {
    expect(() => parseCondition(condition)).toThrow(`cannot model condition '${condition}'`);
    expect(() => parseCondition(condition)).toThrow(what);
    // measurementPhase refuses to guess a phase
    expect(() => measurementPhase({ successCondition: condition }, [1])).toThrow(ConditionSyntaxError);
  });

  test('a conversion whose result depends on the CPU (Go int64 of NaN) is not guessed', () => {
    expect(() => measurementPhase({ successCondition: 'asInt(result[0]) == 0' }, [NaN])).toThrow("cannot model condition 'asInt(result[0]) == 0': asInt(NaN)");
  });
});
