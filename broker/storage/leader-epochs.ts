/**
 * The leader epochs of one partition log and the offset each began at: the
 * `leader-epochs` file in the partition directory, Kafka's
 * leader-epoch-checkpoint (KIP-101/279). Replication truncates a follower by
 * it, never to the high watermark: a follower asks the leader where its last
 * epoch ended (endOffsetFor, Kafka's OffsetsForLeaderEpoch) and cuts its log
 * there.
 *
 *   off  size  field
 *   0    4     magic "SKLE"
 *   4    u8    version 1
 *   5    3     reserved 0
 *   8    u32   body length (12 per entry)
 *   12   u32   CRC-32 (zlib) of the body
 *   16   ...   entries in order: u32 epoch, u64 start offset
 *
 * Invariant: epochs strictly increase and start offsets never decrease down
 * the list; an entry's start offset is the base offset of the first batch of
 * that epoch in the log (the log holds no batch of that epoch before it).
 *
 * Every change rewrites the file whole: `leader-epochs.tmp` written and
 * fsynced, renamed over `leader-epochs`, the directory fsynced (fs-util.ts
 * says why), before the change is visible. Changes are rare (a new leader,
 * a truncation), so the cost does not matter; what matters is that the file
 * is never behind the log: an epoch is assigned before its first batch is
 * written.
 *
 * Loading never throws for bad content: a missing, torn or damaged file
 * loads as `problem`, and the partition log rebuilds it from its batches
 * (epoch-rebuild.ts).
 */
import { renameSync } from 'node:fs'
import { join } from 'node:path'
import { MAX_LEADER_EPOCH } from '../../protocol/batch.js'
import { fsyncDir, writeSynced } from './fs-util.js'
import { encodeChecked, readChecked } from './checked-file.js'

export const LEADER_EPOCHS_FILE = 'leader-epochs'
const MAGIC = Buffer.from('SKLE', 'latin1')
const ENTRY_BYTES = 12

export interface EpochEntry {
  epoch: number
  startOffset: number
}

/** endOffsetFor's answer: the epoch the log has for the one asked about, and where it ends. */
export interface EpochEnd {
  epoch: number
  endOffset: number
}

export class LeaderEpochs {
  private entries: EpochEntry[]

  private constructor(
    private readonly dir: string,
    entries: EpochEntry[],
    /** Why the file on disk could not be used at load ('missing', 'CRC mismatch', ...), or undefined when it loaded. */
    readonly problem: string | undefined,
  ) {
    this.entries = entries
  }

  /** Load the file of partition directory `dir`. Only fs errors other than ENOENT throw. */
  static load(dir: string): LeaderEpochs {
    const { entries, problem } = readEntries(join(dir, LEADER_EPOCHS_FILE))
    return new LeaderEpochs(dir, entries ?? [], problem)
  }

  /** Replace every entry with `entries` (a rebuild from the log) and write the file. */
  static rebuilt(dir: string, entries: EpochEntry[]): LeaderEpochs {
    const problem = entriesProblem(entries)
    if (problem) throw new Error(`rebuilt leader epochs of ${dir}: ${problem}`)
    const epochs = new LeaderEpochs(dir, [], undefined)
    epochs.replace(entries.map((e) => ({ ...e })))
    return epochs
  }

  /** The entries in order (copies). */
  list(): EpochEntry[] {
    return this.entries.map((e) => ({ ...e }))
  }

  /** The newest epoch, or undefined when none was ever assigned; allocation-free for the append path. */
  get latestEpoch(): number | undefined {
    return this.entries[this.entries.length - 1]?.epoch
  }

  /** The newest epoch and its start offset, or undefined when none was ever assigned. */
  latest(): EpochEntry | undefined {
    const last = this.entries[this.entries.length - 1]
    return last && { ...last }
  }

