/**
 * When the reader of our output goes away (`skiff sub --json | head -3`,
 * `skiff pub ... | grep -m1 x`), writing to stdout fails with EPIPE. Node
 * ignores SIGPIPE, so without this the CLI died with an "Unhandled 'error'
 * event" stack. Decision: do what `head` users expect of a Unix tool whose
 * reader left, quietly and with exit code 0 (shells report a SIGPIPE death
 * as 141, which `set -o pipefail` scripts would take for a failure).
 *
 * What "exit" means is the command's choice (`onReaderGone`): the client
 * commands exit at once, as a killed process would (`pub`: publishes not yet
 * confirmed may or may not be stored; `sub`: messages not acked yet are
 * redelivered to the group later, at least once); the broker stops as on
 * SIGTERM, draining first.
 *
 * Any other write error on stdout/stderr (a full disk under `> file`) is one
 * line on stderr, when stderr still works, and exit code 1.
 */

let readerGone: () => void = () => process.exit(0)
let handled = false

/** What to do once the reader of stdout or stderr has gone (default: exit 0 at once). */
export function onReaderGone(fn: () => void): void {
  readerGone = fn
}

/** Watch the process's stdout and stderr for EPIPE. */
export function exitQuietlyWhenReaderGoes(streams: NodeJS.WritableStream[] = [process.stdout, process.stderr]): void {
  for (const stream of streams) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (handled) return
      handled = true
      if (err.code === 'EPIPE') return readerGone()
      if (stream !== process.stderr) process.stderr.write(`skiff: cannot write output: ${err.message}\n`)
      process.exit(1)
    })
  }
}
