/**
 * Reading collab-server's /metrics in the benchmark: the Prometheus text format as prom-client
 * writes it (one sample per line, `name{a="x",b="y"} value`), summed over instances and diffed
 * between two scrapes. Small on purpose: prom-client writes and does not parse, and the bench only
 * needs counters and histogram buckets.
 */

/** One scrape: series key (`name` or `name{a="x",b="y"}` with labels as written) → value. */
export type Scrape = Map<string, number>;

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parse an exposition; comments, blank lines and samples that are not numbers are skipped. */
export function parsePrometheus(text: string): Scrape {
  const out: Scrape = new Map();
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const v = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    if (Number.isNaN(v)) continue;
    out.set(`${m[1]}${m[2] ?? ''}`, v);
  }
  return out;
}

/** The labels of a series key. */
export function labelsOf(key: string): Record<string, string> {
  const i = key.indexOf('{');
  const out: Record<string, string> = {};
  if (i < 0) return out;
  for (const m of key.slice(i).matchAll(LABEL)) out[m[1]!] = m[2]!.replace(/\\(.)/g, '$1');
  return out;
}

const nameOf = (key: string) => {
  const i = key.indexOf('{');
  return i < 0 ? key : key.slice(0, i);
};

/** Sum of every series of `name` whose labels include `match` (all series when empty). */
export function sumOf(s: Scrape, name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const [k, v] of s) {
    if (nameOf(k) !== name) continue;
    const l = labelsOf(k);
    if (Object.entries(match).every(([a, b]) => l[a] === b)) total += v;
  }
  return total;
}

/** Several instances' scrapes added series by series (a cluster-wide view). */
export function addScrapes(list: Scrape[]): Scrape {
  const out: Scrape = new Map();
  for (const s of list) for (const [k, v] of s) out.set(k, (out.get(k) ?? 0) + v);
  return out;
}

/** `b - a` series by series (counters and histogram parts grow; a series new in `b` counts from 0). */
export function diffScrapes(a: Scrape, b: Scrape): Scrape {
  const out: Scrape = new Map();
  for (const [k, v] of b) out.set(k, v - (a.get(k) ?? 0));
  return out;
}

/**
 * Quantile `q` of a histogram (`name_bucket{le=…}` cumulative counts, e.g. a diff of two scrapes):
 * the upper bound of the first bucket whose count reaches q of the total, as Prometheus'
 * histogram_quantile would without interpolation; NaN without observations, Infinity when it falls
 * in the +Inf bucket.
 */
export function histogramQuantile(s: Scrape, name: string, q: number): number {
  const buckets: [number, number][] = [];
  for (const [k, v] of s) {
    if (nameOf(k) !== `${name}_bucket`) continue;
    const le = labelsOf(k).le;
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Infinity : Number(le);
    const i = buckets.findIndex(([b]) => b === bound);
    if (i >= 0) buckets[i]![1] += v;
    else buckets.push([bound, v]);
  }
  buckets.sort((x, y) => x[0] - y[0]);
  const total = buckets.length ? buckets[buckets.length - 1]![1] : 0;
  if (!(total > 0)) return NaN;
  const rank = q * total;
  for (const [bound, count] of buckets) if (count >= rank) return bound;
  return Infinity;
}
