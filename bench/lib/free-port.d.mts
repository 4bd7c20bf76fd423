/** Types of free-port.mjs, for the TypeScript that imports it (test harnesses, the fault suite). */
export function freePort(): Promise<number>
export function freePorts(n: number): Promise<number[]>
/** Reserve `port` for this process until it exits; false when another live process holds it. */
export function reserve(port: number): boolean
