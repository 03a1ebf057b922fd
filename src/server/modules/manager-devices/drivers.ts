/** Every device driver the manager face knows; a third device type is one more file and one more entry. */
import type { DeviceDriver } from './driver.ts';
import { edgeDriver } from './edge.driver.ts';
import { relayDriver } from './relay.driver.ts';

export const DRIVERS: readonly DeviceDriver[] = [edgeDriver, relayDriver];
