import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { humanizeDuration, summarizeAgent, summarizeHost } from './summarize.ts';

describe('metrics summaries', () => {
  it('formats durations the way the contract examples do', () => {
    assert.equal(humanizeDuration(90_061), '1d 1h 1m');
    assert.equal(humanizeDuration(172_800), '2d 0h 0m');
    assert.equal(humanizeDuration(5 * 3600 + 15 * 60 + 59), '5h 15m');
    assert.equal(humanizeDuration(30 * 60), '30m');
    assert.equal(humanizeDuration(59), '0m');
    assert.equal(humanizeDuration(-5), '0m');
  });

  it('gives null host figures for what the text lacks, and no NaN anywhere', () => {
    const host = summarizeHost('node_load1 NaN\nnode_memory_MemTotal_bytes 1073741824\n');
    assert.deepEqual(host.cpu, { cores: null, load_1m: null, load_5m: null, load_15m: null, usage_percent: null });
    assert.deepEqual(host.memory, {
      total_bytes: 1073741824,
      available_bytes: null,
      used_bytes: null,
      total_gb: 1,
      available_gb: null,
      used_gb: null,
      usage_percent: null,
    });
    assert.equal(host.disk.total_bytes, null);
    assert.deepEqual(host.uptime, { seconds: null, human: null });
  });

  it('reads the root filesystem from one real device, skipping the rootfs pseudo-mount and other mounts', () => {
    const host = summarizeHost(
      [
        'node_filesystem_size_bytes{device="rootfs",fstype="rootfs",mountpoint="/"} 1',
        'node_filesystem_avail_bytes{device="rootfs",fstype="rootfs",mountpoint="/"} 1',
        'node_filesystem_size_bytes{device="/dev/sda2",fstype="xfs",mountpoint="/boot"} 5e8',
        'node_filesystem_avail_bytes{device="/dev/sda2",fstype="xfs",mountpoint="/boot"} 4e8',
        'node_filesystem_size_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} 107374182400',
        'node_filesystem_avail_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} 58249036800',
      ].join('\n'),
    );
    assert.deepEqual(host.disk, {
      total_bytes: 107374182400,
      available_bytes: 58249036800,
      used_bytes: 49125145600,
      total_gb: 100,
      available_gb: 54.25,
      used_gb: 45.75,
      usage_percent: 45.75,
    });
  });

  it('measures uptime on the node clock when exported, else against now', () => {
    const withClock = summarizeHost('node_boot_time_seconds 1000\nnode_time_seconds 91061.9\n', 10_000_000_000);
    assert.deepEqual(withClock.uptime, { seconds: 90061, human: '1d 1h 1m' });
    const withoutClock = summarizeHost('node_boot_time_seconds 1000\n', (1000 + 3600) * 1000);
    assert.deepEqual(withoutClock.uptime, { seconds: 3600, human: '1h 0m' });
  });

  it('counts cores by distinct cpu label and derives usage from idle time since boot', () => {
    const lines = [];
    for (const cpu of ['0', '1']) {
      lines.push(`node_cpu_seconds_total{cpu="${cpu}",mode="idle"} 75`);
      lines.push(`node_cpu_seconds_total{cpu="${cpu}",mode="user"} 20`);
      lines.push(`node_cpu_seconds_total{cpu="${cpu}",mode="system"} 5`);
    }
    assert.deepEqual(summarizeHost(lines.join('\n')).cpu, { cores: 2, load_1m: null, load_5m: null, load_15m: null, usage_percent: 25 });
  });

  it('reports every agent figure as 0 when the text is empty, keeping the full shape', () => {
    const agent = summarizeAgent('');
    assert.equal(agent.application.memory_total_bytes, 0);
    assert.equal(agent.application.uptime_human, '0m');
    assert.deepEqual(agent.commands, { synced_total: 0, enqueued_total: 0, completed_total: 0, reported_total: 0 });
    assert.deepEqual(agent.proxy.http_blocked_by_reason, {});
    assert.deepEqual(agent.oban_queues, []);
  });

  it('groups the labelled jobs gauge by queue in first-seen order and sums labelled counters', () => {
    const agent = summarizeAgent(
      [
        'nodeplane_agent_jobs{queue="default",state="completed"} 245',
        'nodeplane_agent_jobs{queue="commands",state="completed"} 150',
        'nodeplane_agent_jobs{queue="default",state="executing"} 1',
        'nodeplane_agent_jobs{queue="default",state="mystery"} 99',
        'nodeplane_agent_jobs{state="available"} 4',
        'nodeplane_agent_ssh_authentications_total{method="password"} 40',
        'nodeplane_agent_ssh_authentications_total{method="publickey"} 5',
      ].join('\n'),
    );
    assert.deepEqual(agent.oban_queues, [
      { queue: 'default', available: 0, executing: 1, completed: 245, retryable: 0, discarded: 0 },
      { queue: 'commands', available: 0, executing: 0, completed: 150, retryable: 0, discarded: 0 },
    ]);
    assert.equal(agent.ssh.authentications_total, 45);
  });
});
