/**
 * Host metrics in node_exporter's names, units and label sets, read from the OS on every call: the
 * control plane parses them with the same code it uses for a real node_exporter (edge-admin §12.3).
 * A source that cannot be read (non-Linux, locked-down /proc) is left out, never filled with guesses.
 *
 * Sources: /proc/stat (cpu, boot time, context switches, forks, procs), /proc/loadavg,
 * /proc/meminfo, statfs('/') + /proc/self/mounts (root filesystem only), /proc/net/dev, os.uname.
 */
import { readFile, statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** node_exporter (procfs) assumes USER_HZ = 100, which is what Linux exports on every architecture. */
const USER_HZ = 100;

type Labels = Record<string, string>;
type Sample = { labels?: Labels; value: number };

export interface MetricFamily {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  samples: Sample[];
}

export interface HostMetricsOptions {
  procRoot?: string;
  rootPath?: string;
  now?: () => number;
}

export async function collectHostMetrics(options: HostMetricsOptions = {}): Promise<string> {
  const proc = options.procRoot ?? '/proc';
  const now = options.now ?? Date.now;
  const read = (file: string) => readFile(path.join(proc, file), 'utf8').catch(() => null);
  const [stat, loadavg, meminfo, netdev, mounts, fsStats] = await Promise.all([
    read('stat'),
    read('loadavg'),
    read('meminfo'),
    read('net/dev'),
    read('self/mounts'),
    statfs(options.rootPath ?? '/').catch(() => null),
  ]);
  const families: MetricFamily[] = [];
  if (stat) families.push(...statFamilies(stat));
  if (!families.some((f) => f.name === 'node_boot_time_seconds')) {
    families.push(gauge('node_boot_time_seconds', 'Node boot time, in unixtime.', Math.round(now() / 1000 - os.uptime())));
  }
  if (loadavg) families.push(...loadFamilies(loadavg));
  if (meminfo) families.push(...memoryFamilies(meminfo));
  if (fsStats) families.push(...filesystemFamilies(fsStats, mounts ? rootMount(mounts) : null));
  if (netdev) families.push(...netdevFamilies(netdev));
  families.push(gauge('node_time_seconds', 'System time in seconds since epoch (1970).', now() / 1000));
  families.push(unameFamily());
  return renderFamilies(families);
}

function gauge(name: string, help: string, value: number, labels?: Labels): MetricFamily {
  return { name, type: 'gauge', help, samples: [{ labels, value }] };
}

function counter(name: string, help: string, value: number, labels?: Labels): MetricFamily {
  return { name, type: 'counter', help, samples: [{ labels, value }] };
}

const CPU_MODES = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;

export function statFamilies(text: string): MetricFamily[] {
  const cpu: Sample[] = [];
  const guest: Sample[] = [];
  const out: MetricFamily[] = [];
  for (const line of text.split('\n')) {
    const [key, ...rest] = line.trim().split(/\s+/);
    if (!key) continue;
    const values = rest.map(Number);
    const cpuMatch = /^cpu(\d+)$/.exec(key);
    if (cpuMatch) {
      const id = cpuMatch[1]!;
      CPU_MODES.forEach((mode, i) => {
        if (values[i] !== undefined && Number.isFinite(values[i])) cpu.push({ labels: { cpu: id, mode }, value: values[i]! / USER_HZ });
      });
      // Linux counts guest time inside user/nice too; node_exporter reports it separately, as here.
      if (values[8] !== undefined) guest.push({ labels: { cpu: id, mode: 'user' }, value: values[8] / USER_HZ });
      if (values[9] !== undefined) guest.push({ labels: { cpu: id, mode: 'nice' }, value: values[9] / USER_HZ });
      continue;
    }
    const value = values[0];
    if (value === undefined || !Number.isFinite(value)) continue;
    switch (key) {
      case 'btime':
        out.push(gauge('node_boot_time_seconds', 'Node boot time, in unixtime.', value));
        break;
      case 'ctxt':
        out.push(counter('node_context_switches_total', 'Total number of context switches.', value));
        break;
      case 'intr':
        out.push(counter('node_intr_total', 'Total number of interrupts serviced.', value));
        break;
      case 'processes':
        out.push(counter('node_forks_total', 'Total number of forks.', value));
        break;
      case 'procs_running':
        out.push(gauge('node_procs_running', 'Number of processes in runnable state.', value));
        break;
      case 'procs_blocked':
        out.push(gauge('node_procs_blocked', 'Number of processes blocked waiting for I/O to complete.', value));
        break;
    }
  }
  if (guest.length) {
    out.unshift({ name: 'node_cpu_guest_seconds_total', type: 'counter', help: 'Seconds the CPUs spent in guests (VMs) for each mode.', samples: guest });
  }
  if (cpu.length) {
    out.unshift({ name: 'node_cpu_seconds_total', type: 'counter', help: 'Seconds the CPUs spent in each mode.', samples: cpu });
  }
  return out;
}

function loadFamilies(text: string): MetricFamily[] {
  const [l1, l5, l15] = text.trim().split(/\s+/).map(Number);
  const out: MetricFamily[] = [];
  if (Number.isFinite(l1)) out.push(gauge('node_load1', '1m load average.', l1!));
  if (Number.isFinite(l5)) out.push(gauge('node_load5', '5m load average.', l5!));
  if (Number.isFinite(l15)) out.push(gauge('node_load15', '15m load average.', l15!));
  return out;
}

/** `Active(anon):  123 kB` → node_memory_Active_anon_bytes; unit-less lines keep the bare name. */
export function memoryFamilies(text: string): MetricFamily[] {
  const out: MetricFamily[] = [];
  for (const line of text.split('\n')) {
    const match = /^([^:\s]+):\s+(\d+)(?:\s+(kB))?\s*$/.exec(line.trim());
    if (!match) continue;
    const key = match[1]!.replace(/\(/g, '_').replace(/\)/g, '');
    const bytes = match[3] === 'kB';
    const value = Number(match[2]) * (bytes ? 1024 : 1);
    const name = `node_memory_${key}${bytes ? '_bytes' : ''}`;
    out.push(gauge(name, `Memory information field ${key}${bytes ? '_bytes' : ''}.`, value));
  }
  return out;
}

export interface RootMount {
  device: string;
  fstype: string;
  readonly: boolean;
}

/** The last `/` entry wins: later mounts shadow earlier ones (container overlay over the host root). */
export function rootMount(mountsText: string): RootMount | null {
  let found: RootMount | null = null;
  for (const line of mountsText.split('\n')) {
    const [device, mountpoint, fstype, options] = line.trim().split(/\s+/);
    if (mountpoint !== '/' || !device || !fstype) continue;
    found = { device: unescapeMount(device), fstype, readonly: (options ?? '').split(',').includes('ro') };
  }
  return found;
}

const unescapeMount = (s: string) => s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));

