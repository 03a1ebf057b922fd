/** Row types of server instances and their heartbeats. */

export interface InstancesTable {
  id: string;
  name: string;
  max_wireguard_peers: number;
  version: string;
  started_at: string;
  heartbeat_at: string;
}

export interface InstanceTables {
  instances: InstancesTable;
}
