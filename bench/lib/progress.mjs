/**
 * The progress line on stderr while a scenario runs. On a terminal it is one
 * line rewritten in place; elsewhere (CI logs, pipes) a line every few seconds,
 * so a log shows the run is alive without drowning in it.
 */
const PLAIN_EVERY_MS = 3_000

export function createProgress(stream = process.stderr) {
  const tty = Boolean(stream.isTTY)
  let lastPlain = 0
  let shown = false
  return {
    update(text) {
      if (tty) {
        stream.write(`\r\x1b[2K${text}`)
        shown = true
      } else if (Date.now() - lastPlain >= PLAIN_EVERY_MS) {
        lastPlain = Date.now()
        stream.write(text + '\n')
      }
    },
    /** Clear the in-place line so the next output starts clean. */
    done() {
      if (tty && shown) stream.write('\r\x1b[2K')
      shown = false
      lastPlain = 0
    },
  }
}