interface StatFs {
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
}

function filesystemFamilies(fs: StatFs, mount: RootMount | null): MetricFamily[] {
  const labels: Labels = { device: mount?.device ?? 'rootfs', fstype: mount?.fstype ?? 'unknown', mountpoint: '/' };
  const out = [
    gauge('node_filesystem_size_bytes', 'Filesystem size in bytes.', fs.blocks * fs.bsize, labels),
    gauge('node_filesystem_free_bytes', 'Filesystem free space in bytes.', fs.bfree * fs.bsize, labels),
    gauge('node_filesystem_avail_bytes', 'Filesystem space available to non-root users in bytes.', fs.bavail * fs.bsize, labels),
    gauge('node_filesystem_files', 'Filesystem total file nodes.', fs.files, labels),
    gauge('node_filesystem_files_free', 'Filesystem total free file nodes.', fs.ffree, labels),
  ];
  if (mount) out.push(gauge('node_filesystem_readonly', 'Filesystem read-only status.', mount.readonly ? 1 : 0, labels));
  return out;
}

const NETDEV_RECEIVE = ['bytes', 'packets', 'errs', 'drop', 'fifo', 'frame', 'compressed', 'multicast'] as const;
const NETDEV_TRANSMIT = ['bytes', 'packets', 'errs', 'drop', 'fifo', 'colls', 'carrier', 'compressed'] as const;

export function netdevFamilies(text: string): MetricFamily[] {
  const families = new Map<string, MetricFamily>();
  const add = (direction: 'receive' | 'transmit', field: string, device: string, value: number) => {
    const name = `node_network_${direction}_${field}_total`;
    let family = families.get(name);
    if (!family) {
      family = { name, type: 'counter', help: `Network device statistic ${direction}_${field}.`, samples: [] };
      families.set(name, family);
    }
    family.samples.push({ labels: { device }, value });
  };
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const device = line.slice(0, colon).trim();
    const values = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (!device || values.length < 16 || values.some((v) => !Number.isFinite(v))) continue;
    NETDEV_RECEIVE.forEach((field, i) => add('receive', field, device, values[i]!));
    NETDEV_TRANSMIT.forEach((field, i) => add('transmit', field, device, values[8 + i]!));
  }
  return [...families.values()];
}

function unameFamily(): MetricFamily {
  return gauge('node_uname_info', 'Labeled system information as provided by the uname system call.', 1, {
    sysname: os.type(),
    release: os.release(),
    version: os.version(),
    machine: os.machine(),
    nodename: os.hostname(),
  });
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** Prometheus text exposition format 0.0.4. */
export function renderFamilies(families: MetricFamily[]): string {
  const lines: string[] = [];
  for (const family of families) {
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) {
      const labels =
        sample.labels && Object.keys(sample.labels).length
          ? `{${Object.entries(sample.labels)
              .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
              .join(',')}}`
          : '';
      lines.push(`${family.name}${labels} ${formatValue(sample.value)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
