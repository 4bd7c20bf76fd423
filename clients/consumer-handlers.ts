/**
 * Handler-style consuming: `consumer.on('message', fn)` or
 * `client.subscribe(topic, opts, fn)`. The runner takes buffered messages
 * and calls the handlers, at most `concurrency` messages at a time (default
 * 1, which keeps the order of each partition). A handler that is slow
 * therefore slows delivery: messages wait in the consumer's buffer, and the
 * broker sends no more than maxInFlight unsettled ones, so memory stays
 * bounded.
 *
 * With autoAck the runner acks a message once every handler resolved and
 * nacks it when one threw; without, settling is the handler's job. A handler
 * that throws is reported through the consumer's 'error' event (or the
 * client's, when the consumer has no 'error' listener), never swallowed.
 */
import type { Message } from './message.js'

/** A message handler; may return a promise, which the consumer awaits before counting the message handled. */
export type MessageHandler = (msg: Message) => unknown

/** What the runner needs from its consumer. */
export interface HandlerHost {
  /** The next message to handle, or undefined (none buffered, or the consumer stopped taking). */
  take(): Message | undefined
  listeners(): MessageHandler[]
  autoAck: boolean
  concurrency: number
  failed(err: unknown, msg: Message): void
  /** A handler call finished (to wake a closing consumer). */
  finished(): void
}

/** Calls a consumer's handlers for its buffered messages, `concurrency` at a time. */
export class HandlerRunner {
  /** Messages being handled right now. */
  running = 0

  constructor(private readonly host: HandlerHost) {}

  /** Start handlers for buffered messages while there is room. */
  run(): void {
    while (this.running < this.host.concurrency) {
      const msg = this.host.take()
      if (!msg) return
      this.running++
      void this.handle(msg)
    }
  }

  private async handle(msg: Message): Promise<void> {
    try {
      for (const fn of this.host.listeners()) await fn(msg)
      if (this.host.autoAck) msg.ack()
    } catch (err) {
      if (this.host.autoAck) msg.nack()
      try {
        this.host.failed(err, msg)
      } catch {
        // An 'error' listener that throws must not stop the handlers.
      }
    } finally {
      this.running--
      this.host.finished()
      this.run()
    }
  }
}
