// `last_write_wins` takes the side whose record changed later, by each side's change time (its cursor:
// an ISO-8601 time with any offset, or a number). Ties, and a side that cannot say when its record
// changed, go to side a: a stated rule, so every run and every process decides alike.
import { laterSide } from '../../../src/sync/merge';

test('the later change wins, whatever the offsets say it in', () => {
  expect(laterSide('2026-03-01T09:00:00Z', '2026-03-01T09:00:01Z')).toBe('b');
  expect(laterSide('2026-03-01T09:00:01Z', '2026-03-01T09:00:00Z')).toBe('a');
  // 10:30+02:00 is 08:30Z: before 09:00Z
  expect(laterSide('2026-03-01T10:30:00+02:00', '2026-03-01T09:00:00Z')).toBe('b');
  expect(laterSide('2026-03-01 09:00:00.5+00', '2026-03-01T09:00:00.25Z')).toBe('a');
  expect(laterSide('1700000000', '1700000001')).toBe('b');
});

test('a tie goes to side a, however each side spells the instant', () => {
  expect(laterSide('2026-03-01T09:00:00Z', '2026-03-01T09:00:00Z')).toBe('a');
  expect(laterSide('2026-03-01T11:00:00+02:00', '2026-03-01T09:00:00.000Z')).toBe('a');
});

test('a side that cannot say when its record changed: side a, on either side', () => {
  expect(laterSide(null, '2026-03-01T09:00:00Z')).toBe('a');
  expect(laterSide('2026-03-01T09:00:00Z', null)).toBe('a');
  expect(laterSide(null, null)).toBe('a');
  expect(laterSide('not a time', '2026-03-01T09:00:00Z')).toBe('a');
});
