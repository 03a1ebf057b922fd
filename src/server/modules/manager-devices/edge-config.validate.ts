/**
 * Pre-validation of an edge configuration (schema `version: 2`, manager spec §3): the schema's
 * core fields, then the rules between them. The node stays authoritative (it alone knows which
 * ports are free), so this refuses only what every current edge refuses. Errors are
 * `{path: [messages]}` with `/`-joined paths (`inputs/0/local_addr`), like request validation.
 */
import { isIP } from 'node:net';
import { Compile } from 'typebox/compile';
import { AppConfig, FlowConfig, OutputConfig } from '../../../contract/manager/edge-config.ts';
import { parseSocketAddress, type SocketAddress } from '../../lib/socket-address.ts';

export type Details = Record<string, string[]>;

const checkConfig = Compile(AppConfig);
const checkFlow = Compile(FlowConfig);
const checkOutput = Compile(OutputConfig);

type Item = Record<string, unknown>;

const SRT_MODES = ['caller', 'listener', 'rendezvous'];

function add(details: Details, path: string, message: string): void {
  (details[path] ??= []).push(message);
}

interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message: string;
}
interface Checker {
  Check(value: unknown): boolean;
  Errors(value: unknown): Iterable<SchemaError>;
}

/** Schema errors of `value` under `prefix`; a missing property is named by its own path. */
function schemaErrors(check: Checker, value: unknown, prefix: string, details: Details): void {
  for (const error of check.Errors(value)) {
    const segments = [prefix, ...error.instancePath.split('/').slice(1)].filter(Boolean);
    const decode = (segment: string) => segment.replace(/~1/g, '/').replace(/~0/g, '~');
    if (error.keyword === 'required')
      for (const name of (error.params.requiredProperties as string[] | undefined) ?? [])
        add(details, [...segments.map(decode), name].join('/'), 'is required');
    else add(details, segments.map(decode).join('/'), error.message);
  }
}

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** The SRT core rules of one input or output (§3 table). */
function srtRules(item: Item, path: string, details: Details): void {
  const mode = str(item.mode);
  if (mode === undefined || !SRT_MODES.includes(mode)) {
    add(details, `${path}/mode`, 'must be caller, listener or rendezvous');
    return;
  }
  if (mode !== 'caller' && item.local_addr === undefined) add(details, `${path}/local_addr`, `is required in ${mode} mode`);
  if (mode !== 'listener' && item.remote_addr === undefined) add(details, `${path}/remote_addr`, `is required in ${mode} mode`);
  const passphrase = str(item.passphrase);
  if (item.passphrase !== undefined && (passphrase === undefined || passphrase.length < 10 || passphrase.length > 79))
    add(details, `${path}/passphrase`, 'must be 10 to 79 characters');
  const keyLen = item.aes_key_len;
  if (keyLen !== undefined && keyLen !== 16 && keyLen !== 24 && keyLen !== 32) add(details, `${path}/aes_key_len`, 'must be 16, 24 or 32');
  const crypto = item.crypto_mode;
  if (crypto !== undefined && crypto !== 'aes-ctr' && crypto !== 'aes-gcm') add(details, `${path}/crypto_mode`, 'must be aes-ctr or aes-gcm');
  if (crypto === 'aes-gcm' && keyLen === 24) add(details, `${path}/crypto_mode`, 'aes-gcm does not work with aes_key_len 24');
  for (const field of ['stream_id', 'packet_filter']) {
    const value = item[field];
    if (value !== undefined && (typeof value !== 'string' || value.length > 512))
      add(details, `${path}/${field}`, 'must be a string of at most 512 characters');
  }
  if (item.packet_filter !== undefined && mode === 'rendezvous') add(details, `${path}/packet_filter`, 'is not available in rendezvous mode');
  if (item.external_address !== undefined && mode !== 'listener') add(details, `${path}/external_address`, 'is only for listener mode');
  for (const field of ['latency_ms', 'recv_latency_ms', 'peer_latency_ms', 'peer_idle_timeout_secs', 'max_bw']) {
    const value = item[field];
    if (value !== undefined && !(Number.isInteger(value) && (value as number) >= 0)) add(details, `${path}/${field}`, 'must be an integer of at least 0');
  }
  const rexmit = item.max_rexmit_bw;
  if (rexmit !== undefined && !(Number.isInteger(rexmit) && (rexmit as number) >= -1))
    add(details, `${path}/max_rexmit_bw`, 'must be an integer of at least -1');
}

