/**
 * The data directory's id: a random UUID written into `<dataDir>/dir-id` the
 * first time a broker starts on it, and read back at every later start. It
 * names this copy of the data: a wiped or replaced disk comes back with a new
 * id, so in a cluster it is a new, empty replica and never trusted as the old
 * one (CLUSTER.md `dirId`). A single broker uses it as its cluster id, so a
 * client can tell it reached the same broker's data across restarts.
 *
 * Written durably (temporary file, fsync, rename, directory fsync) before
 * the broker listens; a file that is there but unreadable stops the start
 * with the path named, rather than minting a new id over a disk that holds
 * data.
 */
import fs from 'node:fs'
import path from 'node:path'
import { randomUUID } from 'node:crypto'
import { fsyncDir, writeSynced } from './storage/fs-util.js'

const FILE = 'dir-id'
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export function dataDirId(dataDir: string): string {
  const file = path.join(dataDir, FILE)
  let text: string | undefined
  try {
    text = fs.readFileSync(file, 'utf8').trim()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  if (text !== undefined) {
    if (!UUID.test(text)) throw new Error(`${file} does not hold a data directory id (a UUID); restore it or remove it to give this directory a new one`)
    return text
  }
  const id = randomUUID()
  writeSynced(`${file}.tmp`, Buffer.from(id + '\n'))
  fs.renameSync(`${file}.tmp`, file)
  fsyncDir(dataDir)
  return id
}
