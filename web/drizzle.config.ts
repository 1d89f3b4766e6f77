import { defineConfig } from 'drizzle-kit';

// One schema and one migration set for PostgreSQL and PGlite (both speak PostgreSQL's dialect).
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/lib/server/db/schema.ts',
  out: './drizzle'
});
