/**
 * The one table of opcodes and protocol versions. Every frame on the wire is
 * `u32 length | u8 opcode | body`; the opcode names the module in `frames/` that
 * describes the body. Reserved opcodes belong to features that are specified but
 * not yet served: a broker answers them with INVALID_REQUEST, never with a close.
 */
export const PROTOCOL_VERSION = 1
/** Versions this build can speak, newest first. HELLO offers a list; WELCOME picks one. */
export const SUPPORTED_VERSIONS: readonly number[] = [1]

export const Op = {
  HELLO: 0x01,
  WELCOME: 0x02,
  PING: 0x03,
  PONG: 0x04,
  ERROR: 0x05,
  OK: 0x06,

  PUBLISH: 0x10,
  PUBLISH_ACK: 0x11,
  PRODUCER_INIT: 0x12, // reserved: idempotent producer id allocation

  SUBSCRIBE: 0x20,
  UNSUBSCRIBE: 0x21,
  DELIVER: 0x22,
  ACK: 0x23,
  CREDIT: 0x24, // reserved: explicit credit top-up

  TOPIC_CREATE: 0x30,
  TOPIC_DESCRIBE: 0x31,
  TOPIC_LIST: 0x32,
  TOPIC_DELETE: 0x33,
  GROUP_LIST: 0x34,
  GROUP_DESCRIBE: 0x35,
  GROUP_DELETE: 0x36,
  GROUP_RESET: 0x37,
  TOPIC_PURGE: 0x38,
  TOPIC_ALTER: 0x39,
  METADATA: 0x3a,
  REPL_FETCH: 0x3b,
  REPL_DATA: 0x3c,

  TELEMETRY: 0x40, // reserved: UDP telemetry datagram
  REQUEST: 0x50,
  REPLY: 0x51,
  SERVE: 0x52,
  UNSERVE: 0x53,
} as const

export type Opcode = (typeof Op)[keyof typeof Op]

export const RESERVED_OPCODES: ReadonlySet<number> = new Set([
  Op.PRODUCER_INIT,
  Op.CREDIT,
  Op.TELEMETRY,
])

const names = new Map<number, string>(Object.entries(Op).map(([name, code]) => [code, name]))

export function opcodeName(op: number): string {
  return names.get(op) ?? `0x${op.toString(16).padStart(2, '0')}`
}

export function isKnownOpcode(op: number): boolean {
  return names.has(op)
}
