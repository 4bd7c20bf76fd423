/**
 * Label budgets. Every topic and group name becomes a label value, and each
 * value is a time series someone pays to store, so the number of distinct
 * values is bounded: the first `max` names seen keep their own series for the
 * life of the process, every later one is folded into OTHER (and a warning is
 * logged once). Admission is permanent, so a name's counters always land in
 * the same series and counters stay monotonic.
 *
 * A real topic or group named `_other` shares the folded series; the name is
 * the one the issue tracker and dashboards expect, and the clash is harmless.
 */
export const OTHER = '_other'

export class LabelBudget {
  private readonly admitted = new Set<string>()
  private warned = false

  constructor(
    readonly kind: 'topic' | 'group',
    readonly max: number,
    private readonly warn: (fields: Record<string, unknown>, msg: string) => void,
  ) {}

  label(name: string): string {
    if (this.admitted.has(name)) return name
    if (this.admitted.size < this.max) {
      this.admitted.add(name)
      return name
    }
    if (!this.warned) {
      this.warned = true
      this.warn(
        { kind: this.kind, max: this.max, first: name },
        `more than ${this.max} ${this.kind}s have metrics: the rest are reported as ${this.kind}="${OTHER}" (raise --max-metric-${this.kind}s to see them)`,
      )
    }
    return OTHER
  }
}
