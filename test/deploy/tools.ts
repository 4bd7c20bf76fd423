/**
 * Outside tools some deploy tests need (shellcheck, systemd-analyze). A test
 * that needs a missing tool skips with a message naming the Debian package, so
 * a machine without it says so instead of passing in silence.
 */
import { spawnSync } from 'node:child_process'

export interface Tool {
  command: string
  /** The Debian/Ubuntu package that provides it. */
  aptPackage: string
  /** How to install it when apt is not the way. */
  install?: string
}

export const SHELLCHECK: Tool = { command: 'shellcheck', aptPackage: 'shellcheck' }
export const SYSTEMD_ANALYZE: Tool = { command: 'systemd-analyze', aptPackage: 'systemd' }
export const CFN_LINT: Tool = { command: 'cfn-lint', aptPackage: 'cfn-lint', install: 'pip install cfn-lint' }

/** undefined when the tool runs, else the reason to skip. */
export function missing(tool: Tool): string | undefined {
  const r = spawnSync(tool.command, ['--version'], { encoding: 'utf8', timeout: 10_000 })
  if (r.error || r.status !== 0) return `${tool.command} is not installed (${tool.install ?? `apt-get install -y ${tool.aptPackage}`})`
  return undefined
}

export interface RunResult {
  status: number | null
  stdout: string
  stderr: string
}

/** Runs a command to completion with a hard time limit. */
export function run(command: string, args: string[], opts: { input?: string; cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): RunResult {
  const env = { ...process.env, ...opts.env }
  const r = spawnSync(command, args, { encoding: 'utf8', input: opts.input, cwd: opts.cwd, env, timeout: opts.timeoutMs ?? 60_000 })
  if (r.error) throw r.error
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}
