/**
 * What every part of an example shares: the built client connected to the
 * broker the harness started (SKIFF_URL), a clean stop on SIGTERM, and
 * `result(value)` to report the part's outcome to the harness.
 */
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
/** The built client (npm run build first). */
export const skiff = await import(pathToFileURL(path.join(ROOT, 'dist/clients/index.js')).href)

export const NAME = process.env.PART_NAME ?? path.basename(process.argv[1] ?? 'part')

/** Connect to the example's broker; the client is closed on SIGTERM, then `onStop` runs. */
export async function connectPart(onStop = async () => {}) {
  const client = await skiff.connect(process.env.SKIFF_URL, { name: NAME })
  client.on('error', (err) => console.error(`client error: ${err.message}`))
  process.once('SIGTERM', async () => {
    try {
      await onStop()
      await client.close()
    } finally {
      process.exit(0)
    }
  })
  return client
}

/** Report the outcome to the harness (one `@result <json>` line). */
export function result(value) {
  console.log(`@result ${JSON.stringify(value)}`)
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
