/** Types for find-postgres.mjs (plain JS, also run by run-all.mjs without a TypeScript step). */
export declare const LOCAL_POSTGRES: string;
export declare function shown(url: string): string;
export declare function findPostgres(env: NodeJS.ProcessEnv, local?: string): Promise<{ url: string | undefined; how: string }>;
