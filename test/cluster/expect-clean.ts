/**
 * What every fault run must end with: the checker's report (checker.ts) at
 * zero in every kind, and every confirmed record delivered to the group.
 * One list of assertions, so each fault test asserts the same things.
 */
import type { CheckReport } from './checker.js'

interface Asserts {
  equal(found: unknown, wanted: unknown, message?: string): unknown
  ok(value: unknown, message?: string): unknown
}

export function expectClean(t: Asserts, report: CheckReport, seed: number, drained: boolean): void {
  t.equal(report.lost.count, 0, `no confirmed record lost (seed ${seed})`)
  t.equal(report.duplicated.count, 0, `no record stored twice (seed ${seed})`)
  t.equal(report.reordered.count, 0, `no producer's key out of order (seed ${seed})`)
  t.equal(report.offsetMismatch.count, 0, 'every ack named the offset the record is stored at')
  t.equal(report.unconfirmedSeen.count, 0, 'nothing stored that was never published')
  t.equal(report.phantoms.count, 0, 'no consumer received a record that is not stored')
  t.ok(drained && report.undelivered.count === 0, 'every confirmed record reached the group')
}
