/**
 * Offsets for the tests of the rings kept by offset (slot-table.ts,
 * offset-set.ts): near 0 and past 2^32, where `offset & mask` must still be
 * offset mod capacity, around a delivery front that moves up one per step.
 */
import fc from 'fast-check'

export const BASES = [0, 2 ** 32 - 20, 2 ** 45 + 3]

/** Where a step's offset lies from the front: mostly just behind it, sometimes far behind (a stuck message). */
export const fromFront = fc.oneof({ weight: 8, arbitrary: fc.integer({ min: -40, max: 2 }) }, { weight: 1, arbitrary: fc.integer({ min: -5000, max: 0 }) })

/** Each step with its offset: the front plus the step's `at`, never below `base`. */
export function* withOffsets<T extends { at: number }>(steps: T[], base: number): Generator<[T, number]> {
  let front = base + 5000
  for (const step of steps) {
    front++
    yield [step, Math.max(base, front + step.at)]
  }
}
