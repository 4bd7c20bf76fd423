/**
 * `skiff broker`'s command line read without yargs, when it is plain.
 *
 * Why: yargs and what it loads (cliui, string-width and its tables, y18n)
 * stay in the broker's memory for its whole life, about 7 MiB of its idle
 * resident set, to read a line once (bench/README.md, "Round 14"). So a
 * command line made only of the broker's own options, each typed the one
 * obvious way, is read here with node's parseArgs; anything else (help,
 * --version, an unknown option, a stray word, `--no-x`, `--flag=false`, a
 * number that is not plain decimal digits, a value that looks like an
 * option) returns undefined and goes to yargs exactly as before, so every
 * message and every refusal stays the one yargs gives.
 *
 * The values are those yargs gives for the same line (test/cli/broker-args.test.ts
 * holds the two to that): numbers as numbers, a flag given twice counts
 * once with its last value, option names in camel case.
 */
import { parseArgs } from 'node:util'
import { DEFAULTS, type ConfigKey } from '../broker/config.js'

/** A broker option's flag: dataDir -> data-dir. */
export const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())

/** The yargs type of each broker option, from its default: the flags and their types cannot drift from the config table. */
export function optionType(key: ConfigKey): 'number' | 'boolean' | 'string' {
  const d = DEFAULTS[key]
  return typeof d === 'number' ? 'number' : typeof d === 'boolean' ? 'boolean' : 'string'
}

/** Digits as yargs reads them the same: no sign, no leading zero, no exponent, no hex. */
const PLAIN_NUMBER = /^(0|[1-9]\d{0,14})(\.\d{1,15})?$/

/** The arguments after `broker` as yargs would give them to the command, or undefined: let yargs read them. */
export function parseBrokerArgs(args: readonly string[]): Record<string, unknown> | undefined {
  const options: Record<string, { type: 'string' | 'boolean'; multiple: true }> = {
    config: { type: 'string', multiple: true },
    debug: { type: 'boolean', multiple: true },
  }
  /** Each flag's option name as the broker command reads it (camel case). */
  const keyOf = new Map<string, string>([
    ['config', 'config'],
    ['debug', 'debug'],
  ])
  const numbers = new Set<string>()
  for (const key of Object.keys(DEFAULTS) as ConfigKey[]) {
    const type = optionType(key)
    options[kebab(key)] = { type: type === 'boolean' ? 'boolean' : 'string', multiple: true }
    keyOf.set(kebab(key), key)
    if (type === 'number') numbers.add(key)
  }
  let values: Record<string, (string | boolean)[] | undefined>
  try {
    values = parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values as typeof values
  } catch {
    return undefined
  }
  const argv: Record<string, unknown> = {}
  for (const [flag, given] of Object.entries(values)) {
    const last = given?.[given.length - 1]
    if (last === undefined) continue
    const key = keyOf.get(flag)!
    if (!numbers.has(key)) argv[key] = last
    else if (typeof last === 'string' && PLAIN_NUMBER.test(last)) argv[key] = Number(last)
    else return undefined
  }
  return argv
}
