/**
 * The seed of a fault test: SKIFF_FAULT_SEED when set (to replay a run),
 * else a fresh one; printed, so every run can be replayed.
 */
import { seededRandom } from '../reliability/harness.js'

export function faultSeed(t: { comment(message: string): void }): { seed: number; random: () => number } {
  const s = Number(process.env.SKIFF_FAULT_SEED)
  const seed = Number.isInteger(s) && s > 0 ? s : 1 + (Date.now() % 1_000_000_007)
  t.comment(`seed ${seed} (SKIFF_FAULT_SEED=${seed} replays this run)`)
  return { seed, random: seededRandom(seed) }
}
