/**
 * Structured logs: one JSON object a line on stdout (pino). Workers do not log
 * directly; their events ride the batched worker->gateway messages and are
 * written here, so lines from all threads share one stream and one level.
 */
import { pino, type Logger } from 'pino'
import type { LogLevel } from './config.js'

export type { Logger }

export function createLogger(level: LogLevel): Logger {
  return pino({
    level,
    base: { svc: 'skiffmq' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  })
}

/**
 * The stream the logger writes its lines to: its 'error' event is how the
 * CLI learns that the reader of the logs went away (EPIPE), since pino
 * writes through a stream of its own, not process.stdout.
 */
export function logStream(logger: Logger): NodeJS.EventEmitter | undefined {
  return (logger as unknown as Record<symbol, NodeJS.EventEmitter | undefined>)[pino.symbols.streamSym]
}

/** Log an event that came from a worker as `{ level, msg, ...fields }`. */
export function logEvent(logger: Logger, event: Record<string, unknown>): void {
  const { level, msg, ...rest } = event
  const lvl = typeof level === 'string' && ['debug', 'info', 'warn', 'error'].includes(level) ? (level as 'info') : 'info'
  logger[lvl](rest, typeof msg === 'string' ? msg : 'worker event')
}
