/**
 * Saving one partition's consumer-group positions (storage/group-state.ts):
 * on a timer, on the libuv pool, and once more synchronously at close.
 *
 * At most one save per group is in flight (saves of one group share its
 * temporary file); a group that changes meanwhile is saved on a later round.
 * A save that fails (a full disk) leaves the position dirty for the next
 * round; the failure is logged once per streak, not once per round, and its
 * end is logged too.
 *
 * Each snapshot carries the delivery journal's mark (the journal holds what
 * was delivered after it); once a save is durable the journal is told, and
 * the files every group's snapshots include are deleted. A group's first
 * snapshot waits for the groups manifest to name it, so a group that has
 * state files is always in the manifest (group-recovery.ts tells a lost
 * group from a new one by it).
 */
import { saveGroupManifest, saveGroupManifestAsync, saveGroupState, saveGroupStateAsync } from '../storage/group-state.js'
import type { DeliveryJournal } from '../storage/delivery-journal.js'
import { mkdirDurable } from '../storage/fs-util.js'
import type { GroupCursor } from './group-cursor.js'
import { storageError } from './storage-error.js'

type Log = (e: Record<string, unknown>) => void

export class GroupSaver {
  /** Saves running on the libuv pool, by group. */
  private readonly saving = new Map<string, Promise<void>>()
  /** The last manifest write (they run one after another). */
  private manifestWrite: Promise<void> = Promise.resolve()
  private dirMade = false
  private failing = false
  /** Set when the partition closes or is dropped: a save failing after that is not reported. */
  stopped = false

  constructor(
    private readonly dir: string,
    private readonly log: Log,
    private readonly journal: DeliveryJournal,
    /** Groups the manifest on disk names. */
    private readonly manifest: Set<string>,
  ) {}

  /** Start saving every changed position (atomic rename, off the thread). */
  saveAsync(cursors: Map<string, GroupCursor>): void {
    this.journal.prune((g) => {
      const c = cursors.get(g)
      if (c) c.dirty = true
    })
    for (const c of cursors.values()) {
      if (!c.dirty || this.saving.has(c.group)) continue
      const snapshot = { ...c.snapshot(), journal: this.journal.nextSeq }
      c.dirty = false
      try {
        if (!this.dirMade) mkdirDurable(this.dir)
        this.dirMade = true
      } catch (err) {
        this.failed(c, err)
        continue
      }
      const saving = this.named(c.group)
        .then(() => saveGroupStateAsync(this.dir, c.group, snapshot))
        .then(
          () => {
            this.journal.saved(c.group, snapshot.journal)
            this.saved()
          },
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
    return Promise.all([...this.saving.values(), this.manifestWrite.catch(() => {})])
  }

  /** The synchronous save, for close(). */
  saveNow(cursors: Iterable<GroupCursor>): void {
    for (const c of cursors) {
      if (!c.dirty) continue
      const snapshot = { ...c.snapshot(), journal: this.journal.nextSeq }
      try {
        if (!this.manifest.has(c.group)) {
          saveGroupManifest(this.dir, [...this.manifest, c.group])
          this.manifest.add(c.group)
        }
        saveGroupState(this.dir, c.group, snapshot)
      } catch (err) {
        this.failed(c, err)
        continue
      }
      this.journal.saved(c.group, snapshot.journal)
      this.saved()
      c.dirty = false
    }
  }

  /** Resolves once the manifest on disk names `group` (at once when it already does). */
  private named(group: string): Promise<void> {
    if (this.manifest.has(group)) return Promise.resolve()
    // Added now so that groups saved meanwhile are written with it; taken out again if the write fails.
    this.manifest.add(group)
    const names = [...this.manifest]
    this.manifestWrite = this.manifestWrite
      .catch(() => {})
      .then(() => saveGroupManifestAsync(this.dir, names))
      .catch((err: unknown) => {
        this.manifest.delete(group)
        throw err
      })
    return this.manifestWrite
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