  /**
   * Record that `epoch` begins at `startOffset`. A repeat of an epoch already
   * listed changes nothing (returns false): callers may assign on every batch.
   * A new epoch must be greater than the latest and start at or after it;
   * anything else throws: it would mean the log and the file disagree, which
   * a truncateFrom should have settled first (a stale leader must never
   * write, CLUSTER.md invariant 3).
   */
  assign(epoch: number, startOffset: number): boolean {
    if (!Number.isInteger(epoch) || epoch < 0 || epoch > MAX_LEADER_EPOCH) throw new RangeError(`leader epoch ${epoch} is not a u32`)
    if (!Number.isSafeInteger(startOffset) || startOffset < 0) throw new RangeError(`start offset ${startOffset} is not an offset`)
    if (this.entries.some((e) => e.epoch === epoch)) return false
    const latest = this.entries[this.entries.length - 1]
    if (latest && epoch < latest.epoch) throw new Error(`leader epoch ${epoch} is older than the latest, ${latest.epoch} (from offset ${latest.startOffset})`)
    if (latest && startOffset < latest.startOffset) throw new Error(`leader epoch ${epoch} would start at ${startOffset}, before epoch ${latest.epoch} (from offset ${latest.startOffset})`)
    this.replace([...this.entries, { epoch, startOffset }])
    return true
  }

  /**
   * Where `epoch` ends in this log, as Kafka's OffsetsForLeaderEpoch answers:
   * - the latest epoch: it ends at `logEndOffset`, returned as is;
   * - an older listed epoch: it ends where the next listed epoch starts;
   * - an unlisted epoch between two listed ones: the largest listed epoch
   *   below it, ending where the next one starts;
   * - an epoch below every listed one: that epoch, ending where the first
   *   listed epoch starts (the follower keeps nothing of it);
   * - an epoch above every listed one, or no entries: undefined (Kafka's
   *   UNDEFINED_EPOCH; the follower must not truncate on it).
   */
  endOffsetFor(epoch: number, logEndOffset: number): EpochEnd | undefined {
    const latest = this.entries[this.entries.length - 1]
    if (!latest) return undefined
    if (epoch === latest.epoch) return { epoch, endOffset: logEndOffset }
    const higher = this.entries.findIndex((e) => e.epoch > epoch)
    if (higher < 0) return undefined
    const floor = higher > 0 ? this.entries[higher - 1]! : undefined
    return { epoch: floor ? floor.epoch : epoch, endOffset: this.entries[higher]!.startOffset }
  }

  /**
   * The log was cut at `offset` (a torn tail at recovery, a follower
   * truncating): drop the epochs that start at or after it, since none of
   * their batches is left. Returns how many were dropped.
   */
  truncateFrom(offset: number): number {
    const keep = this.entries.findIndex((e) => e.startOffset >= offset)
    if (keep < 0) return 0
    const dropped = this.entries.length - keep
    this.replace(this.entries.slice(0, keep))
    return dropped
  }

  /** Write `entries` to the file, then use them: a write that fails (a full disk) changes nothing, in memory either. */
  private replace(entries: EpochEntry[]): void {
    const body = Buffer.allocUnsafe(entries.length * ENTRY_BYTES)
    entries.forEach((e, i) => {
      body.writeUInt32BE(e.epoch, i * ENTRY_BYTES)
      body.writeBigUInt64BE(BigInt(e.startOffset), i * ENTRY_BYTES + 4)
    })
    const path = join(this.dir, LEADER_EPOCHS_FILE)
    writeSynced(path + '.tmp', encodeChecked(MAGIC, body))
    renameSync(path + '.tmp', path)
    fsyncDir(this.dir)
    this.entries = entries
  }
}

/** The entries in `path`, or what is wrong with the file. Only fs errors other than ENOENT throw. */
function readEntries(path: string): { entries?: EpochEntry[]; problem?: string } {
  const read = readChecked(path, MAGIC, ENTRY_BYTES)
  const body = read.body
  if (!body) return { problem: read.problem }
  const entries: EpochEntry[] = []
  for (let at = 0; at < body.length; at += ENTRY_BYTES) {
    entries.push({ epoch: body.readUInt32BE(at), startOffset: Number(body.readBigUInt64BE(at + 4)) })
  }
  const problem = entriesProblem(entries)
  return problem ? { problem } : { entries }
}

/** What breaks the invariant (see the header) in `entries`, or undefined. */
function entriesProblem(entries: EpochEntry[]): string | undefined {
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!
    if (!Number.isSafeInteger(e.startOffset) || e.startOffset < 0) return `entry ${i} starts at ${e.startOffset}`
    const prev = entries[i - 1]
    if (prev && (e.epoch <= prev.epoch || e.startOffset < prev.startOffset)) return `entry ${i} (epoch ${e.epoch} from ${e.startOffset}) does not follow epoch ${prev.epoch} from ${prev.startOffset}`
  }
  return undefined
}
