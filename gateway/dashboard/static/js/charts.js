// Charts drawn with the vendored Chart.js (static/vendor/chart.umd.min.js, global `Chart`).
// Animations are off: figures refresh every 30 s and should simply be there.

const PALETTE = [
  "#2f6fde", "#1a9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
  "#17becf", "#8c564b",
];

export function paletteColor(index) {
  return PALETTE[index % PALETTE.length];
}

/** Size the charts inside `root` to their boxes now. A chart drawn while its page was hidden
 * has no size; Chart.js would notice only a frame after the page is shown. */
export function resizeWithin(root) {
  if (typeof Chart === "undefined") return;
  for (const canvas of root.querySelectorAll("canvas")) {
    const chart = Chart.getChart(canvas);
    if (chart) chart.resize();
  }
}

function upsert(id, config) {
  if (typeof Chart === "undefined") return; // the library failed to load: tables still work
  const canvas = document.getElementById(id);
  const chart = Chart.getChart(canvas);
  if (chart) {
    chart.data = config.data;
    chart.update("none");
  } else {
    new Chart(canvas, config);
  }
}

const baseOptions = {
  animation: false,
  responsive: true,
  maintainAspectRatio: false,
  plugins: { legend: { display: false } },
};

export function bars(id, labels, values, label, color, format) {
  upsert(id, {
    type: "bar",
    data: { labels, datasets: [{ label, data: values, backgroundColor: color, borderRadius: 3 }] },
    options: {
      ...baseOptions,
      scales: {
        x: { grid: { display: false } },
        y: { beginAtZero: true, ticks: { callback: (v) => format(v) } },
      },
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { label: (ctx) => `${label}: ${format(ctx.parsed.y)}` } },
      },
    },
  });
}

export function line(id, labels, values, label, color, format) {
  upsert(id, {
    type: "line",
    data: {
      labels,
      datasets: [
        {
          label,
          data: values,
          borderColor: color,
          backgroundColor: `${color}22`,
          fill: true,
          tension: 0,
          pointRadius: 3,
        },
      ],
    },
    options: {
      ...baseOptions,
      scales: { y: { beginAtZero: true, ticks: { callback: (v) => format(v) } } },
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { label: (ctx) => `${label}: ${format(ctx.parsed.y)}` } },
      },
    },
  });
}

export function doughnut(id, labels, values) {
  upsert(id, {
    type: "doughnut",
    data: {
      labels,
      datasets: [{ data: values, backgroundColor: labels.map((_, i) => paletteColor(i)) }],
    },
    options: {
      ...baseOptions,
      plugins: { legend: { display: true, position: "right" } },
    },
  });
}
