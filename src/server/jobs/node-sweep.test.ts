import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { unreachableThresholdWarning } from './node-sweep.ts';

describe('unreachable threshold warning', () => {
  it('warns when nodes would be judged silent before a channel-less agent reports (edge-admin §6.5: 2 min)', () => {
    const warning = unreachableThresholdWarning(60_000, 30_000);
    assert.match(warning!, /^NODE_UNREACHABLE_AFTER_MS \(60000 ms\) is below the agents' HTTP report interval \(120000 ms\)/);
    assert.match(warning!, /set it to at least 120000/);
    assert.match(unreachableThresholdWarning(200_000, 300_000)!, /\(300000 ms\)/, 'a slower ping interval counts too');
  });

  it('stays quiet for the defaults', () => {
    assert.equal(unreachableThresholdWarning(300_000, 30_000), null);
    assert.equal(unreachableThresholdWarning(120_000, 30_000), null);
  });
});
