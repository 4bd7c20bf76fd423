#!/usr/bin/env node
/**
 * The attacker of test/security/attack-silent-burst.test.ts, in a process of
 * its own as a real one would be: opens `burst` sockets to the broker in one
 * event-loop turn, sends nothing, and records for each the time from its
 * connect() call to its close and the ERROR it was told. Prints one JSON line
 * ({ lifetimes: number[] | null per socket, errors: (string | null)[],
 * lagMs }) and exits, at the latest after `giveUpMs`. `lagMs` is how late
 * this process's own event loop ran at worst meanwhile: a close it noticed
 * late by that much was not the broker's doing.
 *
 *   node silent-burst-attacker.mjs <port> <burst> <localAddress> <giveUpMs>
 *
 * It reads the built protocol (dist/), which `npm test` builds first.
 */
import net from 'node:net'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { FrameDecoder, Op, decodeError } from '../../dist/protocol/index.js'

const [port, burst, localAddress, giveUpMs] = process.argv.slice(2)
const lag = monitorEventLoopDelay({ resolution: 10 })
lag.enable()
const sockets = []
for (let i = 0; i < Number(burst); i++) {
  const s = { startedAt: Date.now(), closedAt: null, error: null }
  const socket = net.connect({ port: Number(port), host: '127.0.0.1', localAddress })
  const decoder = new FrameDecoder()
  socket.on('data', (chunk) => {
    decoder.push(chunk)
    for (let f = decoder.next(); f; f = decoder.next()) if (f.opcode === Op.ERROR) s.error ??= decodeError(f.body).name
  })
  socket.on('close', () => {
    s.closedAt = Date.now()
    if (sockets.every((x) => x.s.closedAt !== null)) report()
  })
  socket.on('error', () => {})
  sockets.push({ s, socket })
}
const giveUp = setTimeout(report, Number(giveUpMs))

function report() {
  clearTimeout(giveUp)
  const lifetimes = sockets.map(({ s }) => (s.closedAt === null ? null : s.closedAt - s.startedAt))
  lag.disable()
  const lagMs = Math.round(lag.max / 1e6)
  process.stdout.write(JSON.stringify({ lifetimes, errors: sockets.map(({ s }) => s.error), lagMs }) + '\n', () => process.exit(0))
  for (const { socket } of sockets) socket.destroy()
}
