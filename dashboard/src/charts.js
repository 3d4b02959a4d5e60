// Live charts of the last five minutes, drawn by uPlot from the state the VIM sends every
// second. The VIM keeps no history for us: the series start when the page opens.

import uPlot from './uPlot.esm.js';

const WINDOW_S = 300;
const MIN_WINDOW_S = 60;
const HEIGHT = 170;

// Distinguishable on white and for the common colour-vision deficiencies (Okabe-Ito).
const PALETTE = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#000000', '#7a5195'];

export function vmColor(index) {
  return PALETTE[index % PALETTE.length];
}

function seriesOpts(label, color, extra = {}) {
  return { label, stroke: color, width: 2, points: { show: false }, spanGaps: false, ...extra };
}

// One uPlot chart whose series can change (VMs come and go): the plot is rebuilt when the
// set of series labels changes, the data is kept by this object.
class LiveChart {
  constructor(container, { yLabel, yMin = 0, decimals = 0 }) {
    this.container = container;
    this.yLabel = yLabel;
    this.yMin = yMin;
    this.decimals = decimals;
    this.plot = null;
    this.key = '';
    new ResizeObserver(() => this.resize()).observe(container);
  }

  width() {
    return Math.max(200, Math.floor(this.container.clientWidth));
  }

  resize() {
    if (this.plot && this.plot.width !== this.width())
      this.plot.setSize({ width: this.width(), height: HEIGHT });
  }

  // series: [{label, color}], data: [times, ...values]
  draw(series, data) {
    const key = series.map((s) => `${s.label}/${s.color}`).join('|');
    if (key !== this.key) {
      if (this.plot)
        this.plot.destroy();
      this.key = key;
      const decimals = this.decimals;
      this.plot = new uPlot({
        width: this.width(),
        height: HEIGHT,
        legend: { show: true, live: false },
        cursor: { show: true, points: { show: false } },
        scales: {
          x: { time: true },
          y: { range: (u, min, max) => [this.yMin, Math.max(max * 1.15, this.yMin + 1)] },
        },
        axes: [
          { stroke: '#333', grid: { stroke: '#e4e4e4' }, ticks: { stroke: '#ccc' }, space: 70,
            values: (u, splits) => splits.map((v) => clockTime(v)) },
          { stroke: '#333', grid: { stroke: '#e4e4e4' }, ticks: { stroke: '#ccc' }, size: 48,
            label: this.yLabel, labelSize: 18,
            // Whole-number charts label whole numbers only (no "1, 1, 0" on a small range).
            values: (u, splits) => splits.map((v) =>
              (decimals === 0 && !Number.isInteger(v) ? '' : v.toFixed(decimals))) },
        ],
        series: [{}, ...series.map((s) => seriesOpts(s.label, s.color, s.extra))],
      }, data, this.container);
    } else {
      this.plot.setData(data, false);
    }
    // The window grows from the first sample to five minutes, so a young page is not a
    // nearly empty chart.
    const times = data[0];
    const end = times.length ? times[times.length - 1] : Date.now() / 1000;
    const start = times.length ? Math.max(end - WINDOW_S, Math.min(times[0], end - MIN_WINDOW_S)) : end - MIN_WINDOW_S;
    this.plot.setScale('x', { min: start, max: end });
  }
}

export class Charts {
  constructor({ rps, containers, cpu, latency }) {
    this.times = [];
    this.rps = [];
    this.users = [];
    this.p99 = [];
    this.containersByVm = new Map();   // vm -> array aligned with times (null before it existed)
    this.cpuByVm = new Map();
    this.vmOrder = [];
    this.charts = {
      rps: new LiveChart(rps, { yLabel: 'per second' }),
      containers: new LiveChart(containers, { yLabel: 'containers' }),
      cpu: new LiveChart(cpu, { yLabel: 'CPUs', decimals: 1 }),
      latency: new LiveChart(latency, { yLabel: 'ms' }),
    };
  }

  push(state) {
    const t = typeof state.time === 'number' ? state.time : Date.now() / 1000;
    if (this.times.length && t <= this.times[this.times.length - 1])
      return;   // a replayed or repeated second
    const proxy = state.proxy || {};
    const vms = Array.isArray(state.vms) ? state.vms : [];

    this.times.push(t);
    this.rps.push(finite(proxy.requests_per_s));
    this.users.push(state.load && state.load.running ? finite(state.load.users) : 0);
    this.p99.push(finite(proxy.p99_ms));
    for (const vm of vms) {
      if (!this.vmOrder.includes(vm.name)) {
        this.vmOrder.push(vm.name);
        this.containersByVm.set(vm.name, new Array(this.times.length - 1).fill(null));
        this.cpuByVm.set(vm.name, new Array(this.times.length - 1).fill(null));
        this.vmOrder.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
      }
    }
    for (const name of this.vmOrder) {
      const vm = vms.find((v) => v.name === name);
      this.containersByVm.get(name).push(vm ? (vm.containers || []).length : null);
      this.cpuByVm.get(name).push(vm ? finite(vm.cpu) : null);
    }
    this.trim(t - WINDOW_S);
    this.draw();
  }

  trim(oldest) {
    let drop = 0;
    while (drop < this.times.length && this.times[drop] < oldest)
      drop++;
    if (!drop)
      return;
    for (const arr of [this.times, this.rps, this.users, this.p99, ...this.containersByVm.values(),
                       ...this.cpuByVm.values()])
      arr.splice(0, drop);
  }

  draw() {
    const vmSeries = this.vmOrder.map((name, i) => ({ label: name, color: vmColor(i) }));
    this.charts.rps.draw(
      [{ label: 'requests/s', color: PALETTE[0] },
       { label: 'users', color: PALETTE[1], extra: { dash: [6, 4] } }],
      [this.times, this.rps, this.users]);
    this.charts.containers.draw(
      vmSeries.map((s) => ({ ...s, extra: { paths: uPlot.paths.stepped({ align: 1 }) } })),
      [this.times, ...this.vmOrder.map((n) => this.containersByVm.get(n))]);
    this.charts.cpu.draw(vmSeries, [this.times, ...this.vmOrder.map((n) => this.cpuByVm.get(n))]);
    this.charts.latency.draw([{ label: 'p99', color: PALETTE[1] }], [this.times, this.p99]);
  }

  // Number of seconds recorded: the tests read it to see that the charts move.
  get length() {
    return this.times.length;
  }
}

function clockTime(unixSeconds) {
  return new Date(unixSeconds * 1000).toLocaleTimeString('en-GB', { hour12: false });
}

function finite(v) {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
