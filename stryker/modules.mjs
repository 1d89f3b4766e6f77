// The security-critical modules mutation testing covers (issue #24), per package. Each is run by Stryker
// on its own (stryker/run.mjs), with its own incremental state in stryker/<package>/<module>.incremental.json:
// a run scoped to one module rewrites the state file with that module's results only, so one state file
// per package would lose every other module's results after a scoped run.
export const MODULES = {
  // The protocol core every party reads another's answers through: the relay client and the bounded body read.
  shared: [
    'src/gf256.ts',
    'src/shamir.ts',
    'src/chunk-format.ts',
    'src/mac.ts',
    'src/metadata.ts',
    'src/codec.ts',
    'src/streams.ts',
    'src/recover.ts',
    'src/protocol/relay-client.ts',
    'src/protocol/bounded-read.ts'
  ],
  // Capability checks (capability.ts), ingest, the disk and S3 stores, the routes.
  relay: ['src/capability.ts', 'src/storage/ingest.ts', 'src/storage/disk.ts', 'src/storage/s3.ts', 'src/app.ts'],
  // The coordinator: reservations and commit (files.ts), grants, sessions and sign-in, jobs, licence.
  web: [
    'src/lib/server/license.ts',
    'src/lib/server/grants.ts',
    'src/lib/server/auth.ts',
    'src/lib/server/jobs.ts',
    'src/lib/server/files.ts',
    'src/lib/server/reservations.ts',
    'src/lib/server/capabilities.ts',
    'src/lib/server/api-tokens.ts'
  ]
};

/** `src/storage/disk.ts` -> `storage-disk`: the name of a module's state and report files. */
export function moduleKey(file) {
  return file
    .replace(/^src\//, '')
    .replace(/\.ts$/, '')
    .replaceAll('/', '-');
}
