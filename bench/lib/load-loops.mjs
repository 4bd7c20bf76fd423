/**
 * The producers' loops, shared by the multi-process producer role
 * (roles/producer.mjs) and the embedded topology's producer thread
 * (embedded/producer-thread.mjs), so both topologies offer the broker exactly
 * the same load. A loop drives one `target`:
 *
 *   { publish(buf): Promise, send(buf): boolean, flush(): Promise }
 *
 * and counts into a `tally` ({ sent, dropped, confirmed }).
 *
 * - confirm: publish() with at most `maxInFlight` unconfirmed (a sliding
 *   window of the publish promises themselves, oldest first: no extra promise
 *   per message, so the bench's own cost stays small next to the client's);
 * - fire and forget: send(); a record it refuses counts as dropped, is not
 *   retried, and the loop yields so the socket drains; it also yields every
 *   SEND_SLICE sends;
 * - paced: `perConnRate` records/s for `durationMs`, in 1 ms ticks (timers
 *   go no finer); a full window still makes it wait, so the achieved rate is
 *   what the tally says.
 *
 * Every payload starts with its send time (`now()`, float64 ms, wall-clock
 * based so it compares across threads and processes) for the consumers'
 * latency histogram; publish() and send() copy the payload at once, so one
 * buffer serves every record.
 */
import { performance } from 'node:perf_hooks'

/** Fire-and-forget loops yield to the event loop after this many sends. */
export const SEND_SLICE = 1000

export const now = () => performance.timeOrigin + performance.now()
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const turn = () => new Promise((r) => setImmediate(r))

export const newTally = () => ({ sent: 0, dropped: 0, confirmed: 0 })

const payload = (size) => Buffer.alloc(Math.max(8, size), 0x61)

/** The unconfirmed publishes of one loop, oldest first. */
class ConfirmWindow {
  promises = []
  head = 0

  constructor(tally) {
    this.tally = tally
  }

  get size() {
    return this.promises.length - this.head
  }

  push(p) {
    this.promises.push(p)
  }

  async awaitOldest() {
    await this.promises[this.head]
    this.promises[this.head++] = undefined
    this.tally.confirmed++
    if (this.head > 100_000) this.promises.splice(0, this.head), (this.head = 0)
  }

  async drain() {
    const rest = this.promises.slice(this.head)
    await Promise.all(rest)
    this.tally.confirmed += rest.length
  }
}

/** `count` publishes with confirm, at most `maxInFlight` unconfirmed. */
export async function confirmedLoop(target, { count, size, maxInFlight, deadline }, tally) {
  const buf = payload(size)
  const window = new ConfirmWindow(tally)
  for (let i = 0; i < count; i++) {
    if ((i & 1023) === 0 && now() > deadline) break
    buf.writeDoubleLE(now(), 0)
    window.push(target.publish(buf))
    tally.sent++
    if (window.size >= maxInFlight) await window.awaitOldest()
  }
  await window.drain()
}

/** `count` sends without confirm. */
export async function fireAndForgetLoop(target, { count, size, deadline }, tally) {
  const buf = payload(size)
  for (let i = 0; i < count; i++) {
    buf.writeDoubleLE(now(), 0)
    if (target.send(buf)) tally.sent++
    else {
      tally.dropped++
      await turn()
    }
    if (i % SEND_SLICE === SEND_SLICE - 1) {
      await turn()
      if (now() > deadline) break
    }
  }
  await target.flush()
}

/** `perConnRate` records/s for `durationMs` (or until `deadline`), with confirm or without. */
export async function pacedLoop(target, { perConnRate, durationMs, size, confirm, maxInFlight, deadline }, tally) {
  const buf = payload(size)
  const start = now()
  const end = Math.min(start + durationMs, deadline)
  const window = new ConfirmWindow(tally)
  let mine = 0
  for (let t = start; t < end; t = now()) {
    const due = Math.floor(((t - start) * perConnRate) / 1000)
    while (mine < due) {
      if (confirm && window.size >= maxInFlight) {
        await window.awaitOldest()
        continue
      }
      buf.writeDoubleLE(now(), 0)
      if (confirm) window.push(target.publish(buf))
      else if (!target.send(buf)) tally.dropped++
      mine++
      tally.sent++
    }
    await sleep(1)
  }
  await window.drain()
  await target.flush()
}
