/**
 * `skiff broker` reads a plain command line without yargs (cli/broker-args.ts).
 * What the broker is started with must not depend on which of the two read it:
 * for any line the quick reader takes, yargs (with the broker command's real
 * options) accepts the same line and gives the same values; every line it does
 * not take goes to yargs, whose messages and refusals stay as they were. And the
 * lines people type are taken, or the quick path would be dead code.
 */
import t from 'tap'
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import yargs, { type Argv } from 'yargs'
import { parseBrokerArgs, kebab, optionType } from '../../cli/broker-args.js'
import { brokerOptions } from '../../cli/broker-command.js'
import { DEFAULTS, type ConfigKey } from '../../broker/config.js'

const KEYS = Object.keys(DEFAULTS) as ConfigKey[]
const NAMES = [...KEYS, 'config', 'debug']

/** The values yargs hands the broker command for `skiff broker <args>`, or undefined when it refuses the line. */
function viaYargs(args: string[]): Record<string, unknown> | undefined {
  let got: Record<string, unknown> | undefined
  let refused = false
  yargs(['broker', ...args])
    .option('debug', { type: 'boolean', global: true })
    .command('broker', '', (b: Argv) => brokerOptions(b), (argv) => void (got = argv as Record<string, unknown>))
    .strict()
    .exitProcess(false)
    .fail(() => void (refused = true))
    .parse()
  return refused ? undefined : got
}

/** What runBroker reads of an argv: the last of a repeated flag, per option name. */
function readByBroker(argv: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const name of NAMES) {
    const v = Array.isArray(argv[name]) ? (argv[name] as unknown[]).at(-1) : argv[name]
    if (v !== undefined) out[name] = v
  }
  return out
}

t.test('the lines people type are read without yargs, as yargs reads them', async (t) => {
  const lines = [
    [],
    ['--port', '4222', '--data-dir', '/var/lib/skiff'],
    ['--port', '0', '--data-dir', '/tmp/x', '--log-level', 'info', '--workers', '1', '--fsync', 'always'],
    ['--port=7000', '--http-port=0', '--auto-create-topics', '--config', 'skiff.json'],
    ['--host', '127.0.0.1', '--port', '1', '--port', '2', '--debug'],
    ['--cluster', 'http://127.0.0.1:2379', '--broker-id', '3', '--advertise', '127.0.0.1:4000', '--replica-lag-ms', '10000'],
    ['--group-commit-ms', '0.5', '--udp', '--allow-anonymous'],
  ]
  for (const line of lines) {
    const quick = parseBrokerArgs(line)
    t.ok(quick, `taken: ${line.join(' ')}`)
    const slow = viaYargs(line)
    t.ok(slow, `yargs takes it too: ${line.join(' ')}`)
    t.same(readByBroker(quick!), readByBroker(slow!), line.join(' '))
  }
  t.equal(parseBrokerArgs(['--port', '1', '--port', '2'])!.port, 2, 'a flag given twice: the last one')
  t.equal(parseBrokerArgs(['--data-dir', '/d'])!.dataDir, '/d', 'camel case, as yargs names them')
})

t.test('lines that are not plain go to yargs', async (t) => {
  const lines = [
    ['--help'],
    ['-h'],
    ['--version'],
    ['--prot', '3'],
    ['stray'],
    ['--port', 'abc'],
    ['--port', '1e3'],
    ['--port', '0x10'],
    ['--port', '007'],
    ['--port', '-1'],
    ['--port='],
    ['--no-udp'],
    ['--udp=false'],
    ['--udp', 'true'],
    ['--dataDir', '/d'],
    ['--data-dir'],
    ['--', '--port', '1'],
  ]
  for (const line of lines) t.equal(parseBrokerArgs(line), undefined, line.join(' '))
})

/** One option as it may be typed: `--name value`, `--name=value`, a bare flag, or something odd. */
const typed = fc.oneof(
  fc.record({ name: fc.constantFrom(...NAMES), value: fc.oneof(fc.stringMatching(/^(0|[1-9]\d{0,6})(\.\d{1,3})?$/), fc.string({ maxLength: 6 }), fc.constantFrom('-1', '1e3', '0x1f', '007', 'true', 'false', '')), inline: fc.boolean() }).map(({ name, value, inline }) =>
    inline ? [`--${kebab(name)}=${value}`] : [`--${kebab(name)}`, value],
  ),
  fc.constantFrom(...NAMES).map((name) => [`--${kebab(name)}`]),
  fc.constantFrom(...KEYS.filter((k) => optionType(k) === 'boolean')).map((name) => [`--no-${kebab(name)}`]),
  fc.constantFrom(['--unknown-thing'], ['word'], ['-x'], ['--']),
)

t.test('any line the quick reader takes, yargs takes with the same values', async (t) => {
  let taken = 0
  fc.assert(
    fc.property(fc.array(typed, { maxLength: 6 }), (parts) => {
      const line = parts.flat()
      const quick = parseBrokerArgs(line)
      if (quick === undefined) return true
      taken++
      const slow = viaYargs(line)
      return slow !== undefined && isDeepStrictEqual(readByBroker(quick), readByBroker(slow))
    }),
    { numRuns: 600 },
  )
  t.ok(taken > 50, `the property saw lines the quick reader took (${taken})`)
})
