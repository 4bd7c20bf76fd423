/**
 * Saving one partition's consumer-group positions (storage/group-state.ts):
 * on a timer, on the libuv pool, and once more synchronously at close.
 *
 * At most one save per group is in flight (saves of one group share its
 * temporary file); a group that changes meanwhile is saved on a later round.
 * A save that fails (a full disk) leaves the position dirty for the next
 * round; the failure is logged once per streak, not once per round, and its
 * end is logged too.
 */
import { mkdirSync } from 'node:fs'
import { saveGroupState, saveGroupStateAsync } from '../storage/group-state.js'
import type { GroupCursor } from './group-cursor.js'
import { storageError } from './storage-error.js'

type Log = (e: Record<string, unknown>) => void

export class GroupSaver {
  /** Saves running on the libuv pool, by group. */
  private readonly saving = new Map<string, Promise<void>>()
  private dirMade = false
  private failing = false
  /** Set when the partition closes or is dropped: a save failing after that is not reported. */
  stopped = false

  constructor(
    private readonly dir: string,
    private readonly log: Log,
  ) {}

  /** Start saving every changed position (atomic rename, off the thread). */
  saveAsync(cursors: Iterable<GroupCursor>): void {
    for (const c of cursors) {
      if (!c.dirty || this.saving.has(c.group)) continue
      const snapshot = c.snapshot()
      c.dirty = false
      try {
        if (!this.dirMade) mkdirSync(this.dir, { recursive: true })
        this.dirMade = true
      } catch (err) {
        this.failed(c, err)
        continue
      }
      const saving = saveGroupStateAsync(this.dir, c.group, snapshot)
        .then(
          () => this.saved(),
          (err) => {
            if (!this.stopped) this.failed(c, err)
          },
        )
        .finally(() => this.saving.delete(c.group))
      this.saving.set(c.group, saving)
    }
  }

  /** Saves still in flight (they must finish before saveNow). */
  inFlight(): Promise<unknown> {
    return Promise.all(this.saving.values())
  }

  /** The synchronous save, for close(). */
  saveNow(cursors: Iterable<GroupCursor>): void {
    for (const c of cursors) {
      if (!c.dirty) continue
      try {
        saveGroupState(this.dir, c.group, c.snapshot())
      } catch (err) {
        this.failed(c, err)
        continue
      }
      this.saved()
      c.dirty = false
    }
  }

  private failed(c: GroupCursor, err: unknown): void {
    c.dirty = true
    if (!this.failing) {
      const e = storageError(err)
      this.log({ level: 'warn', msg: 'group state not saved, will retry', group: c.group, code: e.codeName, err: e.message })
    }
    this.failing = true
  }

  private saved(): void {
    if (this.failing) this.log({ level: 'info', msg: 'group state saved again' })
    this.failing = false
  }
}
