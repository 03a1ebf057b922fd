/** DNS names of clusters, nodes and aliases (edge-admin spec §6.2). */
export class Naming {
  constructor(private readonly domain: string) {}

  private suffix(name: string): string {
    return this.domain ? `${name}.${this.domain}` : name;
  }

  networkName = (clusterName: string): string => `cluster-${clusterName}`;

  vpnDomain = (clusterName: string): string => this.suffix(`cluster-${clusterName}`);

  nodeName = (nodeId: string): string => `node-${nodeId}`;

  mdnsHostname = (nodeId: string): string => `node-${nodeId}.local`;

  /** Works for node ids and alias names alike: both get the `node-` prefix. */
  nodeHostname = (nodeIdOrAlias: string, clusterName: string | null): string =>
    clusterName === null ? this.suffix(`node-${nodeIdOrAlias}`) : this.suffix(`node-${nodeIdOrAlias}.cluster-${clusterName}`);

  /** `cluster-<name>` → `<name>`, or null when the prefix is missing. */
  clusterFromNetwork = (networkName: string): string | null => (networkName.startsWith('cluster-') ? networkName.slice('cluster-'.length) : null);
}
