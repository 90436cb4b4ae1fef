import { conditionShape, ConditionSyntaxError, evaluateCondition, measurementPhase, MeasurementPhase, parseCondition } from '../lib/analysis/condition';

describe('conditions', () => {
  test.each([
    ['result[0] >= 0.05', [0.1], true],
    ['result[0] >= 0.05', [0.01], false],
    ['len(result) > 0 && result[0] < 1000', [], false],
    ['len(result) > 0 && result[0] < 1000', [NaN], false],
    ['!isNaN(result[0]) && result[0] < 0.05', [0.01], true],
    ['result[0] < 0.05 || isNaN(result[0])', [NaN], true],
    ['asInt(result[0]) == 3', [3.7], true],
    ['result < 5', 4, true],
  ] as const)('%s with %p is %p', (cond, result, expected) => {
    expect(evaluateCondition(parseCondition(cond), result as any)).toBe(expected);
  });

  test('an unguarded index on an empty result is an evaluation error, i.e. an Error measurement', () => {
    // expr v1.15.5 indexes through reflect: the panic text names neither the index nor the length
    expect(measurementPhase({ successCondition: 'result[0] < 1000' }, [])).toEqual({
      phase: MeasurementPhase.ERROR, error: 'reflect: slice index out of range' });
  });

  test('phases follow Argo Rollouts', () => {
    expect(measurementPhase({ successCondition: 'result[0] < 1' }, [2]).phase).toBe(MeasurementPhase.FAILED);
    expect(measurementPhase({ failureCondition: 'result[0] > 1' }, [0]).phase).toBe(MeasurementPhase.SUCCESSFUL);
    expect(measurementPhase({ successCondition: 'result[0] < 1', failureCondition: 'result[0] > 5' }, [3]).phase).toBe(MeasurementPhase.INCONCLUSIVE);
    expect(measurementPhase({ successCondition: 'result[0] < 1', failureCondition: 'result[0] > 5' }, [6]).phase).toBe(MeasurementPhase.FAILED);
    expect(measurementPhase({}, [6]).phase).toBe(MeasurementPhase.SUCCESSFUL);
  });

  test('shapes: comparisons and guards', () => {
    expect(conditionShape(parseCondition('result[0] >= 0.05'))).toEqual({ comparisons: [{ index: 0, op: '>=', value: 0.05 }], guarded: false, indexesResult: true });
    expect(conditionShape(parseCondition('len(result) > 0 && result[0] < 1000')).guarded).toBe(true);
    expect(conditionShape(parseCondition('0.05 > result[0]')).comparisons).toEqual([{ index: 0, op: '<', value: 0.05 }]);
    expect(conditionShape(parseCondition('len(result) > 0 && result[1] < 1')).guarded).toBe(false);
    expect(conditionShape(parseCondition('result[0] < 1 && len(result) > 0')).guarded).toBe(false);
  });

  test("syntax errors carry expr's message and name the column; valid expr the model does not evaluate says so", () => {
    expect(() => parseCondition('result[0] >> 1')).toThrow(
      "condition 'result[0] >> 1' is not valid expr (v1.15.5, what Argo Rollouts v1.8.3 compiles it with): unexpected token Operator(\">\") (column 12)");
    expect(() => parseCondition("upper('a') == 'A'")).toThrow(ConditionSyntaxError);
    expect(() => parseCondition("upper('a') == 'A'")).toThrow("cannot model condition 'upper('a') == 'A'' at column 1: the builtin 'upper' is valid expr this model does not evaluate");
  });
});

describe('guards', () => {
  test.each([
    ['len(result) == 0 || result[0] < 0.05', true],
    ['!(len(result) == 0) && result[0] < 0.05', true],
    ['len(result) < 1 || result[0] < 0.05', true],
    ['len(result) >= 1 || result[0] < 0.05', false],
    ['len(result) > 0 || result[0] < 0.05', false],
    ['0 < len(result) && result[0] < 0.05', true],
    ['len(result) == 1 || result[0] < 0.05', false],
  ])('%s is guarded: %p', (cond, guarded) => {
    expect(conditionShape(parseCondition(cond)).guarded).toBe(guarded);
  });
});
