/**
 * Gathers the records of one read: skips those below the requested offset,
 * stops at maxRecords or when the next record would pass maxBytes (but always
 * takes the first one, so a record larger than maxBytes can still be read).
 * maxBytes counts the records as returned, length prefixes included.
 */
export interface LogRecord {
  offset: number
  /** Timestamp of the record's batch (broker append time, ms since the epoch). */
  timestamp: number
  /** One record in the record encoding, including its u32 length prefix. */
  record: Buffer
}

export class RecordCollector {
  readonly records: LogRecord[] = []
  full = false
  private bytes = 0

  constructor(
    private readonly from: number,
    private readonly maxRecords: number,
    private readonly maxBytes: number,
  ) {
    if (maxRecords <= 0) this.full = true
  }

  /** Returns false once the collector is full, to stop the walk. */
  offer(offset: number, timestamp: number, record: Buffer): boolean {
    if (this.full) return false
    if (offset < this.from) return true
    if (this.records.length > 0 && this.bytes + record.length > this.maxBytes) {
      this.full = true
      return false
    }
    this.records.push({ offset, timestamp, record })
    this.bytes += record.length
    if (this.records.length >= this.maxRecords) this.full = true
    return !this.full
  }
}
