/**
 * Cleanup for a process that exits without its teardown (Ctrl-C through an
 * exit(130), a test cut off, a throw): the bench and the test harnesses
 * register here what must not outlive them (brokers and etcd members to
 * SIGKILL, directories to remove) and take it back once they stopped it
 * themselves. One 'exit' listener for all; the functions run synchronously,
 * last registered first, as atexit(3) runs them: a cluster's brokers are
 * killed before the directory holding their data is removed. One that
 * throws does not keep the others from running.
 */
const pending = new Set()
let listening = false

/** Run `fn` if this process exits before the returned function is called. */
export function atExit(fn) {
  if (!listening) {
    listening = true
    process.once('exit', () => {
      for (const entry of [...pending].reverse()) {
        try {
          entry.fn()
        } catch {
          // the rest still run
        }
      }
    })
  }
  const entry = { fn }
  pending.add(entry)
  return () => {
    pending.delete(entry)
  }
}
