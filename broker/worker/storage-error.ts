/** A storage failure as the error a client gets: STORAGE_FULL (retriable) for a full disk or quota, else INTERNAL. */
import { SkiffError } from '../../protocol/errors.js'

export function storageError(err: unknown): SkiffError {
  if (err instanceof SkiffError) return err
  const code = (err as NodeJS.ErrnoException)?.code
  if (code === 'ENOSPC' || code === 'EDQUOT') return new SkiffError('STORAGE_FULL', `cannot write: ${(err as Error).message}`, { cause: err })
  return new SkiffError('INTERNAL', (err as Error)?.message ?? String(err), { cause: err })
}
