/**
 * What one pump of one group handed out: how many deliveries (and how many
 * of them were redeliveries), for the group's metrics once per pump rather
 * than per message, and which offsets, as [first, count] runs for the
 * delivery journal (storage/delivery-journal.ts). Consecutive offsets, the
 * common case, extend one run. The partition keeps one and reuses it.
 */
export class DeliveryTally {
  delivered = 0
  redelivered = 0
  private runs: number[] = []
  /** The run being extended is [runStart, runEnd). */
  private runStart = 0
  private runEnd = 0

  /** A delivery of `offset`; `count` is its delivery count (above 1: a redelivery). */
  add(offset: number, count: number): void {
    if (this.delivered === 0) this.runStart = this.runEnd = offset
    else if (offset !== this.runEnd) {
      this.runs.push(this.runStart, this.runEnd - this.runStart)
      this.runStart = offset
    }
    this.runEnd = offset + 1
    this.delivered++
    if (count > 1) this.redelivered++
  }

  /** The runs delivered since the last reset, as [first, count] pairs (call only when `delivered` > 0). */
  takeRuns(): number[] {
    const runs = this.runs
    runs.push(this.runStart, this.runEnd - this.runStart)
    this.runs = []
    return runs
  }

  reset(): void {
    this.delivered = this.redelivered = 0
    this.runs.length = 0
  }
}
