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
 * the files every group's snapshots include are deleted.
 *
 * A group new to the partition is made durable before its SUBSCRIBE is
 * answered (create): its first snapshot, then the groups manifest naming it.
 * Before, it was first saved up to groupCommitMs later, and a crash or a power
 * loss in between brought it back as a new group at its subscriber's start
 * ('latest' by default), skipping what it had been delivered and not acked
 * (found by test/reliability/crash-consistency.test.ts). That order matters:
 * group-recovery.ts reads a manifest entry without a state file as lost
 * state, so the manifest never names a group before its first snapshot is
 * durable. It costs a new group a few fsyncs on the worker thread, once per
 * partition.
 */
import { deleteGroupState, readGroupFiles, saveGroupManifest, saveGroupState, saveGroupStateAsync, type GroupFiles } from '../storage/group-state.js'
import type { DeliveryJournal } from '../storage/delivery-journal.js'
import { mkdirDurable } from '../storage/fs-util.js'
import type { GroupCursor } from './group-cursor.js'
import { storageError } from '../storage/storage-error.js'

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
    private readonly journal: DeliveryJournal,
    /** Groups the manifest on disk names. */
    private readonly manifest: Set<string>,
    /** Where each group's snapshots are on disk, as recovery found them and each save left them; read from disk when missing. */
    private readonly files = new Map<string, GroupFiles>(),
  ) {}

  /** Make a group new to this partition durable, synchronously: its first snapshot, then the manifest entry. Throws fs errors (the group is then not created). */
  create(c: GroupCursor): void {
    const snapshot = { ...c.snapshot(), journal: this.journal.nextSeq }
    if (!this.dirMade) mkdirDurable(this.dir)
    this.dirMade = true
    this.files.set(c.group, saveGroupState(this.dir, c.group, snapshot, this.files.get(c.group)))
    this.named(c.group)
    this.journal.saved(c.group, snapshot.journal)
    c.dirty = false
  }

  /** Start saving every changed position (in place, off the thread: storage/group-state.ts). */
  saveAsync(cursors: Map<string, GroupCursor>): void {
    this.journal.prune((g) => {
      const c = cursors.get(g)
      if (c) c.dirty = true
    })
    for (const c of cursors.values()) {
      if (!c.dirty || c.ephemeral || this.saving.has(c.group)) continue
      const snapshot = { ...c.snapshot(), journal: this.journal.nextSeq }
      c.dirty = false
      let files: GroupFiles
      try {
        if (!this.dirMade) mkdirDurable(this.dir)
        this.dirMade = true
        files = this.files.get(c.group) ?? readGroupFiles(this.dir, c.group)
      } catch (err) {
        this.failed(c, err)
        continue
      }
      const saving = saveGroupStateAsync(this.dir, c.group, snapshot, files)
        .then(
          (now) => {
            this.files.set(c.group, now)
            // After the snapshot: the manifest must not name a group whose state is not on disk.
            this.named(c.group)
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

  /** The save of `group` in flight, if any: a delete or a reset waits for it, or it would land after them. */
  savingOf(group: string): Promise<void> | undefined {
    return this.saving.get(group)
  }

  /**
   * Remove a group's state from disk (GROUP_DELETE), synchronously, in the
   * order that leaves either the whole group or none of it after a crash:
   * its delivery-journal records first (they alone would bring it back),
   * then its manifest entry (state files without one are still loaded), then
   * its state files. No save of the group may be in flight (savingOf).
   */
  remove(group: string): void {
    this.journal.forget(group)
    if (this.manifest.has(group)) {
      saveGroupManifest(this.dir, [...this.manifest].filter((g) => g !== group))
      this.manifest.delete(group)
    }
    this.files.delete(group)
    deleteGroupState(this.dir, group)
  }

  /** Saves still in flight (they must finish before saveNow). */
  inFlight(): Promise<unknown> {
    return Promise.all([...this.saving.values()])
  }

  /** The synchronous save, for close(). */
  saveNow(cursors: Iterable<GroupCursor>): void {
    for (const c of cursors) {
      if (!c.dirty || c.ephemeral) continue
      const snapshot = { ...c.snapshot(), journal: this.journal.nextSeq }
      try {
        this.files.set(c.group, saveGroupState(this.dir, c.group, snapshot, this.files.get(c.group)))
        this.named(c.group)
      } catch (err) {
        this.failed(c, err)
        continue
      }
      this.journal.saved(c.group, snapshot.journal)
      this.saved()
      c.dirty = false
    }
  }

  /**
   * Make the manifest on disk name `group` (nothing when it already does).
   * Synchronous, a few ms, and only for a group the manifest does not name
   * yet: new ones (create) and those recovery could not add (a full disk).
   */
  private named(group: string): void {
    if (this.manifest.has(group)) return
    saveGroupManifest(this.dir, [...this.manifest, group])
    this.manifest.add(group)
  }

  private failed(c: GroupCursor, err: unknown): void {
    c.dirty = true
    // A save that failed half way may have renamed or torn a file: the next one reads where the snapshots are from disk.
    this.files.delete(c.group)
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