/** Required fields by type (§3 table); address syntax for every address field present. */
function itemRules(item: Item, side: 'input' | 'output', path: string, details: Details): void {
  const type = item.type;
  if (type === 'srt') srtRules(item, path, details);
  if ((type === 'udp' || type === 'rtp') && side === 'input' && item.bind_addr === undefined) add(details, `${path}/bind_addr`, 'is required');
  if ((type === 'udp' || type === 'rtp') && side === 'output' && item.dest_addr === undefined) add(details, `${path}/dest_addr`, 'is required');
  if (type === 'rtmp' && side === 'output') {
    for (const field of ['dest_url', 'stream_key']) if (!str(item[field])) add(details, `${path}/${field}`, 'is required');
  }
  for (const field of ['local_addr', 'remote_addr', 'bind_addr', 'dest_addr']) {
    const value = str(item[field]);
    if (value !== undefined && !parseSocketAddress(value)) add(details, `${path}/${field}`, 'must be ip:port');
  }
  const iface = str(item.interface_addr);
  if (iface !== undefined) {
    const bound = parseSocketAddress(str(item.bind_addr) ?? str(item.dest_addr) ?? '');
    const family = isIP(iface) || isIP(parseSocketAddress(iface)?.ip ?? '');
    if (family === 0) add(details, `${path}/interface_addr`, 'must be an IP address');
    else if (bound && isIP(bound.ip) !== family) add(details, `${path}/interface_addr`, 'must be the same address family as the stream address');
  }
}

/** The UDP socket an input or output binds locally, if any. */
function localBind(item: Item): { field: string; address: SocketAddress } | null {
  const type = item.type;
  const field = type === 'srt' ? (item.mode === 'caller' ? null : 'local_addr') : type === 'udp' || type === 'rtp' ? 'bind_addr' : null;
  const address = field ? parseSocketAddress(str(item[field]) ?? '') : null;
  return field && address ? { field, address } : null;
}

const WILDCARDS = new Set(['0.0.0.0', '::']);
const overlaps = (a: SocketAddress, b: SocketAddress) => a.port === b.port && a.port !== 0 && (a.ip === b.ip || WILDCARDS.has(a.ip) || WILDCARDS.has(b.ip));

function duplicates(items: Item[], prefix: string, details: Details): void {
  const seen = new Set<string>();
  items.forEach((item, index) => {
    const id = str(item.id);
    if (id === undefined) return;
    if (seen.has(id)) add(details, `${prefix}/${index}/id`, `duplicates the id ${id}`);
    seen.add(id);
  });
}

/**
 * Rules across the whole config: unique ids, flows referencing existing inputs and outputs, at
 * most one active input per flow, no two local binds on one port. Assumes the schema passed.
 */
function crossRules(config: Item, details: Details): void {
  const inputs = (config.inputs as Item[] | undefined) ?? [];
  const outputs = (config.outputs as Item[] | undefined) ?? [];
  const flows = (config.flows as Item[] | undefined) ?? [];
  duplicates(inputs, 'inputs', details);
  duplicates(outputs, 'outputs', details);
  duplicates(flows, 'flows', details);
  inputs.forEach((input, index) => itemRules(input, 'input', `inputs/${index}`, details));
  outputs.forEach((output, index) => itemRules(output, 'output', `outputs/${index}`, details));

  const inputsById = new Map(inputs.map((input) => [input.id as string, input]));
  const outputIds = new Set(outputs.map((output) => output.id as string));
  flows.forEach((flow, index) => {
    const inputIds = (flow.input_ids as string[] | undefined) ?? [];
    for (const id of inputIds) if (!inputsById.has(id)) add(details, `flows/${index}/input_ids`, `references the unknown input ${id}`);
    for (const id of (flow.output_ids as string[] | undefined) ?? [])
      if (!outputIds.has(id)) add(details, `flows/${index}/output_ids`, `references the unknown output ${id}`);
    const active = inputIds.filter((id) => inputsById.get(id)?.active !== false);
    if (active.length > 1) add(details, `flows/${index}/input_ids`, `has ${active.length} active inputs (${active.join(', ')}); at most one may be active`);
  });

  const binds: Array<{ path: string; address: SocketAddress }> = [];
  for (const [prefix, items] of [
    ['inputs', inputs],
    ['outputs', outputs],
  ] as const) {
    items.forEach((item, index) => {
      const bind = localBind(item);
      if (!bind) return;
      const path = `${prefix}/${index}/${bind.field}`;
      const clash = binds.find((other) => overlaps(other.address, bind.address));
      if (clash) add(details, path, `uses local port ${bind.address.port}, already bound by ${clash.path}`);
      binds.push({ path, address: bind.address });
    });
  }
}

/** Field-level errors of a whole AppConfig, or null when it passes. */
export function validateEdgeConfig(config: unknown): Details | null {
  const details: Details = {};
  if (!checkConfig.Check(config)) schemaErrors(checkConfig, config, '', details);
  else crossRules(config as Item, details);
  return Object.keys(details).length > 0 ? details : null;
}

/** Schema errors of the flow or output a command carries. */
export function validateFlowShape(flow: unknown, path = 'flow'): Details | null {
  return shape(checkFlow, flow, path);
}

export function validateOutputShape(output: unknown, path = 'output'): Details | null {
  return shape(checkOutput, output, path);
}

function shape(check: Checker, value: unknown, path: string): Details | null {
  if (check.Check(value)) return null;
  const details: Details = {};
  schemaErrors(check, value, path, details);
  return details;
}
