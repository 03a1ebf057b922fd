/**
 * The one machine-readable line each bench prints per figure, beside its human output:
 * `BENCH {"name":…,"figure":…,"unit":…,"baseline":…,"baselineUnit":…,"ratio":…,"aim":…}`.
 * `npm run bench` (scripts/bench.mjs) collects these lines into its summary table.
 */
export interface BenchFigure {
  name: string;
  figure: number;
  unit: string;
  /** Measured in the same run. */
  baseline: number;
  /** When the baseline is not in the figure's unit. */
  baselineUnit?: string;
  /** figure / baseline unless the bench says otherwise in `aim`. */
  ratio: number;
  /** What the figure should be, in words ("ratio ≥ 0.5"); "" when the bench sets none. */
  aim: string;
}

const round = (n: number) => (Number.isFinite(n) ? Number(n.toPrecision(4)) : n);

export function report(figure: BenchFigure): void {
  console.log(`BENCH ${JSON.stringify({ ...figure, figure: round(figure.figure), baseline: round(figure.baseline), ratio: round(figure.ratio) })}`);
}
