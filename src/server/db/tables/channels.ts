/** Which instance holds a node's live channel (src/server/channels/directory.ts). */
export interface NodeChannelsTable {
  node_id: string;
  instance_id: string;
  connected_at: string;
}

export interface ChannelTables {
  node_channels: NodeChannelsTable;
}
