/** Types for free-port.mjs (used by the TypeScript e2e helpers). */
export declare function portIsFree(port: number, host?: string): Promise<boolean>;
export declare function freePort(count?: number, host?: string): Promise<number>;
