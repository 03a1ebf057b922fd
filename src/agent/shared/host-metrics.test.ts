import assert from 'node:assert/strict';
import os from 'node:os';
import { describe, it } from 'node:test';
import { collectHostMetrics, memoryFamilies, netdevFamilies, renderFamilies, rootMount, statFamilies } from './host-metrics.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict reader of the text format: anything the control plane's parser would choke on fails here. */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  assert.ok(text.endsWith('\n'), 'exposition must end with a newline');
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# HELP ')) continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$/.exec(line);
    if (type) {
      assert.ok(!types.has(type[1]!), `duplicate TYPE for ${type[1]}`);
      types.set(type[1]!, type[2]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `malformed line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    assert.ok(types.has(m[1]!), `sample ${m[1]} before its TYPE line`);
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { samples, types };
}

const only = (samples: Sample[], name: string) => {
  const found = samples.filter((s) => s.name === name);
  assert.equal(found.length, 1, `expected exactly one ${name}, got ${found.length}`);
  return found[0]!;
};

describe('host metrics from this machine', { skip: process.platform !== 'linux' && 'reads /proc' }, () => {
  it('is valid exposition text with node_exporter names and plausible values', async () => {
    const before = Date.now() / 1000;
    const { samples, types } = parseExposition(await collectHostMetrics());
    const after = Date.now() / 1000;

    const cpu = samples.filter((s) => s.name === 'node_cpu_seconds_total');
    assert.equal(types.get('node_cpu_seconds_total'), 'counter');
    assert.equal(new Set(cpu.map((s) => s.labels.cpu)).size, os.cpus().length);
    for (const mode of ['user', 'system', 'idle', 'iowait', 'steal'])
      assert.ok(
        cpu.some((s) => s.labels.mode === mode),
        mode,
      );
    assert.ok(cpu.every((s) => s.value >= 0));
    // All CPUs together cannot have spent more time than wall clock × cores since boot.
    const boot = only(samples, 'node_boot_time_seconds').value;
    const total = cpu.reduce((sum, s) => sum + s.value, 0);
    assert.ok(total <= (after - boot) * os.cpus().length * 1.05, `cpu total ${total}s too large for ${after - boot}s uptime`);

    assert.ok(boot < before, 'boot time must be in the past');
    assert.ok(Math.abs(boot - (before - os.uptime())) < 5, 'boot time must agree with os.uptime()');
    const time = only(samples, 'node_time_seconds').value;
    assert.ok(time >= before - 1 && time <= after + 1);

    for (const name of ['node_load1', 'node_load5', 'node_load15']) assert.ok(only(samples, name).value >= 0, name);

    const memTotal = only(samples, 'node_memory_MemTotal_bytes').value;
    const memAvailable = only(samples, 'node_memory_MemAvailable_bytes').value;
    assert.equal(memTotal, os.totalmem());
    assert.ok(memAvailable > 0 && memAvailable <= memTotal);

    const size = only(samples, 'node_filesystem_size_bytes');
    const avail = only(samples, 'node_filesystem_avail_bytes');
    assert.equal(size.labels.mountpoint, '/');
    assert.ok(size.labels.fstype && size.labels.fstype !== 'unknown', 'fstype from /proc/self/mounts');
    assert.ok(size.labels.device);
    assert.deepEqual(avail.labels, size.labels);
    assert.ok(size.value > 0 && avail.value >= 0 && avail.value <= size.value);

    const rx = samples.filter((s) => s.name === 'node_network_receive_bytes_total');
    const tx = samples.filter((s) => s.name === 'node_network_transmit_bytes_total');
    assert.ok(rx.length >= 1, 'at least one network device');
    assert.deepEqual(rx.map((s) => s.labels.device).sort(), tx.map((s) => s.labels.device).sort());
    assert.equal(only(samples, 'node_uname_info').labels.nodename, os.hostname());
  });

  it('reads fresh values on every call', async () => {
    const first = parseExposition(await collectHostMetrics()).samples;
    await new Promise((r) => setTimeout(r, 20));
    const second = parseExposition(await collectHostMetrics()).samples;
    assert.ok(only(second, 'node_time_seconds').value > only(first, 'node_time_seconds').value);
  });

  it('leaves out sources that cannot be read instead of inventing them', async () => {
    const { samples } = parseExposition(await collectHostMetrics({ procRoot: '/nonexistent-proc' }));
    assert.equal(samples.filter((s) => s.name.startsWith('node_cpu') || s.name.startsWith('node_memory') || s.name.startsWith('node_load')).length, 0);
    // Boot time still comes from the OS (os.uptime), and the root filesystem from statfs.
    assert.ok(only(samples, 'node_boot_time_seconds').value < Date.now() / 1000);
    assert.equal(only(samples, 'node_filesystem_size_bytes').labels.fstype, 'unknown');
  });
});

describe('host metrics parsers', () => {
  it('converts /proc/stat ticks (USER_HZ 100) into seconds per cpu and mode', () => {
    const families = statFamilies(
      'cpu  300 0 200 1000 0 0 0 0 0 0\ncpu0 150 1 100 500 7 2 3 4 5 6\ncpu1 150 0 100 500 0 0 0 0 0 0\nintr 99 1 2\nctxt 1234\nbtime 1700000000\nprocesses 55\nprocs_running 2\nprocs_blocked 1\n',
    );
    const { samples } = parseExposition(renderFamilies(families));
    const cpu0 = Object.fromEntries(samples.filter((s) => s.name === 'node_cpu_seconds_total' && s.labels.cpu === '0').map((s) => [s.labels.mode, s.value]));
    assert.deepEqual(cpu0, { user: 1.5, nice: 0.01, system: 1, idle: 5, iowait: 0.07, irq: 0.02, softirq: 0.03, steal: 0.04 });
    assert.equal(samples.filter((s) => s.name === 'node_cpu_seconds_total').length, 16, 'the aggregate cpu line is not a core');
    assert.equal(only(samples, 'node_boot_time_seconds').value, 1700000000);
    assert.equal(only(samples, 'node_context_switches_total').value, 1234);
    assert.equal(only(samples, 'node_intr_total').value, 99);
    assert.equal(only(samples, 'node_forks_total').value, 55);
    assert.equal(
      samples
        .filter((s) => s.name === 'node_cpu_guest_seconds_total' && s.labels.cpu === '0')
        .map((s) => s.value)
        .join(),
      '0.05,0.06',
    );
  });

  it('names meminfo fields the way node_exporter does', () => {
    const { samples } = parseExposition(
      renderFamilies(
        memoryFamilies(
          'MemTotal:       16315464 kB\nMemAvailable:    8000000 kB\nActive(anon):      12 kB\nHugePages_Total:       0\nHugepagesize:       2048 kB\n',
        ),
      ),
    );
    assert.deepEqual(
      samples.map((s) => [s.name, s.value]),
      [
        ['node_memory_MemTotal_bytes', 16315464 * 1024],
        ['node_memory_MemAvailable_bytes', 8000000 * 1024],
        ['node_memory_Active_anon_bytes', 12 * 1024],
        ['node_memory_HugePages_Total', 0],
        ['node_memory_Hugepagesize_bytes', 2048 * 1024],
      ],
    );
  });

  it('picks the mount that shadows / last and decodes its octal escapes', () => {
    const mounts = '/dev/sda1 / ext4 rw,relatime 0 0\nproc /proc proc rw 0 0\n/dev/my\\040disk / xfs ro,noatime 0 0\n';
    assert.deepEqual(rootMount(mounts), { device: '/dev/my disk', fstype: 'xfs', readonly: true });
    assert.equal(rootMount('proc /proc proc rw 0 0\n'), null);
  });

  it('maps the 16 /proc/net/dev columns onto receive/transmit counters', () => {
    const text = [
      'Inter-|   Receive                                                |  Transmit',
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
      '    lo: 1000 10 0 0 0 0 0 0 1000 10 0 0 0 0 0 0',
      '  eth0: 5000 50 1 2 3 4 5 6 7000 70 7 8 9 10 11 12',
    ].join('\n');
    const { samples } = parseExposition(renderFamilies(netdevFamilies(text)));
    const eth0 = Object.fromEntries(samples.filter((s) => s.labels.device === 'eth0').map((s) => [s.name, s.value]));
    assert.equal(eth0.node_network_receive_bytes_total, 5000);
    assert.equal(eth0.node_network_receive_multicast_total, 6);
    assert.equal(eth0.node_network_transmit_bytes_total, 7000);
    assert.equal(eth0.node_network_transmit_carrier_total, 11);
    assert.equal(Object.keys(eth0).length, 16);
  });

  it('escapes label values', () => {
    const text = renderFamilies([{ name: 'x', type: 'gauge', help: 'h', samples: [{ labels: { device: 'a"b\\c\nd' }, value: 1 }] }]);
    assert.equal(parseExposition(text).samples[0]!.labels.device, 'a"b\\c\nd');
  });
});
