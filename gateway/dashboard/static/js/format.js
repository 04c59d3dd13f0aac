// How figures are shown. The API sends USD, milliseconds, rates in 0..1 and ISO 8601 UTC.

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

export function count(value) {
  return integer.format(value);
}

/** Dollars with enough decimals that small per-request costs are not shown as $0.00. */
export function usd(value) {
  const abs = Math.abs(value);
  const digits = abs === 0 || abs >= 1 ? 2 : abs >= 0.01 ? 4 : 6;
  return (value < 0 ? "-$" : "$") + abs.toFixed(digits);
}

export function percent(rate) {
  return `${(rate * 100).toFixed(1)}%`;
}

export function duration(ms) {
  if (ms === null || ms === undefined) return "–";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** "2026-11-22T16:04:05.123Z" -> "2026-11-22 16:04:05". */
export function time(iso) {
  if (!iso) return "–";
  return iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", "");
}

/** Labels of chart buckets: "16:00" for hours, "11-22" for days. */
export function hourLabel(iso) {
  return iso.slice(11, 16);
}

export function dayLabel(iso) {
  return iso.slice(5, 10);
}

export function rateOrDash(rate) {
  return rate === null || rate === undefined ? "–" : percent(rate);
}
