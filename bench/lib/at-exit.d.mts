/** Types of at-exit.mjs, for the TypeScript that imports it (test harnesses). */
export function atExit(fn: () => void): () => void
