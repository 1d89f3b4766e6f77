/**
 * Relay configuration: a JSON file (shape follows Qasmat's storage config) overridden by environment.
 *
 * {
 *   "name": "relay-a", "location": "Paris",
 *   "listen": { "host": "127.0.0.1", "port": 8081 },
 *   "public_url": "http://127.0.0.1:8081",
 *   "storage": { "mode": "Disk", "path_to_folder": "/data" }
 *            | { "mode": "S3", "region": "eu-west-3", "bucket_name": "kofn", "endpoint": "...", "force_path_style": true },
 *   "coordinator": "http://127.0.0.1:8080",
 *   "enrollment_token": "...",   (one-time, from an administrator; needed only for the first start)
 *   "proxy_reconnection_interval": 10,
 *   "web_origins": ["http://127.0.0.1:8080"]
 * }
 */
import { readFileSync } from 'node:fs';
import { KofnError } from '@kofn/shared';

export type StorageConfig = { mode: 'Disk'; path_to_folder: string } | { mode: 'S3'; region: string; bucket_name: string; endpoint?: string; force_path_style?: boolean };

export interface RelayConfig {
  name: string;
  location: string;
  listen: { host: string; port: number };
  /** URL browsers and the coordinator use to reach this relay. */
  public_url: string;
  storage: StorageConfig;
  /** Coordinator base URL; empty disables announce/heartbeat (stand-alone tests). */
  coordinator: string;
  /** One-time enrollment token an administrator made for this relay; used once, to pin its key. */
  enrollment_token: string;
  /** Seconds between heartbeats (and between retries while the coordinator is unreachable). */
  proxy_reconnection_interval: number;
  /** Exact origins allowed by CORS. */
  web_origins: string[];
}

type Env = Record<string, string | undefined>;

function configError(message: string): KofnError {
  return new KofnError('INVALID_ARGUMENT', `relay config: ${message}`);
}

function str(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.length === 0) throw configError(`"${field}" expected a non-empty string`);
  return v;
}

function port(v: unknown): number {
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw configError(`"listen.port" expected integer 0..65535, got ${String(v)}`);
  }
  return n;
}

function parseStorage(raw: unknown): StorageConfig {
  const s = (raw ?? {}) as Record<string, unknown>;
  if (s.mode === 'S3') {
    const out: StorageConfig = { mode: 'S3', region: str(s.region, 'storage.region'), bucket_name: str(s.bucket_name, 'storage.bucket_name') };
    if (s.endpoint !== undefined) out.endpoint = str(s.endpoint, 'storage.endpoint');
    if (s.force_path_style !== undefined) out.force_path_style = s.force_path_style === true;
    return out;
  }
  if (s.mode === 'Disk' || s.mode === undefined) return { mode: 'Disk', path_to_folder: str(s.path_to_folder ?? './data', 'storage.path_to_folder') };
  throw configError(`Wrong value supplied for field "storage.mode". Valid values are Disk, S3.`);
}

/** Build the config from an optional file and the environment (environment wins). */
export function loadConfig(file: string | undefined, env: Env = process.env): RelayConfig {
  const raw: Record<string, unknown> = file ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  const listen = (raw.listen ?? {}) as Record<string, unknown>;
  const storage = (raw.storage ?? {}) as Record<string, unknown>;
  if (env.KOFN_RELAY_STORAGE) storage.mode = env.KOFN_RELAY_STORAGE;
  if (env.KOFN_RELAY_DATA) storage.path_to_folder = env.KOFN_RELAY_DATA;
  if (env.KOFN_RELAY_S3_BUCKET) storage.bucket_name = env.KOFN_RELAY_S3_BUCKET;
  if (env.AWS_REGION) storage.region = env.AWS_REGION;
  if (env.KOFN_RELAY_S3_ENDPOINT) storage.endpoint = env.KOFN_RELAY_S3_ENDPOINT;
  if (env.KOFN_RELAY_S3_PATH_STYLE) storage.force_path_style = env.KOFN_RELAY_S3_PATH_STYLE === 'true';

  const host = str(env.KOFN_RELAY_HOST ?? listen.host ?? '127.0.0.1', 'listen.host');
  const p = port(env.KOFN_RELAY_PORT ?? listen.port ?? 8081);
  const interval = Number(env.KOFN_RELAY_HEARTBEAT ?? raw.proxy_reconnection_interval ?? 10);
  if (!Number.isFinite(interval) || interval <= 0) throw configError('"proxy_reconnection_interval" expected a positive number of seconds');
  const origins = env.KOFN_WEB_ORIGINS !== undefined ? env.KOFN_WEB_ORIGINS.split(',').filter(Boolean) : ((raw.web_origins as string[] | undefined) ?? []);

  return {
    name: str(env.KOFN_RELAY_NAME ?? raw.name ?? 'relay', 'name'),
    location: str(env.KOFN_RELAY_LOCATION ?? raw.location ?? 'unknown', 'location'),
    listen: { host, port: p },
    public_url: (env.KOFN_RELAY_PUBLIC_URL ?? (raw.public_url as string | undefined) ?? '').replace(/\/$/, ''),
    storage: parseStorage(storage),
    coordinator: (env.KOFN_COORDINATOR ?? (raw.coordinator as string | undefined) ?? '').replace(/\/$/, ''),
    enrollment_token: env.KOFN_RELAY_ENROLLMENT_TOKEN ?? (raw.enrollment_token as string | undefined) ?? '',
    proxy_reconnection_interval: interval,
    web_origins: origins.map((o) => o.replace(/\/$/, ''))
  };
}
