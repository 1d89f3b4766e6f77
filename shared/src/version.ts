/** Product version, reported by relays (`/v1/health`) and the coordinator (`/api/configuration`). */
export const KOFN_VERSION = '0.1.0';
