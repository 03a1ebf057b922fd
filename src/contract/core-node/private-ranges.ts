/**
 * Private, loopback, link-local, CGNAT and other special-purpose destinations, written out as CIDRs:
 * PasarGuard's expansion of `geoip:private`. Debian's V2Ray ships no geoip.dat, so a geo rule would
 * fail to load. The server blocks these for VPN users by default; the agent expands `geoip:private`
 * to them when adapting a config to V2Ray.
 */
export const PRIVATE_CIDRS = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '224.0.0.0/4',
  '240.0.0.0/4',
  '::/128',
  '::1/128',
  'fc00::/7',
  'fe80::/10',
] as const;
