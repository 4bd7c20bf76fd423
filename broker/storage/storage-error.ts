/**
 * Storage failures as the errors a client gets: a full disk or quota is
 * STORAGE_FULL (retriable once space is freed), anything else INTERNAL.
 */
import { SkiffError } from '../../protocol/errors.js'

/** A full disk (ENOSPC) or an exhausted quota (EDQUOT): the errors a client may retry after. */
export function isStorageFull(err: unknown): err is NodeJS.ErrnoException {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  return code === 'ENOSPC' || code === 'EDQUOT'
}

export function storageError(err: unknown): SkiffError {
  if (err instanceof SkiffError) return err
  if (isStorageFull(err)) return new SkiffError('STORAGE_FULL', `cannot write: ${(err as Error).message}`, { cause: err })
  return new SkiffError('INTERNAL', (err as Error)?.message ?? String(err), { cause: err })
}
