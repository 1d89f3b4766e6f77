/**
 * The coordinator's answers that the browser engine and the command-line client both read (issue #14: the
 * API types live once, in shared). Routes: `POST /api/files` (Reservation), `GET /api/files/:id/manifest`
 * (Manifest); see web/docs/api.md.
 */
export interface Reservation {
  fileId: string;
  k: number;
  n: number;
  chunkSize: number;
  chunkCount: number;
  epoch: number;
  placements: Array<{ relayId: string; name: string; url: string; x: number; token: string }>;
}

export interface Manifest {
  fileId: string;
  name: string;
  size: number;
  type: string;
  k: number;
  n: number;
  chunkSize: number;
  chunkCount: number;
  epoch: number;
  placements: Array<{ relayId: string; name: string; url: string; location: string; x: number; online: boolean; token: string }>;
}
